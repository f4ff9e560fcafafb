"""The safetensors header: what pillars writes reads back; lies about the bytes do not."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors.numpy import save

from shared.models.safetensors_header import read_header


def test_a_real_file_reads_back_with_its_metadata() -> None:
    tensors = {"w": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.float64)}
    header = read_header(save(tensors, metadata={"architecture": "x"}))
    assert header.tensors == {"w": ("F32", (2, 3)), "b": ("F64", (3,))}
    assert header.metadata == {"architecture": "x"}


def encoded(header: object, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x01\x02", "shorter than the 8-byte header length"),
        (encoded([], b""), "not a JSON object"),
        (encoded({"__metadata__": {"a": 1}}, b""), "not a map of strings"),
        (encoded({"w": {"dtype": "F4", "shape": [1], "data_offsets": [0, 1]}}, b"x"), "dtype"),
        (
            encoded({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4)),
            "shape",
        ),
        (
            encoded({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, bytes(8)),
            "4 bytes after",
        ),
    ],
)
def test_lies_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        read_header(data)
