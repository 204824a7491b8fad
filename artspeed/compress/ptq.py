"""Post-training quantization with the TFLite converter: every mode, one call.

Taught in notebooks/04-post-training-quantization. ``convert_to_tflite``
turns a trained tf_keras model into a ``.tflite`` file in one of these modes:

- ``"float32"``: no quantization; the reference every variant is compared to;
- ``"dynamic"``: dynamic-range quantization: int8 weights, float activations
  quantized on the fly by "hybrid" kernels; no data needed;
- ``"float16"``: float16 weights, dequantized to float32 when the model loads;
- ``"int8"``: full-integer quantization: int8 weights *and* activations, their
  ranges calibrated on a representative dataset; the model's input and output
  stay float32 or become int8 or uint8 (``input_type``, ``output_type``; the
  lecture's hands-on used uint8, as microcontrollers and Edge TPUs want);
- ``"int16x8"``: int16 activations with int8 weights: more accurate than int8,
  but with fewer fast kernels (float32 or int16 input and output);
- ``"sparse"``: no quantization, but the converter's sparsity optimization
  (``EXPERIMENTAL_SPARSITY``): float32 weights that are mostly zeros are stored
  sparse (the schema's ``SparsityParameters``) behind ``DENSIFY`` ops, for
  XNNPACK's sparse inference (``artspeed.compress.sparse_inference``). Prune
  first: a dense model converts as in ``"float32"``.

Each returns a ``QuantizedModel``: the file, ``size_bytes``, the input and
output dtypes with their scale and zero point, the ops left in float, and
how many tensors are stored sparse.
``layer_errors`` runs TFLite's quantization debugger for a per-layer view of
the int8 error.

>>> import artspeed, tempfile, pathlib
>>> m = artspeed.dense_example()
>>> q = convert_to_tflite(m, "dynamic", path=pathlib.Path(tempfile.mkdtemp()) / "d.tflite")
>>> q.mode, q.input_dtype, q.float_ops
('dynamic', 'float32', ('FULLY_CONNECTED', 'SOFTMAX'))
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from artspeed.core._io import atomic_path
from artspeed.core._result import Result, html_table
from artspeed.core.data import representative_samples
from artspeed.core.errors import InvalidArgumentError, ModelError, first_line
from artspeed.core.frameworks import check_tf_keras_model, tf
from artspeed.runtimes.factory import as_predictor
from artspeed.runtimes.tflite import quiet_converter, tflite_interpreter

__all__ = ["QuantizedModel", "LayerError", "LayerErrors", "PTQ_MODES", "IO_TYPES",
           "convert_to_tflite", "calibration_batches", "inspect_tflite", "layer_errors"]

PTQ_MODES = ("float32", "dynamic", "float16", "int8", "int16x8", "sparse")
IO_TYPES = {"int8": ("float32", "int8", "uint8"), "int16x8": ("float32", "int16"),
            "qat": ("float32", "int8", "uint8")}
_NEEDS_DATA = ("int8", "int16x8")
_INTEGER = ("int8", "uint8", "int16")


@dataclass(frozen=True)
class QuantizedModel(Result):
    """A converted ``.tflite`` model: its file, size, I/O types and where float remains."""

    mode: str
    path: str
    size_bytes: int
    input_dtype: str
    output_dtype: str
    input_scale: float | None = None      # None for float input
    input_zero_point: int | None = None
    output_scale: float | None = None
    output_zero_point: int | None = None
    ops: tuple = ()                       # (op name, kind) in graph order
    float_ops: tuple = ()                 # op names that still compute in float
    calibration_samples: int = 0
    sparse_tensors: int = 0               # tensors stored sparse (with SparsityParameters)

    def __repr__(self) -> str:
        return (f"<QuantizedModel {self.mode}: {self.size_bytes:,} bytes, "
                f"{self.input_dtype} in / {self.output_dtype} out, "
                f"{len(self.float_ops)} op types in float>")

    @classmethod
    def from_dict(cls, data: dict) -> QuantizedModel:
        data = dict(data)
        data["ops"] = tuple(tuple(op) for op in data.get("ops", ()))
        data["float_ops"] = tuple(data.get("float_ops", ()))
        return super().from_dict(data)

    @property
    def op_kinds(self) -> dict:
        """How many ops of each kind: int8, int16x8, hybrid, float32, convert."""
        counts: dict = {}
        for _, kind in self.ops:
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    def predictor(self, threads=None, name: str | None = None):
        """A ``TFLitePredictor`` on the file (floats in, floats out, whatever the I/O type)."""
        return as_predictor(self.path, threads=threads, name=name or self.mode)

    def _html_rows(self):
        yield "mode", self.mode
        yield "file", self.path
        yield "size (bytes)", f"{self.size_bytes:,}"
        for side in ("input", "output"):
            dtype = getattr(self, f"{side}_dtype")
            scale = getattr(self, f"{side}_scale")
            text = dtype if scale is None else (
                f"{dtype} (scale {scale:.4g}, zero point {getattr(self, f'{side}_zero_point')})")
            yield side, text
        yield "ops by kind", ", ".join(f"{k}: {v}" for k, v in self.op_kinds.items())
        yield "ops left in float", ", ".join(self.float_ops) or "none"
        if self.sparse_tensors:
            yield "tensors stored sparse", self.sparse_tensors
        if self.calibration_samples:
            yield "calibration samples", self.calibration_samples






def calibration_batches(model, data, num_samples: int = 100, seed: int = 0) -> list:
    """Checked calibration batches (1, H, W, C) for ``model`` from a Dataset or an array.

    Empty data, integer images and NaN are refused by
    ``artspeed.representative_samples``; images of the wrong shape are refused here.

    >>> import numpy as np, artspeed
    >>> calibration_batches(artspeed.dense_example(), np.zeros((5, 4), np.float32))
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: the representative data holds samples of shape (4,), but dense_example takes (3,); calibrate with samples of the data the model was trained on
    """
    if data is None:
        raise InvalidArgumentError("int8 and int16x8 quantization need representative data "
                                   "to calibrate activation ranges: pass a Dataset or an "
                                   "array of about 100-500 training images")
    batches = list(representative_samples(data, num_samples, seed))
    expected = tuple(model.input_shape[1:])
    got = tuple(batches[0].shape[1:])
    if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got)):
        raise InvalidArgumentError(
            f"the representative data holds samples of shape {got}, but {model.name} takes "
            f"{expected}; calibrate with samples of the data the model was trained on")
    return batches


def _check_io(mode: str, input_type, output_type) -> tuple[str, str]:
    allowed = IO_TYPES.get(mode, ("float32",))
    chosen = []
    for label, value in (("input_type", input_type), ("output_type", output_type)):
        value = "float32" if value is None else str(getattr(value, "name", value))
        if value not in allowed:
            raise InvalidArgumentError(
                f"{label}={value!r} is not available in mode {mode!r}; choose "
                f"{', '.join(allowed)}" + ("" if mode in IO_TYPES else
                                            " (integer I/O needs mode int8 or int16x8)"))
        chosen.append(value)
    return chosen[0], chosen[1]


def _converter(model, mode: str, batches, input_type: str, output_type: str):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "float32":
        return converter
    if mode == "sparse":
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode in _NEEDS_DATA:
        converter.representative_dataset = lambda: ([x] for x in batches)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if mode == "int8" else
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    if mode in IO_TYPES:
        converter.inference_input_type = getattr(tf, input_type)
        converter.inference_output_type = getattr(tf, output_type)
    return converter


def _default_path(model, mode: str) -> Path:
    return Path(tempfile.mkdtemp(prefix="artspeed-")) / f"{model.name}-{mode}.tflite"


def convert_to_tflite(model, mode: str = "int8", representative_data=None, *,
                      calibration_samples: int = 100, input_type=None, output_type=None,
                      path=None, seed: int = 0) -> QuantizedModel:
    """Convert a tf_keras model to TFLite in ``mode`` and write the file.

    ``mode`` is one of ``PTQ_MODES`` (``"sparse"``: float32, zeros stored
    sparse). ``representative_data`` (a Dataset, whose
    training images are used, or an array of float images) calibrates
    ``int8`` and ``int16x8``; ``calibration_samples`` of it are drawn with
    ``seed``. ``input_type`` and ``output_type`` are ``"float32"`` (default),
    ``"int8"`` or ``"uint8"`` for int8, ``"int16"`` for int16x8. ``path``
    defaults to a new temporary folder. Taught in
    notebooks/04-post-training-quantization.

    >>> import artspeed
    >>> convert_to_tflite(artspeed.dense_example(), "int4")
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: unknown mode 'int4'; choose float32, dynamic, float16, int8, int16x8 or sparse
    """
    if mode not in PTQ_MODES:
        raise InvalidArgumentError(f"unknown mode {mode!r}; choose "
                                   f"{', '.join(PTQ_MODES[:-1])} or {PTQ_MODES[-1]}")
    input_type, output_type = _check_io(mode, input_type, output_type)
    check_tf_keras_model(model, "artspeed.convert_to_tflite")
    batches = []
    if mode in _NEEDS_DATA:
        batches = calibration_batches(model, representative_data, calibration_samples, seed)
    elif representative_data is not None:
        raise InvalidArgumentError(f"mode {mode!r} needs no representative data; pass it "
                                   "for int8 or int16x8 only")
    converter = _converter(model, mode, batches, input_type, output_type)
    return _write(converter, model, mode, path, len(batches))


def _write(converter, model, mode: str, path, samples: int) -> QuantizedModel:
    path = Path(path) if path is not None else _default_path(model, mode)
    if path.suffix != ".tflite":
        raise InvalidArgumentError(f"save the model as .tflite, got '{path}'")
    try:
        with quiet_converter():
            content = converter.convert()
    except Exception as exc:  # the converter raises ConverterError, ValueError, RuntimeError
        first = first_line(exc)
        raise ModelError(f"the TFLite converter could not convert {model.name} in mode "
                         f"{mode!r}: {first}") from None
    with atomic_path(path) as tmp:
        tmp.write_bytes(content)
    return inspect_tflite(path, mode=mode, calibration_samples=samples)


def _op_kind(name: str, inputs: list, outputs: list) -> str:
    if name in ("QUANTIZE", "DEQUANTIZE", "DENSIFY"):
        return "convert"
    out = outputs[0] if outputs else "float32"
    if out in _INTEGER:
        return "int16x8" if "int16" in inputs or out == "int16" else "int8"
    if out.startswith("float") and any(t in ("int8", "uint8") for t in inputs):
        return "hybrid"
    return out


def inspect_tflite(path, mode: str = "unknown", calibration_samples: int = 0) -> QuantizedModel:
    """Read a ``.tflite`` file's I/O types and the kind of each op (int8, hybrid, float32...).

    ``kind`` is ``int8`` or ``int16x8`` for integer kernels, ``hybrid`` for
    dynamic-range kernels (int8 weights, float activations), ``convert`` for
    QUANTIZE/DEQUANTIZE and DENSIFY (sparse weights made dense), else the
    float type the op computes in.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no TFLite model at '{path}': the file does not exist")
    Interpreter, _ = tflite_interpreter()
    try:
        interpreter = Interpreter(model_path=str(path))
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"'{path}' is not a TFLite model: {first_line(exc)}") from None
    details = interpreter.get_tensor_details()
    tensors = {d["index"]: np.dtype(d["dtype"]).name for d in details}
    sparse = sum(1 for d in details if d.get("sparsity_parameters"))
    ops, float_ops = [], []
    for op in interpreter._get_ops_details():
        name = op["op_name"]
        if name == "DELEGATE":   # XNNPACK's stand-in for the ops it took over
            continue
        kind = _op_kind(name, [tensors[i] for i in op["inputs"] if i >= 0],
                        [tensors[i] for i in op["outputs"] if i >= 0])
        ops.append((name, kind))
        if kind.startswith("float") and name not in float_ops:
            float_ops.append(name)
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()

    def quant(detail):
        scale, zero_point = detail.get("quantization", (0.0, 0))
        return (float(scale), int(zero_point)) if scale else (None, None)

    (in_scale, in_zero), (out_scale, out_zero) = quant(inp), quant(out)
    return QuantizedModel(
        mode=mode, path=str(path), size_bytes=path.stat().st_size,
        input_dtype=np.dtype(inp["dtype"]).name, output_dtype=np.dtype(out["dtype"]).name,
        input_scale=in_scale, input_zero_point=in_zero, output_scale=out_scale,
        output_zero_point=out_zero, ops=tuple(ops), float_ops=tuple(float_ops),
        calibration_samples=int(calibration_samples), sparse_tensors=sparse)


