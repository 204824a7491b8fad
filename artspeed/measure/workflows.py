"""One call per measuring job: profile a model named by a SPEC, benchmark and compare models.

What ``artspeed profile`` and ``artspeed bench`` run. Each takes plain values
(paths, numbers, names) and returns a result whose ``to_dict()`` is the
command's ``--json``.

>>> profile_spec("keras.applications.MobileNetV2", input_shape=(96, 96, 3)).total_params
3538984
>>> profile_spec("resnet50")
Traceback (most recent call last):
...
artspeed.InvalidArgumentError: unknown SPEC 'resnet50'; expected a saved model: a .keras or .h5 file, or a SavedModel folder; or keras.applications.NAME, for example keras.applications.ResNet50 (built with weights=None, nothing is downloaded)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from artspeed.core._result import Result
from artspeed.core.data import as_dataset
from artspeed.core.errors import InvalidArgumentError, first_line
from artspeed.core.frameworks import tf_keras
from artspeed.core.saving import existing_model, load_model, model_kind
from artspeed.core.tasks import task_for
from artspeed.measure.benchmarking import BenchmarkResult, benchmark
from artspeed.measure.evaluation import Score, evaluate
from artspeed.measure.profiler import ModelProfile, profile
from artspeed.measure.scenarios import ScenarioResult, run_scenario
from artspeed.runtimes.factory import load_predictor

__all__ = ["SPEC_FORMS", "SpecProfile", "spec_model", "profile_spec", "BenchRun",
           "BenchComparison", "bench_models"]

SPEC_FORMS = ("a saved model: a .keras or .h5 file, or a SavedModel folder; or "
              "keras.applications.NAME, for example keras.applications.ResNet50 "
              "(built with weights=None, nothing is downloaded)")
_APPLICATION_PREFIXES = ("tf.keras.applications.", "keras.applications.")


def spec_model(spec: str, input_shape=None, *, safe_mode: bool = True):
    """The model ``spec`` names: a saved model, or a Keras application built without weights.

    ``input_shape`` (height, width, channels) applies to an application only.
    """
    prefix = next((p for p in _APPLICATION_PREFIXES if spec.startswith(p)), None)
    if prefix is None:
        path = Path(spec)
        if not path.exists():
            if model_kind(path) == "keras" or "/" in spec or "\\" in spec:
                existing_model(path)
            raise InvalidArgumentError(f"unknown SPEC {spec!r}; expected {SPEC_FORMS}")
        if input_shape:
            raise InvalidArgumentError("--input-shape applies to keras.applications.NAME only; "
                                       "a saved model keeps the input shape it was built with")
        return load_model(path, compile=False, safe_mode=safe_mode)
    name = spec[len(prefix):]
    builder = getattr(tf_keras.applications, name, None)
    if not name or not name[0].isupper() or not callable(builder):
        known = sorted(n for n in dir(tf_keras.applications)
                       if n[:1].isupper() and callable(getattr(tf_keras.applications, n)))
        raise InvalidArgumentError(f"unknown application {name!r} in SPEC {spec!r}; "
                                   f"known: {', '.join(known)}")
    kwargs = {"weights": None}
    if input_shape:
        kwargs["input_shape"] = tuple(input_shape)
    try:
        return builder(**kwargs)
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"{name} cannot be built with input shape "
                                   f"{input_shape}: {first_line(exc)}") from None


@dataclass(frozen=True)
class SpecProfile(ModelProfile):
    """A ``ModelProfile`` of the model a SPEC names, with the SPEC (first in ``to_dict``)."""

    spec: str = ""

    def to_dict(self) -> dict:
        data = super().to_dict()
        return {"spec": data.pop("spec"), **data}


def profile_spec(spec: str, *, batch_size: int = 1, input_shape=None,
                 safe_mode: bool = True) -> SpecProfile:
    """``profile`` the model ``spec`` names (see ``spec_model``) at ``batch_size``."""
    result = profile(spec_model(spec, input_shape, safe_mode=safe_mode), batch_size=batch_size)
    return SpecProfile(**{f.name: getattr(result, f.name)
                          for f in dataclasses.fields(result)}, spec=spec)


_STATS = ("p50", "p90", "p99", "mean", "std")


@dataclass(frozen=True)
class BenchRun(Result):
    """One model's run in a comparison: a plain benchmark or a scenario, and its speed-up.

    ``to_dict()`` has the same keys for both kinds: the result's own, less the
    raw latencies, plus ``model``, ``scenario``, ``batch_size``, ``threads``,
    ``iterations``, ``inference_precision`` (OpenVINO runs only, else None)
    and ``speedup_p50_vs_first``.
    """

    model: str
    scenario: str
    result: BenchmarkResult | ScenarioResult
    speedup_p50_vs_first: float | None = None
    score: Score | None = None     # with a dataset: its task's metric on the test images

    @property
    def p50_ms(self) -> float:
        return self.result.latency_ms["p50"]

    @property
    def inference_precision(self) -> str | None:
        """The precision OpenVINO computed in (read from the compiled model); None elsewhere."""
        return self.result.predictor.get("compiled_precision")

    def __repr__(self) -> str:
        return f"<BenchRun {self.model} ({self.scenario}): p50 {self.p50_ms:.3f} ms>"

    def to_dict(self) -> dict:
        result = self.result
        data = result.to_dict()
        data.pop("latencies_ms", None)
        is_scenario = isinstance(result, ScenarioResult)
        data.update(
            scenario=self.scenario,
            batch_size=result.samples_per_query if is_scenario else result.batch_size,
            threads=result.predictor.get("threads"),
            iterations=result.queries if is_scenario else result.iterations,
        )
        for key in ("latency_ms", "runtime_latency_ms"):
            if data.get(key) is not None:
                data[key] = {k: data[key].get(k) for k in _STATS}
        data["model"] = self.model
        data["inference_precision"] = self.inference_precision
        data["speedup_p50_vs_first"] = self.speedup_p50_vs_first
        data["score"] = self.score.to_dict() if self.score is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> BenchRun:
        kind = BenchmarkResult if data["scenario"] == "benchmark" else ScenarioResult
        score = Score.from_dict(data["score"]) if data.get("score") else None
        return cls(data["model"], data["scenario"], kind.from_dict(data),
                   data.get("speedup_p50_vs_first"), score)


@dataclass(frozen=True)
class BenchComparison(Result):
    """Models measured one after another the same way; speed-ups are against the first."""

    runs: tuple
    notes: tuple = ()

    def __repr__(self) -> str:
        return f"<BenchComparison of {len(self.runs)} models: {', '.join(r.model for r in self.runs)}>"

    def to_dict(self) -> dict:
        return {"runs": [run.to_dict() for run in self.runs], "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, data: dict) -> BenchComparison:
        return cls(tuple(BenchRun.from_dict(r) for r in data["runs"]), tuple(data["notes"]))


def bench_models(models, runtime: str | None = None, *, scenario: str | None = None,
                 mode: str | None = None, batch_size: int = 1, threads: int | None = None,
                 duration_s: float | None = None, iterations: int | None = None,
                 warmup: int = 10, latency_bound_ms: float = 10.0,
                 target_qps: float | None = None, safe_mode: bool = True,
                 precision: str | None = None, dataset=None, task=None,
                 **options) -> BenchComparison:
    """Measure each model in ``models`` (paths) the same way; what ``artspeed bench`` runs.

    Every model is opened (``load_predictor``, with ``options`` such as
    ``hint`` and ``streams``) before any is measured. Without ``scenario``
    each gets a plain ``benchmark`` (1 s unless ``duration_s`` or
    ``iterations``); with one, ``run_scenario`` (``batch_size`` is then the
    samples per query, or the offline batch). A noisy benchmark adds a note.

    Models that run in OpenVINO keep OpenVINO's own default inference
    precision, as ``benchmark_app`` does (bf16 on CPUs with AMX or
    AVX512_BF16), unless ``precision`` (``"f32"``, ``"bf16"``, ``"f16"``) pins
    one for them (``load_predictor`` alone pins f32). Each run's
    ``inference_precision`` says which ran, and a note says when OpenVINO's
    default was not f32.

    With ``dataset`` (a Dataset, a name or a ``DatasetChoice``), each model is also
    scored on its test images by the dataset's task (``task``, when given, must be
    it): accuracy, mean IoU or MAE, beside its speed (``BenchRun.score``).

    >>> bench_models(["model.onnx"])
    Traceback (most recent call last):
    ...
    artspeed.ModelError: no model at 'model.onnx': the path does not exist
    """
    models = [str(m) for m in models]
    if not models:
        raise InvalidArgumentError("bench_models needs at least one model path")
    in_openvino = [(runtime or model_kind(model)) == "openvino" for model in models]
    if precision is not None and not any(in_openvino):
        raise InvalidArgumentError(f"precision {precision!r} is OpenVINO's inference precision; "
                                   "none of these models runs in OpenVINO")
    if task is not None:
        task_for(task)   # a known name, checked before anything loads
        if dataset is None:
            raise InvalidArgumentError("a task scores the models on a dataset's test images: "
                                       "give the dataset too (--dataset NAME)")
    predictors, runs, notes = [], [], []
    try:
        for model, openvino in zip(models, in_openvino):
            extra = {"precision": precision} if openvino else {}
            predictors.append(load_predictor(model, runtime, mode=mode, threads=threads,
                                             safe_mode=safe_mode, **extra, **options))
        for model, predictor in zip(models, predictors):
            if scenario is None:
                duration = duration_s if duration_s or iterations else 1.0
                result = benchmark(predictor, batch_size, iterations=iterations,
                                   duration_s=duration, warmup=warmup, name=model, warn=False)
                if result.noisy:
                    notes.append(f"note: {model} was noisy (spread {result.robust_cv:.0%} "
                                 "around the median); trust the p50, or rerun on a quieter "
                                 "machine")
            else:
                result = run_scenario(predictor, scenario, duration_s=duration_s,
                                      batch_size=batch_size if batch_size > 1 else None,
                                      latency_bound_ms=latency_bound_ms, target_qps=target_qps)
            runs.append(BenchRun(model, scenario or "benchmark", result))
            ran = result.predictor.get("compiled_precision")
            if precision is None and ran not in (None, "f32"):
                notes.append(f"note: {model} ran in {ran}, OpenVINO's default inference "
                             "precision on this CPU (as in benchmark_app); --precision f32 "
                             "pins the f32 the other runtimes compute in")
        if dataset is not None:
            data = as_dataset(dataset)
            runs = [dataclasses.replace(run, score=evaluate(predictor, data, task=task))
                    for run, predictor in zip(runs, predictors)]
    finally:
        for predictor in predictors:
            predictor.close()
    base = runs[0].p50_ms
    runs = [dataclasses.replace(run, speedup_p50_vs_first=base / run.p50_ms
                                if math.isfinite(base) and 0 < run.p50_ms < math.inf else None)
            for run in runs]
    return BenchComparison(tuple(runs), tuple(notes))
