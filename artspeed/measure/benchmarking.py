"""Measure a Predictor: warm-up, many timed runs, percentiles, throughput.

Taught in notebooks/02-inference-metrics. ``benchmark(predictor)`` runs a few
warm-up inferences, then times each inference with ``time.perf_counter_ns``
for a fixed number of iterations or a time budget, and reports:

- latency percentiles p50/p90/p99, mean and standard deviation, in ms;
- the coefficient of variation (std / mean), and its robust twin
  (1.4826 x median absolute deviation / median): when the robust one is
  above ``NOISY_CV`` a ``NoisyMeasurementWarning`` says the run was noisy.
  The warning uses the robust spread because a few interruptions by the OS
  inflate the standard deviation of per-call latencies without moving the
  median, which is the figure to trust;
- throughput in samples per second (batch size x iterations / wall time);
- the first (cold) call, which a single timing would have reported;
- for OpenVINO, also the runtime's own timer per inference
  (``runtime_latency_ms``, ``InferRequest.latency``: what benchmark_app
  reports), which leaves out the cost of calling OpenVINO from Python;
- the machine and libraries (``artspeed.environment``), and the predictor.

``batch_sweep`` and ``thread_sweep`` repeat it over batch sizes or thread
counts; ``compare`` says "B is 2.3x faster than A at p50".

>>> from artspeed import FunctionPredictor
>>> result = benchmark(FunctionPredictor(None), iterations=50, warmup=5, warn=False)
>>> result.iterations, result.batch_size, result.latency_ms["p50"] < 1
(50, 1, True)
>>> BenchmarkResult.from_json(result.to_json()) == result
True
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np

from artspeed.core import _checks
from artspeed.core._result import Result, html_table
from artspeed.core.env import Environment, environment
from artspeed.core.errors import InvalidArgumentError
from artspeed.runtimes.base import Predictor
from artspeed.runtimes.factory import as_predictor, load_predictor

__all__ = ["BenchmarkResult", "Comparison", "Sweep", "NoisyMeasurementWarning",
           "benchmark", "compare", "batch_sweep", "thread_sweep", "latency_stats",
           "spread", "NOISY_CV", "plot_latencies"]

NOISY_CV = 0.10            # pyperf's threshold: a spread above 10% is noisy
MAX_ITERATIONS = 1_000_000  # the ceiling of a time-budget run
_KEPT_SAMPLES = 5_000      # latencies stored with a result (evenly thinned)
DEFAULT_DURATION_S = 1.0


class NoisyMeasurementWarning(UserWarning):
    """The spread of a measurement is large: rerun it on a quieter machine."""


def latency_stats(latencies_ms) -> dict:
    """p50/p90/p99/mean/std/min/max (ms) of per-inference latencies.

    >>> latency_stats([1.0, 2.0, 3.0, 4.0])["p50"]
    2.5
    """
    values = np.asarray(latencies_ms, dtype=np.float64)
    if not len(values):
        raise InvalidArgumentError("no latencies to summarize")
    finite = bool(np.isfinite(values).all())
    # Unserved queries are infinitely late: interpolating between infinities gives
    # NaN, so such runs use the nearest rank above instead.
    p50, p90, p99 = np.percentile(values, [50, 90, 99], method="linear" if finite else "higher")
    mean = float(values.mean()) if finite else math.inf
    std = float(values.std(ddof=1)) if finite and len(values) > 1 else (0.0 if finite else math.inf)
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": mean, "std": std,
            "min": float(values.min()), "max": float(values.max())}


def spread(latencies_ms) -> tuple[float, float]:
    """The coefficient of variation (std / mean) and its robust form (1.4826 MAD / median).

    The robust one ignores a few stalls, so one slow call does not make a run
    noisy; ``BenchmarkResult.noisy`` compares it with ``NOISY_CV``.

    >>> cv, robust_cv = spread([2.0, 2.0, 2.1, 1.9, 2.0, 2.0, 9.0])
    >>> round(cv, 2), round(robust_cv, 3)
    (0.88, 0.0)
    """
    values = np.asarray(latencies_ms, dtype=np.float64)
    stats = latency_stats(values)
    cv = stats["std"] / stats["mean"] if stats["mean"] > 0 else 0.0
    mad = float(np.median(np.abs(values - stats["p50"])))
    robust_cv = 1.4826 * mad / stats["p50"] if stats["p50"] > 0 else 0.0
    return float(cv), float(robust_cv)


def _thin(values: np.ndarray, keep: int = _KEPT_SAMPLES) -> tuple:
    if len(values) > keep:
        values = values[np.linspace(0, len(values) - 1, keep).astype(int)]
    return tuple(round(float(v), 6) for v in values)


def check_budget(iterations, duration_s, warmup=0):
    """Validate a run's length: iterations and warm-up counts, and a duration in seconds."""
    _checks.whole_number("iterations", iterations, optional=True)
    _checks.whole_number("warmup", warmup, 0, optional=True)
    if duration_s is not None:
        _checks.positive_finite("duration_s", duration_s, "give a number of seconds")


