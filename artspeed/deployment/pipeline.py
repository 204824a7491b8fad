"""Deploy with OpenVINO in one call: convert, quantize, save the IR, validate against Keras.

Taught in notebooks/08-openvino-deployment. ``deploy`` is what ``artspeed
deploy`` runs. It keeps OpenVINO's verbs for its steps, which live below it:
``convert_model``, ``save_ir`` and ``read_ir`` (``artspeed.runtimes.ir``),
``compile_model`` (``artspeed.runtimes.openvino``), ``quantize_openvino``
(``artspeed.deployment.openvino_int8``) and ``validate``
(``artspeed.deployment.validation``).

>>> import artspeed
>>> deploy(artspeed.dense_example(), "/tmp", precision="fp8")
Traceback (most recent call last):
...
artspeed.InvalidArgumentError: unknown precision 'fp8'; choose f32, f16 or int8
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artspeed.core import _checks
from artspeed.core._io import check_writable_dir
from artspeed.core._result import Result
from artspeed.core.data import Dataset, DatasetChoice, as_dataset
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.core.frameworks import check_tf_keras_model
from artspeed.core.saving import existing_model, load_model, model_kind
from artspeed.core.tasks import Scored
from artspeed.core.training import dataset_task
from artspeed.deployment.openvino_int8 import quantize_openvino
from artspeed.deployment.validation import validate
from artspeed.measure.evaluation import _check_fits
from artspeed.runtimes.factory import as_predictor
from artspeed.runtimes.ir import convert_model, save_ir
from artspeed.runtimes.openvino import compile_model

__all__ = ["PRECISIONS", "Deployment", "deploy"]

# what the saved IR holds (weights, and int8 activations), in OpenVINO's words
PRECISIONS = ("f32", "f16", "int8")
_RENAMED = {"fp32": "f32", "fp16": "f16"}   # the spellings before OpenVINO's






























# ---------------------------------------------------------------- deploy
@dataclass(frozen=True)
class Deployment(Scored, Result):
    """A saved IR and how it validated: what ``artspeed deploy`` prints."""

    precision: str
    xml: str
    bin_bytes: int
    accuracy: float | None            # a classifier's; other tasks: score
    reference_accuracy: float | None
    max_abs_diff: float
    top1_agreement: float | None      # predictions alike: classes (pixels for segmentation)
    source: str = ""
    dataset: str | None = None
    calibration_samples: int = 0
    validation_samples: int = 0
    inference_precision: str | None = None
    metric: str = "accuracy"          # the task's metric, and both scores by it
    score: float | None = None
    reference_score: float | None = None

    _from_accuracy = {"score": "accuracy", "reference_score": "reference_accuracy"}

    def __repr__(self) -> str:
        acc = ("" if self.score is None else
               f", {self.measure.name} {self.measure.format(self.score)}")
        return (f"<Deployment {self.precision}: {Path(self.xml).name} + {self.bin_bytes:,} "
                f"bytes of weights{acc}, max |diff| {self.max_abs_diff:.2e}>")


def _reference(model, safe_mode: bool = True):
    """(the model to convert, the reference predictor, a label for the source)."""
    if isinstance(model, (str, Path)):
        path = existing_model(model)
        kind = model_kind(path)
        if kind == "keras":
            keras_model = load_model(path, compile=False, safe_mode=safe_mode)
            return keras_model, as_predictor(keras_model, name="keras"), str(path)
        if kind == "tflite":
            return path, as_predictor(path), str(path)
        raise ModelError(f"'{path}' is not a model artspeed can deploy; expected a .keras or "
                         ".h5 file, a SavedModel folder or a .tflite file")

    check_tf_keras_model(model, "artspeed.deploy")
    return model, as_predictor(model, name="keras"), model.name


def _check_model_of(reference, dataset, task=None) -> None:
    """Refuse a model whose inputs or outputs do not fit ``dataset`` and its task."""
    _check_fits(reference, dataset, "artspeed.deploy")
    task = dataset_task(dataset, task, "artspeed.deploy")
    outputs = (None, *reference(dataset.x_test[:1]).shape[1:])
    if task.fits(outputs, dataset):
        return
    if task.name == "classification":
        raise InvalidArgumentError(
            f"artspeed.deploy: {reference.name} has {outputs[-1]} outputs, but {dataset.name} "
            f"has {dataset.num_classes} classes; deploy it with the dataset it was trained on")
    raise InvalidArgumentError(
        f"artspeed.deploy: {reference.name} gives outputs of shape {outputs}, but "
        f"{task.name} of {dataset.name} needs {task.expected_outputs(dataset)}; deploy it with "
        "the dataset it was trained on")


def deploy(model, out, precision: str = "f32", dataset=None, *,
           calibration_samples: int = 300, ignored_scope=None, name: str | None = None,
           validation_samples: int | None = None, progress: bool = True,
           safe_mode: bool = True, task=None) -> Deployment:
    """Convert ``model``, optionally quantize it, save the IR in ``out`` and validate it.

    ``precision``: ``"f32"`` (float32 weights), ``"f16"`` (weights
    compressed to FP16) or ``"int8"`` (``nncf.quantize`` on
    ``calibration_samples`` images of ``dataset``, skipping ``ignored_scope``).
    The IR is compiled with the f32 hint and validated against the source
    model on ``dataset``'s test set (or 64 random inputs without a dataset).
    ``safe_mode=False`` loads a Keras file that holds code (``artspeed.load_model``).
    Scores are by the dataset's task (``task``, when given, must be it).
    """
    precision = _checks.choice("precision", precision, PRECISIONS, renamed=_RENAMED)
    if dataset is not None and not isinstance(dataset, (Dataset, DatasetChoice, str)):
        raise InvalidArgumentError(f"dataset must be an artspeed Dataset, got "
                                   f"{type(dataset).__name__}; use artspeed.load_dataset")
    if precision == "int8" and dataset is None:
        raise InvalidArgumentError("int8 needs a dataset to calibrate activation ranges: pass "
                                   "artspeed.load_dataset(...) (its training images are used)")
    calibration_samples = _checks.whole_number("calibration_samples", calibration_samples)
    check_writable_dir(out)
    source, reference, label = _reference(model, safe_mode)
    dataset = None if dataset is None else as_dataset(dataset)   # loaded after the checks
    if dataset is not None:   # before anything is converted or written
        _check_model_of(reference, dataset, task)
    ir = convert_model(source)
    if precision == "int8":
        ir = quantize_openvino(ir, dataset, subset_size=calibration_samples,
                               ignored_scope=ignored_scope, progress=progress)
    stem = name or (Path(label).stem if isinstance(model, (str, Path)) else label)
    xml = save_ir(ir, Path(out) / f"{stem}_{precision}.xml",
                  compress_to_fp16=precision == "f16")
    if dataset is not None:
        data = dataset
        if validation_samples is not None:
            data = dataclasses.replace(dataset, x_test=dataset.x_test[:validation_samples],
                                       y_test=dataset.y_test[:validation_samples])
    else:
        shape = reference.input_shape[1:]
        data = np.random.default_rng(0).random((validation_samples or 64, *shape), np.float32)
    check = validate(compile_model(xml, inference_precision="f32"), reference, data)
    return Deployment(precision=precision, xml=str(xml),
                      bin_bytes=xml.with_suffix(".bin").stat().st_size,
                      accuracy=check.accuracy, reference_accuracy=check.reference_accuracy,
                      metric=check.metric, score=check.score,
                      reference_score=check.reference_score,
                      max_abs_diff=check.max_abs_diff, top1_agreement=check.top1_agreement,
                      source=label, dataset=dataset.name if dataset is not None else None,
                      calibration_samples=calibration_samples if precision == "int8" else 0,
                      validation_samples=check.samples,
                      inference_precision=check.inference_precision)
