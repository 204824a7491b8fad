"""Load scenarios modelled on MLPerf Inference LoadGen: how a model is queried.

Taught in notebooks/02-inference-metrics. The same model is fast or slow
depending on how queries arrive, so MLPerf defines four scenarios:

- **SingleStream** (``single_stream``): one sample per query; the next
  query is sent when the last returns. Reports the p90 latency.
- **MultiStream** (``multi_stream``): N samples per query (8 by default, as in
  MLPerf), sent back to back. Reports the p99 latency.
- **Server** (``server``): queries of one sample arrive at random, Poisson
  distributed at a target rate (QPS). A query's latency counts from its
  arrival, so it includes the time spent waiting behind earlier queries.
  Reports the p99 and whether it met a latency bound; ``find_max_qps``
  searches for the highest rate that still meets it.
- **Offline** (``offline_throughput``): all samples at once, in batches the system
  chooses. Reports throughput in samples per second.

Simplifications against MLPerf's rules (so a run takes seconds, not minutes):

- Runs last ``duration_s`` (default 1 s) or a number of queries, instead of
  MLPerf's minimum of 600 s and its minimum query counts; percentiles of a few
  hundred queries are rougher, and the p99 needs at least ~100 of them.
- Samples are random data of the model's input shape, the same batch each
  time, instead of a sample library loaded from a real dataset; accuracy is
  measured separately (``artspeed.accuracy``).
- One query is served at a time, by the calling thread: a Server run models a
  single-worker queue (MLPerf lets the system run many queries in parallel),
  and queries that arrive while one runs wait. A served model
  (``artspeed serve``, an ``HttpPredictor``) is sent queries from up to 16
  concurrent clients instead, so that its server can batch them. Offline uses an async
  OpenVINO predictor's request queue when given one.
- The Server's arrival times come from a seeded numpy generator, not
  LoadGen's; a query still waiting when the run's hard time limit
  (2 x ``duration_s`` + 0.5 s, or the last arrival + ``duration_s`` + 0.5 s)
  is reached counts as infinitely late.
- The issuing thread sleeps until 5 ms before an arrival, then spins, because
  a sleeping thread on a busy machine wakes up late and that lateness would
  count as the model's latency.
- No early stopping, no checks for result caching, no audit tests.

>>> from artspeed import FunctionPredictor
>>> r = single_stream(FunctionPredictor(None), max_queries=20)
>>> r.scenario, r.metric, r.queries
('single-stream', 'p90 latency (ms)', 20)
"""

from __future__ import annotations

import dataclasses
import math
import queue
import threading
import time
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np

from artspeed.core import _checks
from artspeed.core._result import Result, html_table
from artspeed.core.env import Environment, environment
from artspeed.core.errors import InvalidArgumentError
from artspeed.measure.benchmarking import _thin, check_budget, latency_stats, run_timed
from artspeed.runtimes.base import Predictor
from artspeed.runtimes.factory import as_predictor

__all__ = ["ScenarioResult", "ServerSearch", "SCENARIOS", "single_stream", "multi_stream",
           "server", "find_max_qps", "offline_throughput", "run_scenario"]

SCENARIOS = ("single-stream", "multi-stream", "server", "offline")
DEFAULT_DURATION_S = 1.0
_MAX_SERVER_QUERIES = 1_000_000   # arrival times are drawn up front: keep them in memory
_SPIN_NS = 5_000_000  # sleep until 5 ms before an arrival, then spin (sleep oversleeps)


@dataclass(frozen=True)
class ScenarioResult(Result):
    """The outcome of one scenario run: its headline metric and the latencies behind it."""

    scenario: str
    name: str
    runtime: str
    metric: str
    value: float
    queries: int
    samples_per_query: int
    latency_ms: dict
    throughput_per_s: float
    duration_s: float
    target_qps: float | None = None
    latency_bound_ms: float | None = None
    bound_met: bool | None = None
    unserved: int = 0
    met_share: float | None = None
    concurrency: int = 1
    batch_sizes: dict = field(default_factory=dict)
    latencies_ms: tuple = ()
    predictor: dict = field(default_factory=dict)
    env: Environment | None = None

    def __repr__(self) -> str:
        extra = ""
        if self.scenario == "server":
            extra = (f" at {self.target_qps:.0f} QPS, bound {self.latency_bound_ms} ms "
                     f"{'met' if self.bound_met else 'missed'}")
            if self.batch_sizes:
                extra += f", mean batch formed {self.mean_batch_formed:.1f}"
        return (f"<ScenarioResult {self.scenario} {self.name}: {self.metric} "
                f"{self.value:,.3f}{extra}, {self.queries} queries>")

    @property
    def mean_batch_formed(self) -> float:
        """The mean batch size the server formed per request (served models only)."""
        total = sum(self.batch_sizes.values())
        return sum(k * v for k, v in self.batch_sizes.items()) / total if total else float("nan")

    @classmethod
    def from_dict(cls, data: dict) -> ScenarioResult:
        data = dict(data)
        data["latencies_ms"] = tuple(data.get("latencies_ms") or ())
        data["latency_ms"] = {k: (math.inf if v is None else v)
                              for k, v in (data.get("latency_ms") or {}).items()}
        if data.get("value") is None:
            data["value"] = math.inf
        data["batch_sizes"] = {int(k): v for k, v in (data.get("batch_sizes") or {}).items()}
        if isinstance(data.get("env"), dict):
            data["env"] = Environment.from_dict(data["env"])
        return super().from_dict(data)


