"""How good and how big a model is: its task's score, agreement, size on disk.

Taught in notebooks/02-inference-metrics (and used by every later chapter to
score its variants). The helpers take a Keras model or any ``Predictor``
(Keras, TFLite, OpenVINO), so a quantized ``.tflite`` is scored exactly like
the Keras model it came from.

>>> from artspeed import load_dataset, dense_example
>>> import numpy as np
>>> labels = predict_labels(dense_example(), np.zeros((3, 3), np.float32))
>>> labels.shape
(3,)
>>> size = model_size(__file__)
>>> size.size_bytes > size.gzip_bytes > 0
True
"""

from __future__ import annotations

import gzip
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artspeed.core import _checks
from artspeed.core._moved import renamed_property
from artspeed.core._result import Result
from artspeed.core.data import Dataset
from artspeed.core.errors import InvalidArgumentError
from artspeed.core.frameworks import check_tf_keras_model
from artspeed.core.saving import existing_model, save_model
from artspeed.core.tasks import METRICS, task_for
from artspeed.core.training import check_model_fits, dataset_task
from artspeed.runtimes.base import Predictor
from artspeed.runtimes.factory import as_predictor

__all__ = ["accuracy", "evaluate", "Score", "model_outputs", "predict_labels", "agreement",
           "ModelSize", "model_size"]


def _predictor(model, where: str):
    if not isinstance(model, Predictor):
        check_tf_keras_model(model, where)
    return as_predictor(model)


def _outputs(predictor, images: np.ndarray, batch_size: int) -> np.ndarray:
    fixed = predictor.fixed_batch
    step = fixed or batch_size
    parts = []
    for start in range(0, len(images), step):
        chunk = images[start:start + step]
        size = len(chunk)
        if fixed and size < fixed:  # pad the last batch of a fixed-batch model
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - size, axis=0)])
        parts.append(predictor(chunk)[:size])
    return np.concatenate(parts)


def predict_labels(model, images, batch_size: int = 256) -> np.ndarray:
    """The predicted class of each image (argmax of the outputs).

    ``model`` is a Keras model or a Predictor; a fixed-batch model is fed its
    own batch size (the last batch padded).
    """
    batch_size = _checks.whole_number("batch_size", batch_size)
    predictor = _predictor(model, "artspeed.predict_labels")
    images = np.asarray(images)
    if not len(images):
        raise InvalidArgumentError("predict_labels needs at least one image")
    return np.argmax(_outputs(predictor, images, int(batch_size)), axis=-1)


def _check_fits(predictor, dataset: Dataset, where: str) -> None:
    expected = tuple(dataset.input_shape)
    got = predictor.input_shape[1:]
    if len(got) != len(expected) or any(g is not None and g != e for g, e in zip(got, expected)):
        raise InvalidArgumentError(
            f"{where}: {predictor.name} takes inputs of shape {predictor.input_shape}, but "
            f"{dataset.name} images are {expected}; evaluate it on the dataset it was built for")


def model_outputs(model, dataset: Dataset, batch_size: int = 256, task=None,
                  where: str = "artspeed.evaluate") -> tuple:
    """(``model``'s outputs on ``dataset``'s test images, its ``Task``), after the checks
    that it fits the dataset: one pass, which every score of it is computed from."""
    if not isinstance(dataset, Dataset):
        raise InvalidArgumentError(f"{where.split('.')[-1]} needs an artspeed Dataset, got "
                                   f"{type(dataset).__name__}; use artspeed.load_dataset")
    batch_size = _checks.whole_number("batch_size", batch_size)
    if not isinstance(model, Predictor):
        task = check_model_fits(model, dataset, where, task)
    predictor = _predictor(model, where)
    _check_fits(predictor, dataset, where)
    task = dataset_task(dataset, task, where)
    outputs = _outputs(predictor, dataset.x_test, batch_size)
    if not task.fits((None, *outputs.shape[1:]), dataset):
        raise InvalidArgumentError(
            f"{where}: {predictor.name} gives outputs of shape {(None, *outputs.shape[1:])}, "
            f"but {task.name} of {dataset.name} needs {task.expected_outputs(dataset)}")
    return outputs, task


@dataclass(frozen=True)
class Score(Result):
    """A model's score on a dataset's test set: its task's metric, and the others it reports."""

    task: str
    metric: str           # the task metric's key: accuracy, mean_iou or mae
    value: float
    scores: dict          # every metric the task reports, by key
    samples: int

    def __repr__(self) -> str:
        metric = METRICS.get(self.metric)
        shown = metric.format(self.value) if metric else f"{self.value:.4g}"
        return f"<Score {self.task}: {metric.name if metric else self.metric} {shown}>"


