"""The tour: one model from baseline to its optimized variants, all measured alike.

Taught in notebooks/09-benchmarking-and-pareto and notebooks/10-capstone; it is
``artspeed tour`` and ``make demo``. Its steps, each a small function below
and named in ``OUT/state.json`` as it is here:

1. ``baseline``: train the vehicle on ``scenes`` (the UNet on ``shapes_seg``), or save the
   learner's model, and profile it;
2. ``variant:NAME``: build each variant into ``OUT/variants/`` (``VARIANTS`` lists them);
3. ``measure``: measure every variant in the same run, under the same settings
   (``artspeed.measure_variants``): the task's score (accuracy, mean IoU or MAE), size
   raw and gzipped, batch-1
   latency (p50/p90/p99) and throughput, in interleaved rounds so a burst of
   load on the machine hits them all alike;
4. ``picks``: the Pareto frontiers (the score against latency, the score against
   size), and what to pick for latency, throughput and size;
5. ``curves``: the Offline scenario for the fastest variants within a point of the
   baseline: their batch-size curves and, for OpenVINO ones, the throughput hint with
   async requests; the throughput pick is the one that finished most, however it ran
   (within the run's noise of it, the latency pick);
6. ``energy``: energy and cost per inference of each variant (``artspeed.measure_energy``);
7. ``report``: write ``OUT/results.json`` and a self-contained ``OUT/report.html``.

``OUT/state.json`` records each finished step, so an interrupted tour, run
again with the same ``out``, resumes where it stopped (an unreadable one starts
the tour afresh; the report is always written again). A variant that fails to build or to measure is skipped with
its reason. ``OUT/.tour.lock`` keeps a second tour out of the same folder while
one runs. ``quick=True`` shrinks epochs and measurement times and leaves out
the distilled student (trained from scratch, it needs the full tour's epochs),
and changes nothing else. Fast mode (``ARTSPEED_FAST=1``, as CI runs) is quick on
less data: fewer training images, shorter fine-tunes, the variants scored on the
first 200 test images (``TourSettings.for_run``).

>>> [name for name, _, _ in _steps(['keras', 'tflite-int8'])]
['baseline', 'variant:keras', 'variant:tflite-int8', 'measure', 'picks', 'curves', 'energy', 'report']
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from artspeed.core import config
from artspeed.core._io import (
    check_file_target,
    check_writable_dir,
    ensure_writable_dir,
    write_text_atomic,
)
from artspeed.core._moved import renamed_word
from artspeed.core.baseline import trained_model
from artspeed.core.config import baseline_path
from artspeed.core.data import Dataset, load_dataset
from artspeed.core.env import environment
from artspeed.core.errors import ArtspeedError, InvalidArgumentError, first_line
from artspeed.core.saving import load_model, save_model
from artspeed.core.tasks import task_for
from artspeed.core.training import check_model_fits, dataset_task
from artspeed.measure.benchmarking import batch_sweep, benchmark
from artspeed.measure.energy import measure_energy
from artspeed.measure.pareto import pareto_front
from artspeed.measure.profiler import profile
from artspeed.measure.variants import measure_variants
from artspeed.runtimes.factory import load_predictor
from artspeed.tour.report import write_report
from artspeed.tour.results import (
    WITHIN_POINTS,
    TourResult,
    TourSettings,
    VariantMeasurement,
    latency_noise,
)
from artspeed.tour.variants import MEASURE_OPTIONS, VARIANTS, _Context

try:
    import fcntl
except ImportError:   # Windows: no advisory locks here, so no tour lock
    fcntl = None

__all__ = ["run_tour", "SPEED_DATASET"]
SPEED_DATASET = "scenes"   # the vehicle's data when nobody names one


# ------------------------------------------------------------ the state
# What each step's record holds, to tell a state.json the tour wrote from a damaged one.
_STEP_KEYS = {"baseline": ("path", "model", "profile"),
              "variant": ("path", "runtime", "description", "build_s"),
              "measure": ("variants",), "picks": ("pareto_latency", "pareto_size", "picks"),
              "curves": ("curves", "skipped", "async_runs", "throughput_pick"), "energy": ("costs",), "report": ()}
_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def _state_problem(saved) -> str | None:
    """Why ``saved`` is not a state the tour wrote (None if it is one).

    >>> _state_problem([]), _state_problem({"signature": {}, "steps": {"measure": {}}})
    ('it holds an array, not an object', "step 'measure' has no 'variants'")
    """
    if not isinstance(saved, dict):
        return f"it holds {_JSON_KINDS.get(type(saved), 'something else')}, not an object"
    for key in ("signature", "steps"):
        if not isinstance(saved.get(key), dict):
            return f"no {key!r} object"
    for step, record in saved["steps"].items():
        kind = step.split(":")[0]
        if kind not in _STEP_KEYS or not isinstance(record, dict):
            return f"step {step!r} is not one the tour records"
        if kind == "variant" and isinstance(record.get("skipped"), str):
            continue
        missing = [key for key in _STEP_KEYS[kind] if key not in record]
        if missing:
            return f"step {step!r} has no {missing[0]!r}"
    return None


class _State:
    """OUT/state.json: the finished steps, so an interrupted tour resumes."""

    def __init__(self, path: Path, signature: dict):
        self.path = path
        self.data = {"signature": signature, "steps": {}}
        if path.exists():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                problem = _state_problem(saved)
            except (ValueError, OSError) as exc:
                problem = f"{type(exc).__name__}: {first_line(exc)}"
            if problem:
                print(f"artspeed: {path} is unreadable ({problem}); starting the tour afresh",
                      file=sys.stderr)
            elif saved["signature"] == signature:
                self.data = saved

    def done(self, step: str) -> dict | None:
        return self.data["steps"].get(step)

    def finish(self, step: str, record: dict, seconds: float = 0.0) -> None:
        self.data["steps"][step] = record
        self.data["step_seconds"] = {**self.data.get("step_seconds", {}), step: seconds}
        write_text_atomic(self.path, json.dumps(self.data, indent=2))

    def seconds(self, steps) -> float:
        """What ``steps`` took when they ran (in this run or an earlier one)."""
        taken = self.data.get("step_seconds", {})
        return float(sum(taken.get(step, 0.0) for step in steps
                         if isinstance(taken.get(step), (int, float))))


class _Run:
    """One tour under way: what it was given, and the record of each step so far."""

    def __init__(self, model, dataset, settings, folder: Path, threads: int, progress: bool,
                 chosen: list, safe_mode: bool, started: float, shared: Path | None = None):
        self.model, self.dataset, self.settings, self.folder = model, dataset, settings, folder
        self.threads, self.progress, self.chosen = threads, progress, chosen
        self.safe_mode, self.started, self.shared = safe_mode, started, shared
        self.scored = _scored(dataset, settings.test_images)   # what the variants are scored on
        self.earlier_s = 0.0   # what the steps done by earlier runs of this tour took
        self.records: dict = {}
        self.result: TourResult | None = None

    def built(self) -> dict:
        """name -> the record of each variant that was built (not skipped)."""
        return {name: self.records[f"variant:{name}"] for name in self.chosen
                if "skipped" not in self.records[f"variant:{name}"]}

    def measured(self) -> list:
        return [VariantMeasurement.from_dict(m) for m in self.records["measure"]["variants"]]


def _scored(dataset: Dataset, test_images: int | None) -> Dataset:
    """``dataset`` with only its first ``test_images`` test images (None: all of them): what
    the variants are scored on. The baseline trains on ``dataset`` whole, so a vehicle the
    notebooks trained on it is reused.

    >>> data = load_dataset("shapes", limit_train=10, limit_test=30)
    >>> [len(d.x_test) for d in (_scored(data, 20), _scored(data, None), _scored(data, 50))]
    [20, 30, 30]
    """
    if test_images is None or test_images >= len(dataset.x_test):
        return dataset
    return replace(dataset, x_test=dataset.x_test[:test_images],
                   y_test=dataset.y_test[:test_images])


def _failure(name: str, exc: Exception) -> str:
    """Why variant ``name`` is skipped; the baseline's failure is raised instead.

    >>> _failure("distilled", RuntimeError("converter crashed\\nat line 3"))
    'RuntimeError: converter crashed'
    """
    if name == "keras":
        raise exc
    return _why(exc)


def _why(exc: Exception) -> str:
    if isinstance(exc, ArtspeedError):   # this variant does not apply to this model
        return str(exc)
    return f"{type(exc).__name__}: {first_line(exc)}"


# ------------------------------------------------------------ the steps
# Each step takes the _Run and returns its record, which OUT/state.json keeps under the
# step's name; ``_steps`` lists them in order.

def _baseline(run: _Run) -> dict:
    """Train the baseline (or save the learner's model) and profile it."""
    path, model_name, origin = _prepare_baseline(run.model, run.dataset, run.settings,
                                                 run.folder, run.progress, run.safe_mode,
                                                 run.shared, run.dataset.task)
    prof = profile(load_model(path, safe_mode=run.safe_mode))
    return {"path": str(path), "model": model_name, "origin": origin,
            "profile": {"total_params": prof.total_params, "macs": prof.macs,
                        "flops": prof.flops, "weights_bytes": prof.weights_bytes}}


def _variant(run: _Run, name: str) -> dict:
    """Build variant ``name`` into OUT/variants/; a failure is recorded as its reason."""
    ctx = _Context(Path(run.records["baseline"]["path"]), run.scored, run.settings,
                   ensure_writable_dir(run.folder / "variants"), run.progress, run.safe_mode)
    t0 = time.perf_counter()
    try:
        path, description = dict(VARIANTS)[name](ctx)
    except Exception as exc:   # it does not apply, or its tool failed: go on
        return {"skipped": _failure(name, exc)}
    runtime = {".tflite": "tflite", ".xml": "openvino"}.get(Path(path).suffix, "keras")
    return {"path": str(path), "runtime": runtime, "description": description,
            "build_s": time.perf_counter() - t0}


def _measure(run: _Run) -> dict:
    """Every built variant measured alike (``artspeed.measure_variants``)."""
    built = run.built()
    table = measure_variants(
        {name: record["path"] for name, record in built.items()}, run.scored,
        rounds=run.settings.rounds, duration_s=run.settings.duration_s, threads=run.threads,
        options={name: _options(run, name, record) for name, record in built.items()},
        on_error=_failure, progress=run.progress)
    measured = [VariantMeasurement(
        name=v.name, runtime=built[v.name]["runtime"], path=v.path, accuracy=v.accuracy,
        size_bytes=v.size_bytes, gzip_bytes=v.gzip_bytes, latency_ms=v.latency_stats_ms,
        throughput_per_s=v.throughput_per_s, build_s=built[v.name]["build_s"],
        description=built[v.name]["description"], metric=v.metric, score=v.score)
        for v in table.variants]
    return {"variants": [m.to_dict() for m in measured], "skipped": table.skipped}


def _options(run: _Run, name: str, record: dict) -> dict:
    """How variant ``name`` runs: ``MEASURE_OPTIONS``; Keras in safe mode, on the threads
    TensorFlow already has (it fixes them on first use)."""
    keras = {"threads": None, "safe_mode": run.safe_mode} if record["runtime"] == "keras" else {}
    return {**keras, **MEASURE_OPTIONS.get(name, {})}


def _picks(run: _Run) -> dict:
    """The two Pareto frontiers, and what to pick for latency, size and (at batch 1, until
    the curves step tries more ways) throughput."""
    measured = run.measured()
    base = measured[0]
    metric = base.measure
    points = [{"name": v.name, "score": v.score, "latency_ms": v.p50_ms,
               "gzip_bytes": v.gzip_bytes} for v in measured]
    noise = latency_noise(measured)

    def front(x):
        ties = {"latency_ms": noise} if x == "latency_ms" and noise else None
        way = "max" if metric.higher_is_better else "min"
        return [points[i]["name"] for i in pareto_front(points, (x, ("score", way)),
                                                        relative_ties=ties)]

    close = [v for v in measured if metric.within(base.score, v.score, WITHIN_POINTS)]
    picks = {"latency": min(close, key=lambda v: v.p50_ms).name,
             "throughput": max(close, key=lambda v: v.throughput_per_s).name,
             "size": min(close, key=lambda v: v.gzip_bytes).name}
    return {"pareto_latency": front("latency_ms"), "pareto_size": front("gzip_bytes"),
            "picks": picks}


THROUGHPUT_CANDIDATES = 3   # the fastest variants within a point, tried for throughput


def _curves(run: _Run) -> dict:
    """The Offline scenario for the ``THROUGHPUT_CANDIDATES`` fastest variants within a point
    of the baseline (and the latency pick): batch-size curves and, for OpenVINO ones, the
    throughput hint with async requests. Picks for throughput what finished most."""
    measured = run.measured()
    base = measured[0]
    close = sorted((v for v in measured if v.runtime != "keras"
                    and base.measure.within(base.score, v.score, WITHIN_POINTS)),
                   key=lambda v: v.p50_ms)[:THROUGHPUT_CANDIDATES]
    names = {v.name for v in close} | {run.records["picks"]["picks"]["latency"]}
    record = _batch_curves(measured, names, run.settings, run.threads)
    record["async_runs"] = {}
    for v in measured:
        if v.name in names and v.runtime == "openvino":
            try:
                record["async_runs"][v.name] = _async_run(v, run.settings, run.threads)
            except Exception as exc:
                record["skipped"][f"{v.name} (async)"] = _failure(v.name, exc)
    sketch = TourResult(dataset="", model="", settings=run.settings, profile={},
                        variants=tuple(measured), batch_curves=record["curves"],
                        async_runs=record["async_runs"])
    best = {name: sketch.best_throughput(name)[1] for name in names}
    record["throughput_pick"] = _throughput_pick(best, run.records["picks"]["picks"]["latency"],
                                                 latency_noise(measured))
    return record


def _throughput_pick(best: dict, latency_pick: str, noise: float) -> str:
    """The variant that finished most; within the run's noise of it, the latency pick (one
    model serves both).

    >>> rates = {"a": 1838, "b": 1815}
    >>> _throughput_pick(rates, "b", 0.02), _throughput_pick(rates, "b", 0.001)
    ('b', 'a')
    """
    top = max(best.values())
    if best.get(latency_pick, 0.0) >= top * (1 - noise):
        return latency_pick
    return max(sorted(best), key=best.get)


def _async_run(variant, settings: TourSettings, threads) -> dict:
    """OpenVINO's throughput hint with async requests at batch 1: the median of the rounds."""
    predictor = load_predictor(variant.path, mode="async", hint="throughput", threads=threads,
                               **MEASURE_OPTIONS.get(variant.name, {}))
    try:
        rates = [benchmark(predictor, 1, duration_s=settings.duration_s, warn=False)
                 .throughput_per_s for _ in range(settings.rounds)]
        compiled = predictor.describe()
    finally:
        predictor.close()
    return {"throughput_per_s": statistics.median(rates),
            "streams": compiled.get("compiled_streams"),
            "requests": compiled.get("compiled_requests")}


def _batch_curves(variants, names, settings, threads) -> dict:
    """``{"curves": name -> its batch sweep, "skipped": name -> why it has none}``.

    A model that takes one batch size only (or fails for any other reason) has
    no curve; the tour goes on without it.
    """
    curves, skipped = {}, {}
    for v in variants:
        if v.name not in names or v.runtime == "keras":
            continue
        try:
            predictor = load_predictor(v.path, threads=threads, **MEASURE_OPTIONS.get(v.name, {}))
            sweep = batch_sweep(predictor, settings.batch_sizes, duration_s=settings.duration_s,
                                warn=False)
        except Exception as exc:
            skipped[f"{v.name} (batch curve)"] = _failure(v.name, exc)
            continue
        curves[v.name] = {"batch_sizes": list(sweep.values),
                          "p50_ms": [r.latency_ms["p50"] for r in sweep.results],
                          "throughput_per_s": [r.throughput_per_s for r in sweep.results]}
    return {"curves": curves, "skipped": skipped}


def _energy(run: _Run) -> dict:
    """Energy and cost per inference of each variant at batch 1, one after another."""
    costs, skipped = {}, {}
    for v in run.measured():
        try:
            predictor = load_predictor(v.path, **{"threads": run.threads,
                                                  **_options(run, v.name, {"runtime": v.runtime})})
            try:
                cost = measure_energy(predictor, duration_s=run.settings.duration_s, name=v.name)
            finally:
                predictor.close()
        except Exception as exc:
            skipped[f"{v.name} (energy)"] = _why(exc)
            continue
        costs[v.name] = {key: value for key, value in cost.to_dict().items()
                         if key not in ("env", "predictor")}
    return {"costs": costs, "skipped": skipped}


def _report(run: _Run) -> dict:
    """The TourResult, written to OUT/results.json and OUT/report.html."""
    records, measured = run.records, run.measured()
    picks = {**records["picks"]["picks"], "throughput": records["curves"]["throughput_pick"]}
    skipped = {name: records[f"variant:{name}"]["skipped"] for name in run.chosen
               if "skipped" in records[f"variant:{name}"]}
    skipped.update(records["measure"].get("skipped", {}))
    skipped.update(records["curves"]["skipped"])
    skipped.update(records["energy"].get("skipped", {}))
    base = measured[0]
    best = next(v for v in measured if v.name == picks["latency"])
    smallest = next(v for v in measured if v.name == picks["size"])
    targets = {"fastest_within_1pt_speedup_vs_function": base.p50_ms / best.p50_ms,
               "smallest_within_1pt_gzip_times_smaller": base.gzip_bytes / smallest.gzip_bytes}
    for name, key in (("tflite-float32", "fastest_within_1pt_speedup_vs_tflite_float32"),
                      ("keras-predict", "fastest_within_1pt_speedup_vs_predict")):
        reference = next((v for v in measured if v.name == name), None)
        if reference is not None:
            targets[key] = reference.p50_ms / best.p50_ms
    run.result = TourResult(
        dataset=run.dataset.name, model=records["baseline"]["model"],
        baseline_origin=records["baseline"].get("origin", ""), settings=run.settings,
        profile=records["baseline"]["profile"], variants=tuple(measured),
        pareto_latency=tuple(records["picks"]["pareto_latency"]),
        pareto_size=tuple(records["picks"]["pareto_size"]),
        batch_curves=records["curves"]["curves"], async_runs=records["curves"]["async_runs"],
        picks=picks,
        env=environment(threads=run.threads).to_dict(), targets=targets,
        costs=records["energy"]["costs"], skipped=skipped, out=str(run.folder),
        seconds=run.earlier_s + time.perf_counter() - run.started)
    run.result.to_json(run.folder / "results.json")
    report = write_report(run.result, run.folder / "report.html")
    return {"results": str(run.folder / "results.json"), "report": str(report)}


def _exists(record: dict) -> bool:
    return Path(record["path"]).exists()


def _built_or_skipped(record: dict) -> bool:
    return "skipped" in record or _exists(record)


def _steps(chosen: list) -> list:
    """The tour's steps in order: (the name state.json records it under, the step, whether
    a recorded result can be kept)."""
    def always(record):
        return True

    def never(record):   # the report is always written afresh
        return False

    return [("baseline", _baseline, _exists),
            *((f"variant:{name}", functools.partial(_variant, name=name), _built_or_skipped)
              for name in chosen),
            ("measure", _measure, always), ("picks", _picks, always),
            ("curves", _curves, always), ("energy", _energy, always),
            ("report", _report, never)]


def _fingerprint(model) -> str:
    """What identifies the model for resuming: its file's or its weights' digest."""
    if model is None:
        return "the workbook's model for the dataset (trained by the tour)"
    digest = hashlib.sha256()
    if isinstance(model, (str, Path)):
        path = Path(model)
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        for f in files:
            digest.update(f.read_bytes())
        return f"{path.name}:{digest.hexdigest()[:16]}"
    for weight in model.get_weights():
        digest.update(weight.tobytes())
    return f"{model.name}:{digest.hexdigest()[:16]}"


def _prepare_baseline(model, dataset, settings, folder: Path, progress: bool,
                      safe_mode: bool = True, shared: Path | None = None, task=None):
    """(path, name, origin) of the baseline: the learner's model, or the workbook's model for
    the dataset's task trained on the data (the vehicle for classes, the UNet for masks;
    reused from ``shared``, the notebooks' copy, when it was trained the same way);
    ``origin`` says which: ``"given"``, ``"trained"`` (in this tour) or ``"reused"``."""
    path = folder / "baseline.keras"
    if model is None:
        trained = trained_model(dataset, epochs=settings.epochs, seed=settings.seed,
                                path=shared, progress=progress, quiet=not progress)
        model, origin = trained.model, "reused" if trained.reused else "trained"
    else:
        if isinstance(model, (str, Path)):
            model = load_model(model, safe_mode=safe_mode)
        check_model_fits(model, dataset, "artspeed tour", task)
        origin = "given"
    save_model(model, path, include_optimizer=False)
    return path, model.name, origin


@contextlib.contextmanager
def _tour_lock(folder: Path):
    """Hold ``folder/.tour.lock`` (flock, exclusive) for the whole tour."""
    if fcntl is None:
        yield
        return
    with open(folder / ".tour.lock", "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "unknown"
            raise InvalidArgumentError(f"another tour is running in {folder} (pid {pid}); wait "
                                       "for it or choose another --out") from None
        except OSError:   # a file system without locks: run unlocked
            pass
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield            # closing the file releases the lock


def run_tour(model=None, dataset=None, *, quick: bool = False, out="runs/tour",
             threads: int | None = None, progress: bool = True,
             variants=None, safe_mode: bool = True, task=None) -> TourResult:
    """Take ``model`` (default: the workbook's model, freshly trained) through every variant.

    ``model`` is a tf_keras model or a saved one's path that does ``dataset``'s task on
    its images (default dataset: the built-in ``scenes`` for the vehicle,
    ``artspeed.load_dataset()``'s default for a model of yours). Without a model, the
    tour trains the vehicle on a classification dataset and the UNet on a segmentation
    one (``shapes_seg``). Every variant is scored by the task's metric: accuracy, mean
    IoU or MAE, and the frontiers and picks name it. ``task``, when given, must be the
    dataset's. ``variants`` names a subset of ``VARIANTS``. Results go to ``out``; see
    the module doc.
    ``safe_mode=False`` loads a model file that holds code (``artspeed.load_model``),
    and the baseline saved from it.
    """
    started = time.perf_counter()
    names = [n for n, _ in VARIANTS]
    chosen = ([renamed_word("tour variant", n) for n in variants] if variants is not None
              else names)
    unknown = [n for n in chosen if n not in names]
    if unknown or not chosen:
        raise InvalidArgumentError(f"unknown variants {unknown}; choose from {', '.join(names)}")
    if "keras" not in chosen:
        chosen.insert(0, "keras")                  # everything is compared with it
    check_writable_dir(out)                        # fail before any work starts
    if task is not None:
        task_for(task)                             # a known name, before anything loads
    if dataset is None and model is None:
        dataset = SPEED_DATASET
    shared = None   # a dataset loaded here by name: the model is shared with the notebooks
    if not isinstance(dataset, Dataset):
        limit = TourSettings.for_run(quick, fast=config.fast_mode()).limit_train
        dataset = load_dataset(dataset, limit_train=limit)
        shared = baseline_path(dataset.name)
    dataset_task(dataset, task, "artspeed tour")
    if model is not None:   # before the tour starts: a model that does not fit is one line
        given = load_model(model, safe_mode=safe_mode) if isinstance(model, (str, Path)) else model
        check_model_fits(given, dataset, "artspeed tour", task)
    if model is None and dataset.task == "regression":
        raise InvalidArgumentError(f"artspeed tour: {dataset.name} is a regression dataset "
                                   "and artspeed has no built-in regression model; give your "
                                   "own (artspeed tour MODEL --dataset ...)")
    settings = TourSettings.for_run(quick, fast=config.fast_mode(), task=dataset.task)
    folder = ensure_writable_dir(out)
    for name in ("state.json", "results.json", "report.html"):
        if (folder / name).is_dir():
            raise InvalidArgumentError(f"'{folder / name}' is a folder where the tour writes "
                                       "a file; move it away or choose another --out")
        check_file_target(folder / name)
    with _tour_lock(folder):
        return _run_tour(model, dataset, settings, folder, threads, progress, chosen, started,
                         safe_mode, shared)


def _run_tour(model, dataset, settings, folder, threads, progress, chosen, started,
              safe_mode, shared=None) -> TourResult:
    """Run the steps in order; a step whose record state.json holds (and still holds good) is
    not run again."""
    threads = threads or environment().available_cores
    signature = {"dataset": dataset.name, "samples": [len(dataset.x_train), len(dataset.x_test)],
                 "model": _fingerprint(model), "settings": settings.to_dict(),
                 "variants": chosen}
    state = _State(folder / "state.json", signature)
    run = _Run(model, dataset, settings, folder, threads, progress, chosen, safe_mode, started,
               shared)
    steps = _steps(chosen)
    with tqdm(total=len(steps), desc="tour", unit="step", disable=not progress) as bar:
        for name, step, keep in steps:
            record = state.done(name)
            if record is None or not keep(record):
                bar.set_description(f"tour: {name}")
                started = time.perf_counter()
                record = step(run)
                state.finish(name, record, time.perf_counter() - started)
            else:   # done by an earlier run: its time counts in the tour's
                run.earlier_s += state.seconds([name])
            run.records[name] = record
            bar.update(1)
    return run.result
