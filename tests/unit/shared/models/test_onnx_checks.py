"""ONNX checks: standard models pass; custom operators and external data are found even
inside subgraphs and attributes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from shared.models.onnx_checks import check_onnx
from tests.security.hostile_formats import onnx_model


def test_a_standard_model_passes_and_names_its_opsets(tmp_path: Path) -> None:
    assert check_onnx(onnx_model(), tmp_path) == ("ai.onnx opset 17",)


def branch(node: object) -> object:
    out = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])
    return helper.make_graph([node], "branch", [], [out])


def with_if(branch_node: object) -> bytes:
    cond = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    out = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])
    node = helper.make_node(
        "If", ["c"], ["z"], then_branch=branch(branch_node), else_branch=branch(branch_node)
    )
    graph = helper.make_graph([node], "g", [cond], [out])
    # The custom domain is not imported at the top: only the subgraph's node names it.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def test_a_custom_operator_inside_a_subgraph_is_found(tmp_path: Path) -> None:
    custom = helper.make_node("Native", [], ["z"], domain="com.example")
    with pytest.raises(ValueError, match=r"custom operator domains 'com\.example'"):
        check_onnx(with_if(custom), tmp_path)


def test_external_data_in_a_constant_attribute_is_found(tmp_path: Path) -> None:
    value = numpy_helper.from_array(np.ones(1, np.float32), "v")
    value.ClearField("raw_data")
    value.data_location = TensorProto.EXTERNAL
    entry = value.external_data.add()
    entry.key, entry.value = "location", "/etc/shadow"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Constant", [], ["x"], value=value)], "g", [], [x])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ValueError, match="'/etc/shadow', outside the model's folder"):
        check_onnx(model.SerializeToString(), tmp_path)
