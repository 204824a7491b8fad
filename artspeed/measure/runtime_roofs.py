"""The runtime's own roofs, per precision, and how close a model's layers come to them.

Taught in notebooks/08-openvino-deployment (sections 10 and 11).

``measure_machine_peak`` measures a NumPy float32 matrix product: that
understates what a deployed model can reach. OpenVINO's CPU plugin runs bf16
on AVX512_BF16 or AMX kernels and int8 on VNNI or AMX kernels, each with its
own, higher roof. Here the runtime measures them itself:

- ``measure_runtime_roofs``: for f32, bf16 and int8, the best ops/s of a
  MatMul and of convolutions shaped like ResNet's, built with OpenVINO's
  opset and compiled on the CPU (``INFERENCE_PRECISION_HINT`` f32 or bf16;
  for int8 the inputs pass through FakeQuantize, so the plugin picks an int8
  kernel), timed by OpenVINO's own per-layer counters; and the memory
  bandwidth (a copy, as ``measure_machine_peak`` measures it). A precision
  the CPU lacks is recorded as absent, with the reason; the kernel (exec
  type) that ran is recorded with each roof;
- ``layer_times``: each executed layer of a compiled model that runs
  Convolution, GroupConvolution or MatMul operations, its ops (from the
  ``ov.Model``'s shapes, for the outputs the plugin computes), its time (from
  the perf counters, ``PERF_COUNT``), hence its ops/s and the percentage of
  the roof of the precision its kernel ran at;
- ``plot_runtime_roofs``: the roofs and the bandwidth slope, layers as points.

An *op* is a multiply or an add: 2 per multiply-accumulate, in every
precision (so f32 ops are FLOPs). Only the multiply-accumulates of the
convolutions and matrix products count; a bias, activation or residual add
the plugin fused into the layer costs time but no ops here. The plugin may
compute fewer outputs than the ``ov.Model`` asks for: its StridesOptimization
moves the stride 2 of a 1x1 convolution (ResNet50 opens its stages so) into
the layer before it, which then computes a quarter of its outputs. ``ops``
counts what the runtime computes, ``model_ops`` what the model asked for.

>>> roofs = measure_runtime_roofs(["f32"], size=64, copy_bytes=2**20, repeats=1)
>>> roofs.roof("f32").ops_per_s > 0, roofs.roof("f32").kernel != ""
(True, True)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from artspeed.core import _checks
from artspeed.core._result import Result, html_table, text_table
from artspeed.core.config import fast_mode
from artspeed.core.env import environment
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.core.frameworks import openvino_core, ov
from artspeed.measure.roofline import _copy_bandwidth
from artspeed.runtimes.openvino import OpenVINOPredictor, compile_model

__all__ = ["ROOF_PRECISIONS", "PrecisionRoof", "RuntimeRoofs", "measure_runtime_roofs",
           "LayerTime", "LayerTimes", "layer_times", "plot_runtime_roofs"]

ROOF_PRECISIONS = ("f32", "bf16", "int8")
_COMPUTE_OPS = ("Convolution", "GroupConvolution", "MatMul")
_HINT = {"f32": "f32", "bf16": "bf16", "int8": "f32"}   # int8 comes from FakeQuantize
_ELEMENT_BYTES = {"f32": 4, "i32": 4, "bf16": 2, "f16": 2, "u8": 1, "i8": 1, "int8": 1}
# The roofs' convolutions, batch 1: (side, channels in, channels out, kernel), the shapes of
# ResNet's stages. Each is small enough for its weights to stay in cache; larger ones
# (512 channels on 28 x 28) run slower, not faster.
_CONVOLUTIONS = ((56, 64, 64, 3), (28, 128, 128, 3), (14, 256, 256, 3), (7, 512, 512, 3),
                 (14, 256, 1024, 1))
_ROOF_OP = "roof"    # the friendly name of the measured operation


def _precision_of(exec_type: str, runtime_precision: str = "") -> str:
    """The precision a kernel runs in, read from its exec type (``runtime_precision`` if
    the name says none): ``int8``, ``bf16``, ``f16`` or ``f32``.

    >>> _precision_of("brgconv_avx512_1x1_I8"), _precision_of("brgemm_avx512_bf16")
    ('int8', 'bf16')
    >>> _precision_of("gemm_mlas_f32"), _precision_of("brgconv_avx512", "u8")
    ('f32', 'int8')
    """
    for text in (exec_type.lower(), runtime_precision.lower()):
        if "i8" in text or "u8" in text:
            return "int8"
        for precision in ("bf16", "f16", "f32"):
            if precision in text:
                return precision
    return "f32"


def _bytes_per_element(precision: str) -> int:
    return _ELEMENT_BYTES.get(precision.lower(), 4)


# ---------------------------------------------------------------- the roofs


@dataclass(frozen=True)
class PrecisionRoof(Result):
    """The runtime's best ops/s in one precision, the kernel that reached it, or why absent."""

    precision: str
    ops_per_s: float | None            # None when the CPU lacks the precision
    kernel: str = ""                   # OpenVINO's exec type, e.g. brgconv_avx512_I8
    operation: str = ""                # what reached it, e.g. Convolution 3x3 256->256 on 14x14
    wall_ops_per_s: float | None = None   # the same, timed around infer() (with reorders)
    measured: dict = field(default_factory=dict)   # {"operation (kernel)": ops/s} for each tried
    absent: str = ""                   # why the precision was not measured

    @property
    def present(self) -> bool:
        return self.ops_per_s is not None

    def __repr__(self) -> str:
        if not self.present:
            return f"<PrecisionRoof {self.precision}: absent ({self.absent})>"
        return (f"<PrecisionRoof {self.precision}: {self.ops_per_s / 1e9:.0f} G ops/s, "
                f"{self.operation} on {self.kernel}>")