def _result(scenario, predictor: Predictor, metric, value, latencies_ns, wall_ns,
            samples_per_query, **extra) -> ScenarioResult:
    latencies_ms = np.asarray(latencies_ns, dtype=np.float64) / 1e6
    served = latencies_ms[np.isfinite(latencies_ms)]
    stats = latency_stats(latencies_ms)
    return ScenarioResult(
        scenario=scenario, name=predictor.name, runtime=predictor.runtime, metric=metric,
        value=float(value(stats)), queries=len(latencies_ms),
        samples_per_query=samples_per_query, latency_ms=stats,
        throughput_per_s=float(len(served) * samples_per_query / (wall_ns / 1e9)),
        duration_s=wall_ns / 1e9, latencies_ms=_thin(served),
        predictor=predictor.describe(), env=environment(threads=predictor.threads), **extra)


def _stream(scenario, predictor, samples, duration_s, max_queries, warmup, seed, stat):
    predictor = as_predictor(predictor)
    max_queries = _checks.whole_number("max_queries", max_queries, optional=True)
    check_budget(max_queries, duration_s, warmup)
    if duration_s is None and max_queries is None:
        duration_s = DEFAULT_DURATION_S
    latencies, wall, *_ = run_timed(predictor, predictor.sample_input(samples, seed),
                                   max_queries, duration_s, warmup)
    return _result(scenario, predictor, f"{stat} latency (ms)", lambda s: s[stat],
                   latencies, wall, samples)


def single_stream(predictor, *, duration_s: float | None = None, max_queries: int | None = None,
                  warmup: int = 10, seed: int = 0) -> ScenarioResult:
    """SingleStream: one sample per query, back to back, for ``duration_s``; reports p90."""
    return _stream("single-stream", predictor, 1, duration_s, max_queries, warmup, seed, "p90")


def multi_stream(predictor, samples_per_query: int = 8, *, duration_s: float | None = None,
                 max_queries: int | None = None, warmup: int = 10,
                 seed: int = 0) -> ScenarioResult:
    """MultiStream: ``samples_per_query`` samples per query, back to back; reports p99.

    >>> from artspeed import FunctionPredictor
    >>> multi_stream(FunctionPredictor(None), 4, max_queries=10).samples_per_query
    4
    """
    samples_per_query = _checks.whole_number("samples_per_query", samples_per_query)
    return _stream("multi-stream", predictor, samples_per_query, duration_s,
                   max_queries, warmup, seed, "p99")


