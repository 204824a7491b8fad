"""The one factory: anything that holds a model becomes a ``Predictor``.

``as_predictor`` takes a model path, a tf_keras model, an ``ov.Model``, a
result that carries a saved model's ``path`` (``QuantizedModel``,
``Deployment``) or a Predictor, and picks the runtime from what it was given:
``.keras``, ``.h5`` or a SavedModel folder run in Keras, ``.tflite`` in
LiteRT, ``.xml`` and ``ov.Model`` in OpenVINO, and an ``http://`` URL is a model
served by ``artspeed serve`` (an ``HttpPredictor``). ``runtime="tflite"`` or
``"openvino"`` on a Keras model converts it in memory first (float, no
quantization). ``load_predictor(path)`` is the same for paths.

>>> import artspeed
>>> as_predictor(artspeed.dense_example(), name="dense")
<KerasPredictor 'dense': keras/call, input (N, 3) float32, threads default>
>>> as_predictor(42)
Traceback (most recent call last):
...
artspeed.ModelError: cannot run int: pass a model path, a tf_keras model, an ov.Model or a Predictor
"""

from __future__ import annotations

from pathlib import Path

from artspeed.core import _checks
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.core.frameworks import check_tf_keras_model, tf
from artspeed.core.saving import existing_model, load_model, model_kind
from artspeed.runtimes.base import KerasPredictor, Predictor, _set_tf_threads
from artspeed.runtimes.http import HttpPredictor
from artspeed.runtimes.openvino import OpenVINOPredictor
from artspeed.runtimes.tflite import TFLitePredictor, quiet_converter

__all__ = ["RUNTIMES", "as_predictor", "load_predictor"]

RUNTIMES = ("keras", "tflite", "openvino")
_URL_SCHEMES = ("http://", "https://")


def _is_ov_model(model) -> bool:
    # checked by name, so a Keras model never imports OpenVINO
    return type(model).__module__.startswith("openvino") and type(model).__name__ == "Model"


def as_predictor(model, runtime: str | None = None, *, mode: str | None = None, threads=None,
                 name: str | None = None, safe_mode: bool = True, **options) -> Predictor:
    """A ``Predictor`` for ``model``, whatever holds it (see the module's docstring).

    A Predictor is returned as it is. ``options`` go to the OpenVINO predictor
    (``hint``, ``streams``, ``precision``, ``requests``). ``safe_mode=False``
    loads Keras files that hold code (see ``artspeed.load_model``): only for
    files you trust.

    >>> from artspeed import FunctionPredictor
    >>> noop = FunctionPredictor(None)
    >>> as_predictor(noop) is noop
    True
    """
    if isinstance(model, Predictor):
        return model
    if isinstance(model, str) and model.lower().startswith(_URL_SCHEMES):
        if runtime not in (None, "http") or mode is not None or threads is not None:
            raise InvalidArgumentError("a served model runs where it is served; its runtime, "
                                       "mode and threads are set by `artspeed serve`")
        return HttpPredictor(model, name=name, **options)
    if runtime is not None and runtime not in RUNTIMES:
        raise InvalidArgumentError(f"unknown runtime {runtime!r}; choose keras, tflite or openvino")
    threads = _checks.threads(threads)
    if isinstance(model, (str, Path)) or isinstance(getattr(model, "path", None), (str, Path)):
        path = Path(model if isinstance(model, (str, Path)) else model.path)
        return _from_path(path, runtime, mode, threads, name, safe_mode, options)
    if _is_ov_model(model):
        if runtime not in (None, "openvino"):
            raise ModelError(f"an ov.Model runs in openvino, not {runtime}")
        return OpenVINOPredictor(model, mode=mode or "sync", threads=threads, name=name,
                                 **options)
    if not hasattr(model, "get_weights"):
        raise ModelError(f"cannot run {type(model).__name__}: pass a model path, a tf_keras "
                         "model, an ov.Model or a Predictor")
    check_tf_keras_model(model, "artspeed.as_predictor")
    return _from_keras(model, runtime or "keras", mode, threads, name, options)


def load_predictor(path, runtime: str | None = None, *, mode: str | None = None,
                   threads=None, safe_mode: bool = True, **options) -> Predictor:
    """``as_predictor`` for the model at ``path``; the runtime comes from the extension.

    >>> load_predictor("model.onnx")
    Traceback (most recent call last):
    ...
    artspeed.ModelError: no model at 'model.onnx': the path does not exist
    >>> load_predictor(".", runtime="torch")
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: unknown runtime 'torch'; choose keras, tflite or openvino
    """
    if not isinstance(path, (str, Path)):
        raise InvalidArgumentError(f"load_predictor needs a path, got {type(path).__name__}; "
                                   "use artspeed.as_predictor for models in memory")
    return as_predictor(path, runtime, mode=mode, threads=threads, safe_mode=safe_mode, **options)


def _from_path(path: Path, runtime, mode, threads, name, safe_mode, options) -> Predictor:
    native = model_kind(existing_model(path))
    if native is None:
        raise ModelError(f"'{path}' is not a model artspeed can run; expected a .keras or "
                         ".h5 file, a SavedModel folder, a .tflite file or an OpenVINO .xml")
    runtime = runtime or native
    if native != runtime and native != "keras":
        raise ModelError(f"'{path}' is a {native} model and cannot run in {runtime}; "
                         f"use runtime='{native}' or convert the Keras model instead")
    if native == "keras":
        if runtime == "keras":
            _set_tf_threads(threads)  # before loading: TensorFlow fixes it on first use
        model = load_model(path, compile=False, safe_mode=safe_mode)
        return _from_keras(model, runtime, mode, threads, name or _label(path, runtime, mode),
                           options)
    if runtime == "tflite":
        _only_threads(mode, options)
        return TFLitePredictor(path, threads=threads, name=name or _label(path, runtime, mode))
    return OpenVINOPredictor(path, mode=mode or "sync", threads=threads,
                             name=name or _label(path, runtime, mode), **options)


def _label(path: Path, runtime: str, mode) -> str:
    mode = mode or {"keras": "call", "openvino": "sync"}.get(runtime)
    return f"{path.stem} ({runtime}-{mode})" if mode else f"{path.stem} ({runtime})"


def _from_keras(model, runtime: str, mode, threads, name, options) -> Predictor:
    if runtime == "keras":
        if options:
            raise InvalidArgumentError(f"the Keras runtime takes no {', '.join(options)}")
        return KerasPredictor(model, mode=mode or "call", threads=threads, name=name)
    if runtime == "tflite":
        _only_threads(mode, options)
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        with quiet_converter():
            flatbuffer = converter.convert()
        return TFLitePredictor(flatbuffer, threads=threads, name=name)
    return OpenVINOPredictor(model, mode=mode or "sync", threads=threads, name=name, **options)


def _only_threads(mode, options) -> None:
    if mode not in (None, "interpreter") or options:
        raise InvalidArgumentError("the TFLite runtime takes only threads")
