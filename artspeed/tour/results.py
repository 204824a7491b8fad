"""What a tour records: its settings, one measurement per variant, and the whole result.

``load_tour(out)`` reads back the ``results.json`` a finished tour wrote.

>>> TourSettings.for_run(quick=True).epochs >= 1
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from artspeed.core._result import Result, html_table
from artspeed.core.errors import InvalidArgumentError

__all__ = ["TourSettings", "VariantMeasurement", "TourResult", "load_tour", "WITHIN_POINTS"]
WITHIN_POINTS = 1.0   # "as accurate as the baseline": within this many points


@dataclass(frozen=True)
class TourSettings(Result):
    """How long the tour trains and measures. ``quick`` is the demo's setting."""

    quick: bool = False
    epochs: int = 5
    finetune_epochs: int = 2
    limit_train: int | None = None
    calibration_samples: int = 200
    duration_s: float = 2.0         # per variant and round
    rounds: int = 3
    batch_sizes: tuple = (1, 2, 4, 8, 16, 32, 64)
    seed: int = 0

    @classmethod
    def for_run(cls, quick: bool, fast: bool = False) -> TourSettings:
        """The full tour, ``quick`` (minutes), or CI's fast mode (quick, on less data)."""
        if not (quick or fast):
            return cls()
        # Two fine-tuning epochs: after one, 80% pruning still costs about 2 points on MNIST.
        return cls(quick=True, epochs=1 if fast else 3, finetune_epochs=1 if fast else 2,
                   limit_train=2000 if fast else 10000, calibration_samples=100,
                   duration_s=0.25 if fast else 0.6, rounds=2,
                   batch_sizes=(1, 4, 16, 64))

    @classmethod
    def from_dict(cls, data: dict) -> TourSettings:
        return super().from_dict({**data, "batch_sizes": tuple(data.get("batch_sizes", ()))})

    def __repr__(self) -> str:
        return f"<TourSettings {'quick' if self.quick else 'full'}, {self.epochs} epochs>"


@dataclass(frozen=True)
class VariantMeasurement(Result):
    """One variant, measured: accuracy, size, batch-1 latency and throughput."""

    name: str
    runtime: str
    path: str
    accuracy: float
    size_bytes: int
    gzip_bytes: int
    latency_ms: dict = field(default_factory=dict)   # p50, p90, p99, mean, std
    throughput_per_s: float = 0.0
    build_s: float = 0.0
    description: str = ""

    def __repr__(self) -> str:
        return (f"<VariantMeasurement {self.name}: {self.accuracy:.2%}, "
                f"{self.gzip_bytes:,} gzip bytes, p50 {self.latency_ms.get('p50', 0):.3f} ms>")

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
    pareto_latency: tuple = ()        # names on the accuracy-latency frontier
    pareto_size: tuple = ()           # names on the accuracy-size frontier
    batch_curves: dict = field(default_factory=dict)   # name -> {"batch_sizes", "p50_ms", "throughput_per_s"}
    picks: dict = field(default_factory=dict)          # latency / throughput / size -> name
    targets: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)        # variant -> why it was skipped (or had no batch curve)
    env: dict = field(default_factory=dict)
    seconds: float = 0.0
    out: str = ""

    def __repr__(self) -> str:
        return (f"<TourResult {self.model} on {self.dataset}: {len(self.variants)} variants, "
                f"picks {self.picks}>")

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

    @classmethod
    def from_dict(cls, data: dict) -> TourResult:
        data = dict(data)
        data["settings"] = TourSettings.from_dict(data["settings"])
        data["variants"] = tuple(VariantMeasurement.from_dict(v) for v in data["variants"])
        for key in ("pareto_latency", "pareto_size"):
            data[key] = tuple(data.get(key, ()))
        return super().from_dict(data)

    def table(self) -> str:
        """The variants as a text table, speed-ups and size ratios against the baseline."""
        base = self.baseline
        lines = [f"{'variant':<16} {'accuracy':>8} {'gzip KB':>9} {'x smaller':>9} "
                 f"{'p50 ms':>8} {'p99 ms':>8} {'x faster':>8} {'inf/s':>9}  frontier"]
        for v in self.variants:
            marks = ("L" if v.name in self.pareto_latency else "-") + \
                    ("S" if v.name in self.pareto_size else "-")
            lines.append(
                f"{v.name:<16} {v.accuracy:>8.2%} {v.gzip_bytes / 1024:>9.1f} "
                f"{base.gzip_bytes / v.gzip_bytes:>9.2f} {v.latency_ms['p50']:>8.3f} "
                f"{v.latency_ms['p99']:>8.3f} {base.p50_ms / v.p50_ms:>8.2f} "
                f"{v.throughput_per_s:>9.0f}  {marks}")
        lines.append("frontier: L = accuracy-latency, S = accuracy-size (gzip)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        base = self.baseline
        rows = [(v.name, v.runtime, f"{v.accuracy:.2%}", f"{v.size_bytes:,}", f"{v.gzip_bytes:,}",
                 f"{base.gzip_bytes / v.gzip_bytes:.2f}", f"{v.latency_ms['p50']:.3f}",
                 f"{v.latency_ms['p90']:.3f}", f"{v.latency_ms['p99']:.3f}",
                 f"{base.p50_ms / v.p50_ms:.2f}", f"{v.throughput_per_s:,.0f}",
                 " ".join(k for k, names in (("latency", self.pareto_latency),
                                             ("size", self.pareto_size)) if v.name in names))
                for v in self.variants]
        return html_table(rows, header=(
            "variant", "runtime", "accuracy", "bytes", "gzip bytes", "x smaller (gzip)",
            "p50 ms", "p90 ms", "p99 ms", "x faster (p50)", "inferences/s",
            "Pareto-optimal for"), caption=f"The tour: {self.model} on {self.dataset}")


def load_tour(out="runs/tour") -> TourResult:
    """The TourResult a finished tour wrote to ``out/results.json``."""
    path = Path(out) / "results.json"
    if not path.exists():
        raise InvalidArgumentError(f"no tour results at {path}; run artspeed.run_tour first")
    return TourResult.from_json(path)
