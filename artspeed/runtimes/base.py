"""One ``Predictor`` interface over the runtimes: Keras, TFLite and OpenVINO.

Taught in notebooks/02-inference-metrics. A predictor takes a float32 batch
and returns float32 outputs, whatever runs underneath:

- ``KerasPredictor``: ``model.predict``, a direct call ``model(x)``, or a
  ``tf.function``-compiled call (``mode="predict" | "call" | "function"``);
- ``TFLitePredictor`` (``runtimes/tflite.py``): the LiteRT interpreter (``ai-edge-litert``) where it is
  installed, ``tf.lite.Interpreter`` otherwise, with a thread count;
- ``OpenVINOPredictor`` (``runtimes/openvino.py``): a compiled model, ``mode="sync"`` (one request) or
  ``"async"`` (an ``AsyncInferQueue`` of requests), with a performance hint,
  streams, threads and an inference precision (f32 by default, so results
  match the other runtimes even on CPUs where OpenVINO would pick bf16);
- ``FunctionPredictor``: any Python callable (the harness's no-op baseline).

``artspeed.as_predictor`` and ``artspeed.load_predictor`` (``runtimes/factory.py``)
make the right one from a model or a file.

Quantized inputs and outputs (int8/uint8 with a scale and zero point) are
handled for the caller: float inputs are quantized, outputs dequantized.

Bad input (a wrong shape, dtype or batch size) raises
``InvalidArgumentError`` before the runtime sees it; a file that is not a
model raises ``ModelError``.

>>> import numpy as np
>>> double = FunctionPredictor(lambda x: 2 * x, input_shape=(None, 3))
>>> double(np.ones((2, 3), np.float32)).tolist()
[[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
>>> double(np.ones((2, 4), np.float32))
Traceback (most recent call last):
...
artspeed.InvalidArgumentError: python expects inputs of shape (N, 3), got (2, 4)
"""

from __future__ import annotations

import numpy as np

from artspeed.core import _checks
from artspeed.core.errors import InvalidArgumentError, ModelError, first_line
from artspeed.core.frameworks import check_tf_keras_model, tf

__all__ = ["Predictor", "KerasPredictor", "FunctionPredictor"]





def _shape_text(shape) -> str:
    dims = ["N" if i == 0 and d is None else ("?" if d is None else str(d))
            for i, d in enumerate(shape)]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


