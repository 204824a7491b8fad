"""What a tour records: its settings, one measurement per variant, and the whole result.

``load_tour(out)`` reads back the ``results.json`` a finished tour wrote.

>>> TourSettings.for_run(quick=True).epochs >= 1
True
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path

from artspeed.core._result import Result, html_table, text_table
from artspeed.core.baseline import unet_epochs, vehicle_epochs
from artspeed.core.errors import InvalidArgumentError
from artspeed.core.tasks import Metric, Scored

__all__ = ["TourSettings", "VariantMeasurement", "TourResult", "load_tour", "WITHIN_POINTS",
           "latency_noise"]
WITHIN_POINTS = 1.0   # "as good as the baseline": within this many points (1% of an MAE)


@dataclass(frozen=True)
class TourSettings(Result):
    """How long the tour trains and measures. ``quick`` is the demo's setting."""

    quick: bool = False
    epochs: int = 6
    finetune_epochs: int = 2
    finetune_images: int | None = None   # fine-tunes see the first N training images
    limit_train: int | None = None
    test_images: int | None = None       # variants are scored on the first N test images
    calibration_samples: int = 200
    duration_s: float = 2.0         # per variant and round
    rounds: int = 3
    batch_sizes: tuple = (1, 2, 4, 8, 16, 32, 64)
    seed: int = 0

    @classmethod
    def for_run(cls, quick: bool, fast: bool = False, task: str = "classification") -> TourSettings:
        """The full tour, ``quick`` (minutes), or CI's fast mode (quick, on less data), for a
        model of ``task`` (the UNet trains its own number of epochs: ``unet_epochs()``)."""
        if task == "segmentation":
            settings = cls.for_run(quick, fast)
            return replace(settings, epochs=unet_epochs() if (quick or fast) else 2 * unet_epochs())
        if not (quick or fast):
            return cls()
        # The vehicle trains as in the notebooks (vehicle_epochs(), all 5,000 scenes), so
        # the tour reuses their copy; it needs about 300 steps to learn the scenes. Its
        # fine-tunes (QAT, pruning) see half of them once. Fast mode leaves it under-trained
        # on purpose (CI checks the code path, not accuracy): the same steps on less data,
        # fine-tunes of 4 batches, 200 test images to score each variant, 32 to calibrate.
        return cls(quick=True, epochs=vehicle_epochs(), finetune_epochs=1,
                   finetune_images=256 if fast else 2500, limit_train=1000 if fast else None,
                   test_images=200 if fast else None, calibration_samples=32 if fast else 100,
                   duration_s=0.25 if fast else 0.6, rounds=2 if fast else 3,
                   batch_sizes=(1, 4, 16, 64))

    @classmethod
    def from_dict(cls, data: dict) -> TourSettings:
        return super().from_dict({**data, "batch_sizes": tuple(data.get("batch_sizes", ()))})

    def __repr__(self) -> str:
        return f"<TourSettings {'quick' if self.quick else 'full'}, {self.epochs} epochs>"


@dataclass(frozen=True)
class VariantMeasurement(Scored, Result):
    """One variant, measured: its score by the task's metric, size, batch-1 latency and
    throughput. ``accuracy`` is a classifier's (None for other tasks); ``score`` is by
    ``metric`` (accuracy, mean_iou or mae)."""

    name: str
    runtime: str
    path: str
    accuracy: float | None
    size_bytes: int
    gzip_bytes: int
    latency_ms: dict = field(default_factory=dict)   # p50, p90, p99, mean, std
    throughput_per_s: float = 0.0
    build_s: float = 0.0
    description: str = ""
    metric: str = "accuracy"
    score: float | None = None

    _from_accuracy = {"score": "accuracy"}

    def __repr__(self) -> str:
        return (f"<VariantMeasurement {self.name}: {self.measure.name} "
                f"{self.measure.format(self.score)}, {self.gzip_bytes:,} gzip bytes, "
                f"p50 {self.latency_ms.get('p50', 0):.3f} ms>")

    @property
    def p50_ms(self) -> float:
        return self.latency_ms["p50"]


