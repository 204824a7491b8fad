"""Quantization in NumPy: the lecture's two formulas, calibration and error.

Taught in notebooks/03-quantization-basics. A real value ``x`` is stored as
an integer ``x_q`` with a scale ``s`` and a zero point ``z``::

    x_q   = clip(round(x / s) + z, q_min, q_max)
    x_hat = s * (x_q - z)

``calibrate`` picks ``s`` and ``z`` from data: the range to cover (by
min-max, a percentile, or the clipping threshold that minimizes the MSE),
the bit width (2 to 16), signed or unsigned integers, symmetric (``z = 0``,
or the middle of an unsigned range) or asymmetric, per tensor or per channel
along any axis. For any ``x`` inside the calibrated range,
``|x - x_hat| <= s / 2``: rounding never moves a value by more than half a
step. Outside it, values are clipped, and the error grows.

>>> import numpy as np
>>> x = np.array([-1.0, -0.5, 0.0, 0.25, 1.0])
>>> p = calibrate(x, bits=8)
>>> p
<QuantParams int8 asymmetric per-tensor: scale 0.007843, zero point 0>
>>> quantize(x, p).tolist()
[-128, -64, 0, 32, 127]
>>> err = error_metrics(x, dequantize(quantize(x, p), p))
>>> bool(err.max_error <= p.scale / 2)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from artspeed.core import _checks
from artspeed.core._moved import moved_name
from artspeed.core._result import Result, html_table
from artspeed.core.errors import InvalidArgumentError

__all__ = ["QuantParams", "ErrorMetrics", "BitWidthSweep", "METHODS", "integer_range",
           "calibrate", "quantize", "dequantize", "fake_quantize", "error_metrics",
           "bit_width_sweep", "plot_quantization_grid"]



def __getattr__(name: str):   # an old name (QuantizationError) warns and gives the new one
    return moved_name(__name__, name)


METHODS = ("minmax", "percentile", "mse")
_MSE_CANDIDATES = 100   # clipping thresholds tried by the MSE search


def integer_range(bits: int, signed: bool = True) -> tuple[int, int]:
    """(q_min, q_max) of a ``bits``-wide integer: int8 is (-128, 127), uint8 (0, 255).

    >>> integer_range(4), integer_range(4, signed=False)
    ((-8, 7), (0, 15))
    """
    bits = _check_bits(bits)
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1


def _check_bits(bits) -> int:
    return _checks.whole_number("bits", bits, 2, 16, "8 bits is the usual choice")


def _as_float_array(x, where: str) -> np.ndarray:
    try:
        x = np.asarray(x)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{where} needs a numeric array, got {type(x).__name__}") from None
    if x.dtype.kind not in "fiu" or x.dtype == bool:
        raise InvalidArgumentError(f"{where} needs a numeric array, got dtype {x.dtype}")
    if x.size == 0:
        raise InvalidArgumentError(f"{where} got an empty array; give it the values to quantize")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise InvalidArgumentError(f"{where}: the values hold NaN or infinity; "
                                   "remove them (np.nan_to_num) before quantizing")
    return x


@dataclass(frozen=True, repr=False)
class QuantParams(Result):
    """Scale and zero point (one, or one per channel along ``axis``) of an integer grid."""

    scale: np.ndarray          # float64, shape () per tensor or (channels,) per channel
    zero_point: np.ndarray     # int64, same shape
    bits: int = 8
    signed: bool = True
    symmetric: bool = False
    axis: int | None = None    # the channel axis, or None per tensor
    range_min: np.ndarray | float = 0.0   # the calibrated range each grid covers
    range_max: np.ndarray | float = 0.0

    @property
    def q_min(self) -> int:
        return integer_range(self.bits, self.signed)[0]

    @property
    def q_max(self) -> int:
        return integer_range(self.bits, self.signed)[1]

    @property
    def dtype_name(self) -> str:
        return f"{'' if self.signed else 'u'}int{self.bits}"

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    def __repr__(self) -> str:
        kind = "symmetric" if self.symmetric else "asymmetric"
        if self.axis is None:
            where = (f"per-tensor: scale {float(self.scale):.4g}, "
                     f"zero point {int(self.zero_point)}")
        else:
            where = (f"per-channel (axis {self.axis}, {np.size(self.scale)} channels): "
                     f"scale {float(np.min(self.scale)):.4g}..{float(np.max(self.scale)):.4g}")
        return f"<QuantParams {self.dtype_name} {kind} {where}>"

    @classmethod
    def from_dict(cls, data: dict) -> QuantParams:
        data = dict(data)
        data["scale"] = np.asarray(data["scale"], np.float64)
        data["zero_point"] = np.asarray(data["zero_point"], np.int64)
        data["range_min"] = np.asarray(data.get("range_min", 0.0), np.float64)
        data["range_max"] = np.asarray(data.get("range_max", 0.0), np.float64)
        return super().from_dict(data)

    def __eq__(self, other) -> bool:
        if not isinstance(other, QuantParams):
            return NotImplemented
        return (self.bits, self.signed, self.symmetric, self.axis) == (
            other.bits, other.signed, other.symmetric, other.axis) and all(
            np.array_equal(getattr(self, k), getattr(other, k))
            for k in ("scale", "zero_point", "range_min", "range_max"))

    __hash__ = None

    def _html_rows(self):
        yield "integer type", self.dtype_name
        yield "symmetric", self.symmetric
        yield "granularity", "per tensor" if self.axis is None else f"per channel (axis {self.axis})"
        yield "scale", (float(self.scale) if self.axis is None else
                        f"{float(np.min(self.scale)):.4g} .. {float(np.max(self.scale)):.4g}")
        yield "zero point", (int(self.zero_point) if self.axis is None else
                             f"{int(np.min(self.zero_point))} .. {int(np.max(self.zero_point))}")
        yield "grid", f"[{self.q_min}, {self.q_max}]"

    def _shaped(self, ndim: int):
        """Scale and zero point shaped to broadcast against an array of ``ndim`` axes."""
        if self.axis is None:
            return self.scale, self.zero_point
        if self.axis >= ndim:
            raise InvalidArgumentError(f"these parameters are per channel on axis {self.axis}, "
                                       f"but the array has only {ndim} axes")
        shape = [1] * ndim
        shape[self.axis] = -1
        return self.scale.reshape(shape), self.zero_point.reshape(shape)


def _params_from_range(lo, hi, bits: int, signed: bool, symmetric: bool, axis) -> QuantParams:
    q_min, q_max = integer_range(bits, signed)
    lo = np.minimum(np.asarray(lo, np.float64), 0.0)   # the grid must hold 0 exactly
    hi = np.maximum(np.asarray(hi, np.float64), 0.0)
    if symmetric:
        bound = np.maximum(-lo, hi)
        # signed: z = 0 and q_max steps reach the bound; unsigned: z in the middle
        zero = np.zeros_like(bound) if signed else np.full_like(bound, (q_max + 1) // 2)
        steps = q_max - zero
        scale = bound / steps
        lo, hi = -bound, bound
    else:
        scale = (hi - lo) / (q_max - q_min)
    scale = np.where(scale > 0, scale, 1.0)            # an all-zero range: any scale works
    if symmetric:
        zero_point = zero.astype(np.int64)
    else:
        zero_point = np.clip(np.round(q_min - lo / scale), q_min, q_max).astype(np.int64)
    return QuantParams(scale=scale, zero_point=zero_point, bits=int(bits), signed=bool(signed),
                       symmetric=bool(symmetric), axis=axis, range_min=lo, range_max=hi)


def _reduce_axes(x: np.ndarray, axis):
    if axis is None:
        return None, x.reshape(1, -1)
    axis = _checks.whole_number("axis", axis, -x.ndim, x.ndim - 1, optional=True,
                                hint=f"the array has shape {x.shape}") % x.ndim
    return axis, np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)


def _mse_range(rows: np.ndarray, bits: int, signed: bool, symmetric: bool):
    """Per row: the clipped range (a fraction of min-max) whose fake quantization errs least."""
    lo, hi = rows.min(axis=1), rows.max(axis=1)
    best_err = np.full(len(rows), np.inf)
    best_lo, best_hi = lo.copy(), hi.copy()
    for fraction in np.linspace(1.0, 1.0 / _MSE_CANDIDATES, _MSE_CANDIDATES):
        params = _params_from_range(lo * fraction, hi * fraction, bits, signed, symmetric, 0)
        x_hat = dequantize(quantize(rows, params), params)
        err = np.mean((rows - x_hat) ** 2, axis=1)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_lo = np.where(better, lo * fraction, best_lo)
        best_hi = np.where(better, hi * fraction, best_hi)
    return best_lo, best_hi


def calibrate(x, bits: int = 8, *, signed: bool = True, symmetric: bool = False,
              axis: int | None = None, method: str = "minmax",
              percentile: float = 99.99) -> QuantParams:
    """Choose the scale and zero point that map ``x``'s range onto a ``bits``-wide grid.

    ``method``: ``"minmax"`` covers every value; ``"percentile"`` clips the
    tails beyond ``percentile`` (and 100 - ``percentile``) so a few outliers do
    not stretch the step for everyone; ``"mse"`` tries 100 clipping thresholds
    and keeps the one with the least mean squared error. ``axis`` gives one
    scale per channel along that axis (Keras conv kernels: ``axis=-1``).

    >>> import numpy as np
    >>> w = np.array([[0.1, -2.0], [0.2, 4.0]])   # two columns, ranges 0.2 and 6
    >>> calibrate(w, symmetric=True, axis=1).scale.round(5).tolist()
    [0.00157, 0.0315]
    """
    bits = _check_bits(bits)
    _checks.choice("calibration method", method, METHODS)
    x = _as_float_array(x, "artspeed.calibrate")
    axis, rows = _reduce_axes(x, axis)
    if method == "minmax":
        lo, hi = rows.min(axis=1), rows.max(axis=1)
    elif method == "percentile":
        if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) \
                or not 50 < percentile <= 100:
            raise InvalidArgumentError(f"percentile must be in (50, 100], got {percentile!r}")
        if symmetric:
            hi = np.percentile(np.abs(rows), percentile, axis=1)
            lo = -hi
        else:
            lo, hi = np.percentile(rows, [100 - percentile, percentile], axis=1)
    else:
        lo, hi = _mse_range(rows, bits, signed, symmetric)
    if axis is None:
        lo, hi = lo[0], hi[0]
    return _params_from_range(lo, hi, bits, signed, symmetric, axis)


def _check_params(params) -> QuantParams:
    if not isinstance(params, QuantParams):
        raise InvalidArgumentError(f"expected QuantParams from artspeed.calibrate, got "
                                   f"{type(params).__name__}")
    return params


def quantize(x, params: QuantParams) -> np.ndarray:
    """``x_q = clip(round(x / s) + z, q_min, q_max)``, as the smallest integer dtype that fits.

    >>> import numpy as np
    >>> p = calibrate(np.array([0.0, 2.55]), signed=False)
    >>> quantize(np.array([0.0, 1.0, 2.55, 9.0]), p)
    array([  0, 100, 255, 255], dtype=uint8)
    """
    params = _check_params(params)
    x = _as_float_array(x, "artspeed.quantize")
    scale, zero_point = params._shaped(x.ndim)
    q = np.clip(np.round(x / scale) + zero_point, params.q_min, params.q_max)
    width = 8 if params.bits <= 8 else 16
    return q.astype(f"{'' if params.signed else 'u'}int{width}")


def dequantize(q, params: QuantParams) -> np.ndarray:
    """``x_hat = s * (x_q - z)``, in float64.

    >>> import numpy as np
    >>> p = calibrate(np.array([0.0, 2.55]), signed=False)
    >>> dequantize(np.array([0, 100, 255]), p).round(6).tolist()
    [0.0, 1.0, 2.55]
    """
    params = _check_params(params)
    q = np.asarray(q)
    if q.dtype.kind not in "iu":
        raise InvalidArgumentError(f"dequantize takes integers (from quantize), got {q.dtype}")
    scale, zero_point = params._shaped(q.ndim)
    return scale * (q.astype(np.int64) - zero_point)


def fake_quantize(x, params: QuantParams | None = None, **calibration) -> np.ndarray:
    """Quantize then dequantize: the float values the integer grid can represent.

    Without ``params``, calibrates on ``x`` itself with ``calibration``
    (``bits``, ``signed``, ``symmetric``, ``axis``, ``method``, ``percentile``).

    >>> import numpy as np
    >>> fake_quantize(np.array([0.0, 0.3, 1.0]), bits=2, signed=False).round(3).tolist()
    [0.0, 0.333, 1.0]
    """
    if params is None:
        params = calibrate(x, **calibration)
    elif calibration:
        raise InvalidArgumentError("give either params or calibration options, not both")
    return dequantize(quantize(x, params), params)


@dataclass(frozen=True)
class ErrorMetrics(Result):
    """How far ``x_hat`` is from ``x``: MSE, SQNR in dB and the largest error."""

    mse: float
    sqnr_db: float
    max_error: float

    def __repr__(self) -> str:
        return (f"<ErrorMetrics MSE {self.mse:.3g}, SQNR {self.sqnr_db:.1f} dB, "
                f"max {self.max_error:.3g}>")


def error_metrics(x, x_hat) -> ErrorMetrics:
    """MSE, signal-to-quantization-noise ratio (10 log10 of signal power / noise power, in dB) and max |x - x_hat|.

    >>> error_metrics([1.0, -1.0], [1.0, -0.9])
    <ErrorMetrics MSE 0.005, SQNR 23.0 dB, max 0.1>
    """
    x = _as_float_array(x, "artspeed.error_metrics")
    x_hat = _as_float_array(x_hat, "artspeed.error_metrics")
    if x.shape != x_hat.shape:
        raise InvalidArgumentError(f"x and x_hat differ in shape: {x.shape} and {x_hat.shape}")
    noise = x - x_hat
    mse = float(np.mean(noise ** 2))
    signal = float(np.mean(x ** 2))
    if mse == 0:
        sqnr = math.inf
    elif signal == 0:
        sqnr = -math.inf
    else:
        sqnr = 10 * math.log10(signal / mse)
    return ErrorMetrics(mse, sqnr, float(np.max(np.abs(noise))))


@dataclass(frozen=True)
class BitWidthSweep(Result):
    """Quantization error of one array at each bit width."""

    bits: tuple
    mse: tuple
    sqnr_db: tuple
    max_error: tuple

    def __repr__(self) -> str:
        return (f"<BitWidthSweep {self.bits[0]}-{self.bits[-1]} bits: SQNR "
                f"{self.sqnr_db[0]:.1f} .. {self.sqnr_db[-1]:.1f} dB>")

    @classmethod
    def from_dict(cls, data: dict) -> BitWidthSweep:
        return cls(**{k: tuple(data[k]) for k in ("bits", "mse", "sqnr_db", "max_error")})

    @property
    def db_per_bit(self) -> float:
        """The SQNR's slope over bit width: close to 6.02 dB per bit for min-max grids."""
        return float(np.polyfit(self.bits, self.sqnr_db, 1)[0])

    def _repr_html_(self) -> str:
        rows = zip(self.bits, self.mse, self.sqnr_db, self.max_error)
        return html_table(rows, header=("bits", "MSE", "SQNR (dB)", "max error"),
                          caption="Error against bit width")

    def plot(self, ax=None):
        """SQNR (dB) against bit width, with the 6.02 dB-per-bit rule of thumb."""
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.bits, self.sqnr_db, marker="o", label="measured")
        bits = np.asarray(self.bits, float)
        rule = self.sqnr_db[-1] - 6.02 * (bits[-1] - bits)
        ax.plot(bits, rule, ls="--", color="gray", label="6.02 dB per bit")
        ax.set(xlabel="bits", ylabel="SQNR (dB)", title="Quantization error against bit width")
        ax.grid(alpha=0.3)
        ax.legend()
        return ax


