"""Hostile skops files, schema.json written by hand: each node type that constructs, calls
or looks up something names a function that runs code or a shell command."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.security.hostile_pickles import python_writing, shell_writing

Node = dict[str, Any]
GETNM = ("numpy.distutils.lib2def", "getnm")  # Popen(command, shell=True)
RUNSTRING = ("numpy.testing", "runstring")  # exec(code, namespace)


def node(loader: str, target: tuple[str, str], **fields: Any) -> Node:
    return {"__loader__": loader, "__module__": target[0], "__class__": target[1], **fields}


def value(item: object) -> Node:
    """A JSON value (constructs nothing)."""
    kind = ("builtins", type(item).__name__)
    return node("JsonNode", kind, content=json.dumps(item), is_json=True)


def listing(*items: Node, of: tuple[str, str] = ("builtins", "list")) -> Node:
    return node("ListNode", of, content=list(items))


def pair(*items: Node) -> Node:
    return node("TupleNode", ("builtins", "tuple"), content=list(items))


def mapping(content: dict[str, Node] | None = None, key_types: Node | None = None) -> Node:
    content = content or {}
    keys = key_types or listing(*[node("TypeNode", ("builtins", "str")) for _ in content])
    return node("DictNode", ("builtins", "dict"), content=content, key_types=keys)


def skops_file(root: Node, files: dict[str, bytes] | None = None, protocol: int = 2) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        schema = root | {"protocol": protocol, "_skops_version": "0.16.0"}
        archive.writestr("schema.json", json.dumps(schema))
        for name, data in (files or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def reduce_runstring(marker: Path) -> bytes:
    content = pair(value(python_writing(marker)), mapping())
    return skops_file(node("ConstructorFromReduceNode", RUNSTRING, content=content))


def reduce_getnm(marker: Path) -> bytes:
    content = pair(value(shell_writing(marker)))
    return skops_file(node("ConstructorFromReduceNode", GETNM, content=content))


def loss_getnm(marker: Path) -> bytes:
    args = {"args": pair(value(shell_writing(marker)))}
    return skops_file(node("LossNode", GETNM, __reduce__=args, content=mapping()))


def ndarray_getnm(marker: Path) -> bytes:
    command = npy(np.array([shell_writing(marker)]))
    root = node("NdArrayNode", GETNM, type="numpy", file="command.npy")
    return skops_file(root, {"command.npy": command})


def list_getnm(marker: Path) -> bytes:
    return skops_file(listing(value(shell_writing(marker)), of=GETNM))


def set_getnm(marker: Path) -> bytes:
    return skops_file(node("SetNode", GETNM, content=[value(shell_writing(marker))]))


def tuple_getnm(marker: Path) -> bytes:
    return skops_file(node("TupleNode", GETNM, content=[value(shell_writing(marker))]))


def dict_key_type(marker: Path) -> bytes:
    """A dict's key type is called on each key: getnm('touch ...')."""
    keys = listing(node("TypeNode", GETNM))
    return skops_file(mapping({shell_writing(marker): value(1)}, key_types=keys))


def dict_class(_: Path) -> bytes:
    return skops_file(node("DictNode", GETNM, content={}, key_types=listing()))


def random_state(marker: Path) -> bytes:
    return skops_file(node("RandomStateNode", RUNSTRING, content=mapping()))


def bit_generator_name(_: Path) -> bytes:
    """numpy.random.<name> is called to make the bit generator: name a function instead."""
    state = mapping({"bit_generator": value("seed"), "state": mapping()})
    content = {"bit_generator": state, "seed_seq": mapping()}
    generator = ("numpy.random._generator", "Generator")
    return skops_file(node("RandomGeneratorNode", generator, content=content))


def object_getnm(_: Path) -> bytes:
    return skops_file(node("ObjectNode", GETNM, content=mapping()))


def type_runstring(_: Path) -> bytes:
    return skops_file(listing(node("TypeNode", RUNSTRING)))


def function_getnm(_: Path) -> bytes:
    return skops_file(listing(node("FunctionNode", GETNM)))


def partial_getnm(marker: Path) -> bytes:
    content = {
        "func": node("FunctionNode", GETNM),
        "args": pair(value(shell_writing(marker))),
        "kwds": mapping(),
        "namespace": mapping(),
    }
    return skops_file(listing(node("PartialNode", ("functools", "partial"), content=content)))


