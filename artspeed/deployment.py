"""Deploy with OpenVINO: convert, save the IR, compile with hints, validate against Keras.

Taught in notebooks/08-openvino-deployment. The steps keep OpenVINO's verbs:

- ``convert_model``: a tf_keras model, a SavedModel folder or a ``.tflite``
  file becomes an ``ov.Model`` (``openvino.convert_model``); an operation
  OpenVINO cannot convert is named in the error;
- ``save_ir`` / ``read_ir``: the Intermediate Representation, an ``.xml``
  graph plus a ``.bin`` of weights (``ov.save_model`` compresses weights to
  FP16 by default; here ``compress_to_fp16`` is explicit and off by default);
- ``compile_model``: compile for the CPU with a performance hint (LATENCY or
  THROUGHPUT), streams, requests and an inference precision (f32, bf16, or
  ``None`` for OpenVINO's own choice), as an ``artspeed.OpenVINOPredictor``;
- ``deploy``: all of it in one call (what ``artspeed deploy`` runs), ending
  with ``validate`` (``artspeed.validation``) against the source model.

>>> import artspeed
>>> ir = convert_model(artspeed.dense_example())
>>> [op.get_type_name() for op in ir.get_ordered_ops()][:2]
['Parameter', 'Constant']
>>> deploy(artspeed.dense_example(), "/tmp", precision="fp8")
Traceback (most recent call last):
...
artspeed.errors.InvalidArgumentError: unknown precision 'fp8'; choose fp32, fp16 or int8
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._result import Result
from .errors import InvalidArgumentError, ModelError, first_line

__all__ = ["PRECISIONS", "convert_model", "save_ir", "read_ir", "compile_model",
           "default_inference_precision", "Deployment", "deploy"]

PRECISIONS = ("fp32", "fp16", "int8")   # what the saved IR holds: weights, and int8 activations
_KERAS_SUFFIXES = (".keras", ".h5")




def _is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").exists()


def _conversion_error(exc: BaseException, what: str) -> ModelError:
    text = str(exc)
    ops = re.search(r"operation\(s\):\s*([^\n]+)", text) or \
        re.search(r"[Nn]o (?:translator|conversion rule) found for (?:the )?operation[s]?:?\s*([^\n]+)", text)
    if ops:
        names = ops.group(1).strip().rstrip(".")
        return ModelError(
            f"OpenVINO cannot convert {what}: it has no conversion rule for the operation(s) "
            f"{names}. Replace the layer that uses {names} with standard layers (or a Lambda "
            "of supported TensorFlow ops), or keep that model in TFLite or Keras")
    lines = [s.strip() for s in text.splitlines() if s.strip() and "Check '" not in s]
    return ModelError(f"OpenVINO cannot convert {what}: {(lines or [first_line(exc)])[0][:300]}")


def _weights_needed(path: Path) -> int:
    """The bytes of ``.bin`` the IR's ``Const`` layers read (the largest offset + size)."""
    import xml.etree.ElementTree as ElementTree

    redo = "copy the .xml again or re-run artspeed deploy"
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise ModelError(f"'{path}' is not an OpenVINO IR: its XML does not parse ({exc}); "
                         f"{redo}") from None
    if root.tag != "net":
        raise ModelError(f"'{path}' is not an OpenVINO IR: its root element is <{root.tag}>, "
                         f"not <net>; {redo}")
    needed = 0
    for layer in root.iter("layer"):
        data = layer.find("data") if layer.get("type") == "Const" else None
        if data is None or data.get("offset") is None:
            continue
        try:
            needed = max(needed, int(data.get("offset")) + int(data.get("size", 0)))
        except ValueError:
            raise ModelError(f"'{path}' has a Const layer '{layer.get('name')}' whose offset "
                             f"or size is not a number; {redo}") from None
    return needed