def server(predictor, target_qps: float, latency_bound_ms: float, *,
           duration_s: float = DEFAULT_DURATION_S, min_queries: int = 20, warmup: int = 10,
           seed: int = 0, concurrency: int | None = None) -> ScenarioResult:
    """Server: Poisson arrivals at ``target_qps``; p99 from arrival to answer, and the bound.

    ``bound_met`` is True when the p99 latency is within ``latency_bound_ms``;
    ``met_share`` is the share of queries answered within it. The run ends when
    the queries that arrived in ``duration_s`` (at least ``min_queries``) are
    served, or at the hard limit (2 x duration + 0.5 s, later if the
    ``min_queries`` arrive later).

    A local predictor serves one query at a time (``concurrency=1``). A served
    model (``HttpPredictor``) gets each query at its arrival time from up to
    ``concurrency`` clients at once (default 16), as users of a server would
    send them, and ``batch_sizes`` counts the batches the server formed.

    >>> from artspeed import FunctionPredictor
    >>> r = server(FunctionPredictor(None), target_qps=2000, latency_bound_ms=5, duration_s=0.05)
    >>> r.scenario, r.target_qps, r.bound_met in (True, False)
    ('server', 2000.0, True)
    """
    predictor = as_predictor(predictor)
    target_qps = _checks.positive_finite("target_qps", target_qps)
    latency_bound_ms = _checks.positive_finite("latency_bound_ms", latency_bound_ms)
    check_budget(None, duration_s, warmup)
    min_queries = _checks.whole_number("min_queries", min_queries)
    concurrency = _concurrency(predictor, concurrency)
    if target_qps * duration_s > _MAX_SERVER_QUERIES:
        raise InvalidArgumentError(
            f"{target_qps:g} QPS for {duration_s:g} s is {target_qps * duration_s:,.0f} queries; "
            f"the server scenario issues at most {_MAX_SERVER_QUERIES:,}: lower target_qps "
            "or duration_s")
    rng = np.random.default_rng(seed)
    expected = max(int(target_qps * duration_s * 1.5) + 16, min_queries)
    arrivals_s = np.cumsum(rng.exponential(1.0 / target_qps, size=expected))
    count = max(int(np.searchsorted(arrivals_s, duration_s)), min_queries)
    arrivals = (arrivals_s[:count] * 1e9).astype(np.int64)

    sample = predictor.sample_input(1, seed)
    predictor.prepare(sample)
    for _ in range(warmup):
        predictor._run()
    if hasattr(predictor, "reset_batch_sizes"):
        predictor.reset_batch_sizes()
    issue = _issue_one_at_a_time if concurrency == 1 else _issue_concurrently
    latencies, wall = issue(predictor, arrivals, duration_s, concurrency, sample)
    unserved = int(np.isinf(latencies).sum())
    result = _result("server", predictor, "p99 latency (ms)", lambda s: s["p99"],
                     latencies, wall, 1, target_qps=float(target_qps),
                     latency_bound_ms=float(latency_bound_ms), unserved=unserved,
                     concurrency=concurrency,
                     met_share=float(np.mean(latencies <= latency_bound_ms * 1e6)),
                     batch_sizes=predictor.batch_sizes()
                     if hasattr(predictor, "batch_sizes") else {})
    return dataclasses.replace(result, bound_met=bool(result.value <= latency_bound_ms))


_HTTP_CONCURRENCY = 16   # clients a served model gets by default: more than any batch formed


def _concurrency(predictor, concurrency) -> int:
    concurrent = getattr(predictor, "concurrent", False)
    if concurrency is None:
        return _HTTP_CONCURRENCY if concurrent else 1
    concurrency = _checks.whole_number("concurrency", concurrency, maximum=256)
    if concurrency > 1 and not concurrent:
        raise InvalidArgumentError(
            f"{predictor.name} runs one query at a time in this process; concurrency "
            f"{concurrency} needs a served model (artspeed serve, then its URL)")
    return concurrency


def _hard_limit_ns(arrivals, duration_s: float) -> int:
    """2 x the duration + 0.5 s, or the last arrival + the duration + 0.5 s if later
    (``min_queries`` at a low rate arrive after the duration)."""
    last_s = float(arrivals[-1]) / 1e9 if len(arrivals) else 0.0
    return int((max(2 * duration_s, last_s + duration_s) + 0.5) * 1e9)


def _wait_until(due: int, clock, sleep, spin_ns: int = _SPIN_NS) -> int:
    now = clock()
    while now < due:
        if due - now > spin_ns:
            sleep((due - now - spin_ns) / 1e9)
        now = clock()
    return now


def _issue_one_at_a_time(predictor, arrivals, duration_s, concurrency, sample):
    """The calling thread serves each query when it arrives, or when the last one is done."""
    run, clock, sleep = predictor._run, time.perf_counter_ns, time.sleep
    latencies = np.full(len(arrivals), np.inf)
    start = clock()
    hard_limit = start + _hard_limit_ns(arrivals, duration_s)
    for i, offset in enumerate(arrivals):
        due = start + offset
        if due > hard_limit:   # at a low rate, later arrivals fall past the run's end
            break
        if _wait_until(due, clock, sleep) > hard_limit:
            break
        run()
        latencies[i] = clock() - due
    return latencies, clock() - start


