"""artspeed.measure_runtime_roofs, layer_times and plot_runtime_roofs, on real OpenVINO.

Small sizes; structure only (kernels, precisions, op counts), never a time.
"""

import artspeed  # noqa: I001  (before TensorFlow: selects Keras 2)

import math
import re

import matplotlib
import numpy as np
import pytest

from artspeed import (
    LayerTimes,
    RuntimeRoofs,
    compile_model,
    environment,
    layer_times,
    measure_runtime_roofs,
    plot_runtime_roofs,
)
from artspeed.core.errors import InvalidArgumentError
from artspeed.core.frameworks import openvino_core, ov

matplotlib.use("Agg")


INT8_KERNEL = re.compile(r"[iu]8", re.IGNORECASE)


@pytest.fixture(scope="module")
def roofs():
    return measure_runtime_roofs(size=64, copy_bytes=2**20, repeats=3)


@pytest.fixture(scope="module")
def capabilities():
    return tuple(openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def _fq(node, low, high, levels):
    lo, hi = ov.opset13.constant(np.float32(low)), ov.opset13.constant(np.float32(high))
    return ov.opset13.fake_quantize(node, lo, hi, lo, hi, levels)


def tiny_model(int8=False):
    """Conv 3x3 (3 -> 8, no padding) on 10x10, a depthwise 3x3 (padding 1), a MatMul to 10."""
    o = ov.opset13
    rng = np.random.default_rng(0)
    x = o.parameter([1, 3, 10, 10], ov.Type.f32, name="x")
    w = o.constant(rng.uniform(-1, 1, (8, 3, 3, 3)).astype(np.float32))
    a = x
    if int8:
        a, w = _fq(x, 0.0, 1.0, 256), _fq(w, -1.0, 1.0, 255)
    conv = o.relu(o.convolution(a, w, [1, 1], [0, 0], [0, 0], [1, 1], name="conv"))
    dw = o.constant(rng.uniform(-1, 1, (8, 1, 1, 3, 3)).astype(np.float32))
    depthwise = o.relu(o.group_convolution(conv, dw, [1, 1], [1, 1], [1, 1], [1, 1],
                                           name="depthwise"))
    flat = o.reshape(depthwise, o.constant(np.array([1, 512], np.int64)), False)
    dense = o.matmul(flat, o.constant(rng.uniform(-1, 1, (512, 10)).astype(np.float32)),
                     False, False, name="dense")
    return ov.Model([dense], [x], "tiny")


def conv_model(int8=False):
    """One 3x3 convolution, 16 -> 16 channels on 56x56: enough work to time (tens of us),
    with too few channels to come near the roof (about 40% of it here)."""
    o = ov.opset13
    x = o.parameter([1, 16, 56, 56], ov.Type.f32, name="x")
    w = o.constant(np.random.default_rng(0).uniform(-1, 1, (16, 16, 3, 3)).astype(np.float32))
    a = x
    if int8:
        a, w = _fq(x, 0.0, 1.0, 256), _fq(w, -1.0, 1.0, 255)
    y = o.relu(o.convolution(a, w, [1, 1], [1, 1], [1, 1], [1, 1], name="conv"))
    return ov.Model([y], [x], "conv")


# ------------------------------------------------------------------ the roofs


def test_roofs_per_precision(roofs, capabilities):
    assert [r.precision for r in roofs.roofs] == ["f32", "bf16", "int8"]
    assert roofs.capabilities == capabilities
    assert roofs.threads == environment().available_cores
    assert roofs.bytes_per_s > 0 and math.isfinite(roofs.bytes_per_s)
    f32 = roofs.roof("f32")
    assert f32.present and "f32" in f32.kernel
    for roof in roofs.roofs:
        if roof.present:
            assert len(roof.measured) == 6   # the MatMul and five convolutions
            assert roof.ops_per_s == max(roof.measured.values())
            assert roof.operation in {what.rsplit(" (", 1)[0] for what in roof.measured}
            assert roof.wall_ops_per_s > 0
            assert roof.precision in roofs.precisions
            assert roofs.ridge_ops_per_byte(roof.precision) == pytest.approx(
                roof.ops_per_s / roofs.bytes_per_s)
            assert roofs.attainable_ops_per_s(roof.precision, 1e9) == roof.ops_per_s
        else:
            assert roof.ops_per_s is None and roof.absent
            assert roof.precision not in roofs.precisions


def test_int8_roof_runs_an_int8_kernel(roofs, capabilities):
    int8 = roofs.roof("int8")
    assert int8.present == ("INT8" in capabilities)
    if int8.present:
        assert INT8_KERNEL.search(int8.kernel), int8.kernel
        assert all(INT8_KERNEL.search(what.rsplit("(", 1)[1]) for what in int8.measured)


def test_bf16_presence_matches_the_cpu(roofs, capabilities):
    bf16 = roofs.roof("bf16")
    assert bf16.present == ("BF16" in capabilities)
    if bf16.present:
        assert "bf16" in bf16.kernel
    else:
        assert bf16.absent == "no AVX512_BF16 or AMX: OpenVINO runs bf16 as f32"


def test_roofs_show_and_serialize(roofs):
    assert RuntimeRoofs.from_json(roofs.to_json()) == roofs
    assert "G ops/s" in repr(roofs) and "GB/s" in str(roofs)
    assert "<table" in roofs._repr_html_()
    assert "f32" in repr(roofs.roof("f32"))


def test_one_precision_asked():
    roofs = measure_runtime_roofs("f32", size=32, copy_bytes=2**20, repeats=1)
    assert roofs.precisions == ("f32",) and roofs.size == 32
    with pytest.raises(InvalidArgumentError, match="no 'int8' roof"):
        roofs.roof("int8")


def test_bad_roof_arguments():
    with pytest.raises(InvalidArgumentError, match="unknown precision 'fp8'"):
        measure_runtime_roofs(["fp8"])
    with pytest.raises(InvalidArgumentError, match="size"):
        measure_runtime_roofs(size=1)
    with pytest.raises(InvalidArgumentError, match="threads"):
        measure_runtime_roofs(threads=0)
    with pytest.raises(InvalidArgumentError, match="precisions is empty"):
        measure_runtime_roofs([])


# ------------------------------------------------------------------ the layers


def test_layer_ops_by_hand(roofs):
    times = layer_times(tiny_model(), roofs=roofs, runs=3)
    by_op = {layer.operations: layer for layer in times.layers}
    # conv: 8 x 8 x 8 outputs, each 3 x 3 x 3 multiply-accumulates
    assert by_op[("Convolution",)].ops == 2 * (8 * 8 * 8) * (3 * 3 * 3) == 27648
    # depthwise: 8 x 8 x 8 outputs, each 3 x 3 (one input channel per group)
    assert by_op[("GroupConvolution",)].ops == 2 * (8 * 8 * 8) * (3 * 3) == 9216
    # MatMul 1 x 512 by 512 x 10
    assert by_op[("MatMul",)].ops == 2 * 10 * 512 == 10240
    # f32: inputs, weights and output, 4 bytes each
    assert by_op[("Convolution",)].bytes == 4 * (3 * 10 * 10 + 8 * 3 * 3 * 3 + 8 * 8 * 8)
    assert times.summary()["f32"]["ops"] == 27648 + 9216 + 10240
    assert all(layer.precision == "f32" for layer in times.layers)
    assert times.total_time_us >= times.compute_time_us > 0


def test_layer_ops_of_a_keras_model_match_the_profile():
    model = artspeed.baseline_cnn(width=4)
    times = layer_times(model, runs=2)
    assert times.name == model.name
    assert sum(layer.ops for layer in times.layers) == 2 * artspeed.profile(model).macs
    assert all(layer.ops == layer.model_ops for layer in times.layers)


def test_ops_the_runtime_computes():
    """A 3x3 convolution before a 1x1 of stride 2, as ResNet50 opens a stage: the CPU
    plugin moves the stride into the 3x3 (StridesOptimization), which then computes a
    quarter of its outputs."""
    o = ov.opset13
    rng = np.random.default_rng(0)
    x = o.parameter([1, 16, 16, 16], ov.Type.f32, name="x")
    w3 = o.constant(rng.uniform(-1, 1, (16, 16, 3, 3)).astype(np.float32))
    w1 = o.constant(rng.uniform(-1, 1, (32, 16, 1, 1)).astype(np.float32))
    conv = o.relu(o.convolution(x, w3, [1, 1], [1, 1], [1, 1], [1, 1], name="conv3x3"))
    strided = o.convolution(conv, w1, [2, 2], [0, 0], [0, 0], [1, 1], name="conv1x1")
    times = layer_times(ov.Model([strided], [x], "strides"), runs=2)
    by_name = {layer.name: layer for layer in times.layers}
    three = by_name["conv3x3"]
    assert three.model_ops == 2 * (16 * 16 * 16) * (16 * 3 * 3)
    assert three.ops == three.model_ops // 4   # 8 x 8 outputs per channel, not 16 x 16
    # reads the whole 16 x 16 input and the weights, writes 8 x 8 outputs, f32
    assert three.bytes == 4 * (16 * 16 * 16 + 16 * 16 * 9 + 16 * 8 * 8)
    one = by_name["conv1x1"]
    assert one.ops == one.model_ops == 2 * (32 * 8 * 8) * 16
    summary = times.summary()["f32"]
    assert summary["ops"] == three.ops + one.ops < summary["model_ops"]


def test_int8_layers_run_int8_kernels(roofs):
    times = layer_times(tiny_model(int8=True), roofs=roofs, runs=3)
    conv = next(layer for layer in times.layers if layer.operations == ("Convolution",))
    assert conv.precision == "int8" and INT8_KERNEL.search(conv.exec_type)
    assert conv.ops == 27648
    # int8 inputs and weights, 1 byte each; the output as the plugin wrote it
    assert conv.bytes in (3 * 10 * 10 + 216 + n * 8 * 8 * 8 for n in (1, 2, 4))


def test_every_matmul_of_an_nncf_int8_model_is_placed():
    """NNCF's INT8 dense_example: OpenVINO renames some quantized MatMuls
    '<name>/DequantizationMultiply' and records no original name; still all five count."""
    model = artspeed.dense_example()
    x = np.random.default_rng(0).random((8, 3), np.float32)
    int8 = artspeed.quantize_openvino(model, x, subset_size=8, progress=False)
    times = layer_times(int8, runs=2)
    assert len(times.layers) == 5
    assert all(layer.precision == "int8" and INT8_KERNEL.search(layer.exec_type)
               for layer in times.layers)
    assert sum(layer.ops for layer in times.layers) == 2 * artspeed.profile(model).macs


def test_percent_of_roof(roofs):
    """Each precision this CPU has: one convolution, its percent of its roof from its ops, time
    and roof (how high it comes depends on the machine's load when each was timed: the
    bench scripts report it, a test cannot bound it)."""
    assert "f32" in roofs.precisions
    for precision in roofs.precisions:
        model = conv_model(int8=precision == "int8")
        hint = "bf16" if precision == "bf16" else "f32"
        for statistic in ("median", "fastest"):
            times = layer_times(model, roofs=roofs, runs=5, statistic=statistic,
                                inference_precision=hint)
            (layer,) = times.layers
            assert layer.precision == precision
            assert layer.roof_ops_per_s == roofs.ops_per_s(precision)
            assert layer.percent_of_roof == pytest.approx(
                100 * layer.ops / (layer.time_us * 1e-6) / roofs.ops_per_s(precision))
            assert layer.percent_of_roof > 0, (precision, statistic, layer)
            assert times.summary()[precision]["ops"] == 2 * 56 * 56 * 16 * 16 * 9
            assert times.percent_of_roof(precision) == pytest.approx(layer.percent_of_roof)
            assert times.roofs == {p: roofs.ops_per_s(p) for p in roofs.precisions}


def test_predictors_and_compiled_models_are_compiled_again():
    model = tiny_model()
    predictor = compile_model(model, threads=1)   # no perf_count: recompiled with it
    times = layer_times(predictor, runs=2)
    assert {layer.operations for layer in times.layers} == {
        ("Convolution",), ("GroupConvolution",), ("MatMul",)}
    # OpenVINO's default precision: bf16 where the CPU has it, and the copy keeps it
    compiled = openvino_core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": 1})
    default = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
    times = layer_times(compiled, source=model, runs=2)
    assert sum(layer.ops for layer in times.layers) == 27648 + 9216 + 10240
    conv = next(layer for layer in times.layers if layer.operations == ("Convolution",))
    assert conv.precision == default
    with pytest.raises(InvalidArgumentError, match="source="):
        layer_times(compiled)


def test_layer_times_show_and_serialize(roofs):
    times = layer_times(tiny_model(), roofs=roofs, runs=2)
    assert LayerTimes.from_json(times.to_json()) == times
    assert "% of roof" in str(times) and "median" in times.timing
    assert "<table" in times._repr_html_() and "LayerTimes" in repr(times)


def test_bad_layer_arguments(roofs):
    with pytest.raises(InvalidArgumentError, match="unknown statistic"):
        layer_times(tiny_model(), statistic="max")
    with pytest.raises(InvalidArgumentError, match="RuntimeRoofs"):
        layer_times(tiny_model(), roofs=artspeed.MachinePeak(1e9, 1e9, 1, 1, 1))
    with pytest.raises(InvalidArgumentError, match="runs"):
        layer_times(tiny_model(), runs=0)


# ------------------------------------------------------------------ the plot


def test_plot(roofs):
    f32 = layer_times(tiny_model(), roofs=roofs, runs=2, name="tiny f32")
    int8 = layer_times(tiny_model(int8=True), roofs=roofs, runs=2, name="tiny int8")
    ax = plot_runtime_roofs(roofs, [f32, int8])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    for precision in roofs.precisions:
        assert any(label.startswith(f"{precision} roof:") for label in labels)
    assert any(label.startswith("memory bandwidth:") for label in labels)
    assert any(label.startswith("tiny f32: ") and "f32 layers" in label for label in labels)
    assert any(label.startswith("tiny int8: ") and "int8 layers" in label for label in labels)
    assert len(plot_runtime_roofs(roofs).get_legend().get_texts()) == len(roofs.precisions) + 1
    with pytest.raises(InvalidArgumentError, match="RuntimeRoofs"):
        plot_runtime_roofs(f32)
    with pytest.raises(InvalidArgumentError, match="LayerTimes"):
        plot_runtime_roofs(roofs, [roofs])