@dataclass(frozen=True)
class BenchmarkResult(Result):
    """Latency and throughput of one predictor at one batch size and thread count."""

    name: str
    runtime: str
    mode: str
    batch_size: int
    threads: int | None
    iterations: int
    warmup: int
    latency_ms: dict
    cv: float
    robust_cv: float
    throughput_per_s: float
    wall_s: float
    first_call_ms: float
    latencies_ms: tuple = ()
    predictor: dict = field(default_factory=dict)
    env: Environment | None = None
    # The runtime's own timer (OpenVINO's InferRequest.latency, which benchmark_app
    # reports): it leaves out the cost of calling the runtime from Python.
    runtime_latency_ms: dict | None = None

    @property
    def noisy(self) -> bool:
        """True when the robust coefficient of variation is above ``NOISY_CV``."""
        return self.robust_cv > NOISY_CV

    def __repr__(self) -> str:
        lat = self.latency_ms
        return (f"<BenchmarkResult {self.name}: batch {self.batch_size}, p50 {lat['p50']:.3f} ms, "
                f"p99 {lat['p99']:.3f} ms, {self.throughput_per_s:,.0f}/s, "
                f"spread {self.robust_cv:.0%}{' (noisy)' if self.noisy else ''}>")

    @classmethod
    def from_dict(cls, data: dict) -> BenchmarkResult:
        data = dict(data)
        data["latencies_ms"] = tuple(data.get("latencies_ms") or ())
        if isinstance(data.get("env"), dict):
            data["env"] = Environment.from_dict(data["env"])
        return super().from_dict(data)

    def summary(self) -> dict:
        """The figures without the raw latencies and environment (for tables and CLIs)."""
        return {"name": self.name, "runtime": self.runtime, "mode": self.mode,
                "batch_size": self.batch_size, "threads": self.threads,
                "iterations": self.iterations, "latency_ms": dict(self.latency_ms),
                "cv": self.cv, "robust_cv": self.robust_cv, "throughput_per_s": self.throughput_per_s}

    def _html_rows(self):
        yield "predictor", f"{self.name} ({self.runtime}/{self.mode})"
        yield "batch size", self.batch_size
        yield "threads", self.threads if self.threads is not None else "default"
        yield "iterations (warm-up)", f"{self.iterations} ({self.warmup})"
        for key, value in self.latency_ms.items():
            yield f"latency {key} (ms)", value
        yield "coefficient of variation (std / mean)", f"{self.cv:.1%}"
        yield "robust spread (MAD / median)", (f"{self.robust_cv:.1%}"
                                               + (" (noisy)" if self.noisy else ""))
        if self.runtime_latency_ms is not None:
            yield "latency p50, the runtime's own timer (ms)", self.runtime_latency_ms["p50"]
        yield "throughput (samples/s)", self.throughput_per_s
        yield "first call (ms)", self.first_call_ms


