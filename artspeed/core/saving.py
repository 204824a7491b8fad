"""Save and load Keras models: native ``.keras`` format, safe loading, atomic writes.

>>> import tempfile, pathlib
>>> from artspeed import dense_example
>>> path = pathlib.Path(tempfile.mkdtemp()) / "dense.keras"
>>> _ = save_model(dense_example(), path)
>>> load_model(path).count_params()
387
"""

from __future__ import annotations

import functools
import json
import zipfile
from pathlib import Path

from artspeed.core._io import atomic_path, check_file_target
from artspeed.core.errors import KerasVersionError, ModelError, first_line
from artspeed.core.frameworks import LazyModule, check_tf_keras_model, tf_keras

__all__ = ["save_model", "load_model", "model_kind", "existing_model", "keras_target", "KERAS_SUFFIXES", "UNSAFE_HINT"]

KERAS_SUFFIXES = (".keras", ".h5")
_h5py = LazyModule("h5py")
_saved_metadata_pb2 = LazyModule("tf_keras.protobuf.saved_metadata_pb2")
_saved_model_pb2 = LazyModule("tensorflow.core.protobuf.saved_model_pb2")
_SUFFIX_KINDS = {".tflite": "tflite", ".xml": "openvino"}


def existing_model(path) -> Path:
    """``path`` as a Path, if something is there; else the error every loader gives.

    >>> existing_model("model.onnx")
    Traceback (most recent call last):
    ...
    artspeed.ModelError: no model at 'model.onnx': the path does not exist
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"no model at '{path}': the path does not exist")
    return path


def model_kind(path) -> str | None:
    """What kind of model ``path`` names: ``"keras"``, ``"tflite"``, ``"openvino"`` or None.

    ``"keras"`` is a ``.keras`` or ``.h5`` file or a SavedModel folder (one
    holding ``saved_model.pb``); ``"openvino"`` is an IR's ``.xml``. Only the
    name (and a folder's ``saved_model.pb``) is looked at, not the contents.

    >>> model_kind("baseline.keras"), model_kind("int8.tflite"), model_kind("notes.txt")
    ('keras', 'tflite', None)
    """
    path = Path(path)
    if path.suffix in KERAS_SUFFIXES or (path / "saved_model.pb").is_file():
        return "keras"
    return _SUFFIX_KINDS.get(path.suffix)


def keras_target(path) -> Path:
    """``path`` if a Keras model may be saved there (a ``.keras`` or ``.h5`` name, no folder).

    >>> keras_target("runs/model.onnx")
    Traceback (most recent call last):
    ...
    artspeed.ModelError: save the model as .keras (or legacy .h5), got 'runs/model.onnx'
    """
    path = check_file_target(path)   # a folder there is named as such first
    if path.suffix not in KERAS_SUFFIXES:
        raise ModelError(f"save the model as .keras (or legacy .h5), got '{path}'")
    return path


def save_model(model, path, include_optimizer: bool = True) -> Path:
    """Save ``model`` to ``path`` (``.keras``, or legacy ``.h5``) and return the path.

    The file is written beside the target, then renamed, so a failed save
    leaves no half-written model behind. ``include_optimizer=False`` leaves out
    the optimizer's state (Adam keeps two slots per weight): a smaller file,
    and the fair one to compare sizes with.
    """
    check_tf_keras_model(model, "artspeed.save_model")
    path = keras_target(path)
    kwargs = {}
    if not include_optimizer and getattr(model, "optimizer", None) is not None:
        if path.suffix == ".h5":
            kwargs["include_optimizer"] = False
        else:  # the native format has no such switch: save a copy that has no optimizer

            copy = tf_keras.models.clone_model(model)
            copy.set_weights(model.get_weights())
            model = copy
    with atomic_path(path) as tmp:
        model.save(tmp, **kwargs)
    return path


UNSAFE_HINT = ("pass safe_mode=False (CLI: --unsafe) only if you trust the file's author: "
               "it runs the code stored in the file")

# What tf_keras itself defines besides its public layers, models and the like: the
# Functional class, the layers that wrap TensorFlow ops (named by API symbol, not
# code), three layers of keras.applications, and the markers its JSON uses.
_BUILTIN_EXTRAS = frozenset({
    "Functional", "TFOpLambda", "SlicingOpLambda", "InstanceMethod", "InstanceProperty",
    "ClassMethod", "TensorFlowOpLayer", "LayerScale", "StochasticDepth", "CustomScaleLayer",
    "TensorShape", "TypeSpec", "CompositeTensor", "function", "__tuple__", "__ellipsis__",
    "__bytes__", "__numpy__", "__tensor__", "__typespec__",
})
# Objects whose config holds a marshalled Python function.
_CODE_CLASSES = frozenset({"Lambda", "__lambda__", "DropoutWrapper", "ResidualWrapper",
                           "DeviceWrapper"})


@functools.lru_cache(maxsize=1)
def _builtin_names() -> frozenset:
    """The class names tf_keras resolves by itself (no custom objects)."""
    modules = [tf_keras.layers, tf_keras.layers.experimental,
               tf_keras.layers.experimental.preprocessing, tf_keras.models,
               tf_keras.initializers, tf_keras.regularizers, tf_keras.constraints,
               tf_keras.activations, tf_keras.losses, tf_keras.metrics, tf_keras.optimizers,
               tf_keras.optimizers.legacy, tf_keras.optimizers.schedules,
               tf_keras.mixed_precision]
    names = {n for module in modules for n in dir(module) if not n.startswith("_")}
    return frozenset(names | _BUILTIN_EXTRAS)


def _keras_module(module) -> bool:
    return module in ("keras", "tf_keras", "builtins") or (
        isinstance(module, str) and module.startswith(("keras.", "tf_keras.")))


def _code_in_config(config, layer: str | None = None) -> tuple[str | None, str, str] | None:
    """The first object in a Keras config whose loading could run code, as
    (enclosing layer's name, class name, why); None if there is none.

    Refused: a Lambda (its function is marshalled bytecode), any class tf_keras
    does not define itself (a custom object), any object from a module other
    than tf_keras. Nested configs (models, wrappers' ``layer``, RNN cells) are
    walked too.

    >>> _code_in_config({"class_name": "Dense", "config": {"name": "d", "units": 2}})
    >>> _code_in_config({"class_name": "Lambda", "config": {"name": "f"}})[:2]
    ('f', 'Lambda')
    """
    if isinstance(config, list):
        items = config
    elif isinstance(config, dict):
        cls = config.get("class_name")
        if isinstance(cls, str):
            inner = config.get("config")
            name = config.get("name") or (inner.get("name") if isinstance(inner, dict) else None)
            layer = name if isinstance(name, str) else layer
            module = config.get("module")
            if cls in _CODE_CLASSES:
                return layer, cls, "its function is Python code stored in the file"
            if module is not None and not _keras_module(module):
                return layer, cls, (f"it is a custom object from the module '{module}', "
                                    "not built into tf_keras")
            if cls not in _builtin_names():
                return layer, cls, "it is a custom object, not built into tf_keras"
        items = config.values()
    else:
        return None
    for item in items:
        found = _code_in_config(item, layer)
        if found:
            return found
    return None


def _refuse_code(path: Path, config) -> None:
    found = _code_in_config(config)
    if found:
        layer, cls, why = found
        what = f"its layer '{layer}' ({cls})" if layer else f"its object {cls}"
        raise ModelError(f"refusing to load '{path}': {what} could run code when loaded "
                         f"({why}); {UNSAFE_HINT}")


def _keras3_error(path: Path, version: str) -> KerasVersionError:
    return KerasVersionError(
        f"'{path}' was saved by Keras {version}; artspeed needs Keras 2 (tf_keras). "
        "Rebuild the model with `import tf_keras as keras` and save it again, or "
        "export its weights and load them into the same architecture.")


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _check_keras_zip(path: Path, safe_mode: bool) -> None:
    """A ``.keras`` archive: not Keras 3, and (safe mode) no code in its config."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            meta = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
            config = json.loads(archive.read("config.json")) if "config.json" in names else None
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ModelError(f"'{path}' is not a readable .keras archive ({exc}); save the "
                         "model again with artspeed.save_model") from None
    version = _text(meta.get("keras_version", "")) if isinstance(meta, dict) else ""
    if version.startswith("3."):
        raise _keras3_error(path, version)
    if safe_mode and config is not None:
        _refuse_code(path, config)


def _check_h5(path: Path, safe_mode: bool) -> None:
    """An HDF5 file: a whole model (not weights only), not Keras 3, no code in it."""
    try:
        with _h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
    except OSError:
        raise ModelError(f"could not load '{path}' as a Keras model: it is neither a .keras "
                         "archive (zip) nor an HDF5 file; save the model again with "
                         "artspeed.save_model") from None
    version = _text(attrs.get("keras_version", ""))
    if version.startswith("3."):
        raise _keras3_error(path, version)
    if "model_config" not in attrs:
        raise ModelError(f"'{path}' holds weights only, not a model: build the same "
                         f"architecture in code and call model.load_weights('{path}')")
    if safe_mode:
        try:
            config = json.loads(_text(attrs["model_config"]))
        except ValueError:
            raise ModelError(f"'{path}' has a model_config that is not JSON: the file is "
                             "damaged; save the model again") from None
        _refuse_code(path, config)


def _saved_model_nodes(path: Path) -> list:
    """The Keras objects a SavedModel describes (their metadata as dicts), as tf_keras
    reads them: ``keras_metadata.pb``, else (before TF 2.5) the object graph."""
    try:
        metadata_file = path / "keras_metadata.pb"
        if metadata_file.exists():
            metadata = _saved_metadata_pb2.SavedMetadata()
            metadata.ParseFromString(metadata_file.read_bytes())
            found = [(n.identifier, n.metadata) for n in metadata.nodes]
        else:
            saved = _saved_model_pb2.SavedModel()
            saved.ParseFromString((path / "saved_model.pb").read_bytes())
            nodes = saved.meta_graphs[0].object_graph_def.nodes if saved.meta_graphs else []
            found = [(n.user_object.identifier, n.user_object.metadata) for n in nodes
                     if n.WhichOneof("kind") == "user_object"
                     and n.user_object.identifier.startswith("_tf_keras")]
        return [json.loads(text) for identifier, text in found
                if identifier != "_tf_keras_metric" and text]
    except Exception as exc:  # DecodeError, ValueError, OSError
        raise ModelError(f"could not read the Keras metadata of the SavedModel '{path}' "
                         f"({type(exc).__name__}); save the model again") from None


def _check_saved_model(path: Path) -> None:
    """Safe mode: no code in the Keras objects of a SavedModel folder. One without
    them loads as a plain TensorFlow object (graphs only), which artspeed rejects."""
    for node in _saved_model_nodes(path):
        _refuse_code(path, {"class_name": node.get("class_name"), "name": node.get("name"),
                            "config": node.get("config")})


def load_model(path, compile: bool = True, *, safe_mode: bool = True):
    """Load a tf_keras model from ``.keras``, ``.h5`` or a SavedModel folder.

    With ``safe_mode=True`` (the default) a file whose loading could run code
    is refused before tf_keras reads it: a Lambda layer (its function is
    Python bytecode stored in the file) or a custom object, in every format.
    ``safe_mode=False`` loads what tf_keras would; only for files you trust.

    >>> load_model("model.onnx")
    Traceback (most recent call last):
    ...
    artspeed.ModelError: no model at 'model.onnx': the path does not exist
    """
    path = existing_model(path)
    is_saved_model = path.is_dir() and (path / "saved_model.pb").exists()
    if not is_saved_model and (path.is_dir() or path.suffix not in KERAS_SUFFIXES):
        raise ModelError(f"'{path}' is not a Keras model; expected a .keras or .h5 file "
                         "or a SavedModel folder")
    # tf_keras picks the loader from the content, not the name (an HDF5 file named
    # .keras loads as .h5, without safe mode): so does the check.
    if is_saved_model:
        if safe_mode:
            _check_saved_model(path)
    elif zipfile.is_zipfile(path):
        _check_keras_zip(path, safe_mode)
    else:
        _check_h5(path, safe_mode)  # or says the file is neither

    try:
        kwargs = {"safe_mode": bool(safe_mode)} if path.suffix == ".keras" else {}
        model = tf_keras.models.load_model(path, compile=compile, **kwargs)
    except Exception as exc:
        first = first_line(exc)
        raise ModelError(f"could not load '{path}' as a Keras model: {first}") from None
    return check_tf_keras_model(model, "artspeed.load_model")
