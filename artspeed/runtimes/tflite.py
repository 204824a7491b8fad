"""The TFLite runtime behind ``artspeed.Predictor``: the LiteRT interpreter.

Taught in notebooks/02-inference-metrics. ``ai-edge-litert``'s interpreter is
used where installed, ``tf.lite.Interpreter`` otherwise; int8/uint8 inputs and
outputs are quantized and dequantized for the caller. The interpreter hands
the float ops it can to XNNPACK, its default delegate (``xnnpack=False``: the
builtin kernels alone). XNNPACK needs no flag for sparse weights: it turns
its sparse inference on by itself when it takes a ``DENSIFY`` op (see
``artspeed.compress.sparse_inference``).

>>> Interpreter, backend = tflite_interpreter()
>>> backend in ("ai-edge-litert", "tf.lite")
True
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np

from artspeed.core import _checks
from artspeed.core._stderr import native_stderr_dropped
from artspeed.core.errors import InvalidArgumentError, ModelError, first_line
from artspeed.core.frameworks import LazyModule, tf
from artspeed.runtimes.base import Predictor

__all__ = ["TFLitePredictor", "tflite_interpreter"]

_litert = LazyModule("ai_edge_litert.interpreter")


def tflite_interpreter():
    """(Interpreter class, backend name): LiteRT where installed, else tf.lite."""
    try:
        return _litert.Interpreter, "ai-edge-litert"
    except ImportError:
        return tf.lite.Interpreter, "tf.lite"


def _op_resolver(xnnpack: bool, backend: str):
    """The interpreter's ``experimental_op_resolver_type``: with XNNPACK (AUTO) or without."""
    if backend == "ai-edge-litert":
        types = _litert.OpResolverType
    else:
        types = tf.lite.experimental.OpResolverType
    return types.AUTO if xnnpack else types.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def _quantization(detail: dict):
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if np.dtype(detail["dtype"]).kind in "iu" and scale:
        return float(scale), int(zero_point)
    return None


class TFLitePredictor(Predictor):
    """A ``.tflite`` model (a path or its bytes) in the LiteRT interpreter.

    ``threads`` sets the interpreter's thread count (None: the runtime's default).
    ``xnnpack=False`` runs the builtin kernels without the XNNPACK delegate.
    """

    runtime = "tflite"

    def __init__(self, model, threads=None, name: str | None = None, xnnpack: bool = True):
        threads = _checks.threads(threads)
        Interpreter, self.backend = tflite_interpreter()
        self.xnnpack = bool(xnnpack)
        kwargs = {"num_threads": threads} if threads is not None else {}
        if not self.xnnpack:
            kwargs["experimental_op_resolver_type"] = _op_resolver(False, self.backend)
        if isinstance(model, (bytes, bytearray)):
            source, label = {"model_content": bytes(model)}, "in-memory model"
        else:
            path = Path(model)
            if not path.is_file():
                raise ModelError(f"no TFLite model at '{path}': the file does not exist")
            source, label = {"model_path": str(path)}, f"'{path}'"
        try:
            interpreter = Interpreter(**source, **kwargs)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{label} is not a TFLite model the interpreter can read: "
                             f"{first_line(exc)}") from None
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError("artspeed predictors take models with one input and one "
                             f"output; {label} has {len(inputs)} and {len(outputs)}")
        self._interpreter = interpreter
        self._in, self._out = inputs[0], outputs[0]
        signature = self._in.get("shape_signature")
        if signature is None or not len(signature):
            signature = self._in["shape"]
        super().__init__(name=name or "tflite", mode="interpreter",
                         input_shape=tuple(int(d) for d in signature),
                         input_dtype=self._in["dtype"], threads=threads,
                         input_quantization=_quantization(self._in),
                         output_quantization=_quantization(self._out))
        self._allocated = tuple(int(d) for d in self._in["shape"])

    def describe(self) -> dict:
        return {**super().describe(), "backend": self.backend, "xnnpack": self.xnnpack}

    def _prepare_native(self, x: np.ndarray) -> None:
        it = self._interpreter
        if tuple(x.shape) != self._allocated:
            try:
                it.resize_tensor_input(self._in["index"], list(x.shape), strict=True)
                it.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise InvalidArgumentError(f"{self.name} cannot take a batch of shape "
                                           f"{tuple(x.shape)}: {first_line(exc)}") from None
            self._allocated = tuple(x.shape)
        it.set_tensor(self._in["index"], x)

    def _run(self) -> None:
        self._interpreter.invoke()

    def _fetch(self):
        return self._interpreter.get_tensor(self._out["index"])

    def close(self) -> None:
        self._interpreter = None



@contextlib.contextmanager
def quiet_converter():
    """Hide the converter's Python warnings, INFO logs ("Assets written to ...") and C++ notes."""

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        with warnings.catch_warnings(), native_stderr_dropped():
            warnings.simplefilter("ignore")  # "Statistics for quantized inputs were expected"
            yield
    finally:
        logger.setLevel(level)
