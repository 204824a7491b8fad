"""artspeed.measure_machine_peak and plot_roofline: tiny measurements, real plots."""

import artspeed  # noqa: I001  (before TensorFlow: selects Keras 2)

import matplotlib
import pytest

from artspeed import MachinePeak, measure_machine_peak, plot_roofline, profile
from artspeed.errors import InvalidArgumentError

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def peak():
    return measure_machine_peak(matmul_size=256, copy_bytes=4 * 2**20, repeats=2)


def test_peak_is_measured(peak):
    assert peak.flops_per_s > 1e8 and peak.bytes_per_s > 1e8
    assert peak.ridge_flops_per_byte == pytest.approx(peak.flops_per_s / peak.bytes_per_s)
    assert peak.attainable_flops_per_s(1e9) == peak.flops_per_s
    assert peak.attainable_flops_per_s(1.0) == min(peak.flops_per_s, peak.bytes_per_s)
    assert MachinePeak.from_json(peak.to_json()) == peak
    assert "GFLOP/s" in repr(peak) and "<table" in peak._repr_html_()


def test_layers_classified_and_plotted(peak):
    p = profile(artspeed.baseline_cnn(width=8), batch_size=4)
    kinds = {name: bound for name, _, _, bound in peak.classify(p)}
    assert kinds["pool1"] == "memory"            # a max-pool reads 4 floats per FLOP or so
    for _, _, intensity, bound in peak.classify(p):
        assert bound == ("compute" if intensity >= peak.ridge_flops_per_byte else "memory")
    ax = plot_roofline(p, peak)
    assert ax.get_xscale() == "log" and len(ax.collections) == 2
    ax = p.plot(top=3)
    assert len(ax.get_xticklabels()) == 3


def test_bad_input(peak):
    with pytest.raises(InvalidArgumentError, match="matmul_size"):
        measure_machine_peak(matmul_size=-1)
    with pytest.raises(InvalidArgumentError, match="MachinePeak"):
        plot_roofline(profile(artspeed.dense_example()), {"flops_per_s": 1})
