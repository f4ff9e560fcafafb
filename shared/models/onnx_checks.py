"""ONNX models: the checks beyond `onnx.checker` that keep a graph inside its folder and
inside the standard operator sets.

External data is a tensor whose bytes live in another file, named by a `location` the
model chooses; a location that is absolute or climbs out of the model's folder would
have the runtime read any file. Operators outside the standard domains are custom
operators, which a runtime resolves from libraries registered with it, not from the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

__all__ = ["STANDARD_DOMAINS", "check_onnx"]

STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


def _subgraphs(nodes: Iterable[Any]) -> Iterator[Any]:
    """Yield every graph held by the nodes' attributes (If, Loop, Scan bodies), deep."""
    for node in nodes:
        for attribute in node.attribute:
            held = [attribute.g] if attribute.HasField("g") else []
            for graph in [*held, *attribute.graphs]:
                yield graph
                yield from _subgraphs(graph.node)


def _tensors(graphs: list[Any], nodes: list[Any]) -> Iterator[Any]:
    """Yield every tensor of the graphs' initializers and the nodes' attributes."""
    sparse = [s for g in graphs for s in g.sparse_initializer]
    for node in nodes:
        for attribute in node.attribute:
            yield from ([attribute.t] if attribute.HasField("t") else [])
            yield from attribute.tensors
            held = [attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []
            sparse += [*held, *attribute.sparse_tensors]
    for graph in graphs:
        yield from graph.initializer
    for tensor in sparse:
        yield from (tensor.values, tensor.indices)


def _outside(location: str, folder: Path) -> bool:
    posix, windows = PurePosixPath(location), PureWindowsPath(location)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or windows.root:
        return True
    if ".." in posix.parts or ".." in windows.parts:
        return True
    resolved = (folder / location).resolve()
    return not resolved.is_relative_to(folder.resolve())


def check_onnx(data: bytes, folder: Path) -> tuple[str, ...]:
    """Return the operator sets the ONNX model `data` uses, or raise ValueError naming the
    external data or custom operator that refuses it."""
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError
        raise ValueError(f"it is not an ONNX model ({exc})") from None
    function_nodes = [node for function in model.functions for node in function.node]
    graphs = [model.graph, *_subgraphs(model.graph.node), *_subgraphs(function_nodes)]
    nodes = [node for graph in graphs for node in graph.node] + function_nodes
    custom = sorted(
        {i.domain for i in model.opset_import if i.domain not in STANDARD_DOMAINS}
        | {f.domain for f in model.functions if f.domain not in STANDARD_DOMAINS}
        | {n.domain for n in nodes if n.domain not in STANDARD_DOMAINS}
    )
    if custom:
        raise ValueError(
            f"it uses custom operator domains {', '.join(map(repr, custom))}; only the "
            "standard ONNX and ONNX-ML operators are admitted"
        )
    for tensor in _tensors(graphs, nodes):
        for entry in tensor.external_data:
            if entry.key != "location":
                continue
            if _outside(entry.value, folder):
                raise ValueError(
                    f"tensor {tensor.name!r} reads external data from {entry.value!r}, "
                    "outside the model's folder"
                )
            # One file is read once and checked as it loads; a second file would not be.
            raise ValueError(
                f"tensor {tensor.name!r} keeps its data in {entry.value!r}; save the model "
                "as one file (onnx.save(model, path, save_as_external_data=False))"
            )
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ValueError(f"it is not a valid ONNX model ({exc})") from None
    return tuple(sorted(f"{i.domain or 'ai.onnx'} opset {i.version}" for i in model.opset_import))