def bit_width_sweep(x, bits=range(2, 17), **calibration) -> BitWidthSweep:
    """Calibrate and fake-quantize ``x`` at each bit width; collect the errors.

    >>> import numpy as np
    >>> sweep = bit_width_sweep(np.linspace(-1, 1, 1001), bits=[4, 8])
    >>> [round(v, 1) for v in sweep.sqnr_db]
    [23.5, 48.1]
    """
    bits = tuple(bits)
    if not bits:
        raise InvalidArgumentError("bit_width_sweep needs at least one bit width")
    errors = [error_metrics(x, fake_quantize(x, bits=b, **calibration)) for b in bits]
    return BitWidthSweep(bits, tuple(e.mse for e in errors), tuple(e.sqnr_db for e in errors),
                         tuple(e.max_error for e in errors))


def plot_quantization_grid(x, params: QuantParams, ax=None, bins: int = 120, channel: int = 0):
    """A histogram of ``x`` with the integer grid's values over it, and the clipping range.

    Each thin line is one representable value ``s * (q - z)``; red dashes mark
    the calibrated range, beyond which values are clipped. Per-channel
    parameters: the grid of ``channel`` is drawn.
    """
    params = _check_params(params)
    x = _as_float_array(x, "artspeed.plot_quantization_grid").ravel()
    scale, zero = params.scale, params.zero_point
    lo, hi = params.range_min, params.range_max
    if params.axis is not None:
        scale, zero = scale[channel], zero[channel]
        lo, hi = np.asarray(lo)[channel], np.asarray(hi)[channel]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(x, bins=bins, color="tab:blue", alpha=0.7, label="values")
    grid = float(scale) * (np.arange(params.q_min, params.q_max + 1) - int(zero))
    left, right = min(x.min(), float(lo)), max(x.max(), float(hi))
    shown = grid[(grid >= left) & (grid <= right)]
    for i, value in enumerate(shown):
        ax.axvline(value, color="black", lw=0.3, alpha=0.35,
                   label=f"{params.dtype_name} grid ({len(shown)} values here)" if i == 0 else None)
    for i, edge in enumerate((float(lo), float(hi))):
        ax.axvline(edge, color="tab:red", ls="--", lw=1.2,
                   label="calibrated range" if i == 0 else None)
    ax.set(xlabel="value", ylabel="count",
           title=f"{params.dtype_name} grid, step s = {float(scale):.3g}")
    ax.legend(fontsize=8)
    return ax