@dataclass(frozen=True)
class Comparison(Result):
    """How much faster ``candidate`` is than ``baseline`` at one statistic."""

    baseline: str
    candidate: str
    stat: str
    baseline_value: float
    candidate_value: float
    speedup: float

    def __str__(self) -> str:
        if self.speedup >= 1:
            return (f"{self.candidate} is {self.speedup:.2f}x faster than {self.baseline} "
                    f"at {self.stat}")
        return (f"{self.candidate} is {1 / self.speedup:.2f}x slower than {self.baseline} "
                f"at {self.stat}")

    def __repr__(self) -> str:
        return f"<Comparison {self}>"


def compare(baseline: BenchmarkResult, candidate: BenchmarkResult,
            stat: str = "p50") -> Comparison:
    """The speed-up of ``candidate`` over ``baseline`` at a latency statistic or throughput.

    ``stat`` is a latency key (``p50``, ``p90``, ``p99``, ``mean``) or
    ``"throughput"``; above 1 means the candidate is faster.

    >>> from artspeed import FunctionPredictor
    >>> a = benchmark(FunctionPredictor(None), iterations=20, warn=False)
    >>> str(compare(a, a)).endswith("faster than noop at p50")
    True
    """
    if stat == "throughput":
        base, cand = baseline.throughput_per_s, candidate.throughput_per_s
        speedup = cand / base if base > 0 else math.inf
    elif stat in baseline.latency_ms and stat in candidate.latency_ms:
        base, cand = baseline.latency_ms[stat], candidate.latency_ms[stat]
        speedup = base / cand if cand > 0 else math.inf
    else:
        raise InvalidArgumentError(f"unknown statistic {stat!r}; choose p50, p90, p99, mean "
                                   "or throughput")
    names = [baseline.name, candidate.name]
    if names[0] == names[1] and baseline is not candidate:
        names = [f"{names[0]} (A)", f"{names[1]} (B)"]
    return Comparison(names[0], names[1], stat, base, cand, speedup)


class Timed(NamedTuple):
    """What ``run_timed`` measured, in nanoseconds."""

    latencies: np.ndarray     # each timed inference, seen from Python
    wall: int                 # the whole timed loop
    first: int                # the first (cold) call
    own: np.ndarray | None    # the runtime's own timer per inference, where it has one


def _timed_sync(predictor: Predictor, iterations: int, deadline_ns, clock):
    """Time ``iterations`` runs (or until the deadline); (latencies, wall, own) in ns.

    ``own`` is the runtime's own timing of each run (OpenVINO's
    ``InferRequest.latency``), read after the timed span, or None.
    """
    run = predictor._run
    own_timer = getattr(predictor, "_own_latency_ns", None)
    latencies = np.empty(iterations, dtype=np.int64)
    own = np.empty(iterations, dtype=np.int64) if own_timer else None
    count = 0
    start = clock()
    for i in range(iterations):
        t0 = clock()
        if deadline_ns is not None and t0 >= deadline_ns:
            break
        run()
        latencies[i] = clock() - t0
        if own is not None:
            own[i] = own_timer()
        count += 1
    return latencies[:count], clock() - start, None if own is None else own[:count]


def run_timed(predictor: Predictor, inputs, iterations=None, duration_s=None,
              warmup=10) -> Timed:
    """Prepare ``inputs``, warm up, then time runs (a ``Timed``, in ns)."""
    check_budget(iterations, duration_s, warmup)
    clock = time.perf_counter_ns
    predictor.prepare(inputs)
    t0 = clock()
    predictor._run()
    first = clock() - t0
    for _ in range(max(warmup - 1, 0)):
        predictor._run()
    if iterations is None and duration_s is None:
        duration_s = DEFAULT_DURATION_S
    cap = iterations if iterations is not None else MAX_ITERATIONS
    deadline = None if duration_s is None else clock() + int(duration_s * 1e9)
    if predictor.mode == "async" and hasattr(predictor, "_timed_async"):
        latencies, wall = predictor._timed_async(cap, deadline, clock)
        own = latencies   # an async request's latency is the runtime's own timer
    else:
        latencies, wall, own = _timed_sync(predictor, cap, deadline, clock)
    if not len(latencies):  # a budget shorter than one run: time one anyway
        latencies, wall, own = _timed_sync(predictor, 1, None, clock)
    return Timed(latencies, wall, first, own)