def check_ir(path) -> Path:
    """Check that ``path`` is an IR: an ``.xml`` whose root is ``<net>``, with its ``.bin``
    beside it and long enough for the weights the ``.xml`` reads (imports nothing).

    >>> check_ir("nowhere.xml")
    Traceback (most recent call last):
    ...
    artspeed.errors.ModelError: no OpenVINO IR at 'nowhere.xml': the file does not exist
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no OpenVINO IR at '{path}': the file does not exist")
    if path.suffix != ".xml":
        raise ModelError(f"'{path}' is not an OpenVINO IR; expected a .xml file "
                         "(with its .bin beside it)")
    weights = path.with_suffix(".bin")
    if not weights.is_file():
        raise ModelError(f"'{path}' has no weights file '{weights.name}' beside it: an IR is "
                         "an .xml and a .bin of the same name; copy both (artspeed.save_ir "
                         "writes the pair)")
    needed, size = _weights_needed(path), weights.stat().st_size
    if size < needed:
        raise ModelError(f"'{weights.name}' is truncated: it has {size:,} bytes, the .xml "
                         f"needs {needed:,}; copy the .bin again or re-run artspeed deploy")
    _check_ir_pair(path)
    return path


def _digest(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record_bin(xml: Path, weights: Path) -> None:
    """Write the .bin's size and SHA-256 into the .xml's rt_info (as OpenVINO keeps it:
    ``<artspeed><bin_bytes value=...>``), readable with ``model.get_rt_info()``."""
    import xml.etree.ElementTree as ET

    tree = ET.parse(xml)
    info = tree.getroot().find("rt_info")
    if info is None:
        info = ET.SubElement(tree.getroot(), "rt_info")
    for old in info.findall("artspeed"):
        info.remove(old)
    if len(info):
        info[-1].tail = "\n\t\t"   # laid out like OpenVINO's own entries
    record = ET.SubElement(info, "artspeed")
    record.text, record.tail = "\n\t\t\t", "\n\t"
    ET.SubElement(record, "bin_bytes", value=str(weights.stat().st_size)).tail = "\n\t\t\t"
    ET.SubElement(record, "bin_sha256", value=_digest(weights)).tail = "\n\t\t"
    tree.write(xml, encoding="utf-8", xml_declaration=True)


def _check_ir_pair(path: Path) -> None:
    """Raise if the .xml records a .bin other than the one beside it (size, then SHA-256).

    An IR without the record (written by another tool) passes.
    """
    import xml.etree.ElementTree as ET

    try:
        record = ET.parse(path).getroot().find("rt_info/artspeed")
    except (ET.ParseError, OSError):
        return   # not readable as XML: OpenVINO's own error says more
    if record is None:
        return
    expected = {child.tag: child.get("value") for child in record}
    weights = path.with_suffix(".bin")
    size = str(weights.stat().st_size)
    if expected.get("bin_bytes") not in (None, size) or (
            expected.get("bin_sha256") is not None and _digest(weights) != expected["bin_sha256"]):
        raise ModelError(f"'{weights.name}' does not belong to '{path.name}' (written by another "
                         f"run); re-run artspeed deploy (or artspeed.save_ir) to write the pair "
                         f"in {path.parent} again")


def read_ir(path):
    """Read an OpenVINO IR (``.xml`` with its ``.bin``) as an ``ov.Model``.

    >>> read_ir("nowhere.xml")
    Traceback (most recent call last):
    ...
    artspeed.errors.ModelError: no OpenVINO IR at 'nowhere.xml': the file does not exist
    """
    path = check_ir(path)
    from ._keras import openvino_core

    try:
        return openvino_core().read_model(str(path))
    except RuntimeError as exc:
        lines = [s for s in str(exc).splitlines() if "Unable" in s or "Error" in s]
        raise ModelError(f"'{path}' is not an OpenVINO IR that OpenVINO can read: "
                         f"{(lines or [first_line(exc)])[0].strip()[:200]}") from None


def convert_model(model, *, batch_size: int | None = None, safe_mode: bool = True):
    """``openvino.convert_model`` for a tf_keras model, a SavedModel, a ``.tflite`` or an IR.

    ``model`` is a tf_keras model, a path (``.keras``/``.h5``, a SavedModel
    folder, ``.tflite``, ``.xml``) or an ``ov.Model``. Keras models keep a
    dynamic batch axis (``?``); ``batch_size`` reshapes it to a static one
    (``model.reshape``), which some kernels prefer. ``safe_mode=False`` loads
    Keras files that hold code (see ``artspeed.load_model``). Taught in
    notebooks/08-openvino-deployment.

    >>> convert_model("model.onnx")
    Traceback (most recent call last):
    ...
    artspeed.errors.ModelError: no model at 'model.onnx': the path does not exist
    """
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, (int, np.integer)) or batch_size < 1):
        raise InvalidArgumentError(f"batch_size must be a whole number >= 1 or None, "
                                   f"got {batch_size!r}")
    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.exists():
            raise ModelError(f"no model at '{path}': the path does not exist")
        if path.suffix == ".xml":
            return _reshaped(read_ir(path), batch_size)
        if path.suffix in _KERAS_SUFFIXES:
            from .saving import load_model

            model = load_model(path, compile=False, safe_mode=safe_mode)
        elif not (_is_saved_model(path) or path.suffix == ".tflite"):
            raise ModelError(f"'{path}' is not a model OpenVINO can convert here; expected a "
                             ".keras or .h5 file, a SavedModel folder, a .tflite file or an "
                             "OpenVINO .xml")
        else:
            if _is_saved_model(path):
                import tensorflow  # noqa: F401  (load TensorFlow before OpenVINO's frontend)
            from ._keras import import_openvino

            ov = import_openvino()

            try:
                converted = ov.convert_model(str(path))
            except Exception as exc:  # OpConversionFailure, GeneralFailure, ...
                raise _conversion_error(exc, f"'{path}'") from None
            return _reshaped(converted, batch_size)
    from ._keras import import_openvino

    ov = import_openvino()

    if isinstance(model, ov.Model):
        return _reshaped(model.clone() if batch_size else model, batch_size)
    from ._keras import check_tf_keras_model

    check_tf_keras_model(model, "artspeed.convert_model")
    import tensorflow  # noqa: F401  (TensorFlow first, then OpenVINO's frontend)

    try:
        converted = ov.convert_model(model)
    except Exception as exc:
        raise _conversion_error(exc, f"{model.name}") from None
    return _reshaped(converted, batch_size)


def _reshaped(model, batch_size):
    if batch_size is None:
        return model
    shape = model.inputs[0].get_partial_shape()
    dims = [int(batch_size)] + [d.get_length() if d.is_static else -1 for d in list(shape)[1:]]
    model.reshape(dims)
    return model


def save_ir(model, path, *, compress_to_fp16: bool = False) -> Path:
    """``ov.save_model`` to ``path`` (``.xml``; the ``.bin`` goes beside it), atomically.

    ``compress_to_fp16=True`` stores the float weights as FP16 (half the
    ``.bin``); they are decompressed when the model compiles. Both files are
    written beside the target first, then renamed (the ``.bin`` first), and the
    ``.xml`` records its ``.bin``'s size and SHA-256 so ``check_ir`` knows a
    stray ``.bin`` from another run.

    >>> import artspeed, tempfile, pathlib
    >>> ir, folder = convert_model(artspeed.baseline_cnn(width=4)), pathlib.Path(tempfile.mkdtemp())
    >>> f32 = save_ir(ir, folder / "f32.xml").with_suffix(".bin").stat().st_size
    >>> f16 = save_ir(ir, folder / "f16.xml", compress_to_fp16=True).with_suffix(".bin").stat().st_size
    >>> round(f16 / f32, 2)
    0.5
    """
    from ._keras import import_openvino

    ov = import_openvino()

    from ._io import (
        check_file_target,
        ensure_writable_dir,
        remove_path,
        remove_stale_temporaries,
        signals_deferred,
        temporary_path,
    )

    path = Path(path)
    if path.suffix != ".xml":
        raise InvalidArgumentError(f"an OpenVINO IR is saved as .xml (and .bin), got '{path}'")
    if not isinstance(model, ov.Model):
        raise ModelError(f"save_ir needs an ov.Model (from artspeed.convert_model), "
                         f"got {type(model).__name__}")
    weights = path.with_suffix(".bin")
    check_file_target(path)
    check_file_target(weights)
    ensure_writable_dir(path.parent)
    remove_stale_temporaries(path.parent)
    tmp_xml = temporary_path(path.with_name(path.stem), ".xml")
    tmp_bin = tmp_xml.with_suffix(".bin")
    try:
        ov.save_model(model, str(tmp_xml), compress_to_fp16=bool(compress_to_fp16))
        _record_bin(tmp_xml, tmp_bin)
        with signals_deferred():       # never an .xml beside another run's .bin
            os.replace(tmp_bin, weights)
            os.replace(tmp_xml, path)
    finally:
        remove_path(tmp_xml)
        remove_path(tmp_bin)
    return path


def compile_model(model, *, hint: str = "latency", streams=None, requests=None,
                  inference_precision: str | None = "f32", threads=None, mode: str = "sync",
                  perf_count: bool = False, name: str | None = None):
    """Compile ``model`` for the CPU; return an ``artspeed.OpenVINOPredictor``.

    ``hint`` is ``"latency"`` or ``"throughput"`` (OpenVINO's
    PERFORMANCE_HINT); ``streams`` and ``requests`` override what the hint
    picks; ``inference_precision`` is the INFERENCE_PRECISION_HINT (``"f32"``,
    ``"bf16"``, or ``None`` for OpenVINO's default: bf16 on CPUs with AMX or
    AVX512_BF16). ``mode="async"`` runs an ``AsyncInferQueue``.
    ``predictor.compiled_model()`` is the ``ov.CompiledModel``.

    >>> import artspeed, numpy as np
    >>> p = compile_model(artspeed.dense_example(), hint="throughput", streams=2)
    >>> p.compiled_model().get_property("NUM_STREAMS")
    2
    """
    from .openvino_predictor import OpenVINOPredictor

    if isinstance(model, (str, Path)) and Path(model).suffix == ".xml":
        read_ir(model)  # the clear errors (missing .bin) before OpenVINO's own
        source = model
    else:
        source = convert_model(model)
    return OpenVINOPredictor(source, mode=mode, hint=hint, streams=streams, threads=threads,
                             precision=inference_precision, requests=requests,
                             perf_count=perf_count, name=name)


def default_inference_precision(device: str = "CPU") -> dict:
    """What OpenVINO picks on this machine: the default precision and the CPU's capabilities.

    >>> info = default_inference_precision()
    >>> info["default"] in ("f32", "bf16", "f16")
    True
    """
    from ._keras import openvino_core

    core = openvino_core()
    default = core.get_property(device, "INFERENCE_PRECISION_HINT")
    return {"device": device, "default": default.to_string(),
            "capabilities": list(core.get_property(device, "OPTIMIZATION_CAPABILITIES")),
            "cpu": core.get_property(device, "FULL_DEVICE_NAME")}


# ---------------------------------------------------------------- deploy
@dataclass(frozen=True)
class Deployment(Result):
    """A saved IR and how it validated: what ``artspeed deploy`` prints."""

    precision: str
    xml: str
    bin_bytes: int
    accuracy: float | None
    reference_accuracy: float | None
    max_abs_diff: float
    top1_agreement: float
    source: str = ""
    dataset: str | None = None
    calibration_samples: int = 0
    validation_samples: int = 0
    inference_precision: str | None = None

    def __repr__(self) -> str:
        acc = "" if self.accuracy is None else f", accuracy {self.accuracy:.2%}"
        return (f"<Deployment {self.precision}: {Path(self.xml).name} + {self.bin_bytes:,} "
                f"bytes of weights{acc}, max |diff| {self.max_abs_diff:.2e}>")


def _reference(model, safe_mode: bool = True):
    """(the model to convert, the reference predictor, a label for the source)."""
    from .predictors import KerasPredictor, load_predictor

    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.exists():
            raise ModelError(f"no model at '{path}': the path does not exist")
        if path.suffix in _KERAS_SUFFIXES or _is_saved_model(path):
            from .saving import load_model

            keras_model = load_model(path, compile=False, safe_mode=safe_mode)
            return keras_model, KerasPredictor(keras_model, name="keras"), str(path)
        if path.suffix == ".tflite":
            return path, load_predictor(path), str(path)
        raise ModelError(f"'{path}' is not a model artspeed can deploy; expected a .keras or "
                         ".h5 file, a SavedModel folder or a .tflite file")
    from ._keras import check_tf_keras_model

    check_tf_keras_model(model, "artspeed.deploy")
    return model, KerasPredictor(model, name="keras"), model.name


def _check_classifier_of(reference, dataset) -> None:
    """Refuse a model whose inputs or number of outputs do not fit ``dataset``."""
    from .evaluation import _check_fits

    _check_fits(reference, dataset, "artspeed.deploy")
    units = reference(dataset.x_test[:1]).shape[-1]
    if units != dataset.num_classes:
        raise InvalidArgumentError(
            f"artspeed.deploy: {reference.name} has {units} outputs, but {dataset.name} has "
            f"{dataset.num_classes} classes; deploy it with the dataset it was trained on")


def deploy(model, out, precision: str = "fp32", dataset=None, *,
           calibration_samples: int = 300, ignored_scope=None, name: str | None = None,
           validation_samples: int | None = None, progress: bool = True,
           safe_mode: bool = True) -> Deployment:
    """Convert ``model``, optionally quantize it, save the IR in ``out`` and validate it.

    ``precision``: ``"fp32"`` (float32 weights), ``"fp16"`` (weights
    compressed to FP16) or ``"int8"`` (``nncf.quantize`` on
    ``calibration_samples`` images of ``dataset``, skipping ``ignored_scope``).
    The IR is compiled with the f32 hint and validated against the source
    model on ``dataset``'s test set (or 64 random inputs without a dataset).
    ``safe_mode=False`` loads a Keras file that holds code (``artspeed.load_model``).
    """
    from .data import Dataset
    from .validation import validate

    if precision not in PRECISIONS:
        raise InvalidArgumentError(f"unknown precision {precision!r}; choose "
                                   f"{', '.join(PRECISIONS[:-1])} or {PRECISIONS[-1]}")
    if dataset is not None and not isinstance(dataset, Dataset):
        raise InvalidArgumentError(f"dataset must be an artspeed Dataset, got "
                                   f"{type(dataset).__name__}; use artspeed.load_dataset")
    if precision == "int8" and dataset is None:
        raise InvalidArgumentError("int8 needs a dataset to calibrate activation ranges: pass "
                                   "artspeed.load_dataset(...) (its training images are used)")
    source, reference, label = _reference(model, safe_mode)
    if dataset is not None:   # before anything is converted or written
        _check_classifier_of(reference, dataset)
    ir = convert_model(source)
    if precision == "int8":
        from .openvino_int8 import quantize_openvino

        ir = quantize_openvino(ir, dataset, subset_size=calibration_samples,
                               ignored_scope=ignored_scope, progress=progress)
    stem = name or (Path(label).stem if isinstance(model, (str, Path)) else label)
    xml = save_ir(ir, Path(out) / f"{stem}_{precision}.xml",
                  compress_to_fp16=precision == "fp16")
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
                      max_abs_diff=check.max_abs_diff, top1_agreement=check.top1_agreement,
                      source=label, dataset=dataset.name if dataset is not None else None,
                      calibration_samples=calibration_samples if precision == "int8" else 0,
                      validation_samples=check.samples,
                      inference_precision=check.inference_precision)
