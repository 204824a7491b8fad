"""The quantization math (property tests) and the number-format table (against ml_dtypes)."""

import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from artspeed import InvalidArgumentError
from artspeed.compress.formats import number_format, number_formats, representable_values
from artspeed.compress.quantization import (
    QuantParams,
    bit_width_sweep,
    calibrate,
    dequantize,
    error_metrics,
    fake_quantize,
    integer_range,
    quantize,
)

values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False,
                   width=64)
arrays = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                    elements=values)
schemes = st.fixed_dictionaries({
    "bits": st.integers(2, 16),
    "signed": st.booleans(),
    "symmetric": st.booleans(),
})


def _slack(x, params):
    """s/2 plus room for float64 rounding in x/s and s*(q - z)."""
    scale, _ = params._shaped(np.ndim(x))
    return scale / 2 * (1 + 1e-9) + 1e-12 * (np.max(np.abs(x)) + 1e-300)


@settings(max_examples=200, deadline=None)
@given(x=arrays, scheme=schemes, data=st.data())
def test_error_is_at_most_half_a_step_inside_the_range(x, scheme, data):
    axis = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    params = calibrate(x, axis=axis, **scheme)
    x_hat = dequantize(quantize(x, params), params)
    assert np.all(np.abs(x - x_hat) <= _slack(x, params))


@settings(max_examples=100, deadline=None)
@given(x=arrays, scheme=schemes, p=st.floats(90, 100))
def test_percentile_bound_holds_for_values_inside_the_clipped_range(x, scheme, p):
    params = calibrate(x, method="percentile", percentile=p, **scheme)
    inside = (x >= params.range_min) & (x <= params.range_max)
    x_hat = fake_quantize(x, params)
    assert np.all(np.abs(x - x_hat)[inside] <= _slack(x, params))


@settings(max_examples=100, deadline=None)
@given(x=arrays, scheme=schemes)
def test_integers_stay_on_the_grid_and_zero_is_exact(x, scheme):
    params = calibrate(x, **scheme)
    q = quantize(x, params)
    q_min, q_max = integer_range(scheme["bits"], scheme["signed"])
    assert q.min() >= q_min and q.max() <= q_max
    assert np.all(dequantize(quantize(np.zeros(3), params), params) == 0)
    once = fake_quantize(x, params)   # the grid's values map to themselves
    assert np.allclose(fake_quantize(once, params), once, rtol=0, atol=1e-9 * float(params.scale))


@settings(max_examples=50, deadline=None)
@given(x=arrays, scheme=schemes)
def test_mse_calibration_never_does_worse_than_min_max(x, scheme):
    minmax = error_metrics(x, fake_quantize(x, **scheme)).mse
    mse = error_metrics(x, fake_quantize(x, method="mse", **scheme)).mse
    assert mse <= minmax * (1 + 1e-9) + 1e-300


def test_per_channel_beats_per_tensor_when_channel_ranges_differ():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 8, 16)) * np.geomspace(0.01, 1, 16)  # Keras kernel layout
    tensor = error_metrics(w, fake_quantize(w, symmetric=True))
    channel = error_metrics(w, fake_quantize(w, symmetric=True, axis=-1))
    assert channel.sqnr_db > tensor.sqnr_db + 6
    assert calibrate(w, axis=-1).scale.shape == (16,)


def test_percentile_clipping_helps_with_an_outlier():
    rng = np.random.default_rng(1)
    x = np.append(rng.normal(size=10_000), 100.0)
    bulk = slice(0, -1)  # every value but the outlier
    minmax = error_metrics(x[bulk], fake_quantize(x, bits=4)[bulk])
    clipped = error_metrics(x[bulk], fake_quantize(x, bits=4, method="percentile",
                                                  percentile=99.9)[bulk])
    assert clipped.mse < minmax.mse / 10
    best = error_metrics(x, fake_quantize(x, bits=4, method="mse"))
    assert best.mse <= error_metrics(x, fake_quantize(x, bits=4)).mse


def test_sqnr_grows_six_db_per_bit():
    sweep = bit_width_sweep(np.linspace(-1, 1, 10_001), bits=range(2, 13))
    assert 5.5 < sweep.db_per_bit < 6.5
    assert type(sweep).from_json(sweep.to_json()) == sweep


def test_known_values_and_symmetric_unsigned():
    p = calibrate(np.array([-1.0, 1.0]), bits=8, signed=False, symmetric=True)
    assert int(p.zero_point) == 128 and math.isclose(float(p.scale), 1 / 127)
    assert quantize(np.array([-1.0, 0.0, 1.0]), p).tolist() == [1, 128, 255]
    q16 = quantize(np.array([0.5]), calibrate(np.array([-1.0, 1.0]), bits=16))
    assert q16.dtype == np.int16


