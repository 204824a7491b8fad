"""INT8 for OpenVINO: NNCF post-training quantization, with accuracy control, and from QAT.

Taught in notebooks/08-openvino-deployment. Three ways to an INT8 IR:

- ``quantize_openvino``: ``nncf.quantize`` on the OpenVINO model. NNCF runs
  ``subset_size`` calibration images (from ``artspeed.representative_samples``)
  through it, inserts FakeQuantize operations with the observed ranges, and
  corrects biases. ``ignored_scope`` leaves chosen operations in float
  (``nncf.IgnoredScope``: names, types or patterns);
- ``quantize_openvino_with_accuracy_control``: ``nncf.quantize_with_accuracy_control``;
  quantize, measure the accuracy drop on validation data, and return the
  most sensitive layers to float until the drop is at most ``max_drop``;
- ``qat_to_openvino``: a tfmot quantization-aware model (``artspeed.quantize_model``,
  fine-tuned) converted directly; its fake-quantize ops become OpenVINO
  FakeQuantize operations, so no calibration is needed.

The CPU plugin then runs the quantized convolutions and matrix products on
int8 kernels (VNNI or AMX). ``artspeed.compare_variants`` compares the
results on accuracy and speed; ``artspeed.runtime_graph`` shows the kernels.

>>> import artspeed, numpy as np
>>> x = np.random.default_rng(0).random((8, 3), np.float32)
>>> q = quantize_openvino(artspeed.dense_example(), x, subset_size=8, progress=False)
>>> artspeed.count_ops(q)["FakeQuantize"] > 0
True
"""

from __future__ import annotations

import contextlib
import io
import logging

import numpy as np

from artspeed.compress.qat import _is_quantized
from artspeed.core import _checks
from artspeed.core.data import Dataset, representative_samples
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.core.frameworks import check_tf_keras_model, import_openvino, nncf, one_core
from artspeed.runtimes.ir import convert_model

__all__ = ["calibration_dataset", "make_ignored_scope", "quantize_openvino",
           "quantize_openvino_with_accuracy_control", "qat_to_openvino"]


def _nncf():

    import_openvino()  # OpenVINO after TensorFlow (see _keras.import_openvino)

    logging.getLogger("nncf").setLevel(logging.WARNING)  # keep INFO lines out of notebooks
    return nncf


def _quiet(quiet: bool):
    """Send NNCF's progress bars (rich, on stdout) nowhere when ``quiet``."""
    if not quiet:
        return contextlib.nullcontext()
    return contextlib.redirect_stdout(io.StringIO())


def _input_dims(model) -> tuple:
    shape = model.inputs[0].get_partial_shape()
    return tuple(d.get_length() if d.is_static else None for d in shape)


def _check_images(model, images: np.ndarray, what: str) -> None:
    expected = _input_dims(model)[1:]
    got = tuple(images.shape[1:])
    if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got)):
        shown = tuple("?" if e is None else e for e in expected)
        raise InvalidArgumentError(
            f"the {what} data holds samples of shape {got}, but the model takes {shown}; "
            "use images of the dataset the model was trained on (artspeed.load_dataset)")


def calibration_dataset(model, data, num_samples: int = 300, seed: int = 0):
    """An ``nncf.Dataset`` of ``num_samples`` single-image batches for ``model``.

    ``data`` is an artspeed Dataset (its training images) or an array of
    images; samples of the wrong shape are refused before NNCF runs.

    >>> import artspeed, numpy as np
    >>> ir = artspeed.convert_model(artspeed.dense_example())
    >>> calibration_dataset(ir, np.zeros((4, 5), np.float32))
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: the calibration data holds samples of shape (5,), but the model takes (3,); use images of the dataset the model was trained on (artspeed.load_dataset)
    """
    num_samples = _checks.whole_number("num_samples", num_samples)
    if data is None:
        raise InvalidArgumentError("INT8 quantization needs calibration data: pass a Dataset "
                                   "or an array of about 300 training images")
    images = data.x_train if isinstance(data, Dataset) else np.asarray(data)
    batches = list(representative_samples(images, num_samples, seed))
    _check_images(model, batches[0], "calibration")
    return _nncf().Dataset(batches)


def make_ignored_scope(scope=None, model=None):
    """An ``nncf.IgnoredScope`` from names, a dict, or one already made (None: nothing ignored).

    A list (or one string) names operations; a dict takes NNCF's keys
    ``names``, ``types``, ``patterns``. With ``model``, names that are not
    in it are refused with the list of what is.

    >>> make_ignored_scope({"types": ["Softmax"]}).types
    ['Softmax']
    >>> make_ignored_scope({"kinds": ["Softmax"]})
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: ignored_scope takes the keys names, types and patterns, got kinds
    """
    nncf = _nncf()
    if scope is None or isinstance(scope, nncf.IgnoredScope):
        return scope
    if isinstance(scope, str):
        scope = [scope]
    if isinstance(scope, dict):
        unknown = sorted(set(scope) - {"names", "types", "patterns"})
        if unknown:
            raise InvalidArgumentError("ignored_scope takes the keys names, types and patterns, "
                                       f"got {', '.join(unknown)}")
        made = nncf.IgnoredScope(**{k: list(v) for k, v in scope.items()})
    elif isinstance(scope, (list, tuple)):
        made = nncf.IgnoredScope(names=[str(n) for n in scope])
    else:
        raise InvalidArgumentError(f"ignored_scope must be a list of operation names, a dict "
                                   f"or an nncf.IgnoredScope, got {type(scope).__name__}")
    if model is not None and made.names:
        known = {op.get_friendly_name() for op in model.get_ops()}
        missing = [n for n in made.names if n not in known]
        if missing:
            layers = sorted(op.get_friendly_name() for op in model.get_ordered_ops()
                            if op.get_type_name() in ("Convolution", "MatMul",
                                                      "GroupConvolution", "Softmax"))
            raise InvalidArgumentError(
                f"ignored_scope names no operation of the model: {', '.join(missing)}; its "
                f"quantizable operations are {', '.join(layers)} (or ignore by type: "
                "{'types': ['MatMul']})")
    return made