@dataclass(frozen=True)
class TourResult(Result):
    """Everything the tour measured, and what it recommends."""

    dataset: str
    model: str
    settings: TourSettings
    profile: dict                     # the baseline's params, MACs, FLOPs
    variants: tuple                   # VariantMeasurement, the baseline ("keras") first
    pareto_latency: tuple = ()        # names on the score-latency frontier
    pareto_size: tuple = ()           # names on the score-size frontier
    batch_curves: dict = field(default_factory=dict)   # name -> {"batch_sizes", "p50_ms", "throughput_per_s"}
    async_runs: dict = field(default_factory=dict)     # name -> {"throughput_per_s", "streams", "requests"}
    picks: dict = field(default_factory=dict)          # latency / throughput / size -> name
    targets: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)        # variant -> why it was skipped (or had no batch curve)
    costs: dict = field(default_factory=dict)          # name -> EnergyCost.to_dict(), less env
    env: dict = field(default_factory=dict)
    seconds: float = 0.0
    out: str = ""
    baseline_origin: str = ""         # "trained" in this tour, "reused" (trained earlier), "given"

    def __repr__(self) -> str:
        return (f"<TourResult {self.model} on {self.dataset}: {len(self.variants)} variants, "
                f"picks {self.picks}>")

    @property
    def time_note(self) -> str:
        """What the tour's time includes: training the model (the vehicle, the UNet), or not
        (it was reused)."""
        what = {"unet": "the UNet"}.get(self.model, f"the {self.model}")
        return {"trained": f", training {what}",
                "reused": f", with {what} trained earlier and reused"}.get(
                    self.baseline_origin, "")

    def throughput_options(self, name: str) -> list[tuple[str, float]]:
        """How variant ``name`` ran for throughput (the Offline scenario) and what it finished
        per second each way: batch 1, its batch-size curve, OpenVINO's throughput hint with
        async requests."""
        options = [("batch 1", self[name].throughput_per_s)]
        curve = self.batch_curves.get(name)
        if curve:
            options += [(f"batch {b}", t) for b, t in zip(curve["batch_sizes"],
                                                        curve["throughput_per_s"]) if b != 1]
        run = self.async_runs.get(name)
        if run:
            options.append((f"throughput hint, async ({run['streams']} streams, "
                            f"{run['requests']} requests)", run["throughput_per_s"]))
        return options

    def best_throughput(self, name: str) -> tuple[str, float]:
        """The way variant ``name`` finished most per second, and how many."""
        return max(self.throughput_options(name), key=lambda option: option[1])

    def __getitem__(self, name: str) -> VariantMeasurement:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(f"no variant {name!r}; the tour has {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variants]

    @property
    def baseline(self) -> VariantMeasurement:
        return self.variants[0]

    @property
    def measure(self) -> Metric:
        """The metric every variant is scored by: the dataset's task's."""
        return self.baseline.measure

    def within(self, variant: VariantMeasurement) -> bool:
        """True if ``variant`` scores within ``WITHIN_POINTS`` of the baseline (a point of
        accuracy or mean IoU; 1% of its MAE)."""
        return self.measure.within(self.baseline.score, variant.score, WITHIN_POINTS)

    @classmethod
    def from_dict(cls, data: dict) -> TourResult:
        data = dict(data)
        data["settings"] = TourSettings.from_dict(data["settings"])
        data["variants"] = tuple(VariantMeasurement.from_dict(v) for v in data["variants"])
        for key in ("pareto_latency", "pareto_size"):
            data[key] = tuple(data.get(key, ()))
        targets = dict(data.get("targets", {}))   # results.json written before the renaming
        if "smallest_within_1pt_gzip_ratio" in targets:
            targets["smallest_within_1pt_gzip_times_smaller"] = targets.pop(
                "smallest_within_1pt_gzip_ratio")
        data["targets"] = targets
        return super().from_dict(data)

    def table_rows(self) -> tuple[tuple, list]:
        """(header, rows): the tour's table, every cell formatted once.

        ``table()`` (text), the notebook view and the report all show these rows.
        """
        base = self.baseline
        header = ("variant", "runtime", self.measure.name, "gzip KB", "× smaller", "p50 ms",
                  "p99 ms", "× faster", "inferences/s", "Pareto frontier")
        rows = []
        for v in self.variants:
            fronts = [k for k, names in (("latency", self.pareto_latency),
                                         ("size", self.pareto_size)) if v.name in names]
            rows.append((v.name, v.runtime, v.measure.format(v.score),
                         f"{v.gzip_bytes / 1024:,.1f}",
                         f"{base.gzip_bytes / v.gzip_bytes:.2f}", f"{v.p50_ms:.3f}",
                         f"{v.latency_ms['p99']:.3f}", f"{base.p50_ms / v.p50_ms:.2f}",
                         f"{v.throughput_per_s:,.0f}",
                         "both" if len(fronts) == 2 else "".join(fronts)))
        return header, rows

    def _legend(self) -> str:
        how = {"keras": " (Keras through tf.function)"}.get(self.baseline.name, "")
        return (f"× smaller (gzipped) and × faster (p50 at batch 1): against "
                f"{self.baseline.name}{how}; Pareto frontier: {self.measure.name} against "
                "latency (ties within the measured noise), against size, or both")

    def table(self) -> str:
        """The variants as a text table (``table_rows``), against the baseline.

        >>> def measured(name, gzip_bytes, p50_ms):
        ...     return VariantMeasurement(name, "tflite", f"{name}.tflite", 0.98, 2 * gzip_bytes,
        ...                               gzip_bytes, {"p50": p50_ms, "p99": 2 * p50_ms}, 1e3 / p50_ms)
        >>> tour = TourResult("shapes", "cnn", TourSettings(), {},
        ...                   (measured("keras", 4096, 0.5), measured("int8", 1024, 0.1)),
        ...                   pareto_latency=("int8",), pareto_size=("int8",))
        >>> print(tour.table().splitlines()[2])
        int8     tflite     98.00%      1.0       4.00   0.100   0.200      5.00        10,000  both
        """
        header, rows = self.table_rows()
        return f"{text_table(rows, header)}\n{self._legend()}"

    def _repr_html_(self) -> str:
        header, rows = self.table_rows()
        return html_table(rows, header=header, caption=(
            f"The tour: {self.model} on {self.dataset}. {self._legend()}"))


def load_tour(out="runs/tour") -> TourResult:
    """The TourResult a finished tour wrote to ``out/results.json``."""
    path = Path(out) / "results.json"
    if not path.exists():
        raise InvalidArgumentError(f"no tour results at {path}; run artspeed.run_tour first")
    return TourResult.from_json(path)


def latency_noise(measured) -> float:
    """The relative latency difference within this run's noise: the median over the
    variants of how far their rounds' p50s lay apart, as a fraction of their p50 (0 for one
    round). ``measured``: a tour's variants, or a ``VariantTable``'s."""
    stats = [v.latency_ms if isinstance(v.latency_ms, dict) else v.latency_stats_ms
             for v in measured]   # a tour's VariantMeasurement, or a VariantTable's report
    spreads = [s.get("p50_spread", 0.0) / s["p50"] for s in stats if s]
    return statistics.median(spreads) if spreads else 0.0