def method_of_estimator(_: Path) -> bytes:
    owner = ("sklearn.linear_model._logistic", "LogisticRegression")
    content = {"func": "fit", "obj": node("ObjectNode", owner, content=mapping())}
    return skops_file(listing(node("MethodNode", owner, content=content)))


def operator_methodcaller(marker: Path) -> bytes:
    attrs = pair(value("system"), value(shell_writing(marker)))
    return skops_file(listing(node("OperatorFuncNode", ("operator", "methodcaller"), attrs=attrs)))


def defaultdict_factory(_: Path) -> bytes:
    content = {"main": mapping(), "default_factory": node("FunctionNode", GETNM)}
    return skops_file(node("DefaultDictNode", ("collections", "defaultdict"), content=content))


def ndarray_over_bytes(_: Path) -> bytes:
    """numpy.ndarray((1,), 'O', buffer) through ConstructorFromReduceNode: object pointers."""
    buffer = {"__loader__": "BytesNode", "__module__": "builtins", "__class__": "bytes"}
    content = pair(pair(value(1)), value("O"), buffer | {"file": "raw.bin"})
    root = node("ConstructorFromReduceNode", ("numpy", "ndarray"), content=content)
    return skops_file(root, {"raw.bin": b"A" * 8})


def dtype_setstate(_: Path) -> bytes:
    """A LossNode makes dtype('V8') and sets its state to one object field with no object
    flags; _frombuffer then lays 8 bytes of the file out as that object's pointer."""
    objects = node(
        "DTypeNode",
        ("numpy", "dtype"),
        content=node(
            "NdArrayNode", ("numpy", "ndarray"), type="json", content=[], shape=pair(value(0))
        ),
    )
    fields = mapping({"a": pair(objects, value(0))})
    state = pair(
        value(3), value("|"), value(None), pair(value("a")), fields, value(8), value(1), value(0)
    )
    dtype = node(
        "LossNode", ("numpy", "dtype"), __reduce__={"args": pair(value("V8"))}, content=state
    )
    raw = {
        "__loader__": "BytesNode",
        "__module__": "builtins",
        "__class__": "bytes",
        "file": "raw.bin",
    }
    cached = node("CachedNode", ("numpy", "dtype"), __id__=7)
    frombuffer = ("numpy._core.numeric", "_frombuffer")
    array = node(
        "ConstructorFromReduceNode",
        frombuffer,
        content=pair(raw, cached, pair(value(1)), value("C")),
    )
    return skops_file(listing(dtype | {"__id__": 7}, array), {"raw.bin": b"A" * 8})


def old_protocol(_: Path) -> bytes:
    """Protocol 0's FunctionNode names its function inside `content`."""
    content = {"module_path": GETNM[0], "function": GETNM[1]}
    return skops_file(
        listing(node("FunctionNode", ("builtins", "str"), content=content)), protocol=0
    )


def unknown_loader(_: Path) -> bytes:
    return skops_file(node("ShinyNewNode", GETNM))


def zip_bomb(_: Path) -> bytes:
    """A few kilobytes that unpack to more than the size limit the tests use (8 MiB)."""
    return skops_file(mapping(), {"padding.bin": bytes(16 * 2**20)})


SKOPS: dict[str, Callable[[Path], bytes]] = {
    "constructor-from-reduce-runstring": reduce_runstring,
    "constructor-from-reduce-getnm": reduce_getnm,
    "loss-node-getnm": loss_getnm,
    "ndarray-node-getnm": ndarray_getnm,
    "list-node-getnm": list_getnm,
    "set-node-getnm": set_getnm,
    "tuple-node-getnm": tuple_getnm,
    "dict-key-type-getnm": dict_key_type,
    "dict-node-class-getnm": dict_class,
    "random-state-node-runstring": random_state,
    "random-generator-bit-generator-name": bit_generator_name,
    "object-node-getnm": object_getnm,
    "type-node-runstring": type_runstring,
    "function-node-getnm": function_getnm,
    "partial-node-getnm": partial_getnm,
    "method-node-estimator-fit": method_of_estimator,
    "operator-methodcaller": operator_methodcaller,
    "defaultdict-factory-getnm": defaultdict_factory,
    "ndarray-over-raw-bytes": ndarray_over_bytes,
    "dtype-setstate-via-loss-node": dtype_setstate,
    "old-protocol-function-node": old_protocol,
    "unknown-loader": unknown_loader,
    "zip-bomb": zip_bomb,
}
