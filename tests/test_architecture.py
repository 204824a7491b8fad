"""Depthwise-separable against standard convolution: the stacks' counts, and the comparison's
figures, measured for real in every runtime (nothing asserted about which is faster)."""

import json

import pytest

import artspeed
from artspeed import ConvolutionComparison, InvalidArgumentError, compare_convolutions, conv_stack


@pytest.mark.parametrize("channels,kernel", [(16, 3), (64, 3), (32, 5)])
def test_separable_does_one_over_c_plus_one_over_k_squared_of_the_macs(channels, kernel):
    shape = (10, 12, channels)
    standard = artspeed.profile(conv_stack("standard", shape, depth=2, kernel=kernel))
    separable = artspeed.profile(conv_stack("separable", shape, depth=2, kernel=kernel))
    pixels = 10 * 12
    assert standard.macs == 2 * pixels * kernel * kernel * channels * channels
    assert separable.macs == 2 * pixels * (kernel * kernel * channels + channels * channels)
    assert standard.macs / separable.macs == pytest.approx(1 / (1 / channels + 1 / kernel ** 2))


def test_stacks_keep_the_width_and_the_shape():
    for kind in ("standard", "separable"):
        model = conv_stack(kind, (9, 9, 24), depth=3)
        assert model.output_shape == (None, 9, 9, 24)
    kinds = {type(layer).__name__ for layer in conv_stack("separable", (9, 9, 24)).layers}
    assert "DepthwiseConv2D" in kinds


def test_bad_arguments_say_what_to_give():
    with pytest.raises(InvalidArgumentError, match="choose standard or separable"):
        conv_stack("grouped")
    with pytest.raises(InvalidArgumentError, match="height, width, channels"):
        conv_stack("standard", (32, 32))
    with pytest.raises(InvalidArgumentError, match="unknown runtime"):
        compare_convolutions((8, 8, 8), depth=1, runtimes=("onnx",))


def test_comparison_in_every_runtime_is_measured_and_serializes():
    result = compare_convolutions((16, 16, 32), depth=2, runtimes=("keras", "tflite", "openvino"),
                                  rounds=2, duration_s=0.05)
    assert set(result.latency_ms) == {"keras", "tflite", "openvino"}
    for runtime in result.latency_ms:
        for kind in ("standard", "separable"):
            assert result.latency_ms[runtime][kind] > 0
            assert result.spread_ms[runtime][kind] >= 0
            assert result.gmacs_per_s(runtime, kind) > 0
    assert result.mac_ratio == pytest.approx(1 / (1 / 32 + 1 / 9))
    # a depthwise layer reads each value for 9 MACs: lower intensity than either 1x1 or 3x3 conv
    intensity = result.intensity_flops_per_byte
    assert intensity["depthwise"] < intensity["pointwise"] < intensity["standard"]
    again = ConvolutionComparison.from_json(result.to_json())
    assert again == result
    assert json.loads(result.to_json())["macs"]["standard"] == result.macs["standard"]
    assert "fewer MACs" in repr(result) and "<table" in result._repr_html_()
    assert "G MAC/s" in str(result)


def test_plot_names_what_it_shows():
    import matplotlib
    matplotlib.use("Agg")
    result = compare_convolutions((8, 8, 16), depth=1, runtimes=("tflite",), rounds=1,
                                  duration_s=0.02)
    left, right = result.plot()
    assert [t.get_text() for t in left.get_xticklabels()] == ["fewer MACs", "faster in tflite"]
    assert [t.get_text() for t in right.get_legend().get_texts()] == ["standard stack",
                                                                     "separable stack"]
