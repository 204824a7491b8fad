"""NNCF INT8 for OpenVINO: quantize, accuracy control, QAT converted directly."""

import numpy as np
import pytest
from _openvino_models import shapes_tiny, trained_cnn  # noqa: F401

import artspeed
from artspeed.core.errors import InvalidArgumentError, ModelError


def test_nncf_int8_is_close_and_runs_int8_kernels(trained_cnn, shapes_tiny):  # noqa: F811
    model, _ = trained_cnn
    int8 = artspeed.quantize_openvino(model, shapes_tiny, subset_size=50, progress=False)
    assert artspeed.count_ops(int8)["FakeQuantize"] >= 4
    check = artspeed.validate(int8, model, shapes_tiny)
    assert check.top1_agreement >= 0.9
    assert abs(check.accuracy - check.reference_accuracy) <= 0.05
    graph = artspeed.runtime_graph(int8)
    convs = [layer for layer in graph.layers if layer.layer_type == "Convolution"]
    assert convs and all(layer.precision in ("u8", "i8") for layer in convs)


def test_ignored_scope_keeps_operations_in_float(trained_cnn, shapes_tiny):  # noqa: F811
    model, _ = trained_cnn
    ir = artspeed.convert_model(model)
    matmuls = [op.get_friendly_name() for op in ir.get_ordered_ops()
               if op.get_type_name() == "MatMul"]
    full = artspeed.quantize_openvino(ir, shapes_tiny, subset_size=20, progress=False)
    skipped = artspeed.quantize_openvino(ir, shapes_tiny, subset_size=20, progress=False,
                                         ignored_scope={"types": ["MatMul"]})
    by_name = artspeed.quantize_openvino(ir, shapes_tiny, subset_size=20, progress=False,
                                         ignored_scope=matmuls[-1:])
    fq = [artspeed.count_ops(m)["FakeQuantize"] for m in (full, skipped, by_name)]
    assert fq[0] > fq[2] > fq[1]
    graph = artspeed.runtime_graph(skipped)
    fcs = [layer for layer in graph.layers if layer.layer_type == "FullyConnected"]
    assert fcs and all(layer.precision == "f32" for layer in fcs)


def test_accuracy_control_keeps_the_drop_small(trained_cnn, shapes_tiny):  # noqa: F811
    model, _ = trained_cnn
    int8 = artspeed.quantize_openvino_with_accuracy_control(
        model, shapes_tiny, max_drop=0.01, subset_size=50, validation_samples=200,
        progress=False)
    check = artspeed.validate(int8, model, shapes_tiny)
    assert check.reference_accuracy - check.accuracy <= 0.0101


def test_qat_model_converts_to_fake_quantize(trained_cnn, shapes_tiny):  # noqa: F811
    model, _ = trained_cnn
    qat = artspeed.quantize_model(model)
    artspeed.train(qat, shapes_tiny, epochs=1, learning_rate=1e-4, progress=False)
    ir = artspeed.qat_to_openvino(qat)
    assert artspeed.count_ops(ir)["FakeQuantize"] >= 4
    check = artspeed.validate(ir, qat, shapes_tiny)
    assert check.top1_agreement >= 0.9
    graph = artspeed.runtime_graph(ir)
    assert any(layer.layer_type == "Convolution" and layer.precision in ("u8", "i8")
               for layer in graph.layers)


def test_bad_input(trained_cnn, shapes_tiny):  # noqa: F811
    model, _ = trained_cnn
    with pytest.raises(InvalidArgumentError, match=r"samples of shape \(5, 5, 1\).*takes \(28, 28, 1\)"):
        artspeed.quantize_openvino(model, np.zeros((4, 5, 5, 1), np.float32), progress=False)
    with pytest.raises(InvalidArgumentError, match="needs calibration data"):
        artspeed.quantize_openvino(model, None)
    with pytest.raises(InvalidArgumentError, match="names no operation of the model: conv9"):
        artspeed.quantize_openvino(model, shapes_tiny, ignored_scope=["conv9"], progress=False)
    with pytest.raises(InvalidArgumentError, match="unknown preset"):
        artspeed.quantize_openvino(model, shapes_tiny, preset="fast")
    with pytest.raises(InvalidArgumentError, match="subset_size"):
        artspeed.quantize_openvino(model, shapes_tiny, subset_size=0)
    with pytest.raises(InvalidArgumentError, match="max_drop"):
        artspeed.quantize_openvino_with_accuracy_control(model, shapes_tiny, max_drop=5)
    with pytest.raises(InvalidArgumentError, match="artspeed Dataset"):
        artspeed.quantize_openvino_with_accuracy_control(model, shapes_tiny.x_test)
    with pytest.raises(ModelError, match="no quantization wrappers"):
        artspeed.qat_to_openvino(model)