def evaluate(model, dataset: Dataset, *, task=None, metric=None, batch_size: int = 256) -> Score:
    """Score ``model`` (a Keras model or a Predictor) on ``dataset``'s test set by its task's
    metric: top-1 accuracy, mean IoU (with Dice and pixel accuracy) or MAE.

    ``task`` (a name) must be the dataset's when given (``Dataset.task``). ``metric``, a
    function ``(outputs, y_test) -> float``, scores it your way instead.

    >>> from artspeed import load_dataset, unet
    >>> ds = load_dataset("shapes_seg", limit_train=4, limit_test=4)
    >>> s = evaluate(unet(filters=2, depth=1), ds)
    >>> s.metric, sorted(s.scores), 0 <= s.value <= 1
    ('mean_iou', ['dice', 'mean_iou', 'pixel_accuracy'], True)
    """
    if metric is not None:
        task_for("classification", metric)   # checks it before any work
    outputs, task = model_outputs(model, dataset, batch_size, task)
    task = task_for(task, metric)
    scores = task.scores(outputs, dataset.y_test, dataset.num_classes)
    return Score(task.name, task.metric.key, scores[task.metric.key], scores, len(outputs))


def accuracy(model, dataset: Dataset, batch_size: int = 256) -> float:
    """Top-1 accuracy of a Keras model or a Predictor on ``dataset``'s test set, in [0, 1].

    >>> from artspeed import load_dataset, baseline_cnn
    >>> ds = load_dataset("shapes", limit_train=8, limit_test=16)
    >>> 0.0 <= accuracy(baseline_cnn(width=2), ds) <= 1.0
    True
    """
    outputs, task = model_outputs(model, dataset, batch_size, "classification",
                                  "artspeed.accuracy")
    return task.score(outputs, dataset.y_test)


def agreement(model_a, model_b, data, batch_size: int = 256, task=None) -> float:
    """The share of predictions two models make alike: classes for a classifier (top-1),
    pixels for a segmentation model.

    ``data`` is a Dataset (its test images; its task) or an array of images (``task``
    given, or segmentation for outputs with a height and width). A quantized model that
    agrees with its float original on 99.5% of images has lost little, whatever the
    labels say. Regression has no agreement: compare outputs by ``evaluate``'s MAE.

    >>> from artspeed import dense_example
    >>> import numpy as np
    >>> m = dense_example()
    >>> agreement(m, m, np.random.default_rng(0).random((8, 3), np.float32))
    1.0
    """
    batch_size = _checks.whole_number("batch_size", batch_size)
    if isinstance(data, Dataset):
        task = dataset_task(data, task, "artspeed.agreement")
        images = data.x_test
    else:
        images = np.asarray(data)
        if not len(images):
            raise InvalidArgumentError("agreement needs at least one image")
    a = _outputs(_predictor(model_a, "artspeed.agreement"), images, batch_size)
    b = _outputs(_predictor(model_b, "artspeed.agreement"), images, batch_size)
    if task is None:
        task = "segmentation" if a.ndim == 4 else "classification"
    found = task_for(task).agreement(a, b)
    if found is None:
        raise InvalidArgumentError("regression has no agreement; compare the two models' "
                                   "outputs by artspeed.evaluate's MAE")
    return found


@dataclass(frozen=True)
class ModelSize(Result):
    """A model's size on disk: raw bytes and gzip-compressed bytes (level 9)."""

    path: str
    size_bytes: int
    gzip_bytes: int
    files: tuple = ()

    @property
    def gzip_times_smaller(self) -> float:
        """How many times smaller gzip makes the file: size_bytes / gzip_bytes (pruned weights compress well)."""
        return self.size_bytes / self.gzip_bytes if self.gzip_bytes else float("nan")

    gzip_ratio = renamed_property("gzip_ratio", "gzip_times_smaller")

    def __repr__(self) -> str:
        return (f"<ModelSize {Path(self.path).name}: {self.size_bytes:,} bytes, "
                f"{self.gzip_bytes:,} gzipped ({self.gzip_times_smaller:.1f}x smaller)>")

    @classmethod
    def from_dict(cls, data: dict) -> ModelSize:
        data = dict(data)
        data["files"] = tuple(data.get("files") or ())
        return super().from_dict(data)


def _model_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    files = [path]
    if path.suffix == ".xml" and path.with_suffix(".bin").is_file():
        files.append(path.with_suffix(".bin"))  # an OpenVINO IR is .xml + .bin
    return files


def model_size(model) -> ModelSize:
    """The size of a model file (or folder, or OpenVINO .xml + .bin), raw and gzipped.

    ``model`` is a path, ``bytes`` (a .tflite in memory) or a Keras model,
    saved to a temporary .keras file without its optimizer's state (Adam keeps
    two slots per weight, which would make any freshly built variant look 3x
    smaller than a trained model).
    """
    if isinstance(model, (bytes, bytearray)):
        data = bytes(model)
        return ModelSize("<in memory>", len(data), len(gzip.compress(data, 9, mtime=0)))
    if not isinstance(model, (str, Path)):
        check_tf_keras_model(model, "artspeed.model_size")
        with tempfile.TemporaryDirectory() as folder:
            path = save_model(model, Path(folder) / f"{model.name}.keras",
                              include_optimizer=False)
            size = model_size(path)
            return ModelSize(f"{model.name}.keras", size.size_bytes, size.gzip_bytes,
                             (f"{model.name}.keras",))
    path = existing_model(model)
    files = _model_files(path)
    raw = sum(f.stat().st_size for f in files)
    packed = sum(len(gzip.compress(f.read_bytes(), 9, mtime=0)) for f in files)
    return ModelSize(str(path), raw, packed, tuple(str(f) for f in files))
