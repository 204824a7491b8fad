"""Score variants of a model side by side: accuracy, agreement, size and latency.

Taught in notebooks/04-post-training-quantization (and used by 05). A
*variant* is one optimized version of a model: a ``.tflite`` file in some
quantization mode, say. ``evaluate_variant`` scores one against the float
reference; ``compare_variants`` scores several and measures their latency in
interleaved rounds (so a burst of load on a shared machine hits them all
alike), then reports each one's size and speed relative to a baseline.

It reuses the package's harness: ``artspeed.accuracy``, ``artspeed.agreement``,
``artspeed.model_size`` and ``artspeed.benchmark``.

>>> import artspeed
>>> ds = artspeed.load_dataset("shapes", limit_train=8, limit_test=16)
>>> m = artspeed.baseline_cnn(width=2)
>>> r = evaluate_variant(m, ds, reference=m, name="keras", latency=False)
>>> r.agreement, r.accuracy == r.float_accuracy
(1.0, True)
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt

from artspeed.core._result import Result, html_table
from artspeed.core.errors import InvalidArgumentError
from artspeed.measure.benchmarking import benchmark
from artspeed.measure.evaluation import accuracy, agreement, model_size
from artspeed.runtimes.factory import as_predictor

__all__ = ["VariantReport", "VariantTable", "evaluate_variant", "compare_variants"]


@dataclass(frozen=True)
class VariantReport(Result):
    """One variant's accuracy (and the float model's), agreement, size and batch-1 latency."""

    name: str
    mode: str
    path: str | None
    size_bytes: int | None
    gzip_bytes: int | None
    accuracy: float
    float_accuracy: float | None
    agreement: float | None
    latency_ms: float | None = None   # the median (p50) at batch 1
    threads: int | None = None

    @property
    def accuracy_drop_points(self) -> float:
        """How many percentage points of accuracy the variant lost against the float model."""
        if self.float_accuracy is None:
            return math.nan
        return 100 * (self.float_accuracy - self.accuracy)

    def __repr__(self) -> str:
        size = f"{self.size_bytes:,} bytes" if self.size_bytes is not None else "size ?"
        latency = f", {self.latency_ms:.3f} ms" if self.latency_ms is not None else ""
        return f"<VariantReport {self.name}: {size}, accuracy {self.accuracy:.2%}{latency}>"


def _as_predictor(variant, threads, name):
    """(predictor, mode, path) for anything ``artspeed.as_predictor`` takes."""
    predictor = as_predictor(variant, threads=threads, name=name)
    if isinstance(variant, (str, Path)):
        return predictor, Path(variant).suffix.lstrip("."), str(variant)
    path = getattr(variant, "path", None)
    if path is not None:   # a QuantizedModel, or another result that saved a model
        return predictor, getattr(variant, "mode", predictor.runtime), str(path)
    return predictor, predictor.runtime, None


def _size(variant, path):
    if path is not None:
        return model_size(path)
    if hasattr(variant, "get_weights"):
        return model_size(variant)
    return None


def evaluate_variant(variant, dataset, reference=None, *, name: str | None = None,
                     latency: bool = True, duration_s: float = 1.0, threads=None,
                     reference_accuracy: float | None = None) -> VariantReport:
    """Score ``variant`` on ``dataset``'s test set, against ``reference`` (the float model).

    ``variant`` is a ``QuantizedModel``, a model path, a Keras model or a
    Predictor; so is ``reference``. With ``latency``, the batch-1 median is
    measured for ``duration_s`` seconds. ``reference_accuracy`` skips
    re-scoring the reference when it is known.
    """
    predictor, mode, path = _as_predictor(variant, threads, name)
    label = name or mode
    ref = None
    if reference is not None:
        ref = _as_predictor(reference, None, "reference")[0]
        if reference_accuracy is None:
            reference_accuracy = accuracy(ref, dataset)
    size = _size(variant, path)
    p50 = None
    if latency:
        p50 = benchmark(predictor, 1, duration_s=duration_s, warn=False).latency_ms["p50"]
    return VariantReport(
        name=label, mode=mode, path=path, size_bytes=size.size_bytes if size else None,
        gzip_bytes=size.gzip_bytes if size else None, accuracy=accuracy(predictor, dataset),
        float_accuracy=reference_accuracy,
        agreement=agreement(predictor, ref, dataset) if ref is not None else None,
        latency_ms=p50, threads=threads)


@dataclass(frozen=True)
class VariantTable(Result):
    """Variants side by side, with size and speed relative to ``baseline``."""

    variants: tuple
    baseline: str
    rounds: int = 1

    def __getitem__(self, name: str) -> VariantReport:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(f"no variant named {name!r}; the variants are "
                       f"{', '.join(v.name for v in self.variants)}")

    def size_ratio(self, name: str) -> float:
        """The variant's file size as a fraction of the baseline's (0.25: four times smaller)."""
        return self[name].size_bytes / self[self.baseline].size_bytes

    def speedup(self, name: str) -> float:
        """Baseline latency / variant latency at batch 1 (above 1: the variant is faster)."""
        return self[self.baseline].latency_ms / self[name].latency_ms

    def __repr__(self) -> str:
        return f"<VariantTable {len(self.variants)} variants against {self.baseline}>"

    def _rows(self):
        for v in self.variants:
            size = v.size_bytes
            base = self[self.baseline]
            yield (v.name, size, v.gzip_bytes,
                   size / base.size_bytes if size and base.size_bytes else None,
                   v.accuracy, v.accuracy_drop_points, v.agreement, v.latency_ms,
                   base.latency_ms / v.latency_ms if v.latency_ms and base.latency_ms else None)

    def __str__(self) -> str:
        def cell(value, fmt):
            return f"{value:{fmt}}" if value is not None and not (
                isinstance(value, float) and math.isnan(value)) else "-"

        lines = [f"{'variant':<12} {'bytes':>9} {'gzip':>9} {'size x':>7} {'accuracy':>8} "
                 f"{'drop pt':>7} {'agree':>6} {'p50 ms':>8} {'speedup':>7}"]
        for name, size, gz, ratio, acc, drop, agree, lat, speed in self._rows():
            lines.append(f"{name:<12} {cell(size, '9,d')} {cell(gz, '9,d')} {cell(ratio, '7.3f')} "
                         f"{cell(acc, '8.2%')} {cell(drop, '7.2f')} {cell(agree, '6.1%')} "
                         f"{cell(lat, '8.3f')} {cell(speed, '6.2f')}x")
        return "\n".join(lines)

    @classmethod
    def from_dict(cls, data: dict) -> VariantTable:
        return cls(tuple(VariantReport.from_dict(v) for v in data["variants"]),
                   data["baseline"], data.get("rounds", 1))

    def _repr_html_(self) -> str:
        return html_table(list(self._rows()), header=(
            "variant", "size (bytes)", "gzip (bytes)", f"size vs {self.baseline}", "accuracy",
            "drop (points)", "agreement", "p50 latency (ms), batch 1",
            f"speed-up vs {self.baseline}"), caption="Variants side by side")

    def plot(self, axes=None):
        """Three bar charts: size (KB), accuracy (%) and batch-1 latency (ms)."""
        if axes is None:
            _, axes = plt.subplots(1, 3, figsize=(12, 3.5))
        names = [v.name for v in self.variants]
        panels = (([(v.size_bytes or 0) / 1024 for v in self.variants], "size (KB)"),
                  ([100 * v.accuracy for v in self.variants], "test accuracy (%)"),
                  ([v.latency_ms or 0 for v in self.variants], "p50 latency, batch 1 (ms)"))
        for ax, (values, label) in zip(axes, panels):
            ax.bar(names, values, color=["gray" if n == self.baseline else "tab:blue"
                                         for n in names])
            ax.set_title(label)
            ax.tick_params(axis="x", rotation=45)
            ax.grid(axis="y", alpha=0.3)
        accuracies = [100 * v.accuracy for v in self.variants]
        axes[1].set_ylim(max(0, min(accuracies) - 5), min(100, max(accuracies) + 2))
        return axes


def compare_variants(variants: dict, dataset, reference, *, baseline: str | None = None,
                     rounds: int = 3, duration_s: float = 1.0, threads=None) -> VariantTable:
    """Score each of ``variants`` (name -> variant) and time them in interleaved rounds.

    ``reference`` is the float model accuracy and agreement are measured
    against. Latency is the median over ``rounds`` of each round's batch-1
    p50, every variant timed for ``duration_s`` per round. ``baseline`` (the
    first variant by default) is what sizes and speed-ups are relative to.
    """
    if not variants:
        raise InvalidArgumentError("compare_variants needs at least one variant")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise InvalidArgumentError(f"rounds must be a whole number >= 1, got {rounds!r}")
    baseline = baseline or next(iter(variants))
    if baseline not in variants:
        raise InvalidArgumentError(f"baseline {baseline!r} is not one of the variants "
                                   f"({', '.join(variants)})")
    ref = _as_predictor(reference, None, "reference")[0]
    ref_accuracy = accuracy(ref, dataset)
    reports = {name: evaluate_variant(v, dataset, ref, name=name, latency=False,
                                      threads=threads, reference_accuracy=ref_accuracy)
               for name, v in variants.items()}
    predictors = {name: _as_predictor(v, threads, name)[0] for name, v in variants.items()}
    timings: dict = {name: [] for name in variants}
    for _ in range(rounds):
        for name, predictor in predictors.items():
            result = benchmark(predictor, 1, duration_s=duration_s, warn=False)
            timings[name].append(result.latency_ms["p50"])
    rows = []
    for name, report in reports.items():
        values = report.to_dict()
        values["latency_ms"] = statistics.median(timings[name])
        rows.append(VariantReport.from_dict(values))
    return VariantTable(tuple(rows), baseline, rounds)
