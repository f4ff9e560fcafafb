"""A strict reader of the Universal Binary JSON that XGBoost writes (`.ubj` models).

XGBoost's own parser is C++; this one reads the file first in Python, so a truncated,
malformed or absurdly nested file is refused before XGBoost sees it. Typed numeric
arrays (XGBoost's bulk: weights, split conditions) are bounds-checked and skipped.
"""

from __future__ import annotations

import struct

__all__ = ["UbjsonError", "read_ubjson"]

MAX_DEPTH = 64  # XGBoost models nest about 6 deep

_NUMBERS = {
    b"i": ">b",
    b"U": ">B",
    b"I": ">h",
    b"l": ">i",
    b"L": ">q",
    b"d": ">f",
    b"D": ">d",
    b"C": ">B",
}
_CONSTANTS = {b"Z": None, b"T": True, b"F": False}


class UbjsonError(ValueError):
    """The bytes are not well-formed UBJSON."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, count: int) -> bytes:
        if count < 0 or self.at + count > len(self.data):
            raise UbjsonError(f"truncated at byte {self.at}")
        chunk = self.data[self.at : self.at + count]
        self.at += count
        return chunk

    def marker(self) -> bytes:
        self.peek()
        return self.take(1)

    def length(self, marker: bytes | None = None) -> int:
        marker = marker or self.take(1)
        if marker not in (b"i", b"U", b"I", b"l", b"L"):
            raise UbjsonError(f"a length of type {marker!r} at byte {self.at}")
        size = int(struct.unpack(_NUMBERS[marker], self.take(struct.calcsize(_NUMBERS[marker])))[0])
        if size < 0:
            raise UbjsonError(f"a negative length at byte {self.at}")
        return size

    def text(self) -> str:
        try:
            return self.take(self.length()).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UbjsonError(f"a string that is not UTF-8 at byte {self.at}") from exc

    def value(self, marker: bytes, depth: int) -> object:
        if depth > MAX_DEPTH:
            raise UbjsonError(f"nested deeper than {MAX_DEPTH}")
        if marker in _CONSTANTS:
            return _CONSTANTS[marker]
        if marker in _NUMBERS:
            fmt = _NUMBERS[marker]
            return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
        if marker in (b"S", b"H"):
            return self.text()
        if marker in (b"[", b"{"):
            return self.container(marker == b"{", depth + 1)
        raise UbjsonError(f"unknown marker {marker!r} at byte {self.at - 1}")

    def peek(self) -> bytes:
        while self.data[self.at : self.at + 1] == b"N":  # no-op padding
            self.at += 1
        return self.data[self.at : self.at + 1]

    def container(self, is_object: bool, depth: int) -> object:
        kind: bytes | None = None
        count: int | None = None
        if self.peek() == b"$":
            self.at += 1
            kind = self.take(1)
            if self.peek() != b"#":
                raise UbjsonError(f"a typed container without a count at byte {self.at}")
        if self.peek() == b"#":
            self.at += 1
            count = self.length()
        if kind in _NUMBERS and count is not None and not is_object:
            self.take(count * struct.calcsize(_NUMBERS[kind]))
            return None
        items: dict[str, object] = {}
        values: list[object] = []
        index = 0
        while count is None or index < count:
            if count is None and self.peek() in (b"]", b"}"):
                closing = self.take(1)
                if closing != (b"}" if is_object else b"]"):
                    raise UbjsonError(f"a container closed by {closing!r} at byte {self.at}")
                break
            key = self.text() if is_object else ""
            item = self.value(kind or self.marker(), depth)
            if is_object:
                items[key] = item
            else:
                values.append(item)
            index += 1
        return items if is_object else values


def read_ubjson(data: bytes) -> object:
    """Parse `data` as one UBJSON value (typed numeric arrays come back as None)."""
    reader = _Reader(data)
    value = reader.value(reader.marker(), 0)
    if reader.at != len(data):
        raise UbjsonError(f"{len(data) - reader.at} bytes after the value")
    return value