def benchmark(predictor, batch_size: int = 1, *, iterations: int | None = None,
              duration_s: float | None = None, warmup: int = 10, inputs=None,
              seed: int = 0, name: str | None = None, warn: bool = True) -> BenchmarkResult:
    """Time ``predictor`` on batches of ``batch_size``; return a BenchmarkResult.

    Runs ``warmup`` untimed inferences, then ``iterations`` timed ones, or as
    many as fit in ``duration_s`` seconds (both: whichever ends first; neither:
    one second). ``inputs`` is the batch to use (default: random data of the
    model's input shape). A Keras model is wrapped in a ``KerasPredictor``.
    Only the inference is timed, not the input conversion or reading outputs,
    as OpenVINO's benchmark_app does. An async OpenVINO predictor keeps its
    queue full, and its latencies are OpenVINO's own per-request times
    (``InferRequest.latency``), which is what benchmark_app reports too.
    """
    predictor = as_predictor(predictor)
    check_budget(iterations, duration_s, warmup)
    if inputs is None:
        inputs = predictor.sample_input(batch_size, seed=seed)
    else:
        inputs = predictor.check_input(inputs)
        batch_size = int(inputs.shape[0])
    latencies, wall, first, own = run_timed(predictor, inputs, iterations, duration_s, warmup)
    latencies_ms = latencies / 1e6
    stats = latency_stats(latencies_ms)
    cv, robust_cv = spread(latencies_ms)
    result = BenchmarkResult(
        name=name or predictor.name, runtime=predictor.runtime, mode=predictor.mode,
        batch_size=int(batch_size), threads=predictor.threads, iterations=len(latencies),
        warmup=int(warmup), latency_ms=stats, cv=cv, robust_cv=robust_cv,
        throughput_per_s=float(batch_size * len(latencies) / (wall / 1e9)) if wall else math.inf,
        wall_s=wall / 1e9, first_call_ms=first / 1e6, latencies_ms=_thin(latencies_ms),
        predictor=predictor.describe(), env=environment(threads=predictor.threads),
        runtime_latency_ms=None if own is None else latency_stats(own / 1e6))
    if warn and result.noisy:
        warnings.warn(f"{result.name}: latencies vary by {robust_cv:.0%} around the median "
                      f"(over {NOISY_CV:.0%}); close other programs, set threads, or run "
                      "longer, and trust the median", NoisyMeasurementWarning, stacklevel=2)
    return result


@dataclass(frozen=True)
class Sweep(Result):
    """Benchmarks over one parameter: batch size or thread count."""

    parameter: str
    values: tuple
    results: tuple

    def __repr__(self) -> str:
        return f"<Sweep over {self.parameter} {list(self.values)}: {len(self.results)} results>"

    @classmethod
    def from_dict(cls, data: dict) -> Sweep:
        return cls(data["parameter"], tuple(data["values"]),
                   tuple(BenchmarkResult.from_dict(r) for r in data["results"]))

    def rows(self) -> list[tuple]:
        """(value, p50 ms, p99 ms, throughput/s, cv) for each point."""
        return [(v, r.latency_ms["p50"], r.latency_ms["p99"], r.throughput_per_s, r.cv)
                for v, r in zip(self.values, self.results)]

    def _repr_html_(self) -> str:
        return html_table(self.rows(), header=(self.parameter, "p50 (ms)", "p99 (ms)",
                                               "throughput (/s)", "cv"),
                          caption=f"Sweep over {self.parameter}")

    def plot(self, ax=None, label: str | None = None):
        """Latency (p50, ms) against throughput, one point per value, labelled."""
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        x = [r.throughput_per_s for r in self.results]
        y = [r.latency_ms["p50"] for r in self.results]
        ax.plot(x, y, marker="o", label=label or (self.results[0].name if self.results else None))
        for value, xi, yi in zip(self.values, x, y):
            ax.annotate(f"{self.parameter[0]}={value}", (xi, yi), textcoords="offset points",
                        xytext=(4, 4), fontsize=8)
        ax.set(xlabel="throughput (samples/s)", ylabel="p50 latency (ms)",
               title=f"Latency against throughput over {self.parameter}")
        ax.grid(alpha=0.3)
        return ax


