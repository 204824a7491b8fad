"""Depthwise-separable against standard convolution at the same width, measured.

Taught in notebooks/01-model-complexity (section 8).

MobileNet's building block replaces a ``k x k`` convolution from C to C
channels (``k*k*C*C`` MACs per pixel) by a ``k x k`` depthwise convolution
(``k*k*C``: one filter per channel) and a 1x1 pointwise one (``C*C``): a
fraction ``1/C + 1/k**2`` of the MACs, about 8x fewer at 3x3 and 128
channels. ``compare_convolutions`` builds a stack of each kind at the same
width (``artspeed.conv_stack``), counts both with ``profile``, and times them
in each runtime at batch 1, in interleaved rounds. The speedup it measures is
smaller than the MAC ratio: a depthwise layer does ``k*k`` MACs for each value
it reads, so it waits for memory, far below the compute roof the standard
convolution reaches (the layers' arithmetic intensities are recorded).

>>> c = compare_convolutions(input_shape=(8, 8, 16), depth=1, runtimes=("keras",),
...                          rounds=1, duration_s=0.01)
>>> round(c.mac_ratio, 2), c.latency_ms["keras"]["separable"] > 0
(5.76, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt

from artspeed.core import _checks
from artspeed.core._result import Result, html_table, text_table
from artspeed.core.errors import InvalidArgumentError
from artspeed.core.models import CONV_KINDS, conv_stack
from artspeed.measure.profiler import profile
from artspeed.measure.variants import _median_stats, _raise, _time_in_rounds
from artspeed.runtimes.factory import RUNTIMES, as_predictor

__all__ = ["ConvolutionComparison", "compare_convolutions"]

# The layer whose arithmetic intensity stands for each kind of convolution in the stacks
_LAYERS = {"standard": "conv_1", "depthwise": "depthwise_1", "pointwise": "pointwise_1"}


@dataclass(frozen=True)
class ConvolutionComparison(Result):
    """Standard against separable convolution stacks: counts, and latency per runtime."""

    input_shape: tuple
    depth: int
    kernel: int
    params: dict                  # kind -> parameters
    macs: dict                    # kind -> MACs at batch 1
    intensity_flops_per_byte: dict   # standard / depthwise / pointwise layer -> FLOPs per byte
    latency_ms: dict              # runtime -> kind -> median p50 over the rounds
    spread_ms: dict               # runtime -> kind -> max - min of the rounds' p50s
    rounds: int
    threads: int | None

    @property
    def mac_ratio(self) -> float:
        """How many times fewer MACs the separable stack does."""
        return self.macs["standard"] / self.macs["separable"]

    def speedup(self, runtime: str) -> float:
        """How many times faster the separable stack ran than the standard one in ``runtime``."""
        times = self.latency_ms[runtime]
        return times["standard"] / times["separable"]

    def gmacs_per_s(self, runtime: str, kind: str) -> float:
        """The rate ``kind``'s stack did its MACs at in ``runtime`` (G MAC/s)."""
        return self.macs[kind] / (self.latency_ms[runtime][kind] * 1e-3) / 1e9

    def _rows(self):
        for runtime in self.latency_ms:
            for kind in CONV_KINDS:
                yield (runtime, kind, f"{self.macs[kind] / 1e6:,.1f}",
                       f"{self.latency_ms[runtime][kind]:.3f}",
                       f"{self.gmacs_per_s(runtime, kind):.1f}")

    _HEADER = ("runtime", "kind", "M MACs", "p50 ms", "G MAC/s")

    def __repr__(self) -> str:
        speed = ", ".join(f"{r} {self.speedup(r):.1f}x" for r in self.latency_ms)
        return (f"<ConvolutionComparison {self.depth} x {self.kernel}x{self.kernel} at "
                f"{self.input_shape}: {self.mac_ratio:.1f}x fewer MACs; faster by {speed}>")

    def __str__(self) -> str:
        return text_table(list(self._rows()), self._HEADER)

    def _repr_html_(self) -> str:
        caption = (f"{self.depth} convolutions {self.kernel}x{self.kernel} at "
                   f"{self.input_shape}: separable does {self.mac_ratio:.1f}x fewer MACs")
        return html_table(list(self._rows()), self._HEADER, caption)

    @classmethod
    def from_dict(cls, data: dict) -> ConvolutionComparison:
        return super().from_dict({**data, "input_shape": tuple(data["input_shape"])})

    def plot(self, axes=None):
        """Left: fewer MACs against the measured speedups. Right: G MAC/s of each kind."""
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        left, right = axes
        runtimes = list(self.latency_ms)
        labels = ["fewer MACs"] + [f"faster in {r}" for r in runtimes]
        values = [self.mac_ratio] + [self.speedup(r) for r in runtimes]
        bars = left.bar(labels, values, color=["0.6"] + [f"C{i}" for i in range(len(runtimes))])
        left.bar_label(bars, fmt="%.1fx")
        left.set(ylabel="separable against standard (x)",
                 title="separable: MACs saved against time saved")
        width = 0.8 / len(CONV_KINDS)
        for i, kind in enumerate(CONV_KINDS):
            xs = [j + (i - 0.5) * width for j in range(len(runtimes))]
            right.bar(xs, [self.gmacs_per_s(r, kind) for r in runtimes], width,
                      label=f"{kind} stack")
        right.set_xticks(range(len(runtimes)), runtimes)
        right.set(ylabel="G MAC/s achieved", title="how fast each stack does its MACs")
        right.legend()
        return axes


