"""Check a deployed model against its source: outputs, agreement, accuracy, precision.

Taught in notebooks/08-openvino-deployment, and the last step of ``deploy``:

- ``validate``: outputs against the reference (Keras) model, the maximum
  absolute difference and top-1 agreement, plus test-set accuracy;
- ``compare_precisions``: the same model at each inference precision; on CPUs
  with AVX512_BF16 or AMX, OpenVINO's default is bf16, not f32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from artspeed.core._result import Result, html_table
from artspeed.core.data import Dataset
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.measure.evaluation import _outputs
from artspeed.runtimes.factory import as_predictor
from artspeed.runtimes.ir import convert_model
from artspeed.runtimes.openvino import compile_model, default_inference_precision

__all__ = ["Validation", "validate", "PrecisionComparison", "compare_precisions"]


@dataclass(frozen=True)
class Validation(Result):
    """A deployed model's outputs against the reference's, and both accuracies."""

    name: str
    samples: int
    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float
    accuracy: float | None = None
    reference_accuracy: float | None = None
    inference_precision: str | None = None

    @property
    def accuracy_drop_points(self) -> float | None:
        """Points of accuracy lost against the reference (None without labels)."""
        if self.accuracy is None or self.reference_accuracy is None:
            return None
        return 100 * (self.reference_accuracy - self.accuracy)

    def __repr__(self) -> str:
        acc = "" if self.accuracy is None else f", accuracy {self.accuracy:.2%}"
        return (f"<Validation {self.name}: max |diff| {self.max_abs_diff:.2e}, "
                f"top-1 agreement {self.top1_agreement:.2%}{acc}>")


def validate(model, reference, data, *, batch_size: int = 64, name: str | None = None) -> Validation:
    """Compare ``model``'s outputs with ``reference``'s on ``data``.

    Both are predictors, Keras models, ``ov.Model``s or model paths (an
    ``ov.Model`` compiles with the f32 precision hint). ``data`` is a Dataset
    (its test images, and accuracy on its labels) or an array of inputs.

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
    labels, ref_labels = out.argmax(-1), expected.argmax(-1)
    acc = ref_acc = None
    if isinstance(data, Dataset):
        acc = float(np.mean(labels == data.y_test))
        ref_acc = float(np.mean(ref_labels == data.y_test))
    precision = None
    if getattr(predictor, "runtime", None) == "openvino":
        compiled = predictor.compiled_model(predictor.fixed_batch or min(batch_size, len(images)))
        precision = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
    return Validation(name=name or predictor.name, samples=int(len(images)),
                      max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
                      top1_agreement=float(np.mean(labels == ref_labels)), accuracy=acc,
                      reference_accuracy=ref_acc, inference_precision=precision)


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
        lines = [f"{'precision hint':<16} {'runs in':<8} {'max |diff|':>10} {'agreement':>9} "
                 f"{'accuracy':>8}"]
        for r in self.rows:
            acc = f"{r.accuracy:8.2%}" if r.accuracy is not None else f"{'-':>8}"
            lines.append(f"{r.name:<16} {r.inference_precision or '-':<8} "
                         f"{r.max_abs_diff:10.2e} {r.top1_agreement:9.2%} {acc}")
        return "\n".join(lines)

    @classmethod
    def from_dict(cls, data: dict) -> PrecisionComparison:
        return cls(data["default_precision"], tuple(Validation.from_dict(r) for r in data["rows"]))

    def _repr_html_(self) -> str:
        return html_table([(r.name, r.inference_precision, r.max_abs_diff, r.mean_abs_diff,
                            r.top1_agreement, r.accuracy, r.reference_accuracy)
                           for r in self.rows],
                          header=("precision hint", "runs in", "max |diff|", "mean |diff|",
                                  "top-1 agreement", "accuracy", "reference accuracy"),
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
