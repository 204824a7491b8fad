"""What a model is for, and how it is scored: the task and its metric.

A classifier is scored by top-1 accuracy, a segmentation model by mean IoU (and
Dice), a regression model by mean absolute error. Every tool that scores a
model (``artspeed.evaluate``, variant tables, the tour, Pareto plots, reports)
takes its ``Task`` from here, so the one metric names every axis and pick.

The task is the dataset's (``Dataset.task``), or given; ``check_outputs`` says in
one line which output shape it expected when a model does not fit.

>>> seg = task_for("segmentation")
>>> seg.metric, seg.metric.key
(<Metric mean IoU (higher is better)>, 'mean_iou')
>>> import numpy as np
>>> truth = np.array([[[0, 1], [1, 1]]])                       # one 2x2 mask
>>> outputs = np.array([[[[0.1], [0.9]], [[0.2], [0.8]]]])     # one sigmoid channel
>>> seg.labels(outputs).tolist()
[[[0, 1], [0, 1]]]
>>> {k: round(v, 3) for k, v in seg.scores(outputs, truth, 2).items()}
{'mean_iou': 0.583, 'dice': 0.733, 'pixel_accuracy': 0.75}
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from artspeed.core import _checks
from artspeed.core.errors import InvalidArgumentError

__all__ = ["TASKS", "Metric", "Task", "task_for", "mean_iou", "dice", "mean_absolute_error",
           "Scored"]

TASKS = ("classification", "segmentation", "regression")


@dataclass(frozen=True)
class Metric:
    """A score's name, and which way is better.

    ``fraction``: a share in [0, 1], shown as a percentage; a difference of 0.01 is
    one point. Otherwise a difference is in the metric's own unit (MAE's is the
    target's).

    >>> iou = task_for("segmentation").metric
    >>> iou.format(0.8123), round(iou.drop(0.82, 0.81), 6), iou.within(0.82, 0.81, 1.0)
    ('81.23%', 1.0, True)
    >>> mae = task_for("regression").metric
    >>> mae.format(1.25), mae.drop(1.0, 1.25), mae.drop_unit
    ('1.25', 0.25, '')
    """

    name: str
    key: str
    higher_is_better: bool = True
    fraction: bool = True

    def format(self, value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        return f"{value:.2%}" if self.fraction else f"{value:.3g}"

    def drop(self, reference, value) -> float:
        """How much worse ``value`` is than ``reference``: points for a fraction, else the
        metric's unit (negative: better)."""
        if reference is None or value is None:
            return math.nan
        worse = (reference - value) if self.higher_is_better else (value - reference)
        return 100 * worse if self.fraction else worse

    @property
    def drop_unit(self) -> str:
        return "points" if self.fraction else ""

    def within(self, reference, value, points: float) -> bool:
        """True if ``value`` is at most ``points`` worse than ``reference`` (for a metric
        that is not a fraction, ``points`` percent of the reference)."""
        limit = points if self.fraction else abs(reference) * points / 100
        return self.drop(reference, value) <= limit + 1e-9

    def axis_label(self) -> str:
        way = "higher" if self.higher_is_better else "lower"
        return f"{self.name}{', %' if self.fraction else ''} ({way} is better)"

    def __repr__(self) -> str:
        return f"<Metric {self.name} ({'higher' if self.higher_is_better else 'lower'} is better)>"


ACCURACY = Metric("accuracy", "accuracy")
MEAN_IOU = Metric("mean IoU", "mean_iou")
DICE = Metric("Dice", "dice")
PIXEL_ACCURACY = Metric("pixel accuracy", "pixel_accuracy")
MAE = Metric("MAE", "mae", higher_is_better=False, fraction=False)


def _confusion(predicted: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    index = truth.astype(np.int64).ravel() * num_classes + predicted.astype(np.int64).ravel()
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes,
                                                                           num_classes)


def mean_iou(predicted, truth, num_classes: int) -> float:
    """Intersection over union per class over every pixel, averaged over the classes that
    occur in ``truth`` or ``predicted`` (as ``tf.keras.metrics.MeanIoU`` counts).

    >>> mean_iou(np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1]), 2)   # (1/2 + 2/3) / 2
    0.5833333333333333
    """
    cm = _confusion(np.asarray(predicted), np.asarray(truth), num_classes)
    hits = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - hits
    present = union > 0
    return float(np.mean(hits[present] / union[present])) if present.any() else 1.0


def dice(predicted, truth, num_classes: int) -> float:
    """The Dice coefficient (F1 of the pixels) per class, averaged over the classes present.

    >>> dice(np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1]), 2)   # (2/3 + 4/5) / 2
    0.7333333333333334
    """
    cm = _confusion(np.asarray(predicted), np.asarray(truth), num_classes)
    hits = np.diag(cm).astype(np.float64)
    total = cm.sum(0) + cm.sum(1)
    present = total > 0
    return float(np.mean(2 * hits[present] / total[present])) if present.any() else 1.0


def mean_absolute_error(predicted, truth) -> float:
    """The mean of |predicted - truth| over every sample and output.

    >>> mean_absolute_error([1.0, 2.0], [1.5, 1.0])
    0.75
    """
    predicted, truth = np.asarray(predicted, np.float64), np.asarray(truth, np.float64)
    return float(np.mean(np.abs(predicted.reshape(truth.shape) - truth)))