def _issue_concurrently(predictor, arrivals, duration_s, concurrency, sample):
    """Each query is handed at its arrival to the first of ``concurrency`` idle clients.

    A query's latency counts from its arrival, so time spent waiting for a free
    client counts, as it would for a user. Clients still busy at the hard limit
    are left to finish on their own; their queries count as unserved.
    """
    clock, sleep = time.perf_counter_ns, time.sleep
    latencies = np.full(len(arrivals), np.inf)
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    errors: list = []
    ready = threading.Barrier(concurrency + 1)
    limit = [0]

    def client():
        predictor.prepare(sample)
        ready.wait()
        while (job := jobs.get()) is not None:
            i, due = job
            if clock() > limit[0] or errors:
                continue
            try:
                predictor._run()
            except Exception as exc:   # noqa: BLE001 - raised in the caller's thread below
                errors.append(exc)
                continue
            latencies[i] = clock() - due

    clients = [threading.Thread(target=client, daemon=True, name=f"artspeed-client-{i}")
               for i in range(concurrency)]
    for thread in clients:
        thread.start()
    ready.wait()
    start = clock()
    limit[0] = hard_limit = start + _hard_limit_ns(arrivals, duration_s)
    for i, offset in enumerate(arrivals):
        due = start + offset
        if due > hard_limit or _wait_until(due, clock, sleep, 200_000) > hard_limit or errors:
            break
        jobs.put((i, due))
    for _ in clients:
        jobs.put(None)
    for thread in clients:
        thread.join(max(0.0, (hard_limit - clock()) / 1e9))
    wall = min(clock(), hard_limit) - start
    if errors:
        raise errors[0]
    return latencies.copy(), wall


def _closed_loop_qps(predictor, concurrency: int, duration_s: float, sample) -> float:
    """Queries per second with ``concurrency`` clients sending back to back (the ceiling)."""
    done = [0] * concurrency
    deadline = [0]
    ready = threading.Barrier(concurrency + 1)

    def client(k):
        predictor.prepare(sample)
        ready.wait()
        while time.perf_counter_ns() < deadline[0]:
            predictor._run()
            done[k] += 1

    threads = [threading.Thread(target=client, args=(k,), daemon=True)
               for k in range(concurrency)]
    for thread in threads:
        thread.start()
    start = time.perf_counter_ns()
    deadline[0] = start + int(duration_s * 1e9)
    ready.wait()
    for thread in threads:
        thread.join(duration_s + 60)
    return sum(done) / max((time.perf_counter_ns() - start) / 1e9, 1e-9)


@dataclass(frozen=True)
class ServerSearch(Result):
    """The highest Poisson query rate whose p99 latency met the bound, and each trial."""

    name: str
    latency_bound_ms: float
    max_qps: float
    trials: tuple = ()

    def __repr__(self) -> str:
        return (f"<ServerSearch {self.name}: {self.max_qps:,.0f} QPS within p99 "
                f"{self.latency_bound_ms} ms, {len(self.trials)} trials>")

    @classmethod
    def from_dict(cls, data: dict) -> ServerSearch:
        return cls(data["name"], data["latency_bound_ms"], data["max_qps"],
                   tuple(ScenarioResult.from_dict(t) for t in data.get("trials", ())))

    def _repr_html_(self) -> str:
        rows = [(t.target_qps, t.value, "yes" if t.bound_met else "no") for t in self.trials]
        return html_table(rows, header=("target QPS", "p99 (ms)", "bound met"),
                          caption=f"{self.name}: {self.max_qps:,.0f} QPS within "
                                  f"{self.latency_bound_ms} ms")

    def plot(self, ax=None):
        """p99 latency against target QPS for each trial, with the bound as a line."""
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        trials = sorted(self.trials, key=lambda t: t.target_qps)
        qps = [t.target_qps for t in trials]
        p99 = [min(t.value, 10 * self.latency_bound_ms) for t in trials]
        ax.plot(qps, p99, marker="o", label=f"{self.name} p99")
        ax.axhline(self.latency_bound_ms, color="tab:red", ls="--", label="latency bound")
        ax.axvline(self.max_qps, color="tab:green", ls=":", label="max QPS within bound")
        ax.set(xlabel="target QPS (Poisson arrivals)", ylabel="p99 latency (ms)",
               title="Server scenario: latency against load", yscale="log")
        ax.grid(alpha=0.3)
        ax.legend()
        return ax


