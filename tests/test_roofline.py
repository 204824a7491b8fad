"""artspeed.measure_machine_peak and plot_roofline: a fixed roof to classify, one real measurement."""

import artspeed  # noqa: I001  (before TensorFlow: selects Keras 2)

import math

import matplotlib
import pytest

from artspeed import MachinePeak, measure_machine_peak, plot_roofline, profile
from artspeed.core.errors import InvalidArgumentError

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def peak():
    """A fixed roof (200 GFLOP/s, 20 GB/s: the ridge at 10 FLOPs/byte), so the
    classification does not depend on how busy the machine is."""
    return MachinePeak(flops_per_s=200e9, bytes_per_s=20e9, matmul_size=1024,
                       copy_bytes=128 * 2**20, repeats=3, cpu_model="a fixed roof for the tests")


def test_the_peak_is_measured():
    measured = measure_machine_peak(matmul_size=256, copy_bytes=4 * 2**20, repeats=2)
    for value in (measured.flops_per_s, measured.bytes_per_s):
        assert value > 0 and math.isfinite(value)
    assert (measured.matmul_size, measured.copy_bytes, measured.repeats) == (256, 4 * 2**20, 2)
    assert measured.ridge_flops_per_byte == pytest.approx(
        measured.flops_per_s / measured.bytes_per_s)


def test_the_roof(peak):
    assert peak.ridge_flops_per_byte == pytest.approx(10.0)
    assert peak.attainable_flops_per_s(1e9) == peak.flops_per_s
    assert peak.attainable_flops_per_s(1.0) == peak.bytes_per_s
    assert peak.bound(9.99) == "memory" and peak.bound(10.0) == "compute"
    assert MachinePeak.from_json(peak.to_json()) == peak
    assert "GFLOP/s" in repr(peak) and "<table" in peak._repr_html_()


def test_layers_classified_and_plotted(peak):
    p = profile(artspeed.baseline_cnn(width=8), batch_size=4)
    kinds = {name: bound for name, _, _, bound in peak.classify(p)}
    # conv2 does ~23 FLOPs per byte; conv1 (one input channel) ~4, the rest under 2
    assert kinds == {"conv1": "memory", "pool1": "memory", "conv2": "compute",
                     "pool2": "memory", "dense": "memory", "logits": "memory",
                     "probabilities": "memory"}
    for _, _, intensity, bound in peak.classify(p):
        assert bound == ("compute" if intensity >= peak.ridge_flops_per_byte else "memory")
    ax = plot_roofline(p, peak)
    assert ax.get_xscale() == "log" and len(ax.collections) == 2
    ax = p.plot(top=3)
    assert len(ax.get_xticklabels()) == 3


def test_bad_input():
    with pytest.raises(InvalidArgumentError, match="matmul_size"):
        measure_machine_peak(matmul_size=-1)
    with pytest.raises(InvalidArgumentError, match="MachinePeak"):
        plot_roofline(profile(artspeed.dense_example()), {"flops_per_s": 1})
