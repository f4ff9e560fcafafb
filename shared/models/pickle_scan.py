"""Reading a pickle without running it: every name it imports, and the moves no model
file makes.

The scan runs the pickle machine on stand-ins for values: strings it knows, names it
imported, objects that calls made. A name STACK_GLOBAL takes from strings pushed,
memoised, overwritten or fetched back is still seen. The pickle is refused when it:
- imports a name built at load time (the result of a call);
- calls anything but an imported name, or calls one in `NOT_CALLABLE`;
- makes an object with NEWOBJ and arguments (real files make empty ones, then set state);
- sets state on an imported class, or on an object after handing it out (a dtype turned
  into object pointers under an array already holding raw bytes);
- reaches outside the file (extension registry, persistent ids, out-of-band buffers),
  uses the protocol 0/1 INST and OBJ, or has bytes after its end (a joblib file).
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass, field

from shared.models.allowlist import NOT_CALLABLE

__all__ = ["PickleScan", "scan_pickle"]

_STRINGS = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE"}
    | {"BINUNICODE8"}
)
_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_REFUSED = {
    **dict.fromkeys(("EXT1", "EXT2", "EXT4"), "the copyreg extension registry"),
    **dict.fromkeys(("PERSID", "BINPERSID"), "persistent ids from outside the file"),
    **dict.fromkeys(("NEXT_BUFFER", "READONLY_BUFFER"), "out-of-band buffers"),
    **dict.fromkeys(("INST", "OBJ"), "protocol 0/1 objects"),
}


class _Mark:
    """The stack's MARK."""


class _Unknown:
    """A value only known at load time."""


_MARK, _UNKNOWN, _EMPTY = _Mark(), _Unknown(), _Unknown()


@dataclass(frozen=True)
class _Imported:
    name: str


@dataclass(frozen=True)
class _Made:
    serial: int


@dataclass(frozen=True)
class PickleScan:
    """The names a pickle imports, in order, and the reason it cannot load if any."""

    names: tuple[str, ...]
    problem: str | None = None


class _RefusedError(Exception):
    """The pickle does something a model file never does."""


@dataclass
class _Machine:
    stack: list[object] = field(default_factory=list)
    memo: dict[int, object] = field(default_factory=dict)
    names: dict[str, None] = field(default_factory=dict)
    made: int = 0
    built: set[int] = field(default_factory=set)
    handed_out: set[int] = field(default_factory=set)

    def pop(self, count: int) -> list[object]:
        stack = self.stack
        if count > len(stack) or any(v is _MARK for v in stack[len(stack) - count :]):
            raise _RefusedError("is a malformed pickle: it pops more than its stack holds")
        popped = stack[len(stack) - count :]
        del stack[len(stack) - count :]
        return popped

    def pop_to_mark(self) -> None:
        while self.stack:
            if self.stack.pop() is _MARK:
                return
        raise _RefusedError("is a malformed pickle: it pops to a MARK that is not there")

    def share(self, value: object) -> object:
        if isinstance(value, _Made) and value.serial not in self.built:
            self.handed_out.add(value.serial)
        return value

    def make(self) -> None:
        self.made += 1
        self.stack.append(_Made(self.made))

    def call(
        self, target: object, args: object, kwargs: object = _EMPTY, new: bool = False
    ) -> None:
        if not isinstance(target, _Imported):
            raise _RefusedError("calls something that is not a name it imported")
        if new and (args is not _EMPTY or kwargs is not _EMPTY):
            raise _RefusedError(f"makes a {target.name} with arguments (NEWOBJ)")
        if not new and target.name in NOT_CALLABLE:
            raise _RefusedError(f"calls {target.name} with arguments from the file")
        self.make()

    def build(self, target: object) -> None:
        if isinstance(target, _Imported):
            raise _RefusedError(f"sets the state of the imported {target.name}")
        if isinstance(target, _Made):
            if target.serial in self.handed_out or target.serial in self.built:
                raise _RefusedError("sets the state of an object after handing it out")
            self.built.add(target.serial)
        self.stack.append(target)

    def step(self, name: str, op: pickletools.OpcodeInfo, arg: object) -> None:
        if name in _REFUSED:
            raise _RefusedError(f"uses {name}: {_REFUSED[name]}, which model files never need")
        if name == "MARK":
            self.stack.append(_MARK)
        elif name in _STRINGS:
            self.stack.append(arg)
        elif name in _PUTS or name == "MEMOIZE":
            if not self.stack or self.stack[-1] is _MARK:
                raise _RefusedError("is a malformed pickle: it memoises an empty stack")
            self.memo[int(str(arg)) if name in _PUTS else len(self.memo)] = self.stack[-1]
        elif name in _GETS:
            self.stack.append(self.share(self.memo.get(int(str(arg)), _UNKNOWN)))
        elif name == "DUP":
            self.stack.extend([self.share(self.pop(1)[0])] * 2)
        elif name == "POP" and self.stack and self.stack[-1] is _MARK:
            self.stack.pop()
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            parts = self.pop(2) if name == "STACK_GLOBAL" else str(arg).split(" ", 1)
            if not all(isinstance(part, str) for part in parts):
                raise _RefusedError("imports a name it builds at load time (STACK_GLOBAL)")
            qualified = ".".join(map(str, parts))
            if "." in str(parts[1]):
                raise _RefusedError(f"imports {qualified} through an attribute path")
            self.names[qualified] = None
            self.stack.append(_Imported(qualified))
        elif name == "REDUCE":
            target, args = self.pop(2)
            self.call(target, args)
        elif name == "NEWOBJ":
            target, args = self.pop(2)
            self.call(target, args, new=True)
        elif name == "NEWOBJ_EX":
            target, args, kwargs = self.pop(3)
            self.call(target, args, kwargs, new=True)
        elif name == "BUILD":
            self.build(self.pop(2)[0])
        elif name == "EMPTY_TUPLE":
            self.stack.append(_EMPTY)
        else:
            before = op.stack_before
            if pickletools.markobject in before:
                self.pop_to_mark()
                self.pop(before.index(pickletools.markobject))
            else:
                self.pop(len(before))
            self.stack.extend([_UNKNOWN] * len(op.stack_after))


def scan_pickle(data: bytes) -> PickleScan:
    """Return every global `data` would import and why it is refused, without unpickling."""
    machine = _Machine()
    end = 0
    try:
        for op, arg, pos in pickletools.genops(data):
            machine.step(op.name, op, arg)
            end = (pos or 0) + 1
    except _RefusedError as exc:
        return PickleScan(tuple(machine.names), str(exc))
    except Exception as exc:  # genops raises ValueError, UnicodeError, struct.error, ...
        return PickleScan(
            tuple(machine.names),
            f"is not a pickle pillars can read ({exc}); joblib files are not read either: "
            "save the model with skops",
        )
    if end != len(data):
        return PickleScan(
            tuple(machine.names),
            f"has {len(data) - end} bytes after the pickle's end (joblib files keep arrays "
            "there); save the model with skops instead",
        )
    return PickleScan(tuple(machine.names))
