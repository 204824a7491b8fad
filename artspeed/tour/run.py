"""The tour: one model from baseline to its optimized variants, all measured alike.

Taught in notebooks/09-benchmarking-and-pareto and notebooks/10-capstone; it is
``artspeed tour`` and ``make demo``. The steps:

1. train the baseline (or load the learner's model) and profile it;
2. build each variant into ``OUT/variants/`` (``VARIANTS`` lists them);
3. measure every variant in the same run, under the same settings: accuracy,
   size raw and gzipped, batch-1 latency (p50/p90/p99) and throughput, in
   interleaved rounds so a burst of load on the machine hits them all alike;
4. find the Pareto frontiers (accuracy against latency, accuracy against size),
   batch-size curves for the best variants, and what to pick;
5. write ``OUT/results.json`` and a self-contained ``OUT/report.html``.

``OUT/state.json`` records each finished step, so an interrupted tour, run
again with the same ``out``, resumes where it stopped (an unreadable one starts
the tour afresh). A variant that fails to build or to measure is skipped with
its reason. ``OUT/.tour.lock`` keeps a second tour out of the same folder while
one runs. ``quick=True`` shrinks epochs and measurement times, and changes
nothing else.

>>> [name for name, _ in VARIANTS][:3]
['keras', 'tflite-float32', 'tflite-dynamic']
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from artspeed.core import config
from artspeed.core._io import (
    check_file_target,
    check_writable_dir,
    ensure_writable_dir,
    write_text_atomic,
)
from artspeed.core.data import Dataset, load_dataset
from artspeed.core.env import environment
from artspeed.core.errors import ArtspeedError, InvalidArgumentError, first_line
from artspeed.core.models import baseline_cnn
from artspeed.core.saving import load_model, save_model
from artspeed.core.training import check_model_fits, train
from artspeed.measure.benchmarking import batch_sweep, benchmark
from artspeed.measure.evaluation import accuracy, model_size
from artspeed.measure.pareto import pareto_front
from artspeed.measure.profiler import profile
from artspeed.runtimes.factory import load_predictor
from artspeed.tour.report import write_report
from artspeed.tour.results import WITHIN_POINTS, TourResult, TourSettings, VariantMeasurement
from artspeed.tour.variants import VARIANTS, _Context

try:
    import fcntl
except ImportError:   # Windows: no advisory locks here, so no tour lock
    fcntl = None

__all__ = ["run_tour"]









# ----------------------------------------------------------------- the run
# What each step's record holds, to tell a state.json the tour wrote from a damaged one.
_STEP_KEYS = {"baseline": ("path", "model", "profile"),
              "variant": ("path", "runtime", "description", "build_s"),
              "measure": ("variants",), "curves": ("curves", "skipped"), "report": ()}
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

    def finish(self, step: str, record: dict) -> None:
        self.data["steps"][step] = record
        write_text_atomic(self.path, json.dumps(self.data, indent=2))


def _median_stats(results) -> tuple[dict, float]:
    keys = ("p50", "p90", "p99", "mean", "std")
    stats = {k: statistics.median(r.latency_ms[k] for r in results) for k in keys}
    return stats, statistics.median(r.throughput_per_s for r in results)


def _failure(name: str, exc: Exception) -> str:
    """Why variant ``name`` is skipped; the baseline's failure is raised instead.

    >>> _failure("distilled", RuntimeError("converter crashed\\nat line 3"))
    'RuntimeError: converter crashed'
    """
    if name == "keras":
        raise exc
    if isinstance(exc, ArtspeedError):   # this variant does not apply to this model
        return str(exc)
    return f"{type(exc).__name__}: {first_line(exc)}"


def _measure(built: dict, dataset, settings: TourSettings, threads, progress,
             safe_mode: bool = True) -> tuple[list, dict]:
    """Accuracy, size and latency of every built variant, in interleaved rounds.

    Returns the measurements and, for a variant whose measuring failed, why.
    """
    from tqdm.auto import tqdm

    predictors, skipped = {}, {}
    for name, record in built.items():
        runtime = record["runtime"]
        options = ({"mode": "predict", "safe_mode": safe_mode} if runtime == "keras"
                   else {"threads": threads})
        try:
            predictors[name] = load_predictor(record["path"], **options)
        except Exception as exc:
            skipped[name] = _failure(name, exc)
    timings: dict = {name: [] for name in predictors}
    bar = tqdm(total=settings.rounds * len(predictors), desc="measuring", unit="run",
               disable=not progress)
    for _ in range(settings.rounds):
        for name, predictor in list(predictors.items()):
            try:
                timings[name].append(benchmark(predictor, 1, duration_s=settings.duration_s,
                                               warn=False))
            except Exception as exc:
                skipped[name] = _failure(name, exc)
                del predictors[name]
            bar.update(1)
    bar.close()
    measured = []
    for name, predictor in predictors.items():
        record = built[name]
        try:
            size = model_size(record["path"])
            variant_accuracy = accuracy(predictor, dataset)
        except Exception as exc:
            skipped[name] = _failure(name, exc)
            continue
        stats, throughput = _median_stats(timings[name])
        measured.append(VariantMeasurement(
            name=name, runtime=record["runtime"], path=record["path"],
            accuracy=variant_accuracy, size_bytes=size.size_bytes,
            gzip_bytes=size.gzip_bytes, latency_ms=stats, throughput_per_s=throughput,
            build_s=record["build_s"], description=record["description"]))
    return measured, skipped


def _picks(variants: list, within: float) -> tuple[dict, list]:
    """What to choose for latency, throughput and size, among the near-baseline variants."""
    base = variants[0]
    close = [v for v in variants if 100 * (base.accuracy - v.accuracy) <= within]
    picks = {"latency": min(close, key=lambda v: v.p50_ms).name,
             "throughput": max(close, key=lambda v: v.throughput_per_s).name,
             "size": min(close, key=lambda v: v.gzip_bytes).name}
    return picks, close


def _batch_curves(result_variants, names, settings, threads) -> dict:
    """``{"curves": name -> its batch sweep, "skipped": name -> why it has none}``.

    A model that takes one batch size only (or fails for any other reason) has
    no curve; the tour goes on without it.
    """
    curves, skipped = {}, {}
    for v in result_variants:
        if v.name not in names or v.runtime == "keras":
            continue
        try:
            predictor = load_predictor(v.path, threads=threads)
            sweep = batch_sweep(predictor, settings.batch_sizes,
                                duration_s=settings.duration_s, warn=False)
        except Exception as exc:
            skipped[f"{v.name} (batch curve)"] = _failure(v.name, exc)
            continue
        curves[v.name] = {"batch_sizes": list(sweep.values),
                          "p50_ms": [r.latency_ms["p50"] for r in sweep.results],
                          "throughput_per_s": [r.throughput_per_s for r in sweep.results]}
    return {"curves": curves, "skipped": skipped}


def _fingerprint(model) -> str:
    """What identifies the model for resuming: its file's or its weights' digest."""
    import hashlib

    if model is None:
        return "baseline_cnn (trained by the tour)"
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
                      safe_mode: bool = True):
    """(path, name) of the baseline: the learner's model, or a freshly trained one."""
    path = folder / "baseline.keras"
    if model is None:
        model = baseline_cnn(dataset.input_shape, dataset.num_classes, seed=settings.seed)
        train(model, dataset, epochs=settings.epochs, seed=settings.seed, progress=progress)
    else:
        if isinstance(model, (str, Path)):
            model = load_model(model, safe_mode=safe_mode)
        check_model_fits(model, dataset, "artspeed tour")
    save_model(model, path, include_optimizer=False)
    return path, model.name


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
             variants=None, safe_mode: bool = True) -> TourResult:
    """Take ``model`` (default: a freshly trained baseline) through every variant.

    ``model`` is a tf_keras model or a saved one's path, a classifier of
    ``dataset``'s images (default: ``artspeed.load_dataset()``). ``variants``
    names a subset of ``VARIANTS``. Results go to ``out``; see the module doc.
    ``safe_mode=False`` loads a model file that holds code (``artspeed.load_model``),
    and the baseline saved from it.
    """
    started = time.perf_counter()
    names = [n for n, _ in VARIANTS]
    chosen = list(variants) if variants is not None else names
    unknown = [n for n in chosen if n not in names]
    if unknown or not chosen:
        raise InvalidArgumentError(f"unknown variants {unknown}; choose from {', '.join(names)}")
    if "keras" not in chosen:
        chosen.insert(0, "keras")                  # everything is compared with it
    check_writable_dir(out)                        # fail before any work starts
    settings = TourSettings.for_run(quick, fast=config.fast_mode())
    if not isinstance(dataset, Dataset):
        dataset = load_dataset(dataset, limit_train=settings.limit_train)
    folder = ensure_writable_dir(out)
    for name in ("state.json", "results.json", "report.html"):
        if (folder / name).is_dir():
            raise InvalidArgumentError(f"'{folder / name}' is a folder where the tour writes "
                                       "a file; move it away or choose another --out")
        check_file_target(folder / name)
    with _tour_lock(folder):
        return _run_tour(model, dataset, settings, folder, threads, progress, chosen, started,
                         safe_mode)


