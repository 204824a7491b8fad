"""Score variants of a model side by side: their task's metric, agreement, size and latency.

Taught in notebooks/04-post-training-quantization (and used by 05 to 08, and
by the tour). A *variant* is one optimized version of a model: a ``.tflite``
file in some quantization mode, say. ``measure_variants`` is the one loop
that measures them: every variant alike, its latency in interleaved rounds (so
a burst of load on a shared machine hits them all alike). ``compare_variants``
scores several against the float reference with it, and reports each one's
size and speed relative to a baseline; ``evaluate_variant`` scores one.

It reuses the package's harness: ``artspeed.evaluate``'s scoring (accuracy, mean IoU
or MAE, by the dataset's task) and agreement, from one pass of each model over the
test images, ``artspeed.model_size`` and ``artspeed.benchmark``.

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
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
from tqdm.auto import tqdm

from artspeed.core import _checks
from artspeed.core._result import Result, html_table, text_table
from artspeed.core.data import Dataset
from artspeed.core.errors import InvalidArgumentError
from artspeed.core.tasks import Scored, task_for
from artspeed.core.training import dataset_task
from artspeed.measure.benchmarking import benchmark
from artspeed.measure.evaluation import model_outputs, model_size
from artspeed.runtimes.factory import as_predictor

__all__ = ["VariantReport", "VariantTable", "measure_variants", "evaluate_variant",
           "compare_variants"]


@dataclass(frozen=True)
class VariantReport(Scored, Result):
    """One variant's score by its task's metric (and the float model's), agreement, size
    and batch-1 latency. ``accuracy`` is top-1 accuracy, for classifiers only; ``score``
    is the task's metric (``metric`` names it: accuracy, mean_iou or mae)."""

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
    latency_stats_ms: dict | None = None   # p50, p90, p99, mean, std at batch 1
    throughput_per_s: float | None = None  # at batch 1
    metric: str = "accuracy"               # the key of the task's metric
    score: float | None = None             # the variant's, by that metric
    float_score: float | None = None       # the float model's
    higher_is_better: bool = True
    fraction: bool = True                  # a share in [0, 1]: drops are in points

    _from_accuracy = {"score": "accuracy", "float_score": "float_accuracy"}

    @property
    def drop(self) -> float:
        """How much worse the variant scores than the float model: points of accuracy or
        mean IoU, or the metric's own unit (MAE's); negative when it does better."""
        return self.measure.drop(self.float_score, self.score)

    @property
    def accuracy_drop_points(self) -> float:
        """How many percentage points of accuracy the variant lost against the float model."""
        if self.float_accuracy is None or self.accuracy is None:
            return math.nan
        return 100 * (self.float_accuracy - self.accuracy)

    def __repr__(self) -> str:
        size = f"{self.size_bytes:,} bytes" if self.size_bytes is not None else "size ?"
        latency = f", {self.latency_ms:.3f} ms" if self.latency_ms is not None else ""
        return (f"<VariantReport {self.name}: {size}, {self.measure.name} "
                f"{self.measure.format(self.score)}{latency}>")


def _as_predictor(variant, name, options):
    """(predictor, mode, path) for anything ``artspeed.as_predictor`` takes."""
    predictor = as_predictor(variant, name=name, **options)
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


def _raise(name, exc):
    raise exc


def _median_stats(results) -> tuple[dict, float]:
    """The median over rounds of each round's latency figures, and of its throughput;
    ``p50_spread``: how far the rounds' p50s lie apart (max - min), the measured noise."""
    keys = ("p50", "p90", "p99", "mean", "std")
    stats = {k: statistics.median(r.latency_ms[k] for r in results) for k in keys}
    p50s = [r.latency_ms["p50"] for r in results]
    stats["p50_spread"] = max(p50s) - min(p50s)
    return stats, statistics.median(r.throughput_per_s for r in results)


def measure_variants(variants: dict, dataset, reference=None, *, rounds: int = 3,
                     duration_s: float = 1.0, threads=None, options: dict | None = None,
                     baseline: str | None = None, reference_accuracy: float | None = None,
                     on_error=None, progress: bool = False, task=None,
                     metric=None) -> VariantTable:
    """Measure each of ``variants`` (name -> variant) alike, in one run.

    A variant is anything ``artspeed.as_predictor`` takes; ``options`` maps a
    name to more of its keyword arguments (``{"keras": {"mode": "predict"}}``).
    Each gets its score on ``dataset``'s test set by the dataset's task (``task``, if
    given, must be it): accuracy, mean IoU or MAE, or ``metric(outputs, y_test)``, a
    function of yours; given ``reference``, the float model, its score too and
    their agreement (``reference_accuracy`` is the reference's score, if known).
    Each model's outputs come from one pass over the test images. Then its size
    raw and gzipped, and its
    batch-1 latency (p50, p90, p99) and throughput: every variant is timed for
    ``duration_s`` in each of ``rounds`` interleaved rounds, and each figure is
    the median over the rounds (``rounds=0``: no timing). A variant that fails
    raises; with ``on_error(name, exc)``, it is skipped for the reason that
    returns (the table's ``skipped``), unless ``on_error`` raises.

    >>> import artspeed
    >>> ds = artspeed.load_dataset("shapes", limit_train=8, limit_test=16)
    >>> m = artspeed.baseline_cnn(width=2)
    >>> table = measure_variants({"a": m, "b": m}, ds, rounds=1, duration_s=0.01)
    >>> table.names, table.times_smaller("b"), table["b"].latency_stats_ms["p50"] > 0
    (['a', 'b'], 1.0, True)
    """
    if not variants:
        raise InvalidArgumentError("measure_variants needs at least one variant")
    rounds = _checks.whole_number("rounds", rounds, 0)
    options, on_error = options or {}, on_error or _raise
    scoring = _Scoring(dataset, task, metric)
    if reference is not None:
        scoring.reference(_as_predictor(reference, "reference", {})[0], reference_accuracy)
    loaded, skipped = {}, {}
    for name, variant in variants.items():
        try:
            loaded[name] = _as_predictor(variant, name, {"threads": threads,
                                                         **options.get(name, {})})
        except Exception as exc:
            skipped[name] = on_error(name, exc)
    timings = _time_in_rounds({n: p for n, (p, _, _) in loaded.items()}, rounds, duration_s,
                              on_error, skipped, progress)
    reports = []
    for name, (predictor, mode, path) in loaded.items():
        if name in skipped:
            continue
        try:
            size = _size(variants[name], path)
            reports.append(_report(name, predictor, mode, path, size, timings[name], scoring))
        except Exception as exc:
            skipped[name] = on_error(name, exc)
    for name, (predictor, _, _) in loaded.items():
        if predictor is not variants[name]:   # made here, so closed here
            predictor.close()
    if not reports:
        raise InvalidArgumentError(f"no variant could be measured: {skipped}")
    names = [r.name for r in reports]
    return VariantTable(tuple(reports), baseline or names[0], rounds, skipped)


def _time_in_rounds(predictors: dict, rounds: int, duration_s: float, on_error, skipped: dict,
                    progress: bool) -> dict:
    """name -> its batch-1 benchmark in each round; the variants take turns in every round."""
    timings: dict = {name: [] for name in predictors}
    running = dict(predictors)
    with tqdm(total=rounds * len(running), desc="measuring", unit="run",
              disable=not progress) as bar:
        for _ in range(rounds):
            for name, predictor in list(running.items()):
                try:
                    timings[name].append(benchmark(predictor, 1, duration_s=duration_s,
                                                   warn=False))
                except Exception as exc:
                    skipped[name] = on_error(name, exc)
                    del running[name]
                bar.update(1)
    return timings


class _Scoring:
    """How the variants are scored: the dataset's task (or a metric of yours), and the
    reference's outputs, computed once for every variant's agreement."""

    def __init__(self, dataset, task, metric):
        if not isinstance(dataset, Dataset):
            raise InvalidArgumentError(f"measure_variants needs an artspeed Dataset, got "
                                       f"{type(dataset).__name__}; use artspeed.load_dataset")
        self.dataset = dataset
        self.task = task_for(dataset_task(dataset, task, "artspeed.measure_variants"), metric)
        self.ref_outputs, self.ref_scores = None, None

    def reference(self, predictor, known_score: float | None) -> None:
        self.ref_outputs, _ = model_outputs(predictor, self.dataset, task=self.task.name,
                                            where="artspeed.measure_variants")
        self.ref_scores = self.scores(self.ref_outputs)
        if known_score is not None:
            self.ref_scores[self.task.metric.key] = float(known_score)

    def scores(self, outputs) -> dict:
        return self.task.scores(outputs, self.dataset.y_test, self.dataset.num_classes)

    def __call__(self, predictor) -> dict:
        """The VariantReport fields of ``predictor``'s scores, from one pass."""
        outputs, _ = model_outputs(predictor, self.dataset, task=self.task.name,
                                   where="artspeed.measure_variants")
        scores, ref, key = self.scores(outputs), self.ref_scores or {}, self.task.metric.key
        agreement = (self.task.agreement(outputs, self.ref_outputs)
                     if self.ref_outputs is not None else None)
        classifier = self.task.name == "classification" and self.task.function is None
        return {"accuracy": scores["accuracy"] if classifier else None,
                "float_accuracy": ref.get("accuracy") if classifier else None,
                "agreement": agreement, "metric": key, "score": scores[key],
                "float_score": ref.get(key), "higher_is_better": self.task.metric.higher_is_better,
                "fraction": self.task.metric.fraction}


def _report(name, predictor, mode, path, size, timings, scoring) -> VariantReport:
    stats, throughput = _median_stats(timings) if timings else (None, None)
    return VariantReport(
        name=name, mode=mode, path=path, size_bytes=size.size_bytes if size else None,
        gzip_bytes=size.gzip_bytes if size else None, **scoring(predictor),
        latency_ms=stats["p50"] if stats else None, threads=predictor.threads,
        latency_stats_ms=stats, throughput_per_s=throughput)


def evaluate_variant(variant, dataset, reference=None, *, name: str | None = None,
                     latency: bool = True, duration_s: float = 1.0, threads=None,
                     reference_accuracy: float | None = None, task=None,
                     metric=None) -> VariantReport:
    """Score ``variant`` on ``dataset``'s test set, against ``reference`` (the float model).

    ``variant`` is a ``QuantizedModel``, a model path, a Keras model or a
    Predictor; so is ``reference``. With ``latency``, the batch-1 median is
    measured for ``duration_s`` seconds. ``reference_accuracy`` (the reference's score
    by the task's metric) skips re-scoring it when it is known; ``task`` and ``metric``
    as in ``measure_variants``.
    """
    label = name or "variant"
    table = measure_variants({label: variant}, dataset, reference, rounds=int(latency),
                             duration_s=duration_s, threads=threads,
                             reference_accuracy=reference_accuracy, task=task, metric=metric)
    report = table[label]
    if name is None:   # named after its mode, as it always was
        report = VariantReport.from_dict({**report.to_dict(), "name": report.mode})
    return report


@dataclass(frozen=True)
class VariantTable(Result):
    """Variants side by side, with size and speed relative to ``baseline``.

    ``skipped`` holds the variants that could not be measured, and why.
    """

    variants: tuple
    baseline: str
    rounds: int = 1
    skipped: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> VariantReport:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(f"no variant named {name!r}; the variants are "
                       f"{', '.join(v.name for v in self.variants)}")

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variants]

    def times_smaller(self, name: str) -> float:
        """Baseline file size / the variant's (4.0: four times smaller; below 1: bigger)."""
        return self[self.baseline].size_bytes / self[name].size_bytes

    def size_ratio(self, name: str) -> float:
        """Deprecated: the variant's size as a fraction of the baseline's; use ``times_smaller``."""
        warnings.warn("VariantTable.size_ratio(name) is deprecated: use "
                      "VariantTable.times_smaller(name), baseline size / variant size "
                      "(size_ratio is its inverse)", DeprecationWarning, stacklevel=2)
        return 1 / self.times_smaller(name)

    def speedup(self, name: str) -> float:
        """Baseline latency / variant latency at batch 1 (above 1: the variant is faster)."""
        return self[self.baseline].latency_ms / self[name].latency_ms

    def __repr__(self) -> str:
        return f"<VariantTable {len(self.variants)} variants against {self.baseline}>"

    def _table(self) -> tuple[tuple, list]:
        """(header, rows): the one table ``str()`` and the HTML view both show."""
        def cell(value, fmt):
            missing = value is None or (isinstance(value, float) and math.isnan(value))
            return "-" if missing else f"{value:{fmt}}"

        base = self[self.baseline]
        rows = []
        for v in self.variants:
            smaller = (base.size_bytes / v.size_bytes
                       if v.size_bytes and base.size_bytes else None)
            faster = (base.latency_ms / v.latency_ms
                      if v.latency_ms and base.latency_ms else None)
            rows.append((v.name, cell(v.size_bytes, ",d"), cell(v.gzip_bytes, ",d"),
                         cell(smaller, ".2f"), v.measure.format(v.score),
                         cell(v.drop, ".2f" if v.measure.fraction else ".3g"),
                         cell(v.agreement, ".1%"), cell(v.latency_ms, ".3f"),
                         cell(faster, ".2f")))
        metric = base.measure
        drop = f"drop ({metric.drop_unit})" if metric.drop_unit else "worse by"
        header = ("variant", "bytes", "gzip bytes", "× smaller", metric.name, drop,
                  "agreement", "p50 ms", "× faster")
        return header, rows

    def __str__(self) -> str:
        header, rows = self._table()
        return text_table(rows, header) + f"\n× smaller and × faster: against {self.baseline}"

    @classmethod
    def from_dict(cls, data: dict) -> VariantTable:
        return cls(tuple(VariantReport.from_dict(v) for v in data["variants"]),
                   data["baseline"], data.get("rounds", 1), data.get("skipped", {}))

    def _repr_html_(self) -> str:
        header, rows = self._table()
        return html_table(rows, header=header, caption=(
            f"Variants side by side (× smaller, × faster: against {self.baseline}; "
            "p50 latency at batch 1)"))

    def plot(self, axes=None):
        """Three bar charts: size (KB), the task's metric (accuracy, mean IoU: %) and batch-1
        latency (ms)."""
        if axes is None:
            _, axes = plt.subplots(1, 3, figsize=(12, 3.5))
        names = [v.name for v in self.variants]
        metric = self.variants[0].measure
        scale = 100 if metric.fraction else 1
        panels = (([(v.size_bytes or 0) / 1024 for v in self.variants], "size (KB)"),
                  ([scale * v.score for v in self.variants], f"test {metric.axis_label()}"),
                  ([v.latency_ms or 0 for v in self.variants], "p50 latency, batch 1 (ms)"))
        for ax, (values, label) in zip(axes, panels):
            ax.bar(names, values, color=["gray" if n == self.baseline else "tab:blue"
                                         for n in names])
            ax.set_title(label)
            ax.tick_params(axis="x", rotation=45)
            ax.grid(axis="y", alpha=0.3)
        if metric.fraction:
            scores = [100 * v.score for v in self.variants]
            axes[1].set_ylim(max(0, min(scores) - 5), min(100, max(scores) + 2))
        return axes


def compare_variants(variants: dict, dataset, reference, *, baseline: str | None = None,
                     rounds: int = 3, duration_s: float = 1.0, threads=None, task=None,
                     metric=None) -> VariantTable:
    """Score each of ``variants`` (name -> variant) and time them in interleaved rounds.

    ``reference`` is the float model scores and agreement are measured
    against. Latency is the median over ``rounds`` of each round's batch-1
    p50, every variant timed for ``duration_s`` per round (``measure_variants``).
    ``baseline`` (the first variant by default) is what sizes and speed-ups are
    relative to.
    """
    if not variants:
        raise InvalidArgumentError("compare_variants needs at least one variant")
    rounds = _checks.whole_number("rounds", rounds, 1)
    baseline = baseline or next(iter(variants))
    if baseline not in variants:
        raise InvalidArgumentError(f"baseline {baseline!r} is not one of the variants "
                                   f"({', '.join(variants)})")
    return measure_variants(variants, dataset, reference, rounds=rounds, duration_s=duration_s,
                            threads=threads, baseline=baseline, task=task, metric=metric)