def test_error_metrics():
    err = error_metrics([1.0, -1.0], [1.0, -1.0])
    assert err.mse == 0 and err.sqnr_db == math.inf and err.max_error == 0
    assert err.to_dict()["sqnr_db"] is None  # JSON has no infinity
    err = error_metrics([3.0, 4.0], [3.0, 3.0])
    assert math.isclose(err.sqnr_db, 10 * math.log10(12.5 / 0.5))


def test_params_round_trip_json():
    p = calibrate(np.arange(12.0).reshape(3, 4), axis=0, symmetric=True)
    assert QuantParams.from_json(p.to_json()) == p
    assert "per-channel (axis 0, 3 channels)" in repr(p)
    assert "<table" in p._repr_html_()


@pytest.mark.parametrize("call, match", [
    (lambda: calibrate([1.0], bits=1), "bits must be a whole number from 2 to 16"),
    (lambda: calibrate([1.0], bits=17), "from 2 to 16"),
    (lambda: calibrate([1.0], bits=True), "from 2 to 16"),
    (lambda: calibrate([1.0], method="kl"), "unknown calibration method 'kl'"),
    (lambda: calibrate([]), "empty array"),
    (lambda: calibrate([1.0, np.nan]), "NaN or infinity"),
    (lambda: calibrate(["a"]), "numeric array"),
    (lambda: calibrate([1.0], method="percentile", percentile=40), "percentile must be in"),
    (lambda: calibrate(np.ones((2, 2)), axis=2),
     r"axis must be a whole number from -2 to 1 or None, got 2; the array has shape \(2, 2\)"),
    (lambda: quantize([1.0], "scale"), "expected QuantParams"),
    (lambda: dequantize([0.5], calibrate([1.0])), "takes integers"),
    (lambda: quantize([1.0], calibrate(np.ones((2, 2)), axis=1)), "only 1 axes"),
    (lambda: error_metrics([1.0], [1.0, 2.0]), "differ in shape"),
    (lambda: fake_quantize([1.0], calibrate([1.0]), bits=4), "either params"),
    (lambda: bit_width_sweep([1.0], bits=[]), "at least one bit width"),
])
def test_bad_input_is_a_clear_error(call, match):
    with pytest.raises(InvalidArgumentError, match=match):
        call()


# ---------------------------------------------------------------- number formats
@pytest.mark.parametrize("name, dtype", [
    ("fp32", np.float32), ("fp16", np.float16), ("bf16", ml_dtypes.bfloat16),
    ("fp8_e4m3", ml_dtypes.float8_e4m3fn), ("fp8_e5m2", ml_dtypes.float8_e5m2),
])
def test_float_formats_match_ml_dtypes(name, dtype):
    fmt, info = number_format(name), ml_dtypes.finfo(dtype)
    assert fmt.max_value == float(info.max) and fmt.min_value == float(info.min)
    assert fmt.min_normal == float(info.tiny)
    assert fmt.min_subnormal == float(info.smallest_subnormal)
    assert fmt.epsilon == float(info.eps)
    assert fmt.exponent_bits + fmt.mantissa_bits + 1 == info.bits


@pytest.mark.parametrize("name, dtype", [
    ("fp16", np.float16), ("bf16", ml_dtypes.bfloat16),
    ("fp8_e4m3", ml_dtypes.float8_e4m3fn), ("fp8_e5m2", ml_dtypes.float8_e5m2),
])
def test_representable_values_match_every_bit_pattern(name, dtype):
    width = np.dtype(dtype).itemsize * 8
    codes = np.arange(2 ** width, dtype=np.uint64).astype(f"uint{width}")
    with np.errstate(invalid="ignore"):  # NaN codes
        decoded = codes.view(dtype).astype(np.float64)
    expected = np.unique(decoded[np.isfinite(decoded)])
    assert np.array_equal(representable_values(name), expected)


def test_tf32_and_integers():
    tf32, fp32 = number_format("tf32"), number_format("fp32")
    assert tf32.bits == 19 and tf32.min_normal == fp32.min_normal
    assert tf32.epsilon == number_format("fp16").epsilon
    assert (number_format("int8").min_value, number_format("int8").max_value) == (-128, 127)
    assert representable_values("int4").tolist() == list(range(-8, 8))
    table = number_formats()
    assert [f.name for f in table.formats] == ["fp32", "tf32", "fp16", "bf16", "fp8_e4m3",
                                               "fp8_e5m2", "int8", "int4"]
    assert type(table).from_json(table.to_json()) == table
    assert "fp8_e4m3" in str(table) and "<table" in table._repr_html_()


def test_unknown_formats_are_clear_errors():
    with pytest.raises(InvalidArgumentError, match="unknown number format 'fp4'"):
        number_format("fp4")
    with pytest.raises(InvalidArgumentError, match="too many values"):
        representable_values("fp32")
