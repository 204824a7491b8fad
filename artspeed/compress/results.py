"""What every compression result shares: the model, its accuracy and size against a baseline.

Pruning, clustering, channel pruning, distillation and QAT each return a
result deriving ``CompressionResult``. Each one has ``model``,
``accuracy`` and ``baseline_accuracy`` (as fields, or as properties on its
own names: a distillation's ``student`` and ``teacher_accuracy``), and,
where the run measured them, the ``.keras`` sizes: ``size_bytes``,
``gzip_bytes``, ``baseline_size_bytes``, ``baseline_gzip_bytes``.

Ratios run one way: "x smaller" is the baseline's size / this size, so a
number above 1 means smaller.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Halved(CompressionResult):
...     model: object
...     accuracy: float
...     baseline_accuracy: float
...     gzip_bytes: int
...     baseline_gzip_bytes: int
>>> r = Halved(None, 0.97, 0.98, 500, 1000)
>>> r.times_smaller, round(r.accuracy_drop_points, 2)
(2.0, 1.0)
"""

from __future__ import annotations

from artspeed.core._moved import renamed_property
from artspeed.core._result import Result
from artspeed.core.tasks import Scored, task_for
from artspeed.measure.evaluation import evaluate

__all__ = ["CompressionResult"]

SCORE_FIELDS = ("metric", "score", "baseline_score")


def task_score(model, dataset, known: float | None = None) -> dict:
    """``model``'s score on ``dataset`` by its task's metric (``known``: already measured),
    as a result's fields: ``{"score", "accuracy" (None unless a classifier), "metric"}``."""
    if known is not None:
        key = task_for(dataset.task).metric.key
        value = float(known)
    else:
        found = evaluate(model, dataset)
        key, value = found.metric, found.value
    return {"score": value, "metric": key, "accuracy": value if key == "accuracy" else None}


class CompressionResult(Scored, Result):
    """The base of compression results: a model, its accuracy and size against a baseline.

    Subclasses are frozen dataclasses that declare these as fields (or
    properties); the sizes are optional, a result without them has
    ``times_smaller`` None.
    """

    model: object                 # the compressed model
    accuracy: float | None        # its test accuracy (a classifier's; None for other tasks)
    baseline_accuracy: float | None   # the model it came from (None: not measured)
    # and, as fields with defaults: metric (the task metric's key: accuracy, mean_iou, mae),
    # score and baseline_score (by that metric; a classifier's equal its accuracies)

    _from_accuracy = {"score": "accuracy", "baseline_score": "baseline_accuracy"}

    @property
    def drop(self) -> float | None:
        """How much worse than the baseline: points of accuracy or mean IoU, or MAE's unit."""
        if getattr(self, "baseline_score", None) is None:
            return None
        return self.measure.drop(self.baseline_score, self.score)

    def _score_text(self, baseline: str = "baseline", name: bool = True) -> str:
        """"mean IoU 81.20% (baseline 82.00%, +0.80 points lost)", in the metric's words."""
        m = self.measure
        text = f"{m.name} {m.format(self.score)}" if name else m.format(self.score)
        if getattr(self, "baseline_score", None) is None:
            return text
        unit = f" {m.drop_unit}" if m.drop_unit else ""
        return f"{text} ({baseline} {m.format(self.baseline_score)}, {self.drop:+.2f}{unit} lost)"

    _model_field = "model"        # the field holding a tf_keras model (to_dict keeps its name)

    @property
    def times_smaller(self) -> float | None:
        """How many times smaller the gzipped file is than the baseline's (> 1: smaller)."""
        gzip_bytes = getattr(self, "gzip_bytes", None)
        baseline = getattr(self, "baseline_gzip_bytes", None)
        return baseline / gzip_bytes if gzip_bytes and baseline else None

    gzip_ratio = renamed_property("gzip_ratio", "times_smaller")

    @property
    def accuracy_drop_points(self) -> float | None:
        """Percentage points of accuracy lost against the baseline."""
        if self.baseline_accuracy is None or self.accuracy is None:
            return None
        return 100 * (self.baseline_accuracy - self.accuracy)

    def to_dict(self) -> dict:
        data = super().to_dict()
        if self._model_field is not None:   # the model itself is not JSON: its name is
            data[self._model_field] = getattr(self, self._model_field).name
        return data

    def _size_rows(self):
        """HTML rows for the sizes, if this run measured them."""
        if getattr(self, "gzip_bytes", None) is None:
            return
        yield "size (bytes, .keras)", f"{self.baseline_size_bytes:,} -> {self.size_bytes:,}"
        yield "gzipped (bytes)", (f"{self.baseline_gzip_bytes:,} -> {self.gzip_bytes:,} "
                                  f"({self.times_smaller:.2f}x smaller)")