def compare_convolutions(input_shape=(56, 56, 128), depth: int = 4, kernel: int = 3, *,
                         runtimes=("tflite", "openvino"), rounds: int = 5,
                         duration_s: float = 0.5, threads=None,
                         progress: bool = False) -> ConvolutionComparison:
    """Count and time a standard and a separable ``conv_stack`` at the same width.

    Both stacks (random weights; speed does not depend on them) run in each of
    ``runtimes`` (float32: Keras through ``tf.function``, TFLite, OpenVINO at
    f32), all of them taking turns in each of ``rounds`` rounds of
    ``duration_s``; each latency is the median of the rounds' p50s.
    """
    rounds = _checks.whole_number("rounds", rounds, 1, 100)
    runtimes = tuple(_checks.choice("runtime", r, RUNTIMES) for r in runtimes)
    if not runtimes:
        raise InvalidArgumentError("give at least one runtime: keras, tflite or openvino")
    models = {kind: conv_stack(kind, input_shape, depth, kernel) for kind in CONV_KINDS}
    profiles = {kind: profile(model) for kind, model in models.items()}
    intensity = {role: profiles["standard" if role == "standard" else "separable"]
                 .layer(name).arithmetic_intensity for role, name in _LAYERS.items()}
    options = {"keras": {"mode": "function"}, "openvino": {"precision": "f32"}}
    predictors = {(runtime, kind): as_predictor(model, runtime, threads=threads,
                                                name=f"{kind} in {runtime}",
                                                **options.get(runtime, {}))
                  for runtime in runtimes for kind, model in models.items()}
    try:
        skipped: dict = {}
        timings = _time_in_rounds(predictors, rounds, duration_s, _raise, skipped, progress)
    finally:
        for predictor in predictors.values():
            predictor.close()
    latency, spread = {}, {}
    for (runtime, kind), results in timings.items():
        stats, _ = _median_stats(results)
        latency.setdefault(runtime, {})[kind] = stats["p50"]
        spread.setdefault(runtime, {})[kind] = stats["p50_spread"]
    first = next(iter(predictors.values()))
    return ConvolutionComparison(
        input_shape=tuple(int(d) for d in models["standard"].input_shape[1:]), depth=depth,
        kernel=kernel, params={k: p.total_params for k, p in profiles.items()},
        macs={k: p.macs for k, p in profiles.items()}, intensity_flops_per_byte=intensity,
        latency_ms=latency, spread_ms=spread, rounds=rounds, threads=first.threads)