def _positive_values(label: str, values) -> tuple:
    values = tuple(values)
    if not values:
        raise InvalidArgumentError(f"{label} must be whole numbers >= 1, got none")
    return tuple(_checks.whole_number(f"each of {label}", v) for v in values)


def batch_sweep(predictor, batch_sizes=(1, 2, 4, 8, 16, 32), **options) -> Sweep:
    """``benchmark`` at each batch size: the latency against throughput curve.

    >>> from artspeed import FunctionPredictor
    >>> batch_sweep(FunctionPredictor(None), (1, 4), iterations=5, warn=False).values
    (1, 4)
    """
    predictor = as_predictor(predictor)
    sizes = _positive_values("batch_sizes", batch_sizes)
    results = tuple(benchmark(predictor, b, **options) for b in sizes)
    return Sweep("batch_size", sizes, results)


def thread_sweep(make_predictor, threads=(1, 2), batch_size: int = 1, **options) -> Sweep:
    """``benchmark`` at each thread count; ``make_predictor(threads)`` builds each predictor.

    ``make_predictor`` may also be a model path (``load_predictor(path,
    threads=n)``). TensorFlow fixes its thread count once per process, so
    sweep Keras models in separate processes (``artspeed bench --threads``).

    >>> from artspeed import FunctionPredictor
    >>> thread_sweep(lambda n: FunctionPredictor(None), (1, 2), iterations=5,
    ...              warn=False).values
    (1, 2)
    """
    counts = _positive_values("threads", threads)
    if not callable(make_predictor):
        path = make_predictor

        def make_predictor(n):
            return load_predictor(path, threads=n)
    results = []
    for n in counts:
        predictor = make_predictor(n)
        result = benchmark(predictor, batch_size, **options)
        if result.threads is None:  # a callable that ignores threads: record what was asked
            result = dataclasses.replace(result, threads=n, env=environment(threads=n))
        results.append(result)
        if isinstance(predictor, Predictor):
            predictor.close()
    return Sweep("threads", counts, tuple(results))


def plot_latencies(results, ax=None, bins: int = 50):
    """Histograms of per-inference latencies, with p50, p90 and p99 marked.

    ``results`` is one result or a list of them (BenchmarkResult or
    ScenarioResult). The long right tail is why p99 and p50 differ.
    """
    if not isinstance(results, (list, tuple)):
        results = [results]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    styles = {"p50": "-", "p90": "--", "p99": ":"}
    for i, result in enumerate(results):
        values = np.asarray(result.latencies_ms, dtype=float)
        if not len(values):
            continue
        color = f"C{i % 10}"
        high = np.percentile(values, 99.5)
        ax.hist(values[values <= high], bins=bins, alpha=0.5, color=color,
                label=getattr(result, "scenario", None) and f"{result.name} ({result.scenario})"
                or result.name)
        for key, style in styles.items():
            value = result.latency_ms.get(key)
            if value is not None and math.isfinite(value):
                ax.axvline(value, color=color, ls=style, lw=1.2)
    ax.set(xlabel="latency (ms)", ylabel="inferences",
           title="Latency distribution (lines: p50 solid, p90 dashed, p99 dotted)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax

