"""OpenVINO IR files: convert a model, save the ``.xml``/``.bin`` pair atomically, read it back.

- ``convert_model``: a tf_keras model, a SavedModel folder or a ``.tflite``
  file becomes an ``ov.Model`` (``openvino.convert_model``); an operation
  OpenVINO cannot convert is named in the error;
- ``save_ir`` / ``read_ir``: the Intermediate Representation, an ``.xml``
  graph plus a ``.bin`` of weights (``ov.save_model`` compresses weights to
  FP16 by default; here ``compress_to_fp16`` is explicit and off by default);
- ``check_ir``: the pair is whole (the ``.bin`` is there, of the size and
  digest the ``.xml`` recorded) before OpenVINO reads it.

>>> import artspeed
>>> ir = convert_model(artspeed.dense_example())
>>> [op.get_type_name() for op in ir.get_ordered_ops()][:2]
['Parameter', 'Constant']
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from artspeed.core import _checks
from artspeed.core._io import (
    check_file_target,
    ensure_writable_dir,
    file_sha256,
    remove_path,
    remove_stale_temporaries,
    signals_deferred,
    temporary_path,
)
from artspeed.core.errors import InvalidArgumentError, ModelError, first_line
from artspeed.core.frameworks import check_tf_keras_model, openvino_core, ov, tf
from artspeed.core.saving import existing_model, load_model, model_kind

__all__ = ["convert_model", "save_ir", "read_ir", "check_ir"]



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
    artspeed.ModelError: no OpenVINO IR at 'nowhere.xml': the file does not exist
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


def _record_bin(xml: Path, weights: Path) -> None:
    """Write the .bin's size and SHA-256 into the .xml's rt_info (as OpenVINO keeps it:
    ``<artspeed><bin_bytes value=...>``), readable with ``model.get_rt_info()``."""
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
    ET.SubElement(record, "bin_sha256", value=file_sha256(weights)).tail = "\n\t\t"
    tree.write(xml, encoding="utf-8", xml_declaration=True)


def _check_ir_pair(path: Path) -> None:
    """Raise if the .xml records a .bin other than the one beside it (size, then SHA-256).

    An IR without the record (written by another tool) passes.
    """
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
            expected.get("bin_sha256") is not None and file_sha256(weights) != expected["bin_sha256"]):
        raise ModelError(f"'{weights.name}' does not belong to '{path.name}' (written by another "
                         f"run); re-run artspeed deploy (or artspeed.save_ir) to write the pair "
                         f"in {path.parent} again")


def read_ir(path):
    """Read an OpenVINO IR (``.xml`` with its ``.bin``) as an ``ov.Model``.

    >>> read_ir("nowhere.xml")
    Traceback (most recent call last):
    ...
    artspeed.ModelError: no OpenVINO IR at 'nowhere.xml': the file does not exist
    """
    path = check_ir(path)

    try:
        return openvino_core().read_model(str(path))
    except RuntimeError as exc:
        lines = [s for s in str(exc).splitlines() if "Unable" in s or "Error" in s]
        raise ModelError(f"'{path}' is not an OpenVINO IR that OpenVINO can read: "
                         f"{(lines or [first_line(exc)])[0].strip()[:200]}") from None


def convert_model(model, *, batch_size: int | None = None, safe_mode: bool = True):
    """``openvino.convert_model`` for a tf_keras model, a SavedModel, a ``.tflite`` or an IR.

    ``model`` is a tf_keras model, a path (``.keras``/``.h5``, a SavedModel
    folder, ``.tflite``, ``.xml``), an ``ov.Model`` or a ``tf.function`` with an
    input signature (or its concrete function). Keras models keep a
    dynamic batch axis (``?``); ``batch_size`` reshapes it to a static one
    (``model.reshape``), which some kernels prefer. The ``ov.Model`` holds its own copy
    of the weights (``share_weights=False``), so the Keras model may be freed while it
    lives (shared, its constants would point into freed memory). ``safe_mode=False`` loads
    Keras files that hold code (see ``artspeed.load_model``). Taught in
    notebooks/08-openvino-deployment.

    >>> convert_model("model.onnx")
    Traceback (most recent call last):
    ...
    artspeed.ModelError: no model at 'model.onnx': the path does not exist
    """
    batch_size = _checks.whole_number("batch_size", batch_size, optional=True)
    if isinstance(model, (str, Path)):
        path = existing_model(model)
        kind = model_kind(path)
        if kind == "openvino":
            return _reshaped(read_ir(path), batch_size)
        if kind is None:
            raise ModelError(f"'{path}' is not a model OpenVINO can convert here; expected a "
                             ".keras or .h5 file, a SavedModel folder, a .tflite file or an "
                             "OpenVINO .xml")
        if kind == "keras" and path.is_file():   # .keras, .h5
            model = load_model(path, compile=False, safe_mode=safe_mode)
        else:   # a SavedModel folder or a .tflite file: OpenVINO's own frontends read them
            try:
                converted = ov.convert_model(str(path))
            except Exception as exc:  # OpConversionFailure, GeneralFailure, ...
                raise _conversion_error(exc, f"'{path}'") from None
            return _reshaped(converted, batch_size)

    if isinstance(model, ov.Model):
        return _reshaped(model.clone() if batch_size else model, batch_size)

    if isinstance(model, tf.types.experimental.PolymorphicFunction):
        model = model.get_concrete_function()     # needs an input signature
    if isinstance(model, tf.types.experimental.ConcreteFunction):
        try:   # its inputs keep the TensorSpecs' names, its outputs a returned dict's keys
            converted = ov.convert_model(model, share_weights=False)
        except Exception as exc:
            raise _conversion_error(exc, f"the tf.function {model.name}") from None
        return _reshaped(converted, batch_size)

    check_tf_keras_model(model, "artspeed.convert_model")

    try:
        converted = ov.convert_model(model, share_weights=False)
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