@dataclass(frozen=True)
class RuntimeRoofs(Result):
    """OpenVINO's measured peak ops/s per precision on this CPU, and the memory bandwidth."""

    roofs: tuple                 # PrecisionRoof, one per precision asked for
    bytes_per_s: float           # copy bandwidth (one read and one write per byte)
    copy_bytes: int
    size: int                    # the MatMul's n (n x n x n)
    threads: int
    repeats: int
    capabilities: tuple = ()     # the CPU plugin's OPTIMIZATION_CAPABILITIES
    cpu_model: str = ""

    @property
    def precisions(self) -> tuple:
        """The precisions measured (present on this CPU)."""
        return tuple(r.precision for r in self.roofs if r.present)

    def roof(self, precision: str) -> PrecisionRoof:
        """The ``PrecisionRoof`` of ``precision`` (present or absent)."""
        for r in self.roofs:
            if r.precision == precision:
                return r
        raise InvalidArgumentError(f"no {precision!r} roof was measured; measured: "
                                   f"{', '.join(r.precision for r in self.roofs)}")

    def ops_per_s(self, precision: str) -> float | None:
        """The roof of ``precision`` in ops/s, or None if the CPU lacks it."""
        return self.roof(precision).ops_per_s

    def ridge_ops_per_byte(self, precision: str) -> float | None:
        """Where memory stops being the limit, for ``precision``."""
        peak = self.ops_per_s(precision)
        return None if peak is None else peak / self.bytes_per_s

    def attainable_ops_per_s(self, precision: str, ops_per_byte: float) -> float | None:
        """min(roof, bandwidth x intensity) for ``precision``."""
        peak = self.ops_per_s(precision)
        return None if peak is None else min(peak, self.bytes_per_s * ops_per_byte)

    def __repr__(self) -> str:
        parts = [f"{r.precision} {r.ops_per_s / 1e9:.0f} G ops/s ({r.kernel})" if r.present
                 else f"{r.precision} absent" for r in self.roofs]
        return f"<RuntimeRoofs {', '.join(parts)}; {self.bytes_per_s / 1e9:.1f} GB/s>"

    def __str__(self) -> str:
        rows = [(r.precision, f"{r.ops_per_s / 1e9:.0f}" if r.present else "-",
                 r.kernel or "-", r.operation or r.absent) for r in self.roofs]
        return (text_table(rows, header=("precision", "G ops/s", "kernel", "operation"))
                + f"\nmemory bandwidth {self.bytes_per_s / 1e9:.1f} GB/s (copy), "
                  f"{self.threads} threads")

    @classmethod
    def from_dict(cls, data: dict) -> RuntimeRoofs:
        data = dict(data)
        data["roofs"] = tuple(PrecisionRoof.from_dict(r) for r in data["roofs"])
        data["capabilities"] = tuple(data.get("capabilities", ()))
        return super().from_dict(data)

    def _repr_html_(self) -> str:
        rows = [(r.precision, f"{r.ops_per_s / 1e9:.0f}" if r.present else "absent",
                 r.kernel, r.operation or r.absent) for r in self.roofs]
        rows.append(("memory", f"{self.bytes_per_s / 1e9:.1f} GB/s", "copy",
                     f"{self.copy_bytes / 2**20:.0f} MiB"))
        return html_table(rows, header=("precision", "G ops/s", "kernel", "measured on"),
                          caption=f"RuntimeRoofs: OpenVINO on {self.cpu_model}, "
                                  f"{self.threads} threads, best of {self.repeats}")


def _fake_quantize(node, low: float, high: float, levels: int):
    opset = ov.opset13
    lo, hi = opset.constant(np.float32(low)), opset.constant(np.float32(high))
    return opset.fake_quantize(node, lo, hi, lo, hi, levels)


