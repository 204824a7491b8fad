"""One call per compression job: take a saved Keras model, compress it, measure it, save it.

What ``artspeed quantize``, ``prune`` and ``distill`` run. Each checks its
arguments and paths first (nothing loads or is written on bad input), loads
the data only then (``dataset``: a Dataset, a name, a ``DatasetChoice`` or None
for the default, 2,000 training images in fast mode), and returns a result
whose ``to_dict()`` is the command's ``--json``.

>>> quantize_to_tflite("m.keras", "q.onnx", "int8")
Traceback (most recent call last):
...
artspeed.InvalidArgumentError: out must name a .tflite file, got 'q.onnx'
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from artspeed.compress.channels import channel_pruning
from artspeed.compress.distillation import _check_arguments, distill
from artspeed.compress.pruning import magnitude_pruning, sparsity_report
from artspeed.compress.ptq import _check_io, convert_to_tflite
from artspeed.compress.qat import quantization_aware_training
from artspeed.compress.results import CompressionResult, task_score
from artspeed.core import _checks, config
from artspeed.core._io import check_out_file
from artspeed.core._result import Result
from artspeed.core.data import as_dataset
from artspeed.core.errors import InvalidArgumentError
from artspeed.core.frameworks import check_tf_keras_model
from artspeed.core.models import baseline_cnn
from artspeed.core.saving import KERAS_SUFFIXES, load_model, save_model
from artspeed.core.tasks import Scored
from artspeed.core.training import check_model_fits
from artspeed.measure.evaluation import model_outputs, model_size
from artspeed.measure.profiler import profile

__all__ = ["TFLiteQuantization", "PrunedModel", "DistilledStudent", "quantize_to_tflite",
           "prune_and_fine_tune", "distill_student"]


def _keras_model(model, safe_mode: bool, where: str):
    """(a tf_keras model: ``model`` itself or loaded from its path, a label for it)."""
    if isinstance(model, (str, Path)):
        return load_model(model, compile=False, safe_mode=safe_mode), str(model)
    return check_tf_keras_model(model, where), model.name


def _epochs(epochs, default: int) -> int:
    """``epochs``, else ``default`` (1 in fast mode)."""
    if epochs is not None:
        return _checks.whole_number("epochs", epochs)
    return 1 if config.fast_mode() else default


@dataclass(frozen=True)
class TFLiteQuantization(Scored, Result):
    """A quantized ``.tflite`` file against the float TFLite model, on the test set."""

    mode: str
    path: str
    model: str
    size_bytes: int
    float_size_bytes: int
    times_smaller: float          # the float .tflite's size / this one's
    accuracy: float | None        # top-1 accuracy (classifiers; None for other tasks)
    float_accuracy: float | None
    agreement: float | None       # classes or pixels alike (None for regression)
    input_dtype: str
    output_dtype: str
    input_quantization: tuple
    output_quantization: tuple
    float_ops: tuple
    op_kinds: dict
    calibration_samples: int
    dataset: str
    test_samples: int
    epochs: int | None = None
    qat_keras_accuracy: float | None = None
    metric: str = "accuracy"      # the task's metric, and the scores by it
    score: float | None = None
    float_score: float | None = None
    qat_keras_score: float | None = None

    _from_accuracy = {"score": "accuracy", "float_score": "float_accuracy",
                      "qat_keras_score": "qat_keras_accuracy"}

    def __repr__(self) -> str:
        return (f"<TFLiteQuantization {self.mode}: {self.size_bytes:,} bytes "
                f"({self.times_smaller:.2f}x smaller than float), {self.measure.name} "
                f"{self.measure.format(self.score)}>")


def quantize_to_tflite(model, out, mode: str, dataset=None, *, calibration_samples: int = 100,
                       io_type: str | None = None, epochs: int | None = None,
                       progress: bool = True, safe_mode: bool = True,
                       task=None) -> TFLiteQuantization:
    """Convert a Keras model (or its path) to a quantized TFLite file ``out``, and measure it.

    ``mode``: a post-training mode of ``convert_to_tflite`` or ``"qat"``
    (``quantization_aware_training`` for ``epochs``, default 1). ``io_type`` is
    the input and output type. The score by the dataset's task (accuracy, mean IoU
    or MAE) and the agreement (classes or pixels) are against the float TFLite
    model on the test set; ``task``, when given, must be the dataset's. Taught in
    notebooks/04 and 05.
    """
    out = check_out_file(out, (".tflite",))
    _check_io(mode, io_type, io_type)
    if epochs is not None and mode != "qat":
        raise InvalidArgumentError("epochs applies to mode 'qat' only (fine-tuning epochs)")
    calibration_samples = _checks.whole_number("calibration_samples", calibration_samples)
    keras_model, label = _keras_model(model, safe_mode, "artspeed.quantize_to_tflite")
    data = as_dataset(dataset)
    task = check_model_fits(keras_model, data, "artspeed.quantize_to_tflite", task)
    extra = {}
    with tempfile.TemporaryDirectory() as folder:
        reference = convert_to_tflite(keras_model, "float32",
                                      path=Path(folder) / "float32.tflite")
        float_predictor = reference.predictor(name="float32")
        if mode == "qat":
            epochs = _epochs(epochs, 1)
            run = quantization_aware_training(keras_model, data, epochs=epochs, input_type=io_type,
                                              output_type=io_type, path=out, progress=progress)
            result = run.quantized
            extra = {"epochs": epochs, "qat_keras_accuracy": run.qat_accuracy,
                     "qat_keras_score": run.score}
        else:
            result = convert_to_tflite(keras_model, mode,
                                       data if mode in ("int8", "int16x8") else None,
                                       calibration_samples=calibration_samples,
                                       input_type=io_type, output_type=io_type, path=out)
        # one pass of each model over the test images: scores and agreement from it
        outputs, _ = model_outputs(result.predictor(), data, task=task.name,
                                   where="artspeed.quantize_to_tflite")
        float_outputs, _ = model_outputs(float_predictor, data, task=task.name,
                                         where="artspeed.quantize_to_tflite")
        key = task.metric.key
        score = task.scores(outputs, data.y_test, data.num_classes)[key]
        float_score = task.scores(float_outputs, data.y_test, data.num_classes)[key]
        classifier = key == "accuracy"
        return TFLiteQuantization(
            mode=mode, path=str(out), model=label, size_bytes=result.size_bytes,
            float_size_bytes=reference.size_bytes,
            times_smaller=reference.size_bytes / result.size_bytes,
            accuracy=score if classifier else None,
            float_accuracy=float_score if classifier else None,
            agreement=task.agreement(outputs, float_outputs), metric=key, score=score,
            float_score=float_score,
            input_dtype=result.input_dtype, output_dtype=result.output_dtype,
            input_quantization=(result.input_scale, result.input_zero_point),
            output_quantization=(result.output_scale, result.output_zero_point),
            float_ops=tuple(result.float_ops), op_kinds=dict(result.op_kinds),
            calibration_samples=result.calibration_samples, dataset=data.name,
            test_samples=len(data.x_test), **extra)


@dataclass(frozen=True)
class PrunedModel(CompressionResult):
    """A pruned, fine-tuned, saved Keras model against the one it came from."""

    _model_field = None           # ``model`` is the saved model's name already

    path: str
    model: str
    target_sparsity: float
    achieved_sparsity: float
    layers: tuple
    params: int
    macs: int
    size_bytes: int
    gzip_bytes: int
    accuracy: float | None
    baseline_accuracy: float | None
    baseline_params: int
    baseline_macs: int
    baseline_size_bytes: int
    baseline_gzip_bytes: int
    schedule: str
    m_by_n: tuple | None
    channels: float | None
    filters: dict | None
    epochs: int
    dataset: str
    metric: str = "accuracy"
    score: float | None = None
    baseline_score: float | None = None

    def __repr__(self) -> str:
        return (f"<PrunedModel {self.achieved_sparsity:.1%} zeros, {self.params:,} params, "
                f"{self.measure.name} {self.measure.format(self.score)}>")


def prune_and_fine_tune(model, out, dataset=None, *, sparsity: float | None = None,
                        m_by_n=None, channels: float | None = None, schedule: str = "constant",
                        norm: str = "l1", skip=(), epochs: int | None = None,
                        progress: bool = True, safe_mode: bool = True,
                        task=None) -> PrunedModel:
    """Prune a Keras model (or its path) and fine-tune it, then save it to ``out``.

    ``channels`` removes that fraction of the filters (``channel_pruning``);
    ``sparsity`` or an N:M ``m_by_n`` then zeroes weights with tfmot's
    ``prune_low_magnitude`` (``magnitude_pruning``). ``epochs`` of fine-tuning
    each (default 2). Scores are by the dataset's task (``task``, when given, must
    be it): accuracy, mean IoU or MAE. Taught in notebooks/06-pruning.
    """
    if m_by_n is not None and sparsity is not None:
        raise InvalidArgumentError("give sparsity or m_by_n, not both: an N:M pattern sets the "
                                   "sparsity to m / n")
    if sparsity is None and m_by_n is None and channels is None:
        raise InvalidArgumentError("say what to prune: sparsity S (unstructured, --sparsity S), "
                                   "m_by_n (N:M, --m-by-n 2,4) and/or channels FRACTION "
                                   "(filters, --channels)")
    sparsity = _checks.sparsity(0.0 if sparsity is None else sparsity)
    m_by_n = None if m_by_n is None else _checks.m_by_n(m_by_n)
    if channels is not None:
        channels = _checks.fraction("channels", channels, "0.5 removes half the filters")
    out = check_out_file(out, KERAS_SUFFIXES)
    epochs = _epochs(epochs, 2)
    keras_model, label = _keras_model(model, safe_mode, "artspeed.prune_and_fine_tune")
    data = as_dataset(dataset)
    check_model_fits(keras_model, data, "artspeed.prune_and_fine_tune", task)
    base = task_score(keras_model, data)
    baseline_accuracy = base["score"]   # by the task's metric
    baseline_size, baseline_profile = model_size(keras_model), profile(keras_model)
    pruned, filters, report = keras_model, None, None
    if channels is not None:
        run = channel_pruning(keras_model, data, channels, norm=norm, epochs=epochs,
                              progress=progress, baseline_accuracy=baseline_accuracy)
        pruned, filters = run.model, run.filters
    if sparsity > 0 or m_by_n is not None:
        run = magnitude_pruning(pruned, data, sparsity, schedule=schedule, m_by_n=m_by_n,
                                skip=skip or (), epochs=epochs, progress=progress,
                                baseline_accuracy=baseline_accuracy)
        pruned, report = run.model, run.report
    if report is None:
        report = sparsity_report(pruned)
    path = save_model(pruned, out, include_optimizer=False)
    size, counts, found = model_size(path), profile(pruned), task_score(pruned, data)
    return PrunedModel(
        path=str(path), model=label,
        target_sparsity=report.target_sparsity if report.layers else 0.0,
        achieved_sparsity=report.achieved_sparsity,
        layers=tuple({"name": r.name, "target_sparsity": r.target_sparsity,
                      "achieved_sparsity": r.achieved_sparsity} for r in report.layers),
        params=counts.total_params, macs=counts.macs, size_bytes=size.size_bytes,
        gzip_bytes=size.gzip_bytes, accuracy=found["accuracy"],
        baseline_accuracy=base["accuracy"], baseline_params=baseline_profile.total_params,
        baseline_macs=baseline_profile.macs, baseline_size_bytes=baseline_size.size_bytes,
        baseline_gzip_bytes=baseline_size.gzip_bytes, schedule=schedule, m_by_n=m_by_n,
        channels=channels, filters=filters, epochs=epochs, dataset=data.name,
        metric=found["metric"], score=found["score"], baseline_score=base["score"])


@dataclass(frozen=True)
class DistilledStudent(Result):
    """A small ``baseline_cnn`` student distilled from a teacher, saved."""

    path: str
    teacher: str
    student_width: int
    student_accuracy: float
    teacher_accuracy: float
    alone_accuracy: float | None
    gain_points: float | None
    student_params: int
    teacher_params: int
    temperature: float
    alpha: float
    epochs: int
    size_bytes: int
    gzip_bytes: int
    dataset: str

    def __repr__(self) -> str:
        return (f"<DistilledStudent width {self.student_width}: {self.student_params:,} "
                f"params, accuracy {self.student_accuracy:.2%}>")


def distill_student(teacher, out, dataset=None, *, student_width: int = 8,
                    temperature: float = 4.0, alpha: float = 0.1, compare: bool = False,
                    epochs: int | None = None, seed: int = 0, progress: bool = True,
                    safe_mode: bool = True) -> DistilledStudent:
    """Distill a Keras teacher (or its path) into a ``baseline_cnn(width=student_width)``
    student for ``epochs`` (default 3) and save the student to ``out``.

    ``compare=True`` also trains the student alone (``distill``). Taught in
    notebooks/07-knowledge-distillation.
    """
    out = check_out_file(out, KERAS_SUFFIXES)
    epochs = _epochs(epochs, 3)
    teacher_model, label = _keras_model(teacher, safe_mode, "artspeed.distill_student")
    student = baseline_cnn(tuple(teacher_model.input_shape[1:]), teacher_model.output_shape[-1],
                           width=student_width, seed=seed, name="student")
    _check_arguments(teacher_model, student, temperature, alpha)  # before the data loads
    data = as_dataset(dataset)
    check_model_fits(teacher_model, data, "artspeed.distill_student")
    run = distill(teacher_model, student, data, epochs=epochs, temperature=temperature,
                  alpha=alpha, seed=seed, compare=compare, progress=progress)
    path = save_model(run.student, out, include_optimizer=False)
    size = model_size(path)
    return DistilledStudent(
        path=str(path), teacher=label, student_width=student_width,
        student_accuracy=run.student_accuracy, teacher_accuracy=run.teacher_accuracy,
        alone_accuracy=run.alone_accuracy, gain_points=run.gain_points,
        student_params=run.student_params, teacher_params=run.teacher_params,
        temperature=run.temperature, alpha=run.alpha, epochs=epochs,
        size_bytes=size.size_bytes, gzip_bytes=size.gzip_bytes, dataset=data.name)