def _run_tour(model, dataset, settings, folder, threads, progress, chosen, started,
              safe_mode):
    from tqdm.auto import tqdm

    ensure_writable_dir(folder / "variants")
    threads = threads or environment().available_cores
    signature = {"dataset": dataset.name, "samples": [len(dataset.x_train), len(dataset.x_test)],
                 "model": _fingerprint(model), "settings": settings.to_dict(),
                 "variants": chosen}
    state = _State(folder / "state.json", signature)

    steps = ["baseline", *[f"variant:{n}" for n in chosen], "measure", "curves", "report"]
    bar = tqdm(steps, desc="tour", unit="step", disable=not progress)
    baseline_record = state.done("baseline")
    if baseline_record is None or not Path(baseline_record["path"]).exists():
        bar.set_description("tour: baseline")
        path, model_name = _prepare_baseline(model, dataset, settings, folder, progress,
                                             safe_mode)

        prof = profile(load_model(path, safe_mode=safe_mode))
        baseline_record = {"path": str(path), "model": model_name,
                           "profile": {"total_params": prof.total_params, "macs": prof.macs,
                                       "flops": prof.flops, "weights_bytes": prof.weights_bytes}}
        state.finish("baseline", baseline_record)
    bar.update(1)
    ctx = _Context(Path(baseline_record["path"]), dataset, settings, folder / "variants",
                   progress, safe_mode)
    builders = dict(VARIANTS)
    built, skipped = {}, {}
    for name in chosen:
        record = state.done(f"variant:{name}")
        if record is None or not ("skipped" in record or Path(record["path"]).exists()):
            bar.set_description(f"tour: {name}")
            t0 = time.perf_counter()
            try:
                path, description = builders[name](ctx)
            except Exception as exc:   # it does not apply, or its tool failed: go on
                record = {"skipped": _failure(name, exc)}
            else:
                runtime = {".tflite": "tflite", ".xml": "openvino"}.get(Path(path).suffix,
                                                                         "keras")
                record = {"path": str(path), "runtime": runtime, "description": description,
                          "build_s": time.perf_counter() - t0}
            state.finish(f"variant:{name}", record)
        if "skipped" in record:
            skipped[name] = record["skipped"]
        else:
            built[name] = record
        bar.update(1)

    measured_record = state.done("measure")
    if measured_record is None:
        bar.set_description("tour: measuring")
        measured, failed = _measure(built, dataset, settings, threads, progress, safe_mode)
        state.finish("measure", {"variants": [m.to_dict() for m in measured],
                                 "skipped": failed})
    else:
        measured = [VariantMeasurement.from_dict(m) for m in measured_record["variants"]]
        failed = measured_record.get("skipped", {})
    skipped.update(failed)
    bar.update(1)

    points = [{"name": v.name, "accuracy": v.accuracy, "latency_ms": v.p50_ms,
               "gzip_bytes": v.gzip_bytes} for v in measured]
    front_latency = tuple(points[i]["name"] for i in pareto_front(points, ("latency_ms", ("accuracy", "max"))))
    front_size = tuple(points[i]["name"] for i in pareto_front(points, ("gzip_bytes", ("accuracy", "max"))))
    picks, _ = _picks(measured, WITHIN_POINTS)
    curves_record = state.done("curves")
    if curves_record is None:
        bar.set_description("tour: batch curves")
        curve_names = {picks["latency"], picks["throughput"]}
        curves_record = _batch_curves(measured, curve_names, settings, threads)
        state.finish("curves", curves_record)
    skipped.update(curves_record["skipped"])
    bar.update(1)

    base = measured[0]
    best = next(v for v in measured if v.name == picks["latency"])
    smallest = next(v for v in measured if v.name == picks["size"])
    result = TourResult(
        dataset=dataset.name, model=baseline_record["model"], settings=settings,
        profile=baseline_record["profile"], variants=tuple(measured),
        pareto_latency=front_latency, pareto_size=front_size, batch_curves=curves_record["curves"],
        picks=picks, env=environment(threads=threads).to_dict(),
        targets={"fastest_within_1pt_speedup_vs_predict": base.p50_ms / best.p50_ms,
                 "smallest_within_1pt_gzip_ratio": base.gzip_bytes / smallest.gzip_bytes},
        skipped=skipped, out=str(folder))
    bar.set_description("tour: report")

    result = replace(result, seconds=time.perf_counter() - started)
    result.to_json(folder / "results.json")
    write_report(result, folder / "report.html")
    bar.update(1)
    bar.close()
    return result


