"""Number formats for inference, from their definitions: range, step and bits.

Taught in notebooks/03-quantization-basics. A float format is a sign bit,
``E`` exponent bits (with a bias of ``2**(E-1) - 1``) and ``M`` mantissa bits;
an integer format is ``bits`` two's-complement bits, read through a scale.
Every figure in the table is computed from those definitions, not typed in:

- the largest finite value: ``(2 - 2**-M) * 2**e_max``, where ``e_max`` is
  the largest exponent left after the codes reserved for infinity and NaN
  (IEEE formats reserve the top exponent; fp8 E4M3 "fn" reserves only the
  single code ``S.1111.111`` for NaN and has no infinity, so it reaches 448);
- the smallest normal ``2**(1 - bias)`` and subnormal ``2**(1 - bias - M)``;
- the step at 1.0 (machine epsilon) ``2**-M``: the relative precision;
- integers: ``[-2**(b-1), 2**(b-1) - 1]`` in steps of one scale unit.

>>> fmt = number_format("fp8_e4m3")
>>> fmt.max_value, fmt.min_subnormal, fmt.epsilon
(448.0, 0.001953125, 0.125)
>>> number_format("int4").min_value, number_format("int4").max_value
(-8.0, 7.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from artspeed.core._result import Result, html_table
from artspeed.core.errors import InvalidArgumentError

__all__ = ["NumberFormat", "NumberFormatTable", "FORMATS", "number_format", "number_formats",
           "representable_values"]


@dataclass(frozen=True)
class _Definition:
    kind: str                  # "float" or "int"
    bits: int                  # bits that carry information
    exponent_bits: int = 0
    mantissa_bits: int = 0
    ieee_specials: bool = True  # top exponent reserved for inf/NaN (False: fp8 "fn")
    note: str = ""


FORMATS: dict[str, _Definition] = {
    "fp32": _Definition("float", 32, 8, 23, note="IEEE 754 single: training's default"),
    "tf32": _Definition("float", 19, 8, 10, note="NVIDIA TensorFloat-32: fp32's range, "
                        "fp16's precision; held in 32-bit registers"),
    "fp16": _Definition("float", 16, 5, 10, note="IEEE 754 half"),
    "bf16": _Definition("float", 16, 8, 7, note="bfloat16: fp32's range in 16 bits "
                        "(AVX512_BF16, AMX)"),
    "fp8_e4m3": _Definition("float", 8, 4, 3, ieee_specials=False,
                            note="OCP fp8 E4M3 (fn): no infinity, one NaN code"),
    "fp8_e5m2": _Definition("float", 8, 5, 2, note="OCP fp8 E5M2: IEEE-style, for gradients"),
    "int8": _Definition("int", 8, note="TFLite and OpenVINO's integer format (VNNI, AMX)"),
    "int4": _Definition("int", 4, note="weight-only compression of large models"),
}


@dataclass(frozen=True)
class NumberFormat(Result):
    """One format's bits, range and precision (integers: in units of the scale)."""

    name: str
    kind: str
    bits: int
    exponent_bits: int
    mantissa_bits: int
    max_value: float
    min_value: float
    min_normal: float        # smallest positive normal (integers: 1)
    min_subnormal: float     # smallest positive value (integers: 1)
    epsilon: float           # the step at 1.0 (integers: 1)
    decimal_digits: float    # log10 of 2**(M+1): significant decimal digits
    dynamic_range_db: float  # 20 log10(max / smallest positive)
    note: str = ""

    def __repr__(self) -> str:
        return (f"<NumberFormat {self.name}: {self.bits} bits, range "
                f"[{self.min_value:.4g}, {self.max_value:.4g}], smallest step "
                f"{self.min_subnormal:.3g}>")


def _float_format(name: str, d: _Definition) -> NumberFormat:
    E, M = d.exponent_bits, d.mantissa_bits
    bias = 2 ** (E - 1) - 1
    if d.ieee_specials:           # exponent field 2**E - 1 means inf/NaN
        e_max = (2 ** E - 2) - bias
        top_mantissa = 2 ** M - 1
    else:                         # "fn": only the all-ones code is NaN
        e_max = (2 ** E - 1) - bias
        top_mantissa = 2 ** M - 2
    max_value = math.ldexp(1 + top_mantissa / 2 ** M, e_max)
    min_normal = math.ldexp(1.0, 1 - bias)
    min_subnormal = math.ldexp(1.0, 1 - bias - M)
    return NumberFormat(
        name=name, kind="float", bits=d.bits, exponent_bits=E, mantissa_bits=M,
        max_value=max_value, min_value=-max_value, min_normal=min_normal,
        min_subnormal=min_subnormal, epsilon=math.ldexp(1.0, -M),
        decimal_digits=(M + 1) * math.log10(2),
        dynamic_range_db=20 * math.log10(max_value / min_subnormal), note=d.note)


