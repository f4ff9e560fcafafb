"""The safetensors header, read and checked by pillars before the library sees the file.

A safetensors file is an 8-byte little-endian header length, a JSON header naming each
tensor's dtype, shape and byte range, and the bytes. The header is refused when its
length is absurd, it is not a JSON object of well-formed entries, or the byte ranges
fall outside the data, overlap, leave gaps, or disagree with dtype and shape.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

__all__ = ["MAX_HEADER_BYTES", "SafetensorsHeader", "read_header"]

MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own ceiling

_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


@dataclass(frozen=True)
class SafetensorsHeader:
    """Each tensor's dtype and shape, and the file's string metadata."""

    tensors: dict[str, tuple[str, tuple[int, ...]]]
    metadata: dict[str, str]


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("the header names a key twice")
    return dict(pairs)


def read_header(data: bytes) -> SafetensorsHeader:
    """Return the checked header of the safetensors bytes `data`, or raise ValueError."""
    if len(data) < 8:
        raise ValueError("it is shorter than the 8-byte header length")
    size = int.from_bytes(data[:8], "little")
    if size > min(MAX_HEADER_BYTES, len(data) - 8):
        raise ValueError(f"its header length {size} is beyond the file or the 100 MB limit")
    try:
        header = json.loads(data[8 : 8 + size], object_pairs_hook=_unique)
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise ValueError(f"its header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise ValueError("its __metadata__ is not a map of strings")
    body = len(data) - 8 - size
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    ranges = []
    for name, entry in header.items():
        dtype, shape, offsets = (
            (entry.get("dtype"), entry.get("shape"), entry.get("data_offsets"))
            if isinstance(entry, dict)
            else (None, None, None)
        )
        if dtype not in _DTYPE_BYTES:
            raise ValueError(f"tensor {name!r} has dtype {dtype!r}, not one pillars reads")
        if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
            raise ValueError(f"tensor {name!r} has shape {shape!r}")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(type(n) is int for n in offsets)
            and 0 <= offsets[0] <= offsets[1] <= body
        ):
            raise ValueError(f"tensor {name!r} has offsets {offsets!r} outside the {body} bytes")
        if offsets[1] - offsets[0] != math.prod(shape) * _DTYPE_BYTES[dtype]:
            raise ValueError(f"tensor {name!r}: {offsets!r} does not hold {dtype} {shape}")
        tensors[name] = (dtype, tuple(shape))
        ranges.append((offsets[0], offsets[1], name))
    end = 0
    for start, stop, name in sorted(ranges):
        if start != end:
            raise ValueError(f"tensor {name!r} {'overlaps' if start < end else 'leaves a gap'}")
        end = stop
    if end != body:
        raise ValueError(f"{body - end} bytes after the last tensor")
    return SafetensorsHeader(tensors, metadata)