def _source(model):
    return convert_model(model)


def quantize_openvino(model, data, *, subset_size: int = 300, ignored_scope=None,
                      preset: str = "performance", fast_bias_correction: bool = True,
                      seed: int = 0, progress: bool = True):
    """``nncf.quantize``: an INT8 ``ov.Model`` calibrated on ``subset_size`` images of ``data``.

    ``model`` is anything ``artspeed.convert_model`` takes. ``preset``:
    ``"performance"`` (symmetric weights and activations) or ``"mixed"``
    (asymmetric activations). ``progress=False`` hides NNCF's progress bar.
    Save the result with ``artspeed.save_ir``.
    """
    nncf = _nncf()
    presets = {"performance": nncf.QuantizationPreset.PERFORMANCE,
               "mixed": nncf.QuantizationPreset.MIXED}
    if preset not in presets:
        raise InvalidArgumentError(f"unknown preset {preset!r}; choose performance or mixed")
    subset_size = _checks.whole_number("subset_size", subset_size)
    ir = _source(model)
    calibration = calibration_dataset(ir, data, subset_size, seed)
    scope = make_ignored_scope(ignored_scope, ir)
    try:
        with _quiet(not progress), one_core():
            return nncf.quantize(ir, calibration, subset_size=subset_size,
                                 preset=presets[preset],
                                 fast_bias_correction=fast_bias_correction, ignored_scope=scope)
    except nncf.ValidationError as exc:
        raise InvalidArgumentError(f"NNCF refused the settings: {str(exc)[:300]}") from None


def quantize_openvino_with_accuracy_control(model, dataset, *, max_drop: float = 0.01,
                                            subset_size: int = 300,
                                            validation_samples: int = 1000,
                                            ignored_scope=None, seed: int = 0,
                                            progress: bool = True):
    """``nncf.quantize_with_accuracy_control``: INT8, with at most ``max_drop`` accuracy lost.

    Calibrates on ``dataset``'s training images, validates top-1 accuracy on
    its first ``validation_samples`` test images, and reverts the layers that
    cost the most accuracy to float until the drop (absolute, 0.01 = one
    point) is at most ``max_drop``.
    """
    if not isinstance(dataset, Dataset):
        raise InvalidArgumentError("accuracy control needs an artspeed Dataset (images and "
                                   f"labels), got {type(dataset).__name__}")
    if _checks.fraction("max_drop", max_drop, "0.01 allows one point of accuracy lost") == 0:
        raise InvalidArgumentError("max_drop must be above 0: 0.01 allows one point of "
                                   "accuracy lost")
    validation_samples = _checks.whole_number("validation_samples", validation_samples)
    nncf = _nncf()
    ir = _source(model)
    calibration = calibration_dataset(ir, dataset, _checks.whole_number("subset_size", subset_size),
                                      seed)
    x, y = dataset.x_test[:validation_samples], dataset.y_test[:validation_samples]
    _check_images(ir, x, "validation")
    batch = 50
    items = [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]
    validation = nncf.Dataset(items, lambda item: item[0])

    def validation_fn(compiled, data) -> float:
        output = compiled.outputs[0]
        hits = total = 0
        for images, labels in data:
            hits += int(np.sum(np.argmax(compiled(images)[output], -1) == labels))
            total += len(labels)
        return hits / total

    scope = make_ignored_scope(ignored_scope, ir)
    with _quiet(not progress), one_core():
        return nncf.quantize_with_accuracy_control(
            ir, calibration, validation, validation_fn, max_drop=max_drop,
            subset_size=subset_size, ignored_scope=scope)


def qat_to_openvino(qat_model, *, batch_size: int | None = None):
    """Convert a tfmot quantization-aware model straight to OpenVINO (no calibration).

    Its ``FakeQuantWithMinMaxVars`` ops become FakeQuantize operations, with
    the ranges learned in fine-tuning; the CPU plugin runs int8 kernels on them.

    >>> import artspeed
    >>> qat_to_openvino(artspeed.baseline_cnn(width=2))
    Traceback (most recent call last):
    ...
    artspeed.ModelError: baseline_cnn has no quantization wrappers; pass the model artspeed.quantize_model returned (after fine-tuning it), or use artspeed.quantize_openvino for post-training quantization
    """
    check_tf_keras_model(qat_model, "artspeed.qat_to_openvino")
    if not _is_quantized(qat_model):
        raise ModelError(f"{qat_model.name} has no quantization wrappers; pass the model "
                         "artspeed.quantize_model returned (after fine-tuning it), or use "
                         "artspeed.quantize_openvino for post-training quantization")
    return convert_model(qat_model, batch_size=batch_size)