def _roof_models(size: int, int8: bool):
    """[(ov.Model, ops, description)]: a size^3 MatMul and the ``_CONVOLUTIONS``.

    For int8, activations pass through a 256-level FakeQuantize on [0, 1] (u8,
    as after a ReLU) and weights through a 255-level one on [-1, 1] (i8,
    symmetric, as NNCF makes them).
    """
    opset = ov.opset13
    rng = np.random.default_rng(0)
    made = []
    for shape in ((size,), *_CONVOLUTIONS):
        if len(shape) == 1:
            x = opset.parameter([size, size], ov.Type.f32, name="x")
            weights = rng.uniform(-1, 1, (size, size)).astype(np.float32)
        else:
            side, c_in, c_out, k = shape
            x = opset.parameter([1, c_in, side, side], ov.Type.f32, name="x")
            weights = rng.uniform(-1, 1, (c_out, c_in, k, k)).astype(np.float32)
        a, w = x, opset.constant(weights)
        if int8:
            a, w = _fake_quantize(x, 0.0, 1.0, 256), _fake_quantize(w, -1.0, 1.0, 255)
        if len(shape) == 1:
            y = opset.matmul(a, w, False, False, name=_ROOF_OP)
            ops, what = 2 * size**3, f"MatMul {size}x{size}x{size}"
        else:
            pad = [k // 2, k // 2]
            y = opset.convolution(a, w, [1, 1], pad, pad, [1, 1], name=_ROOF_OP)
            ops = 2 * side * side * c_in * c_out * k * k
            what = f"Convolution {k}x{k} {c_in}->{c_out} on {side}x{side}"
        made.append((ov.Model([y], [x], "roof"), ops, what))
    return made


def _elements(shape) -> int | None:
    return int(np.prod([int(d) for d in shape.to_shape()])) if shape.is_static else None


def _runtime_layers(compiled) -> dict:
    """{executed layer name: (its rt_info, the original operations' names fused into it,
    element counts of its first two inputs (activations, weights) and of its output)}."""
    out = {}
    for node in compiled.get_runtime_model().get_ordered_ops():
        info = node.get_rt_info()
        names = info["originalLayersNames"].astype(str) if "originalLayersNames" in info else ""
        sizes = tuple(_elements(node.get_input_partial_shape(i))
                      for i in range(min(2, node.get_input_size())))
        output = _elements(node.get_output_partial_shape(0)) if node.get_output_size() else None
        out[node.get_friendly_name()] = (info, tuple(n for n in names.split(",") if n),
                                         sizes, output)
    return out


def _counter_us(counter) -> float:
    return counter.real_time.total_seconds() * 1e6


def _time_kernel(model, precision: str, threads: int, repeats: int):
    """(best kernel seconds, best infer() seconds, exec type) of the operation named 'roof'.

    OpenVINO's counters average every inference since compilation, in whole
    microseconds, so the time of inference k is k * average_k - (k - 1) *
    average_{k-1}, to within k microseconds. A kernel too short for that
    (under 20 k microseconds) gets its mean over the runs instead, exact to 1.
    """
    compiled = openvino_core().compile_model(model, "CPU", {
        "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": _HINT[precision],
        "INFERENCE_NUM_THREADS": threads, "PERF_COUNT": True})
    layer = next(name for name, (_, originals, *_) in _runtime_layers(compiled).items()
                 if _ROOF_OP in originals)
    request = compiled.create_infer_request()
    shape = list(model.inputs[0].get_shape())
    x = np.random.default_rng(1).random(shape, dtype=np.float32)

    def kernel_counter():
        return next(c for c in request.get_profiling_info() if c.node_name == layer)

    request.infer({0: x})   # warm-up
    first = previous = _counter_us(kernel_counter())
    best_kernel_us = best_wall = math.inf
    for count in range(2, repeats + 2):
        start = time.perf_counter()
        request.infer({0: x})
        best_wall = min(best_wall, time.perf_counter() - start)
        average = _counter_us(kernel_counter())
        best_kernel_us = min(best_kernel_us, count * average - (count - 1) * previous)
        previous = average
    mean_us = ((repeats + 1) * previous - first) / repeats
    if mean_us < 20 * (repeats + 1) or best_kernel_us <= 0:
        best_kernel_us = mean_us
    if best_kernel_us <= 0:   # under the counters' resolution
        return best_wall, best_wall, kernel_counter().exec_type
    return best_kernel_us * 1e-6, best_wall, kernel_counter().exec_type


def _absent_reason(precision: str, capabilities) -> str:
    if precision == "bf16" and "BF16" not in capabilities:
        return "no AVX512_BF16 or AMX: OpenVINO runs bf16 as f32"
    if precision == "int8" and "INT8" not in capabilities:
        return "the CPU plugin reports no INT8 capability: no int8 kernels"
    return ""


def _measure_roof(precision: str, size: int, threads: int, repeats: int,
                  capabilities) -> PrecisionRoof:
    reason = _absent_reason(precision, capabilities)
    if reason:
        return PrecisionRoof(precision=precision, ops_per_s=None, absent=reason)
    measured, best = {}, None
    for model, ops, what in _roof_models(size, precision == "int8"):
        kernel_s, wall_s, kernel = _time_kernel(model, precision, threads, repeats)
        if _precision_of(kernel) != precision:
            return PrecisionRoof(precision=precision, ops_per_s=None, kernel=kernel,
                                 absent=f"OpenVINO ran the {precision} {what} on {kernel}, "
                                        f"not a {precision} kernel")
        measured[f"{what} ({kernel})"] = ops / kernel_s
        if best is None or ops / kernel_s > best[0]:
            best = (ops / kernel_s, ops / wall_s, kernel, what)
    return PrecisionRoof(precision=precision, ops_per_s=best[0], kernel=best[2],
                         operation=best[3], wall_ops_per_s=best[1], measured=measured)


def _default_threads(threads) -> int:
    threads = _checks.threads(threads)
    return threads if threads is not None else environment().available_cores


def measure_runtime_roofs(precisions=None, *, threads: int | None = None,
                          repeats: int | None = None, size: int | None = None,
                          copy_bytes: int | None = None) -> RuntimeRoofs:
    """OpenVINO's peak ops/s per precision on this CPU, and the memory bandwidth.

    ``precisions``: some of ``ROOF_PRECISIONS`` (default: all three); bf16 is
    measured only where the CPU plugin reports the BF16 capability, int8 where
    it reports INT8, else recorded as absent with the reason. Each roof is
    the fastest of a ``size`` x ``size`` x ``size`` MatMul and five batch-1
    convolutions of the shapes of ResNet's stages (3x3, 64 to 512 channels on
    56x56 to 7x7 maps, and a 1x1), each the best of ``repeats`` runs: a kernel
    whose weights outgrow the caches runs slower, so the largest is not the
    fastest. ``threads`` defaults to every core this process may use.
    Defaults: size 512, a 128 MiB copy, best of 5; in fast mode
    (``ARTSPEED_FAST=1``) 256, 64 MiB and 3. A few seconds in all.
    """
    fast = fast_mode()
    if precisions is None:
        precisions = ROOF_PRECISIONS
    if isinstance(precisions, str):
        precisions = [precisions]
    precisions = tuple(dict.fromkeys(_checks.choice("precision", p, ROOF_PRECISIONS)
                                     for p in precisions))
    if not precisions:
        raise InvalidArgumentError(f"precisions is empty; choose from {', '.join(ROOF_PRECISIONS)}")
    size = _checks.whole_number("size", size or (256 if fast else 512), 2, 8192)
    copy_bytes = _checks.whole_number("copy_bytes", copy_bytes or (64 if fast else 128) * 2**20)
    repeats = _checks.whole_number("repeats", repeats or (3 if fast else 5))
    threads = _default_threads(threads)
    capabilities = tuple(openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    roofs = tuple(_measure_roof(p, size, threads, repeats, capabilities) for p in precisions)
    bytes_per_s, copied = _copy_bandwidth(copy_bytes, repeats)
    return RuntimeRoofs(roofs=roofs, bytes_per_s=bytes_per_s, copy_bytes=copied, size=size,
                        threads=threads, repeats=repeats, capabilities=capabilities,
                        cpu_model=environment().cpu_model)


# ---------------------------------------------------------------- the layers


@dataclass(frozen=True)
class LayerTime(Result):
    """One executed layer holding convolutions or matrix products: its ops, bytes and time."""

    name: str                    # the runtime layer's name
    layer_type: str              # Convolution, FullyConnected, ...
    exec_type: str               # the kernel, e.g. brgconv_avx512_1x1_I8
    precision: str               # int8, bf16, f16 or f32, read from the kernel
    operations: tuple            # the original Convolution/MatMul operations it runs
    ops: int                     # 2 x the multiply-accumulates of the outputs it computes
    model_ops: int               # 2 x those the ov.Model's operations ask for (>= ops)
    bytes: int                   # activations in, weights and output once each, as executed
    time_us: float               # per inference, by OpenVINO's counter (LayerTimes.timing)
    roof_ops_per_s: float | None = None   # the roof of its precision

    @property
    def ops_per_s(self) -> float | None:
        return self.ops / (self.time_us * 1e-6) if self.time_us > 0 else None

    @property
    def ops_per_byte(self) -> float:
        return self.ops / self.bytes if self.bytes else math.inf

    @property
    def percent_of_roof(self) -> float | None:
        """Achieved ops/s as a percentage of its precision's roof."""
        if self.ops_per_s is None or not self.roof_ops_per_s:
            return None
        return 100 * self.ops_per_s / self.roof_ops_per_s

    def __repr__(self) -> str:
        percent = self.percent_of_roof
        share = f", {percent:.0f}% of the {self.precision} roof" if percent is not None else ""
        return (f"<LayerTime {self.name} {self.exec_type}: {self.ops / 1e6:.1f} M ops in "
                f"{self.time_us:.0f} us{share}>")


@dataclass(frozen=True)
class LayerTimes(Result):
    """The convolution and matrix-product layers of a compiled model, timed and placed."""

    name: str
    runs: int
    total_time_us: float         # every executed layer, per inference (the counters' sum)
    layers: tuple                # LayerTime
    roofs: dict = field(default_factory=dict)   # {precision: roof ops/s} used for percentages
    timing: str = ""             # how the counters were read: which inferences they average

    @property
    def compute_time_us(self) -> float:
        """Time in the convolution and matrix-product layers, per inference."""
        return float(sum(layer.time_us for layer in self.layers))

    def summary(self) -> dict:
        """{precision: {layers, ops, model_ops, time_us, ops_per_s, percent_of_roof}}: the
        layers of each precision together, total ops over total time, as a percentage of
        that roof."""
        out: dict = {}
        for layer in self.layers:
            row = out.setdefault(layer.precision, {"layers": 0, "ops": 0, "model_ops": 0,
                                                   "time_us": 0.0})
            row["layers"] += 1
            row["ops"] += layer.ops
            row["model_ops"] += layer.model_ops
            row["time_us"] += layer.time_us
        for precision, row in out.items():
            row["ops_per_s"] = row["ops"] / (row["time_us"] * 1e-6) if row["time_us"] else None
            roof = self.roofs.get(precision)
            row["percent_of_roof"] = (100 * row["ops_per_s"] / roof
                                      if roof and row["ops_per_s"] else None)
        return out

    def percent_of_roof(self, precision: str) -> float | None:
        """The layers of ``precision`` together, as a percentage of its roof (None: none ran)."""
        return self.summary().get(precision, {}).get("percent_of_roof")

    def __repr__(self) -> str:
        parts = [f"{p} {row['layers']} layers {row['percent_of_roof']:.0f}% of roof"
                 if row["percent_of_roof"] is not None else f"{p} {row['layers']} layers"
                 for p, row in self.summary().items()]
        return (f"<LayerTimes {self.name}: {self.compute_time_us / 1e3:.2f} of "
                f"{self.total_time_us / 1e3:.2f} ms in conv/matmul; {', '.join(parts)}>")

    def _summary_rows(self):
        for precision, row in self.summary().items():
            percent = row["percent_of_roof"]
            yield (precision, row["layers"], f"{row['ops'] / 1e9:.3f}",
                   f"{row['model_ops'] / 1e9:.3f}", f"{row['time_us'] / 1e3:.2f}",
                   f"{row['ops_per_s'] / 1e9:.0f}" if row["ops_per_s"] else "-",
                   f"{percent:.0f}" if percent is not None else "-")

    _SUMMARY_HEADER = ("precision", "layers", "G ops", "model G ops", "ms", "G ops/s",
                       "% of roof")

    def __str__(self) -> str:
        return (f"{self.name}: {self.compute_time_us / 1e3:.2f} ms of "
                f"{self.total_time_us / 1e3:.2f} ms per inference in conv/matmul layers "
                f"({self.timing})\n"
                + text_table(list(self._summary_rows()), self._SUMMARY_HEADER))

    @classmethod
    def from_dict(cls, data: dict) -> LayerTimes:
        data = dict(data)
        data["layers"] = tuple(LayerTime.from_dict({**row, "operations": tuple(row["operations"])})
                               for row in data["layers"])
        return super().from_dict(data)

    def _repr_html_(self) -> str:
        rows = [(layer.name, layer.exec_type, layer.precision, f"{layer.ops / 1e6:.1f}",
                 f"{layer.time_us:.0f}",
                 f"{layer.ops_per_s / 1e9:.0f}" if layer.ops_per_s else "-",
                 f"{layer.percent_of_roof:.0f}" if layer.percent_of_roof is not None else "-")
                for layer in self.layers]
        return (html_table(list(self._summary_rows()), header=self._SUMMARY_HEADER,
                           caption=f"LayerTimes: {self.name} ({self.timing})")
                + html_table(rows, header=("layer", "kernel", "precision", "M ops", "us",
                                           "G ops/s", "% of roof")))


def _static_dims(shape, what: str) -> list:
    if not shape.is_static:
        raise ModelError(f"{what} has a dynamic shape {shape}; reshape the model to a fixed input shape first "
                         "(artspeed.convert_model(model, batch_size=1))")
    return [int(d) for d in shape.to_shape()]


def _operation_ops(op) -> tuple[int, int, int, int]:
    """(ops, input elements, weight elements, output elements) of a Convolution,
    GroupConvolution or MatMul of an ``ov.Model``: ops = 2 x multiply-accumulates.

    >>> from artspeed.core.frameworks import ov
    >>> import numpy as np
    >>> x = ov.opset13.parameter([1, 3, 8, 8], ov.Type.f32)
    >>> w = ov.opset13.constant(np.ones((4, 3, 3, 3), np.float32))
    >>> _operation_ops(ov.opset13.convolution(x, w, [1, 1], [0, 0], [0, 0], [1, 1]))
    (7776, 192, 108, 144)
    """
    kind = op.get_type_name()
    what = f"{kind} '{op.get_friendly_name()}'"
    a = _static_dims(op.get_input_partial_shape(0), what)
    b = _static_dims(op.get_input_partial_shape(1), what)
    out = _static_dims(op.get_output_partial_shape(0), what)
    if kind == "Convolution":      # weights (C_out, C_in, *kernel)
        macs_per_output = int(np.prod(b[1:]))
    elif kind == "GroupConvolution":   # weights (groups, C_out/g, C_in/g, *kernel)
        macs_per_output = int(np.prod(b[2:]))
    elif kind == "MatMul":
        transposed = op.get_attributes().get("transpose_a", False)
        macs_per_output = a[-2] if transposed and len(a) > 1 else a[-1]
    else:
        raise InvalidArgumentError(f"ops are counted for {', '.join(_COMPUTE_OPS)}, "
                                   f"not {kind}")
    outputs = int(np.prod(out))
    return 2 * outputs * macs_per_output, int(np.prod(a)), int(np.prod(b)), outputs


def _fresh_predictor(model, source, inference_precision, threads):
    """A predictor compiled here, with PERF_COUNT on, as ``model`` was (or would be) compiled.

    Compiled afresh, so every inference its counters average is one of ours.
    """
    if isinstance(model, OpenVINOPredictor):
        return compile_model(model._model, hint=model.hint, streams=model.streams,
                             inference_precision=model.precision, threads=model.threads,
                             perf_count=True, name=model.name)
    if isinstance(model, ov.CompiledModel):
        if source is None:
            raise InvalidArgumentError("layer_times needs the ov.Model a CompiledModel was "
                                       "compiled from, for its shapes: pass source=model")
        return compile_model(source, hint=str(model.get_property("PERFORMANCE_HINT")).lower(),
                             streams=int(model.get_property("NUM_STREAMS")),
                             inference_precision=model.get_property(
                                 "INFERENCE_PRECISION_HINT").to_string(),
                             threads=int(model.get_property("INFERENCE_NUM_THREADS")),
                             perf_count=True)
    return compile_model(model, inference_precision=inference_precision,
                         threads=_default_threads(threads), perf_count=True)


def _model_name(model, source) -> str:
    if isinstance(model, (str, Path)):
        return Path(model).stem
    if isinstance(model, ov.Model):
        return model.get_friendly_name()
    if isinstance(model, OpenVINOPredictor) or not hasattr(model, "name"):
        return source.get_friendly_name()
    return str(model.name)   # a tf_keras model


def _static_source(source, shape):
    """``source`` with static shapes (a clone reshaped to ``shape`` if its input is dynamic)."""
    if source.inputs[0].get_partial_shape().is_static:
        return source
    clone = source.clone()
    clone.reshape(list(shape))
    return clone


# executed layer types that run a convolution or a matrix product
_COMPUTE_LAYERS = ("Convolution", "GroupConvolution", "FullyConnected", "MatMul")


def _place_operations(counters, runtime: dict, compute: dict) -> dict:
    """{executed layer name: the ov.Model's Convolution/MatMul operations it runs}.

    By the names the plugin records as fused into each layer; where a low-precision
    transformation renamed the operation and lost its name (a quantized MatMul
    runs as '<its name>/DequantizationMultiply'), by the longest name that is a
    '/'-prefix of the layer's, if no other layer runs that operation.
    """
    placed, claimed = {}, set()
    for counter in counters:
        originals = runtime.get(counter.node_name, ({}, ()))[1]
        found = [n for n in originals if n in compute]
        if found:
            placed[counter.node_name] = [compute[n] for n in found]
            claimed.update(found)
    for counter in counters:
        if counter.node_name in placed or not counter.node_type.startswith(_COMPUTE_LAYERS):
            continue
        parts = counter.node_name.split("/")
        for end in range(len(parts) - 1, 0, -1):
            candidate = "/".join(parts[:end])
            if candidate in compute and candidate not in claimed:
                placed[counter.node_name] = [compute[candidate]]
                claimed.add(candidate)
                break
    return placed


def _run_and_count(compiled, inputs, runs: int, statistic: str):
    """(the executed counters, {layer name: microseconds per inference}, how it was timed).

    OpenVINO's counters average every inference since compilation, in whole
    microseconds: after inference k, a layer's time in inference k is
    k * average_k - (k - 1) * average_{k-1}, to within k microseconds. The
    compiled model is fresh: one warm-up inference, then ``runs``.
    """
    request = compiled.create_infer_request()

    def averages():
        return {c.node_name: _counter_us(c) for c in request.get_profiling_info()}

    request.infer({0: inputs})   # warm-up
    previous = averages()
    per_run = []    # (wall seconds, {layer: us})
    for count in range(2, runs + 2):
        start = time.perf_counter()
        request.infer({0: inputs})
        wall = time.perf_counter() - start
        current = averages()
        per_run.append((wall, {name: max(0.0, count * current[name] - (count - 1) * previous[name])
                               for name in current}))
        previous = current
    counters = [c for c in request.get_profiling_info() if c.status.name == "EXECUTED"]
    if statistic == "fastest":
        times = min(per_run, key=lambda run: run[0])[1]
        return counters, times, f"the fastest of {runs} inferences, after a warm-up"
    times = {name: float(np.median([run[name] for _, run in per_run])) for name in previous}
    return counters, times, f"each layer's median over {runs} inferences, after a warm-up"


def layer_times(model, *, roofs: RuntimeRoofs | None = None, inputs=None, runs: int = 20,
                statistic: str = "median", inference_precision: str | None = "f32",
                threads: int | None = None, source=None, name: str | None = None) -> LayerTimes:
    """Time each convolution and matrix-product layer with OpenVINO's perf counters.

    ``model`` is anything ``artspeed.compile_model`` takes (compiled with
    ``inference_precision`` and ``threads``: default ``roofs.threads``, else
    every core), an ``OpenVINOPredictor``, or an ``ov.CompiledModel`` (give
    ``source=``, the ``ov.Model`` it came from); each is compiled afresh here
    with the same settings and PERF_COUNT on. After a warm-up and ``runs``
    inferences of ``inputs`` (default: a random batch of one), each executed
    layer that runs Convolution, GroupConvolution or MatMul operations gets
    their ops (from the ``ov.Model``'s shapes, scaled to the outputs the layer
    computes), its time, the precision its kernel ran at and, with ``roofs``,
    the percentage of that precision's roof. ``statistic``: ``"median"``, each layer's median time over the
    runs; ``"fastest"``, the times of the fastest inference (as the roofs
    take the best run: on a busy machine, what the model does undisturbed).

    >>> import artspeed
    >>> times = layer_times(artspeed.dense_example(), runs=2)
    >>> times.summary()["f32"]["ops"] == 2 * artspeed.profile(artspeed.dense_example()).macs
    True
    """
    runs = _checks.whole_number("runs", runs)
    statistic = _checks.choice("statistic", statistic, ("median", "fastest"))
    if roofs is not None and not isinstance(roofs, RuntimeRoofs):
        raise InvalidArgumentError("roofs must be a RuntimeRoofs from "
                                   "artspeed.measure_runtime_roofs()")
    if threads is None and roofs is not None:
        threads = roofs.threads   # as the roofs were measured
    predictor = _fresh_predictor(model, source, inference_precision, threads)
    source = predictor._model
    if inputs is None:
        inputs = predictor.sample_input(predictor.fixed_batch or 1)
    inputs = np.asarray(inputs, dtype=np.float32)
    compiled = predictor.compiled_model(len(inputs))
    counters, times, timing = _run_and_count(compiled, inputs, runs, statistic)
    source = _static_source(source, inputs.shape)
    compute = {op.get_friendly_name(): op for op in source.get_ops()
               if op.get_type_name() in _COMPUTE_OPS}
    runtime = _runtime_layers(compiled)
    placed = _place_operations(counters, runtime, compute)
    layers = []
    for counter in counters:
        info, _, input_sizes, output_size = runtime.get(counter.node_name, ({}, (), (), None))
        ops = placed.get(counter.node_name)
        if not ops:
            continue
        precision = _precision_of(counter.exec_type,
                                  info["runtimePrecision"].astype(str)
                                  if "runtimePrecision" in info else "")
        output = (info["outputPrecisions"].astype(str).split(",")[0]
                  if "outputPrecisions" in info else precision)
        counts = [_operation_ops(op) for op in ops]
        model_ops = sum(c[0] for c in counts)
        # The plugin may compute fewer outputs than the ov.Model asked for (its
        # StridesOptimization moves the stride of a 1x1 convolution into the layer
        # before it): count the ops of the outputs it computes.
        scale = output_size / counts[-1][3] if len(ops) == 1 and output_size else 1.0
        executed = round(model_ops * scale) if 0 < scale <= 1 else model_ops
        if len(input_sizes) == 2 and None not in input_sizes and output_size:
            moved = (sum(input_sizes) * _bytes_per_element(precision)
                     + output_size * _bytes_per_element(output))
        else:
            moved = (sum(c[1] + c[2] for c in counts) * _bytes_per_element(precision)
                     + counts[-1][3] * _bytes_per_element(output))
        layers.append(LayerTime(
            name=counter.node_name, layer_type=counter.node_type, exec_type=counter.exec_type,
            precision=precision, operations=tuple(op.get_type_name() for op in ops),
            ops=executed, model_ops=model_ops, bytes=moved, time_us=times[counter.node_name],
            roof_ops_per_s=roofs.ops_per_s(precision) if roofs is not None
            and precision in roofs.precisions else None))
    used = {p: roofs.ops_per_s(p) for p in roofs.precisions} if roofs is not None else {}
    return LayerTimes(name=name or _model_name(model, source), runs=runs,
                      total_time_us=float(sum(times.values())), layers=tuple(layers),
                      roofs=used, timing=timing)


# ---------------------------------------------------------------- the plot

_COLOURS = {"f32": "tab:blue", "bf16": "tab:orange", "f16": "tab:purple", "int8": "tab:green"}
_MARKERS = ("o", "s", "^", "D", "v")


def plot_runtime_roofs(roofs: RuntimeRoofs, layers=None, ax=None):
    """The roof of each precision (a horizontal line from its ridge), the memory
    bandwidth (the slope below them), and the layers of one or more ``LayerTimes``
    as points at their measured ops/s.

    x: ops per byte moved (inputs, weights and output once each: the best
    case); y: ops/s. A point's colour is the precision its kernel ran at.
    """
    if not isinstance(roofs, RuntimeRoofs):
        raise InvalidArgumentError("roofs must be a RuntimeRoofs from "
                                   "artspeed.measure_runtime_roofs()")
    if isinstance(layers, LayerTimes):
        layers = [layers]
    layers = list(layers or [])
    if any(not isinstance(times, LayerTimes) for times in layers):
        raise InvalidArgumentError("layers must be LayerTimes from artspeed.layer_times()")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 5))
    present = [r for r in roofs.roofs if r.present]
    points = [layer for times in layers for layer in times.layers if layer.ops_per_s]
    ridges = [r.ops_per_s / roofs.bytes_per_s for r in present]
    xs_seen = [p.ops_per_byte for p in points] + ridges
    lo = min(xs_seen, default=1.0) / 4
    hi = max(xs_seen, default=100.0) * 4
    for r in present:   # flat from its ridge on: left of it, the bandwidth is the limit
        ridge = r.ops_per_s / roofs.bytes_per_s
        ax.hlines(r.ops_per_s / 1e9, ridge, hi, color=_COLOURS.get(r.precision, "grey"), lw=2,
                  label=f"{r.precision} roof: {r.ops_per_s / 1e9:.0f} G ops/s ({r.kernel})")
    top = max((r.ops_per_s for r in present), default=roofs.bytes_per_s * hi)
    xs = np.geomspace(lo, min(hi, top / roofs.bytes_per_s), 100)
    ax.loglog(xs, roofs.bytes_per_s * xs / 1e9, "k--", lw=1.5,
              label=f"memory bandwidth: {roofs.bytes_per_s / 1e9:.1f} GB/s (copy)")
    for i, times in enumerate(layers):
        marker = _MARKERS[i % len(_MARKERS)]
        for precision in dict.fromkeys(layer.precision for layer in times.layers):
            sel = [p for p in times.layers if p.precision == precision and p.ops_per_s]
            if not sel:
                continue
            percent = times.percent_of_roof(precision)
            share = f", {percent:.0f}% of roof together" if percent is not None else ""
            ax.scatter([p.ops_per_byte for p in sel], [p.ops_per_s / 1e9 for p in sel],
                       marker=marker, color=_COLOURS.get(precision, "grey"), alpha=0.6,
                       edgecolors="k", linewidths=0.3,
                       label=f"{times.name}: {len(sel)} {precision} layers{share}")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("arithmetic intensity (ops per byte moved, best case)")
    ax.set_ylabel("G ops/s (2 per multiply-accumulate)")
    ax.set_title(f"OpenVINO's roofs on {roofs.cpu_model}, {roofs.threads} threads")
    ax.legend(fontsize=7, loc="lower right")
    return ax