@dataclass(frozen=True)
class Task:
    """A task: how outputs become predictions, its metric, and the shape a model must give."""

    name: str
    metric: Metric
    function: object = None   # your metric, (outputs, truth) -> float, instead of the task's

    def with_metric(self, function, higher_is_better: bool = True) -> Task:
        """This task scored by ``function(outputs, y_test) -> float`` (named after it).

        >>> import numpy as np
        >>> def top2(outputs, truth):
        ...     return float(np.mean([t in np.argsort(o)[-2:] for o, t in zip(outputs, truth)]))
        >>> t = task_for("classification").with_metric(top2)
        >>> t.metric.name, t.score(np.array([[0.1, 0.5, 0.4]]), np.array([2]))
        ('top2', 1.0)
        """
        if not callable(function):
            raise InvalidArgumentError(f"a metric is a function (outputs, y_test) -> float, "
                                       f"got {type(function).__name__}")
        name = getattr(function, "__name__", "metric")
        return Task(self.name, Metric(name, name, bool(higher_is_better), False), function)

    def labels(self, outputs: np.ndarray) -> np.ndarray:
        """What the model predicts: a class per sample (classification), per pixel
        (segmentation: the argmax, or a single sigmoid channel thresholded at 0.5), or
        the outputs themselves (regression)."""
        outputs = np.asarray(outputs)
        if self.name == "regression":
            return outputs
        if self.name == "segmentation" and outputs.shape[-1] == 1:
            return (outputs[..., 0] >= 0.5).astype(np.int64)
        return np.argmax(outputs, axis=-1)

    def scores(self, outputs, truth, num_classes: int | None = None) -> dict:
        """``{metric key: value}`` of ``outputs`` against ``truth``: the task's metric first,
        then the others it reports (Dice and pixel accuracy for segmentation)."""
        if self.function is not None:
            return {self.metric.key: float(self.function(np.asarray(outputs), np.asarray(truth)))}
        predicted, truth = self.labels(outputs), np.asarray(truth)
        if self.name == "classification":
            return {"accuracy": float(np.mean(predicted == truth.reshape(predicted.shape)))}
        if self.name == "regression":
            return {"mae": mean_absolute_error(predicted, truth)}
        classes = num_classes or int(max(predicted.max(), truth.max())) + 1
        truth = truth.reshape(predicted.shape)
        return {"mean_iou": mean_iou(predicted, truth, classes),
                "dice": dice(predicted, truth, classes),
                "pixel_accuracy": float(np.mean(predicted == truth))}

    def score(self, outputs, truth, num_classes: int | None = None) -> float:
        """The task's metric of ``outputs`` against ``truth``."""
        return self.scores(outputs, truth, num_classes)[self.metric.key]

    def agreement(self, outputs_a, outputs_b) -> float | None:
        """The share of predictions two models make alike: classes (classification) or
        pixels (segmentation); None for regression, whose outputs are compared by MAE."""
        if self.name == "regression":
            return None
        return float(np.mean(self.labels(outputs_a) == self.labels(outputs_b)))

    def expected_outputs(self, dataset) -> str:
        """The output shape a model of this task needs for ``dataset``, in words."""
        if self.name == "classification":
            return f"(None, {dataset.num_classes})"
        if self.name == "regression":
            targets = dataset.y_train.shape[1:]
            return f"(None, {targets[0] if targets else 1})"
        height, width = dataset.input_shape[:2]
        one = " or 1 (a sigmoid)" if dataset.num_classes == 2 else ""
        return f"(None, {height}, {width}, {dataset.num_classes}{one})"

    def fits(self, output_shape: tuple, dataset) -> bool:
        """True if a model whose outputs have ``output_shape`` (batch axis first) does this
        task on ``dataset``."""
        shape = tuple(output_shape)[1:]
        if self.name == "classification":
            return shape == (dataset.num_classes,)
        if self.name == "regression":
            targets = dataset.y_train.shape[1:]
            return shape == ((targets[0] if targets else 1),)
        channels = (dataset.num_classes, 1) if dataset.num_classes == 2 else (dataset.num_classes,)
        return (len(shape) == 3 and tuple(shape[:2]) == tuple(dataset.input_shape[:2])
                and shape[2] in channels)

    def __repr__(self) -> str:
        return f"<Task {self.name}: scored by {self.metric.name}>"


_TASKS = {"classification": Task("classification", ACCURACY),
          "segmentation": Task("segmentation", MEAN_IOU),
          "regression": Task("regression", MAE)}
METRICS = {m.key: m for m in (ACCURACY, MEAN_IOU, DICE, PIXEL_ACCURACY, MAE)}


class Scored:
    """What a result scored by a task's metric shares: its ``metric`` field (a key of
    ``METRICS``) names the metric its score fields are by, and ``measure`` is that Metric.

    ``_from_accuracy`` maps each score field to the accuracy field it equals for a
    classifier, so a record written before tasks (accuracy only) reads as one.
    """

    _from_accuracy: dict = {}

    def __post_init__(self):
        if getattr(self, "metric", "accuracy") == "accuracy":
            for score, accuracy in self._from_accuracy.items():
                if getattr(self, score, None) is None:
                    object.__setattr__(self, score, getattr(self, accuracy, None))

    @property
    def measure(self) -> Metric:
        """The metric the result is scored by (its task's, or one of yours)."""
        key = getattr(self, "metric", "accuracy")
        return METRICS.get(key) or Metric(key, key, getattr(self, "higher_is_better", True),
                                          getattr(self, "fraction", False))


def task_for(task, metric=None) -> Task:
    """The ``Task`` named ``task`` (one of ``TASKS``), or ``task`` itself if it is one;
    scored by ``metric`` (a function, see ``Task.with_metric``) when given.

    >>> task_for("regression").metric.name
    'MAE'
    >>> task_for("detection")
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: unknown task 'detection'; choose classification, segmentation or regression
    """
    found = task if isinstance(task, Task) else _TASKS[_checks.choice("task", task, TASKS)]
    return found.with_metric(metric) if metric is not None else found
