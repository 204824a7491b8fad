"""Check a deployed model against its source: outputs, agreement, accuracy, precision.

Taught in notebooks/08-openvino-deployment, and the last step of ``deploy``:

- ``validate``: outputs against the reference (Keras) model, the maximum
  absolute difference and agreement, plus the test-set score by the task's metric;
- ``compare_precisions``: the same model at each inference precision; on CPUs
  with AVX512_BF16 or AMX, OpenVINO's default is bf16, not f32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from artspeed.core._result import Result, html_table
from artspeed.core.data import Dataset
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.core.tasks import Scored, task_for
from artspeed.measure.evaluation import _outputs
from artspeed.runtimes.factory import as_predictor
from artspeed.runtimes.ir import convert_model
from artspeed.runtimes.openvino import compile_model, default_inference_precision

__all__ = ["Validation", "validate", "PrecisionComparison", "compare_precisions"]


@dataclass(frozen=True)
class Validation(Scored, Result):
    """A deployed model's outputs against the reference's, and both scores by the task's
    metric (with labels)."""

    name: str
    samples: int
    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float | None   # predictions alike: classes, or pixels for segmentation
    accuracy: float | None = None   # a classifier's; for other tasks see score
    reference_accuracy: float | None = None
    inference_precision: str | None = None
    metric: str = "accuracy"        # the task's metric, and both scores by it
    score: float | None = None
    reference_score: float | None = None

    _from_accuracy = {"score": "accuracy", "reference_score": "reference_accuracy"}

    @property
    def accuracy_drop_points(self) -> float | None:
        """Points of accuracy lost against the reference (None without labels)."""
        if self.accuracy is None or self.reference_accuracy is None:
            return None
        return 100 * (self.reference_accuracy - self.accuracy)

    def __repr__(self) -> str:
        acc = ("" if self.score is None else
               f", {self.measure.name} {self.measure.format(self.score)}")
        agreement = ("" if self.top1_agreement is None else
                     f", agreement {self.top1_agreement:.2%}")
        return f"<Validation {self.name}: max |diff| {self.max_abs_diff:.2e}{agreement}{acc}>"


def validate(model, reference, data, *, batch_size: int = 64, name: str | None = None) -> Validation:
    """Compare ``model``'s outputs with ``reference``'s on ``data``.

    Both are predictors, Keras models, ``ov.Model``s or model paths (an
    ``ov.Model`` compiles with the f32 precision hint). ``data`` is a Dataset
    (its test images, and scores on its labels by its task's metric) or an array of
    inputs. The agreement is of predicted classes (pixels, for segmentation outputs).

    >>> import artspeed, numpy as np
    >>> m = artspeed.dense_example()
    >>> x = np.random.default_rng(0).random((16, 3), np.float32)
    >>> v = validate(convert_model(m), m, x)
    >>> v.max_abs_diff < 1e-5, v.top1_agreement
    (True, 1.0)
    """
    predictor = as_predictor(model, name=name or "candidate")
    ref = as_predictor(reference, name="reference")
    images = data.x_test if isinstance(data, Dataset) else np.asarray(data)
    if images.ndim < 2 or not len(images):
        raise InvalidArgumentError(f"validate needs a non-empty batch of inputs, got shape "
                                   f"{images.shape}")
    out = _outputs(predictor, images, batch_size)
    expected = _outputs(ref, images, batch_size)
    if out.shape != expected.shape:
        raise ModelError(f"{predictor.name} gives outputs of shape {out.shape[1:]}, the "
                         f"reference {expected.shape[1:]}: they are not the same model")
    diff = np.abs(out.astype(np.float64) - expected)
    task = task_for(data.task if isinstance(data, Dataset) else
                    "segmentation" if out.ndim == 4 else "classification")
    key, scores = task.metric.key, {}
    if isinstance(data, Dataset):
        scores = {"score": task.score(out, data.y_test, data.num_classes),
                  "reference_score": task.score(expected, data.y_test, data.num_classes)}
    classifier = key == "accuracy"
    precision = None
    if getattr(predictor, "runtime", None) == "openvino":
        compiled = predictor.compiled_model(predictor.fixed_batch or min(batch_size, len(images)))
        precision = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
    return Validation(name=name or predictor.name, samples=int(len(images)),
                      max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
                      top1_agreement=task.agreement(out, expected),
                      accuracy=scores.get("score") if classifier else None,
                      reference_accuracy=scores.get("reference_score") if classifier else None,
                      inference_precision=precision, metric=key, **scores)


@dataclass(frozen=True)
class PrecisionComparison(Result):
    """One model validated at several inference precisions (f32, bf16, OpenVINO's default)."""

    default_precision: str
    rows: tuple      # Validation per precision

    def __getitem__(self, name: str) -> Validation:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no row {name!r}; the rows are {', '.join(r.name for r in self.rows)}")

    def __repr__(self) -> str:
        return (f"<PrecisionComparison {', '.join(r.name for r in self.rows)}; "
                f"OpenVINO's default here is {self.default_precision}>")

    def __str__(self) -> str:
        name = self.rows[0].measure.name if self.rows else "accuracy"
        lines = [f"{'precision hint':<16} {'runs in':<8} {'max |diff|':>10} {'agreement':>9} "
                 f"{name:>8}"]
        for r in self.rows:
            acc = f"{r.measure.format(r.score):>8}"
            agree = f"{r.top1_agreement:9.2%}" if r.top1_agreement is not None else f"{'-':>9}"
            lines.append(f"{r.name:<16} {r.inference_precision or '-':<8} "
                         f"{r.max_abs_diff:10.2e} {agree} {acc}")
        return "\n".join(lines)

    @classmethod
    def from_dict(cls, data: dict) -> PrecisionComparison:
        return cls(data["default_precision"], tuple(Validation.from_dict(r) for r in data["rows"]))

    def _repr_html_(self) -> str:
        name = self.rows[0].measure.name if self.rows else "accuracy"
        return html_table([(r.name, r.inference_precision, r.max_abs_diff, r.mean_abs_diff,
                            r.top1_agreement, r.score, r.reference_score)
                           for r in self.rows],
                          header=("precision hint", "runs in", "max |diff|", "mean |diff|",
                                  "agreement", name, f"reference {name}"),
                          caption=f"Inference precision (OpenVINO's default here: "
                                  f"{self.default_precision})")


def compare_precisions(model, reference, data, precisions=("f32", "bf16", None), *,
                       batch_size: int = 64) -> PrecisionComparison:
    """Validate ``model`` compiled at each inference precision (``None``: OpenVINO's default).

    >>> import artspeed, numpy as np
    >>> m = artspeed.dense_example()
    >>> x = np.random.default_rng(0).random((8, 3), np.float32)
    >>> table = compare_precisions(m, m, x, precisions=("f32",))
    >>> table["f32"].inference_precision
    'f32'
    """
    ir = convert_model(model)
    rows = []
    for precision in precisions:
        label = precision or "default"
        predictor = compile_model(ir, inference_precision=precision, name=label)
        rows.append(validate(predictor, reference, data, batch_size=batch_size, name=label))
    return PrecisionComparison(default_inference_precision()["default"], tuple(rows))
