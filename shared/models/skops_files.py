"""skops files: every name one would construct, read from its schema, and loading it.

skops' own audit (`get_untrusted_types`) skips what it trusts by default and what some
node types name outside `__module__`/`__class__`; this walk reads every node of
`schema.json` itself, so the allowlist governs all of them:
- each node's `__module__.__class__` must be allowed (JSON and cached nodes construct
  nothing, so their names are not used);
- nodes that call the named thing with the file's values never call `NOT_CALLABLE`
  names, and nodes that set state after construction never build a `numpy.dtype`;
- a Generator's bit generator, a bound method's owner and name, an `operator` function
  and a tree's fixed constructor are named too;
- only the node layout of skops protocol 2 is read: older protocols name functions
  elsewhere in the node.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from shared.models.allowlist import NOT_CALLABLE
from shared.models.refusal import ModelRefused

__all__ = ["SkopsScan", "load_skops", "scan_skops", "skops_trusted"]

SKOPS_PROTOCOL = 2  # the node layout this walk was written against (skops 0.16)
_CALLING = frozenset(
    {"ConstructorFromReduceNode", "LossNode", "ListNode", "SetNode", "TupleNode", "DictNode"}
    | {"NdArrayNode", "RandomStateNode", "RandomGeneratorNode"}
)
_SETTING_STATE = frozenset({"ObjectNode", "LossNode", "TreeNode"})
_NAMELESS = frozenset({"JsonNode", "CachedNode"})
_KNOWN = (
    _CALLING
    | _SETTING_STATE
    | _NAMELESS
    | {"DefaultDictNode", "BytesNode", "BytearrayNode", "SliceNode", "FunctionNode"}
    | {"MethodNode", "PartialNode", "TypeNode", "OperatorFuncNode", "MaskedArrayNode"}
    | {"DTypeNode", "SparseMatrixNode"}
)


@dataclass(frozen=True)
class SkopsScan:
    """The names a skops file would construct, and the reason it cannot load if any."""

    names: tuple[str, ...]
    problem: str | None = None


def _node_names(node: dict[str, Any]) -> tuple[str, list[str]]:
    """Return the node's loader and the names it constructs, calls or looks up."""
    loader = node["__loader__"]
    if loader in _NAMELESS:
        return loader, []
    module, cls = node["__module__"], node["__class__"]
    if not (isinstance(module, str) and isinstance(cls, str)):
        raise ValueError(f"a {loader} whose type is not named by strings")
    names = [f"{module}.{cls}"]
    if loader == "TreeNode":
        names.append("sklearn.tree._tree.Tree")
    elif loader == "MethodNode":
        names.append(f"{module}.{cls}.{node['content']['func']}")
    elif loader == "OperatorFuncNode":
        names.append(f"operator.{cls}")
    elif loader == "RandomGeneratorNode":
        state = node["content"]["bit_generator"]["content"]["bit_generator"]
        names.append(f"numpy.random.{json.loads(state['content'])}")
    return loader, names


def scan_skops(data: bytes, *, max_bytes: int) -> SkopsScan:
    """Return every name the skops file `data` would construct, without loading it."""
    names: dict[str, None] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > max_bytes:
                return SkopsScan((), f"unpacks to {unpacked} bytes, over the {max_bytes} limit")
            schema = json.loads(archive.read("schema.json"))
        if not isinstance(schema, dict) or schema.get("protocol") != SKOPS_PROTOCOL:
            found = schema.get("protocol") if isinstance(schema, dict) else None
            return SkopsScan(
                (),
                f"was written with skops protocol {found}; pillars reads protocol "
                f"{SKOPS_PROTOCOL} (skops 0.16): load and save it again with that skops",
            )
        pending: list[object] = [schema]
        while pending:
            value = pending.pop()
            if isinstance(value, list):
                pending.extend(value)
            elif isinstance(value, dict):
                pending.extend(value.values())
                if "__loader__" not in value:
                    continue
                loader, constructed = _node_names(value)
                if loader not in _KNOWN:
                    return SkopsScan(tuple(names), f"has a {loader!r} node pillars does not read")
                names.update(dict.fromkeys(constructed))
                called = constructed[0] if constructed else ""
                array = loader == "NdArrayNode" and called == "numpy.ndarray"  # not called
                if loader in _CALLING and called in NOT_CALLABLE and not array:
                    return SkopsScan(tuple(names), f"calls {called} with values from the file")
                if loader in _SETTING_STATE and called == "numpy.dtype":
                    return SkopsScan(tuple(names), "sets the state of a numpy.dtype")
    except Exception as exc:  # zip, JSON and node layout fail in many ways; each refuses
        return SkopsScan(tuple(names), f"is not a skops file pillars can read ({exc!r})")
    return SkopsScan(tuple(names))


def skops_trusted(data: bytes, allowed: Collection[str]) -> tuple[str, ...]:
    """Return what skops itself reports untrusted in `data`, or raise ValueError if any of it
    is outside `allowed` (that list is then what the loader trusts)."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=data)
    outside = sorted(set(untrusted) - set(allowed))
    if outside:
        raise ValueError(f"skops reports {', '.join(outside)}, which the allowlist does not hold")
    return tuple(untrusted)


def load_skops(data: bytes, trusted: Collection[str]) -> object:
    """Load the skops file `data`, trusting exactly `trusted` beyond skops' defaults."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return skops.io.loads(data, trusted=sorted(trusted))
    except UntrustedTypesFoundException as exc:
        raise ModelRefused(str(exc)) from None
    except Exception as exc:  # a hostile file fails in many ways; each is a refusal
        raise ModelRefused(f"{type(exc).__name__}: {exc}") from None
