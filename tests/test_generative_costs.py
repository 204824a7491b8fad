"""What generation costs: the FLOP and byte counts, the cost curves and the roofline placement."""

import math

import matplotlib
import numpy as np
import pytest
from conftest import tiny_lm

import artspeed
from artspeed import (
    VOCABULARY,
    CharTokenizer,
    ForwardCost,
    GenerationCosts,
    InvalidArgumentError,
    LanguageModel,
    MachinePeak,
    PrefillDecodeRoofline,
    decoder_lm,
    forward_cost,
    generation_costs,
    prefill_decode_roofline,
)
from artspeed.core.frameworks import tf_keras

matplotlib.use("Agg")

CONTEXT = 32


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(context=CONTEXT, seed=1)


@pytest.fixture(scope="module")
def peak():
    return artspeed.measure_machine_peak(matmul_size=128, copy_bytes=2**20, repeats=2)


@pytest.fixture(scope="module")
def roofline(lm, peak):
    return prefill_decode_roofline(lm, peak, batch_size=4, repeats=2)


def _dense_params(model) -> int:
    return sum(layer.count_params() for layer in model.layers
               if isinstance(layer, tf_keras.layers.Dense))


@pytest.mark.parametrize("shape", [dict(layers=1, width=32, heads=2, mlp_ratio=4),
                                   dict(layers=2, width=24, heads=3, mlp_ratio=2)])
def test_the_flop_count_is_two_per_dense_parameter_plus_attention(shape):
    model = decoder_lm(len(VOCABULARY), context=CONTEXT, **shape)
    lm = LanguageModel(model, CharTokenizer())
    dense = _dense_params(model)
    width, layers = shape["width"], shape["layers"]
    embeddings = (len(VOCABULARY) + CONTEXT) * width
    norms = 2 * width * (2 * layers + 1)
    assert dense + embeddings + norms == model.count_params()   # nothing else holds weights
    attention = 4 * layers * width       # per token, per attended position
    one = forward_cost(lm, 1)
    assert one.dense_params == dense
    assert one.flops == 2 * dense + attention * 1
    decode = forward_cost(lm, 1, cached_tokens=20)
    assert decode.flops == 2 * dense + attention * 21
    prefill = forward_cost(lm, 16)
    assert prefill.flops == 16 * (2 * dense + attention * 16)
    assert forward_cost(lm, 1, 20, batch_size=3).flops == 3 * decode.flops


def test_the_bytes_are_the_weights_once_per_call_and_the_kv_cache_per_row(lm):
    prefill = forward_cost(lm, CONTEXT)
    assert prefill.weight_bytes == lm.weight_bytes == 4 * lm.params
    assert prefill.kv_bytes == lm.kv_cache_bytes(CONTEXT)
    batched = forward_cost(lm, 1, CONTEXT - 1, batch_size=4)
    assert batched.weight_bytes == lm.weight_bytes                # read once for all rows
    assert batched.kv_bytes == 4 * lm.kv_cache_bytes(CONTEXT)     # each row its own cache
    assert batched.bytes_moved == batched.weight_bytes + batched.kv_bytes
    fixed = forward_cost(lm.with_cache("fixed"), 1, cached_tokens=3)
    assert fixed.attended_tokens == CONTEXT                       # the whole context, masked
    assert isinstance(prefill, ForwardCost) and "FLOPs/byte" in repr(prefill)


def test_prefill_is_more_intense_than_batched_decode_than_decode(lm):
    prefill = forward_cost(lm, CONTEXT).flops_per_byte
    decode = forward_cost(lm, 1, CONTEXT - 1).flops_per_byte
    batched = forward_cost(lm, 1, CONTEXT - 1, batch_size=8).flops_per_byte
    assert prefill > batched > decode
    assert prefill / decode > CONTEXT / 2     # the weights' bytes serve CONTEXT tokens, not 1


def test_forward_cost_rejects_a_call_past_the_context(lm):
    with pytest.raises(InvalidArgumentError, match="cached_tokens"):
        forward_cost(lm, 4, cached_tokens=CONTEXT - 2)
    with pytest.raises(InvalidArgumentError, match="LanguageModel"):
        forward_cost("model.h5", 1)


def test_the_roofline_points_use_the_measured_roofs_and_their_ridge(roofline, peak, lm):
    assert isinstance(roofline, PrefillDecodeRoofline)
    assert [p.name for p in roofline.points] == ["prefill", "decode", "decode batch 4"]
    assert roofline.peak_flops_per_s == peak.flops_per_s
    assert roofline.bytes_per_s == peak.bytes_per_s
    assert roofline.ridge_flops_per_byte == pytest.approx(peak.ridge_flops_per_byte)
    for p in roofline.points:
        assert p.bound == peak.bound(p.flops_per_byte)
        assert p.attainable_flops_per_s == peak.attainable_flops_per_s(p.flops_per_byte)
        assert p.measured_ms > 0 and p.measured_flops_per_s > 0
        assert p.roof_ms == pytest.approx(1e3 * p.flops / p.attainable_flops_per_s)
    prefill, decode = roofline.point("prefill"), roofline.point("decode")
    assert prefill.flops == forward_cost(lm, CONTEXT).flops
    assert decode.flops == forward_cost(lm, 1, CONTEXT - 1).flops
    assert prefill.flops_per_byte > decode.flops_per_byte
    assert roofline.weight_bytes == lm.weight_bytes
    back = PrefillDecodeRoofline.from_dict(roofline.to_dict())
    assert back.points == roofline.points