# ---------------------------------------------------------------- per-layer error
@dataclass(frozen=True)
class LayerError(Result):
    """The int8 error of one op's output, against the float op on the same input."""

    op_name: str
    tensor_name: str
    scale: float
    zero_point: int
    mean_squared_error: float
    max_abs_error: float
    mean_error: float

    @property
    def rmse_per_scale(self) -> float:
        """RMSE in quantization steps: about 1/sqrt(12) = 0.29 is pure rounding noise."""
        return math.sqrt(self.mean_squared_error) / self.scale if self.scale else math.nan

    @property
    def layer(self) -> str:
        """The Keras layer behind the tensor, where its name shows it (else the tensor name)."""
        first = self.tensor_name.split(";")[0]
        if first.startswith("StatefulPartitionedCall"):
            return "(model output)"
        parts = first.split("/")
        return parts[1] if len(parts) > 2 else first

    def __repr__(self) -> str:
        return f"<LayerError {self.op_name} {self.layer}: {self.rmse_per_scale:.2f} steps>"


@dataclass(frozen=True)
class LayerErrors(Result):
    """Per-layer int8 error from TFLite's QuantizationDebugger."""

    layers: tuple
    debug_samples: int

    def __repr__(self) -> str:
        worst = max(self.layers, key=lambda e: e.rmse_per_scale)
        return (f"<LayerErrors {len(self.layers)} layers; worst {worst.layer} "
                f"({worst.op_name}) at {worst.rmse_per_scale:.2f} steps RMSE>")

    @classmethod
    def from_dict(cls, data: dict) -> LayerErrors:
        return cls(tuple(LayerError.from_dict(e) for e in data["layers"]), data["debug_samples"])

    def _repr_html_(self) -> str:
        rows = [(e.op_name, e.layer, e.scale, e.zero_point, e.mean_squared_error,
                 e.max_abs_error, e.rmse_per_scale) for e in self.layers]
        return html_table(rows, header=("op", "layer", "scale", "zero point", "MSE",
                                        "max |error|", "RMSE / scale"),
                          caption=f"Per-layer int8 error ({self.debug_samples} samples)")

    def plot(self, ax=None):
        """RMSE in quantization steps per layer; the dashed line is rounding noise alone."""
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        labels = [f"{e.layer[:18]}\n{e.op_name}" for e in self.layers]
        ax.bar(range(len(self.layers)), [e.rmse_per_scale for e in self.layers])
        ax.axhline(1 / math.sqrt(12), ls="--", color="gray", label="rounding only (0.29)")
        ax.set_xticks(range(len(self.layers)), labels, rotation=45, ha="right", fontsize=7)
        ax.set(ylabel="RMSE / scale (steps)", title="Per-layer int8 error")
        ax.legend()
        return ax


def layer_errors(model, representative_data, *, calibration_samples: int = 100,
                 debug_samples: int = 20, seed: int = 0) -> LayerErrors:
    """Compare each int8 op with its float twin (``tf.lite.experimental.QuantizationDebugger``).

    Calibrates as ``convert_to_tflite(model, "int8", ...)`` does, then runs
    ``debug_samples`` images through a model where every quantized op is
    checked against the float op fed the same (dequantized) input. Taught in
    notebooks/04-post-training-quantization.
    """
    check_tf_keras_model(model, "artspeed.layer_errors")
    batches = calibration_batches(model, representative_data, calibration_samples, seed)
    debug = calibration_batches(model, representative_data, debug_samples, seed + 1)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x] for x in batches)
    with quiet_converter():
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=lambda: ([x] for x in debug))
        debugger.run()
    text = io.StringIO()
    debugger.layer_statistics_dump(text)
    text.seek(0)
    rows = [LayerError(op_name=r["op_name"], tensor_name=r["tensor_name"],
                       scale=float(r["scale"]), zero_point=int(r["zero_point"]),
                       mean_squared_error=float(r["mean_squared_error"]),
                       max_abs_error=float(r["max_abs_error"]),
                       mean_error=float(r["mean_error"]))
            for r in csv.DictReader(text)]
    return LayerErrors(tuple(rows), len(debug))