def find_max_qps(predictor, latency_bound_ms: float, *, duration_s: float = 0.5,
                 steps: int = 6, seed: int = 0, concurrency: int | None = None) -> ServerSearch:
    """Bisect for the highest QPS whose Server p99 stays within ``latency_bound_ms``.

    The search starts from the single-stream service time (one worker cannot
    serve more than 1 / latency queries per second) and runs ``steps`` Server
    trials of ``duration_s`` each, so it takes about ``steps x duration_s``.
    A served model's ceiling is measured instead, with ``concurrency`` clients
    sending back to back (a server that batches serves more than 1 / latency).

    >>> from artspeed import FunctionPredictor
    >>> search = find_max_qps(FunctionPredictor(None), 50.0, duration_s=0.02, steps=2)
    >>> len(search.trials) >= 2 and search.max_qps >= 0
    True
    """
    predictor = as_predictor(predictor)
    latency_bound_ms = _checks.positive_finite("latency_bound_ms", latency_bound_ms)
    check_budget(None, duration_s)
    steps = _checks.whole_number("steps", steps)
    concurrency = _concurrency(predictor, concurrency)
    if concurrency > 1:
        capacity = _closed_loop_qps(predictor, concurrency, min(duration_s, 0.5),
                                    predictor.sample_input(1, seed))
    else:
        service = single_stream(predictor, duration_s=min(duration_s, 0.3), seed=seed)
        capacity = 1000.0 / max(service.latency_ms["p50"], 1e-3)
    trials = []

    def trial(qps):
        result = server(predictor, qps, latency_bound_ms, duration_s=duration_s, seed=seed,
                        concurrency=concurrency)
        trials.append(result)
        return result.bound_met

    low, high = 0.0, capacity * 1.1
    for step in range(steps):
        middle = capacity * 0.5 if step == 0 else (low + high) / 2
        if trial(middle):
            low = middle
        else:
            high = middle
    return ServerSearch(predictor.name, float(latency_bound_ms), float(low), tuple(trials))


def offline_throughput(predictor, num_samples: int = 256, batch_size: int | None = None, *,
            warmup: int = 2, seed: int = 0) -> ScenarioResult:
    """Offline: ``num_samples`` samples at once in batches of ``batch_size``; throughput.

    ``batch_size`` defaults to the model's fixed batch, else min(num_samples, 64).

    >>> from artspeed import FunctionPredictor
    >>> offline_throughput(FunctionPredictor(None), 64, 16).queries
    4
    """
    predictor = as_predictor(predictor)
    num_samples = _checks.whole_number("num_samples", num_samples)
    batch_size = _checks.whole_number("batch_size", batch_size, optional=True)
    batch = batch_size or predictor.fixed_batch or min(num_samples, 64)
    batches = -(-num_samples // batch)
    latencies, wall, *_ = run_timed(predictor, predictor.sample_input(batch, seed),
                                   iterations=batches, warmup=warmup)
    result = _result("offline", predictor, "throughput (samples/s)", lambda s: 0.0,
                     latencies, wall, batch)
    return dataclasses.replace(result, value=result.throughput_per_s)


def run_scenario(predictor, scenario: str, *, duration_s: float | None = None,
                 batch_size: int | None = None, latency_bound_ms: float = 10.0,
                 target_qps: float | None = None, seed: int = 0) -> ScenarioResult:
    """Run one scenario by name (what ``artspeed bench --scenario`` calls).

    ``batch_size`` is the samples per query (multi-stream) or the batch
    (offline). Server without ``target_qps`` runs at half the single-stream
    capacity.
    """
    if scenario not in SCENARIOS:
        raise InvalidArgumentError(f"unknown scenario {scenario!r}; choose one of "
                                   f"{', '.join(SCENARIOS)}")
    predictor = as_predictor(predictor)
    if scenario == "single-stream":
        return single_stream(predictor, duration_s=duration_s, seed=seed)
    if scenario == "multi-stream":
        return multi_stream(predictor, batch_size or 8, duration_s=duration_s, seed=seed)
    if scenario == "offline":
        if duration_s is not None:
            check_budget(None, duration_s)
        batch = batch_size or predictor.fixed_batch or 64
        probe = run_timed(predictor, predictor.sample_input(batch, seed), iterations=3).latencies
        per_batch_s = max(float(np.median(probe)) / 1e9, 1e-6)
        batches = max(1, int((duration_s or DEFAULT_DURATION_S) / per_batch_s))
        return offline_throughput(predictor, batches * batch, batch, seed=seed)
    duration_s = duration_s or DEFAULT_DURATION_S
    check_budget(None, duration_s)
    if target_qps is not None:
        target_qps = _checks.positive_finite("target_qps", target_qps)
    if target_qps is not None and target_qps * duration_s < 1:
        raise InvalidArgumentError(
            f"at {target_qps:g} QPS a {duration_s:g} s run expects no query at all; ask for "
            f"at least {1 / duration_s:g} QPS, or a longer duration")
    if target_qps is None:
        service = single_stream(predictor, duration_s=0.2, seed=seed)
        target_qps = 0.5 * 1000.0 / max(service.latency_ms["mean"], 1e-3)
    return server(predictor, target_qps, latency_bound_ms, duration_s=duration_s, seed=seed)