class Predictor:
    """A model ready to run: ``predictor(x)`` maps a float32 batch to float32 outputs.

    Subclasses set ``runtime`` and implement ``_prepare_native`` (set the
    runtime's input), ``_run`` (one inference, what the benchmark times) and
    ``_fetch`` (read the output). ``input_shape`` has ``None`` for a free
    batch axis; a number there means the model takes only that batch size.
    Predictors are not thread-safe: use one per thread.
    """

    runtime = "python"

    def __init__(self, *, name: str, mode: str, input_shape, input_dtype="float32",
                 threads=None, input_quantization=None, output_quantization=None):
        self.name = name
        self.mode = mode
        self.input_shape = tuple(None if d is None or d < 0 else int(d) for d in input_shape)
        self.input_dtype = np.dtype(input_dtype)
        self.threads = threads
        self.input_quantization = input_quantization    # (scale, zero_point) or None
        self.output_quantization = output_quantization

    # -- what callers use ---------------------------------------------------
    @property
    def fixed_batch(self) -> int | None:
        """The only batch size the model takes, or None if any batch works."""
        return self.input_shape[0] if self.input_shape else None

    def __call__(self, x) -> np.ndarray:
        """Run the model on a batch ``x`` and return its (float32) outputs."""
        self.prepare(x)
        self._run()
        return self._finish(self._fetch())

    def predict(self, x) -> np.ndarray:
        """The same as calling the predictor: outputs for the batch ``x``."""
        return self(x)

    def prepare(self, x) -> None:
        """Check ``x``, convert it (cast, quantize) and hand it to the runtime.

        After this, ``_run()`` runs one inference on it; the benchmark times that.
        """
        self._prepare_native(self._to_native(self.check_input(x)))

    def sample_input(self, batch_size: int = 1, seed: int = 0) -> np.ndarray:
        """A random float32 batch in [0, 1) of the shape the model takes."""
        batch_size = _checks.whole_number("batch_size", batch_size)
        if any(d is None for d in self.input_shape[1:]):
            raise InvalidArgumentError(f"{self.name} takes inputs of shape "
                                       f"{_shape_text(self.input_shape)}; pass real inputs")
        self._check_batch(batch_size)
        sample_bytes = 4 * int(np.prod(self.input_shape[1:], dtype=np.int64))
        _checks.check_batch_memory(batch_size, sample_bytes, self.name)
        rng = np.random.default_rng(seed)
        return rng.random((batch_size, *self.input_shape[1:]), dtype=np.float32)

    def describe(self) -> dict:
        """The runtime, mode, threads and shape, as recorded with results."""
        return {"name": self.name, "runtime": self.runtime, "mode": self.mode,
                "threads": self.threads, "input_shape": list(self.input_shape),
                "input_dtype": self.input_dtype.name,
                "quantized_io": self.input_quantization is not None}

    def close(self) -> None:
        """Free the runtime's resources (optional; garbage collection does it too)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        threads = "default" if self.threads is None else self.threads
        return (f"<{type(self).__name__} {self.name!r}: {self.runtime}/{self.mode}, "
                f"input {_shape_text(self.input_shape)} {self.input_dtype.name}, "
                f"threads {threads}>")

    # -- checks and conversions ---------------------------------------------
    def _check_batch(self, batch: int) -> None:
        fixed = self.fixed_batch
        if fixed is not None and batch != fixed:
            raise InvalidArgumentError(
                f"{self.name} was built for a fixed batch of {fixed}, got a batch of "
                f"{batch}; pass {fixed} sample{'s' if fixed > 1 else ''} at a time, or "
                "convert the model with a dynamic batch axis")

    def check_input(self, x) -> np.ndarray:
        """``x`` as an array the model takes, or a clear InvalidArgumentError."""
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"{self.name} needs a numeric array, got "
                                       f"{type(x).__name__} ({first_line(exc)})") from None
        expected = self.input_shape
        if x.ndim != len(expected) or any(
                e is not None and g != e for g, e in zip(x.shape[1:], expected[1:])):
            raise InvalidArgumentError(f"{self.name} expects inputs of shape "
                                       f"{_shape_text(expected)}, got {tuple(x.shape)}")
        if x.shape[0] < 1:
            raise InvalidArgumentError(f"{self.name} got an empty batch {tuple(x.shape)}")
        self._check_batch(x.shape[0])
        quantized = self.input_quantization is not None
        if x.dtype == self.input_dtype:
            return x
        if x.dtype.kind == "f":
            return x
        wanted = "float inputs (quantized for you)" if quantized else \
            f"{self.input_dtype.name} inputs"
        raise InvalidArgumentError(
            f"{self.name} takes {wanted}, got {x.dtype.name}; convert images to float32 "
            "in [0, 1] as artspeed.load_dataset does")

    def _to_native(self, x: np.ndarray) -> np.ndarray:
        if x.dtype == self.input_dtype:
            return np.ascontiguousarray(x)
        if self.input_quantization is not None:
            scale, zero_point = self.input_quantization
            info = np.iinfo(self.input_dtype)
            q = np.round(x.astype(np.float32) / scale + zero_point)
            return np.ascontiguousarray(np.clip(q, info.min, info.max).astype(self.input_dtype))
        return np.ascontiguousarray(x.astype(self.input_dtype))

    def _finish(self, y) -> np.ndarray:
        y = np.asarray(y)
        if self.output_quantization is not None:
            scale, zero_point = self.output_quantization
            return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)
        return y.astype(np.float32, copy=True)

    # -- what runtimes implement --------------------------------------------
    def _prepare_native(self, x: np.ndarray) -> None:
        self._input = x

    def _run(self) -> None:
        raise NotImplementedError

    def _fetch(self):
        return self._output


class FunctionPredictor(Predictor):
    """Any Python callable as a predictor: ``fn(batch) -> outputs``.

    With ``fn=None`` it is a no-op, which measures the harness's own overhead.

    >>> import numpy as np
    >>> noop = FunctionPredictor(None, input_shape=(None, 1))
    >>> noop(np.zeros((1, 1), np.float32)).shape
    (1, 1)
    """

    runtime = "python"

    def __init__(self, fn=None, input_shape=(None, 1), input_dtype="float32",
                 name: str | None = None):
        if fn is not None and not callable(fn):
            raise InvalidArgumentError(f"fn must be callable or None, got {type(fn).__name__}")
        super().__init__(name=name or ("noop" if fn is None else "python"),
                         mode="noop" if fn is None else "call",
                         input_shape=input_shape, input_dtype=input_dtype)
        self._fn = fn
        self._input = self._output = None

    def _run(self) -> None:
        if self._fn is None:
            self._output = self._input
        else:
            self._output = self._fn(self._input)


# ---------------------------------------------------------------- Keras
def _set_tf_threads(threads: int | None) -> None:
    if threads is None:
        return

    current = tf.config.threading.get_intra_op_parallelism_threads()
    if current == threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        raise InvalidArgumentError(
            f"TensorFlow's thread count is already fixed ({current or 'default'}) in "
            f"this process, so Keras cannot run with threads={threads}; set it before "
            "TensorFlow runs anything, or compare thread counts with the TFLite or "
            "OpenVINO runtime (or one `artspeed bench --threads N` process each)") from None


class KerasPredictor(Predictor):
    """A tf_keras model through ``model.predict``, ``model(x)`` or a ``tf.function``.

    The three modes compute the same outputs; they differ in per-call overhead
    (``predict`` builds a data pipeline each call; ``function`` runs a traced
    graph).

    >>> import numpy as np, artspeed
    >>> p = KerasPredictor(artspeed.dense_example(), mode="function")
    >>> p(np.ones((2, 3), np.float32)).shape
    (2, 4)
    """

    runtime = "keras"
    MODES = ("predict", "call", "function")

    def __init__(self, model, mode: str = "call", threads=None, name: str | None = None):
        check_tf_keras_model(model, "artspeed.KerasPredictor")
        if mode not in self.MODES:
            raise InvalidArgumentError(f"unknown Keras mode {mode!r}; choose one of "
                                       f"{', '.join(self.MODES)}")
        threads = _checks.threads(threads)
        if len(model.inputs or ()) != 1 or len(model.outputs or ()) != 1:
            raise ModelError("artspeed predictors take models with one input and one "
                             f"output; {model.name} has {len(model.inputs or ())} and "
                             f"{len(model.outputs or ())}")
        _set_tf_threads(threads)

        spec = model.inputs[0]
        super().__init__(name=name or f"keras-{mode}", mode=mode,
                         input_shape=tuple(spec.shape), input_dtype=spec.dtype.name,
                         threads=threads)
        self.model = model
        if mode == "function":
            signature = [tf.TensorSpec((None, *self.input_shape[1:]), spec.dtype)]
            self._fn = tf.function(lambda x: model(x, training=False),
                                   input_signature=signature)
        self._input = self._output = None

    def _prepare_native(self, x: np.ndarray) -> None:
        if self.mode == "predict":
            self._input = x
        else:
            self._input = tf.constant(x)

    def _run(self) -> None:
        if self.mode == "predict":
            x = self._input
            self._output = self.model.predict(x, batch_size=len(x), verbose=0)
        elif self.mode == "call":
            self._output = self.model(self._input, training=False)
        else:
            self._output = self._fn(self._input)

    def _fetch(self):
        out = self._output
        return out if isinstance(out, np.ndarray) else out.numpy()








