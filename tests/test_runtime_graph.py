"""artspeed.runtime_graph: fusion, kernels, precision and time per layer."""

import pytest
from _openvino_models import shapes_tiny, trained_cnn  # noqa: F401

import artspeed
from artspeed.core.errors import InvalidArgumentError, ModelError


def test_f32_graph_shows_fusion_kernels_and_times(trained_cnn):  # noqa: F811
    model, _ = trained_cnn
    graph = artspeed.runtime_graph(model)
    assert graph.inference_precision == "f32"
    assert graph.ops_before == sum(n for t, n in graph.op_counts.items()
                                   if t not in ("Parameter", "Result", "Constant"))
    # Convolution (+ bias Add) + Relu run as one layer, and so do MatMul (+ Add) + Relu
    assert any(kind == "Convolution" and fused[0] == "Convolution" and "Relu" in fused
               for kind, fused in graph.fusions)
    assert any(kind == "FullyConnected" and "Relu" in fused for kind, fused in graph.fusions)
    assert graph.precisions.get("f32", 0) >= 4 and "bf16" not in graph.precisions
    assert any("avx" in kernel for kernel in graph.kernels)
    assert graph.total_time_us and graph.total_time_us > 0
    assert graph.reorders == sum(1 for layer in graph.layers if not layer.fused)
    assert "Convolution" in str(graph) and "<table" in graph._repr_html_()
    assert artspeed.RuntimeGraph.from_json(graph.to_json()) == graph
    graph.plot()


def test_default_precision_and_a_predictor_without_perf_counts(trained_cnn):  # noqa: F811
    model, _ = trained_cnn
    default = artspeed.default_inference_precision()
    graph = artspeed.runtime_graph(model, inference_precision=None)
    assert graph.inference_precision == default["default"]
    if default["default"] == "bf16":
        assert graph.precisions.get("bf16", 0) >= 2
    plain = artspeed.compile_model(model)
    untimed = artspeed.runtime_graph(plain, runs=1)
    assert untimed.total_time_us is None
    with pytest.raises(InvalidArgumentError, match="no per-layer times"):
        untimed.plot()


def test_bad_input(trained_cnn):  # noqa: F811
    model, _ = trained_cnn
    with pytest.raises(InvalidArgumentError, match="runs"):
        artspeed.runtime_graph(model, runs=-1)
    with pytest.raises(ModelError, match="does not exist"):
        artspeed.runtime_graph("not_a_model.keras")
    with pytest.raises(ModelError, match="tf_keras model"):
        artspeed.runtime_graph(42)
