"""Unpickling that can only build what the allowlist names, whatever the scan missed.

Python's own unpickler, with each step that imports, calls or sets state checked:
- a global resolves only if its exact name is allowed (never a dotted attribute path);
- REDUCE calls only such a global, and never one in `NOT_CALLABLE`;
- NEWOBJ makes an empty instance of such a class, with no arguments;
- BUILD sets state through the class' own `__setstate__` (never one the state planted on
  the instance), never on a class, and never through a dunder attribute;
- a dtype is built fresh from its description instead of NumPy's in-place
  `dtype.__setstate__`, which would let a file turn a dtype that already holds raw bytes
  into one of object pointers; extension codes, persistent ids and buffers fail.
"""

from __future__ import annotations

import importlib
import inspect
import io
import pickle
from collections.abc import Callable, Collection
from typing import Any, ClassVar

import numpy as np

from shared.models.allowlist import NOT_CALLABLE

__all__ = ["load_pickle"]

# NumPy 2 kept the old module names as shims that warn; pickles from NumPy 1 use them.
_RENAMED = {
    "numpy.core.multiarray": "numpy._core.multiarray",
    "numpy.core.numeric": "numpy._core.numeric",
}
_ALIGNED_STRUCT = 0x80  # NumPy's NPY_ALIGNED_STRUCT bit in a dtype's flags


class _DtypeRecipe:
    """What `numpy.dtype(...)` was called with, until BUILD says the rest."""

    def __init__(self, spec: object, align: object = False, copy: object = False) -> None:
        self.spec = spec  # align and copy: the state BUILD brings decides the layout

    def build(self, state: object) -> np.dtype[Any]:
        """Return a new dtype for `state` (the tuple `dtype.__reduce__` gives)."""
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] == 3):
            raise pickle.UnpicklingError("a dtype state pillars does not rebuild")
        _, endian, subarray, names, fields, elsize, _, flags = state[:8]
        if names is not None:
            if not isinstance(fields, dict) or set(fields) != set(names):
                raise pickle.UnpicklingError("a structured dtype whose fields do not match")
            if any(len(fields[n]) != 2 for n in names):
                raise pickle.UnpicklingError("a structured dtype with titles")
            layout = {
                "names": list(names),
                "formats": [fields[n][0] for n in names],
                "offsets": [fields[n][1] for n in names],
                "itemsize": elsize,
            }
            return np.dtype(layout, align=bool(flags & _ALIGNED_STRUCT))  # type: ignore[call-overload, no-any-return]
        if subarray is not None:
            return np.dtype(tuple(subarray))
        plain: np.dtype[Any] = np.dtype(self.spec)  # type: ignore[call-overload]
        if endian in ("<", ">") and plain.byteorder != "|":
            plain = plain.newbyteorder(endian)
        if elsize not in (-1, plain.itemsize):
            raise pickle.UnpicklingError(f"a dtype {self.spec!r} of {elsize} bytes")
        return plain


class _RestrictedUnpickler(pickle._Unpickler):
    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)
    # The pure-Python unpickler's machine, undocumented and so not in its type stubs.
    stack: list[Any]
    memo: dict[int, Any]
    proto: int
    append: Callable[[Any], None]

    def __init__(self, data: bytes, allowed: Collection[str]) -> None:
        super().__init__(io.BytesIO(data))
        self._allowed = allowed
        self._resolved: dict[int, tuple[object, str]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3 and module == "__builtin__":
            module = "builtins"
        qualified = f"{module}.{name}"
        if "." in name:
            raise pickle.UnpicklingError(f"{qualified} is named through an attribute path")
        if qualified not in self._allowed:
            raise pickle.UnpicklingError(f"{qualified} is not on the allowlist")
        found: object = (
            _DtypeRecipe
            if qualified == "numpy.dtype"
            else getattr(importlib.import_module(_RENAMED.get(module, module)), name)
        )
        self._resolved[id(found)] = (found, qualified)
        return found

    def _name(self, target: object) -> str:
        entry = self._resolved.get(id(target))
        if entry is None or entry[0] is not target:
            raise pickle.UnpicklingError("calls something that is not an allowed global")
        return entry[1]

    def _reduce(self) -> None:
        args = self.stack.pop()
        target = self.stack[-1]
        if self._name(target) in NOT_CALLABLE or type(args) is not tuple:
            raise pickle.UnpicklingError(f"calls {self._name(target)} with arguments")
        self.stack[-1] = target(*args)

    def _new(self, cls: Any, args: object, kwargs: object = None) -> None:
        self._name(cls)
        if not inspect.isclass(cls) or args != () or kwargs not in (None, {}):
            raise pickle.UnpicklingError("NEWOBJ with arguments")
        self.append(cls.__new__(cls))

    def _newobj(self) -> None:
        args = self.stack.pop()
        self._new(self.stack.pop(), args)

    def _newobj_ex(self) -> None:
        kwargs, args = self.stack.pop(), self.stack.pop()
        self._new(self.stack.pop(), args, kwargs)

    def _inst_or_obj(self) -> None:
        raise pickle.UnpicklingError("INST/OBJ (protocol 0 and 1 objects) are not read")

    def _extension(self) -> None:
        raise pickle.UnpicklingError("copyreg extension codes are not read")

    def _build(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        if isinstance(target, _DtypeRecipe):
            built = target.build(state)
            self.stack[-1] = built
            for key, value in list(self.memo.items()):
                if value is target:
                    self.memo[key] = built
            return
        if isinstance(target, type) or id(target) in self._resolved:
            raise pickle.UnpicklingError("sets state on an imported class or function")
        if isinstance(target, np.dtype):  # built once from its recipe, never changed after
            raise pickle.UnpicklingError("sets the state of a dtype a second time")
        setstate = getattr(type(target), "__setstate__", None)
        if setstate is not None:
            setstate(target, state)
            return
        pair = isinstance(state, tuple) and len(state) == 2
        attributes, slots = state if pair else (state, None)
        for values, assign in ((attributes, vars(target).__setitem__), (slots, target.__setattr__)):
            for key, value in dict(values or {}).items():
                if not isinstance(key, str) or key.startswith("__"):
                    raise pickle.UnpicklingError(f"sets the attribute {key!r}")
                assign(key, value)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not read")

    dispatch[pickle.REDUCE[0]] = _reduce
    dispatch[pickle.NEWOBJ[0]] = _newobj
    dispatch[pickle.NEWOBJ_EX[0]] = _newobj_ex
    dispatch[pickle.INST[0]] = _inst_or_obj
    dispatch[pickle.OBJ[0]] = _inst_or_obj
    dispatch[pickle.BUILD[0]] = _build
    dispatch[pickle.EXT1[0]] = _extension
    dispatch[pickle.EXT2[0]] = _extension
    dispatch[pickle.EXT4[0]] = _extension


def load_pickle(data: bytes, allowed: Collection[str]) -> object:
    """Unpickle `data`, building only the exact names in `allowed`; raise UnpicklingError."""
    try:
        return _RestrictedUnpickler(data, allowed).load()
    except pickle.UnpicklingError:
        raise
    except Exception as exc:  # a hostile stream fails in many ways; each is a refusal
        raise pickle.UnpicklingError(f"{type(exc).__name__}: {exc}") from None