def _int_format(name: str, d: _Definition) -> NumberFormat:
    q_min, q_max = -(2 ** (d.bits - 1)), 2 ** (d.bits - 1) - 1
    return NumberFormat(
        name=name, kind="int", bits=d.bits, exponent_bits=0, mantissa_bits=d.bits - 1,
        max_value=float(q_max), min_value=float(q_min), min_normal=1.0, min_subnormal=1.0,
        epsilon=1.0, decimal_digits=d.bits * math.log10(2) - math.log10(2),
        dynamic_range_db=20 * math.log10(q_max), note=d.note)


def number_format(name: str) -> NumberFormat:
    """The computed figures of one format: fp32, tf32, fp16, bf16, fp8_e4m3, fp8_e5m2, int8, int4."""
    d = FORMATS.get(name)
    if d is None:
        raise InvalidArgumentError(f"unknown number format {name!r}; choose one of "
                                   f"{', '.join(FORMATS)}")
    return _float_format(name, d) if d.kind == "float" else _int_format(name, d)


@dataclass(frozen=True)
class NumberFormatTable(Result):
    """The formats side by side (rows of NumberFormat)."""

    formats: tuple

    def __repr__(self) -> str:
        return f"<NumberFormatTable {', '.join(f.name for f in self.formats)}>"

    def __getitem__(self, name: str) -> NumberFormat:
        for fmt in self.formats:
            if fmt.name == name:
                return fmt
        raise KeyError(name)

    def __str__(self) -> str:
        lines = [f"{'format':<9} {'bits':>4} {'E':>2} {'M':>2} {'max':>11} {'min normal':>11} "
                 f"{'min step':>11} {'eps at 1':>9} {'digits':>6}"]
        for f in self.formats:
            lines.append(f"{f.name:<9} {f.bits:>4} {f.exponent_bits:>2} {f.mantissa_bits:>2} "
                         f"{f.max_value:>11.4g} {f.min_normal:>11.4g} {f.min_subnormal:>11.4g} "
                         f"{f.epsilon:>9.3g} {f.decimal_digits:>6.2f}")
        return "\n".join(lines)

    @classmethod
    def from_dict(cls, data: dict) -> NumberFormatTable:
        return cls(tuple(NumberFormat.from_dict(f) for f in data["formats"]))

    def _repr_html_(self) -> str:
        rows = [(f.name, f.bits, f.exponent_bits or "-", f.mantissa_bits, f.max_value,
                 f.min_normal, f.min_subnormal, f.epsilon, round(f.decimal_digits, 2),
                 round(f.dynamic_range_db, 1), f.note) for f in self.formats]
        return html_table(rows, header=("format", "bits", "exponent bits", "mantissa bits",
                                        "largest", "smallest normal", "smallest step",
                                        "step at 1.0", "decimal digits", "range (dB)", "note"),
                          caption="Number formats (integers in units of their scale)")


def number_formats(names=None) -> NumberFormatTable:
    """The table of formats (all of ``FORMATS`` by default), computed from their definitions.

    >>> table = number_formats(["fp16", "bf16"])
    >>> table["fp16"].max_value, table["bf16"].max_value > 3e38
    (65504.0, True)
    """
    names = tuple(FORMATS) if names is None else tuple(names)
    return NumberFormatTable(tuple(number_format(n) for n in names))


def representable_values(name: str) -> np.ndarray:
    """Every finite value of a format of at most 16 bits, sorted (decoded bit by bit).

    >>> values = representable_values("fp8_e4m3")
    >>> len(values), float(values.max())
    (253, 448.0)
    """
    d = FORMATS.get(name)
    if d is None:
        number_format(name)  # raises the unknown-format error
    if d.bits > 16:
        raise InvalidArgumentError(f"{name} has {d.bits} bits: too many values to list; "
                                   "use a format of at most 16 bits")
    if d.kind == "int":
        return np.arange(-(2 ** (d.bits - 1)), 2 ** (d.bits - 1), dtype=np.float64)
    E, M = d.exponent_bits, d.mantissa_bits
    bias = 2 ** (E - 1) - 1
    codes = np.arange(2 ** d.bits, dtype=np.int64)
    sign = np.where(codes >> (E + M) & 1, -1.0, 1.0)
    exponent = codes >> M & (2 ** E - 1)
    mantissa = codes & (2 ** M - 1)
    if d.ieee_specials:
        finite = exponent < 2 ** E - 1
    else:
        finite = ~((exponent == 2 ** E - 1) & (mantissa == 2 ** M - 1))
    normal = sign * np.ldexp(1 + mantissa / 2 ** M, exponent - bias)
    subnormal = sign * np.ldexp(mantissa / 2 ** M, 1 - bias)
    values = np.where(exponent == 0, subnormal, normal)[finite]
    return np.unique(values)  # +0 and -0 are one value
