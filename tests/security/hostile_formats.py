"""Hostile files in the data-only formats: ONNX that reaches outside its folder or into
custom operators, safetensors headers that lie about their bytes, XGBoost files that do
not parse, and a file over the size limit."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from shared.models.registry import Format

OVER_LIMIT = 8 * 2**20  # the size limit the security tests admit under


def onnx_model(*, location: str | None = None, domain: str = "") -> bytes:
    """y = x + w, with w's data in `location` and the Add in `domain` when given."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    w = numpy_helper.from_array(np.ones((1, 2), np.float32), "w")
    if location is not None:
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", "8")):
            entry = w.external_data.add()
            entry.key, entry.value = key, value
    node = helper.make_node("Add" if not domain else "Exfiltrate", ["x", "w"], ["y"], domain=domain)
    graph = helper.make_graph([node], "g", [x], [y], [w])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model: onnx.ModelProto = helper.make_model(graph, opset_imports=opsets)
    return model.SerializeToString()


def safetensors_bytes(header: object, body: bytes = b"", length: int | None = None) -> bytes:
    encoded = json.dumps(header).encode()
    size = len(encoded) if length is None else length
    return struct.pack("<Q", size) + encoded + body


def tensor(offsets: list[int], shape: list[int] | None = None) -> dict[str, object]:
    return {
        "dtype": "F32",
        "shape": shape or [(offsets[1] - offsets[0]) // 4],
        "data_offsets": offsets,
    }


def duplicate_tensor() -> bytes:
    """The same tensor name twice: which one a reader keeps is up to the reader."""
    entry = '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
    header = ("{" + entry + "," + entry + "}").encode()
    return struct.pack("<Q", len(header)) + header + bytes(4)


def secret(folder: Path) -> str:
    """A file beside (not inside) the artifact's folder that external data would read."""
    outside = folder.parent / "secret.bin"
    outside.write_bytes(b"secret!!")
    return str(outside)


OTHERS: dict[str, tuple[Format, Callable[[Path], bytes]]] = {
    "onnx-external-data-absolute": ("onnx", lambda f: onnx_model(location=secret(f))),
    "onnx-external-data-traversal": (
        "onnx",
        lambda f: onnx_model(location="../" + Path(secret(f)).name),
    ),
    "onnx-external-data-beside-model": ("onnx", lambda f: onnx_model(location="weights.bin")),
    "onnx-custom-operator-domain": ("onnx", lambda f: onnx_model(domain="com.example.native")),
    "onnx-not-a-model": ("onnx", lambda f: b"\x08\x07 not protobuf"),
    "safetensors-offsets-beyond-file": (
        "safetensors",
        lambda f: safetensors_bytes({"w": tensor([0, 4096])}, bytes(16)),
    ),
    "safetensors-overlapping-tensors": (
        "safetensors",
        lambda f: safetensors_bytes({"a": tensor([0, 8]), "b": tensor([4, 12])}, bytes(12)),
    ),
    "safetensors-gap-between-tensors": (
        "safetensors",
        lambda f: safetensors_bytes({"a": tensor([0, 4]), "b": tensor([8, 12])}, bytes(12)),
    ),
    "safetensors-shape-disagrees": (
        "safetensors",
        lambda f: safetensors_bytes({"a": tensor([0, 8], shape=[1000, 1000])}, bytes(8)),
    ),
    "safetensors-header-length-absurd": (
        "safetensors",
        lambda f: safetensors_bytes({}, b"", length=2**63),
    ),
    "safetensors-header-not-json": ("safetensors", lambda f: struct.pack("<Q", 4) + b"{{{{"),
    "safetensors-duplicate-tensor": ("safetensors", lambda f: duplicate_tensor()),
    "xgboost-ubj-truncated": (
        "xgboost-ubj",
        lambda f: b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner{",
    ),
    "xgboost-ubj-garbage": ("xgboost-ubj", lambda f: b"\xff" * 64),
    "xgboost-json-not-json": ("xgboost-json", lambda f: b'{"learner": {'),
    "xgboost-json-no-learner": ("xgboost-json", lambda f: b'{"version": [3, 2, 0]}'),
    "oversized-skops": ("skops", lambda f: bytes(OVER_LIMIT + 1)),
}