def test_the_bound_and_the_text_follow_the_ridge(lm):
    intensities = [forward_cost(lm, CONTEXT).flops_per_byte,
                   forward_cost(lm, 1, CONTEXT - 1).flops_per_byte]
    ridge = math.sqrt(intensities[0] * intensities[1])      # between decode and prefill
    bandwidth = 1e10
    between = MachinePeak(ridge * bandwidth, bandwidth, 0, 0, 0)
    result = prefill_decode_roofline(lm, between, batch_size=2, repeats=1)
    assert result.point("prefill").bound == "compute"
    assert result.point("decode").bound == "memory"
    text = str(result)
    assert "prefill: " in text and "right of the ridge" in text and "compute-bound" in text
    assert "decode: " in text and "left of the ridge" in text and "memory-bound" in text
    low = MachinePeak(min(intensities) / 2 * bandwidth, bandwidth, 0, 0, 0)
    everything = prefill_decode_roofline(lm, low, batch_size=2, repeats=1)
    assert {p.bound for p in everything.points} == {"compute"}
    assert "left of the ridge" not in str(everything)


def test_the_findings_say_what_bounds_the_measured_rate(roofline):
    lines = roofline.findings()
    for p in roofline.points:
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{p.name}: "))
        share = p.measured_flops_per_s / p.attainable_flops_per_s
        expected = ("above its roof" if share > 1 else "overhead-bound" if share < 0.1
                    else "below half its roof" if share < 0.5 else "of its roof: ")
        assert f"{p.bound}-bound" in lines[at] and expected in lines[at + 1]
    assert any("Batch 4 raises decode's intensity" in line for line in lines)


def test_the_roofline_views_and_plot(roofline):
    assert "ridge" in repr(roofline) and "<table" in roofline._repr_html_()
    ax = roofline.plot()
    assert isinstance(ax, matplotlib.axes.Axes)
    assert len(ax.collections) == 2 * len(roofline.points)      # hollow roof + filled measured
    matplotlib.pyplot.close("all")


def test_the_roofline_rejects_bad_roofs_and_a_model_of_another_batch(lm):
    with pytest.raises(InvalidArgumentError, match="MachinePeak"):
        prefill_decode_roofline(lm, roofs="fast", repeats=1)
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        prefill_decode_roofline(lm, batch_size=1, repeats=1)


@pytest.fixture(scope="module")
def costs(lm):
    return generation_costs(lm, prompt_lengths=(4, 16, 31), output_lengths=(4, 12, 24),
                            repeats=1, step_rounds=2)


def test_generation_costs_measures_every_length(costs, lm):
    assert isinstance(costs, GenerationCosts)
    assert costs.runtime == "keras" and costs.prompt_tokens == 8
    assert costs.prompt_lengths == (4, 16, 31) and costs.output_lengths == (4, 12, 24)
    for values in (costs.ttft_ms, costs.decode_ms, costs.recompute_ms):
        assert len(values) == 3 and all(v > 0 for v in values)
    for values in (costs.cached_total_ms, costs.recomputed_total_ms):
        assert len(values) == 3 and all(v > 0 for v in values)
    growth = costs.growth_exponents()
    assert set(growth) == {"kv_cache", "no_cache"} and all(math.isfinite(g) for g in growth.values())
    assert GenerationCosts.from_dict(costs.to_dict()).to_dict() == costs.to_dict()


def test_generation_costs_views_and_two_panels(costs):
    assert "GenerationCosts keras" in repr(costs)
    text = str(costs)
    assert "TTFT ms" in text and "total ms, no cache" in text and "grows as" in text
    assert costs._repr_html_().count("<table") == 3
    assert dict(costs._html_rows())["runtime"] == "keras"
    left, right = costs.plot()
    assert all(isinstance(ax, matplotlib.axes.Axes) for ax in (left, right))
    assert len(left.lines) == 3 and len(right.lines) == 2
    matplotlib.pyplot.close("all")


def test_generation_costs_defaults_fit_the_context_and_shrink_in_fast_mode(lm, monkeypatch):
    monkeypatch.setenv("ARTSPEED_FAST", "1")
    costs = generation_costs(lm)
    assert len(costs.prompt_lengths) == 3 and max(costs.prompt_lengths) == CONTEXT - 1
    assert max(costs.output_lengths) == CONTEXT - costs.prompt_tokens
    assert costs.repeats == 1


def test_generation_costs_rejects_lengths_outside_the_context(lm):
    with pytest.raises(InvalidArgumentError, match="prompt_lengths"):
        generation_costs(lm, prompt_lengths=[CONTEXT])
    with pytest.raises(InvalidArgumentError, match="output_lengths"):
        generation_costs(lm, prompt_lengths=[4], output_lengths=[CONTEXT])
    with pytest.raises(InvalidArgumentError, match="empty"):
        generation_costs(lm, prompt_lengths=[])
    with pytest.raises(InvalidArgumentError, match="LanguageModel"):
        generation_costs(object())


def test_costs_and_the_roofline_run_on_openvino(lm, peak):
    stateful = artspeed.compile_lm(lm)
    costs = generation_costs(stateful, prompt_lengths=(8, 31), output_lengths=(8, 16),
                             repeats=1, step_rounds=2)
    assert costs.runtime == "openvino" and all(v > 0 for v in costs.decode_ms)
    with pytest.raises(InvalidArgumentError, match="batch_lm"):
        prefill_decode_roofline(stateful, peak, batch_size=2, repeats=1)
    batched = artspeed.compile_lm(lm, batch_size=2)
    result = prefill_decode_roofline(stateful, peak, batch_size=2, batch_lm=batched, repeats=1)
    assert result.runtime == "openvino"
    assert [p.batch_size for p in result.points] == [1, 1, 2]
    assert result.weight_bytes == stateful.weight_bytes
    assert result.point("prefill").flops == forward_cost(lm, CONTEXT).flops
    assert np.isfinite(result.point("decode batch 2").measured_flops_per_s)
