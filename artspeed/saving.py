"""Save and load Keras models: native ``.keras`` format, safe loading, atomic writes.

>>> import tempfile, pathlib
>>> from artspeed import dense_example
>>> path = pathlib.Path(tempfile.mkdtemp()) / "dense.keras"
>>> _ = save_model(dense_example(), path)
>>> load_model(path).count_params()
387
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from ._io import atomic_path
from ._keras import check_tf_keras_model
from .errors import KerasVersionError, ModelError

__all__ = ["save_model", "load_model", "KERAS_SUFFIXES"]

KERAS_SUFFIXES = (".keras", ".h5")


def save_model(model, path, include_optimizer: bool = True) -> Path:
    """Save ``model`` to ``path`` (``.keras``, or legacy ``.h5``) and return the path.

    The file is written beside the target, then renamed, so a failed save
    leaves no half-written model behind. ``include_optimizer=False`` leaves out
    the optimizer's state (Adam keeps two slots per weight): a smaller file,
    and the fair one to compare sizes with.
    """
    check_tf_keras_model(model, "artspeed.save_model")
    path = Path(path)
    if path.suffix not in KERAS_SUFFIXES:
        raise ModelError(f"save the model as .keras (or legacy .h5), got '{path}'")
    kwargs = {}
    if not include_optimizer and getattr(model, "optimizer", None) is not None:
        if path.suffix == ".h5":
            kwargs["include_optimizer"] = False
        else:  # the native format has no such switch: save a copy that has no optimizer
            import tf_keras

            copy = tf_keras.models.clone_model(model)
            copy.set_weights(model.get_weights())
            model = copy
    with atomic_path(path) as tmp:
        model.save(tmp, **kwargs)
    return path


def _saved_by_keras3(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("metadata.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        return None
    version = str(meta.get("keras_version", ""))
    return version if version.startswith("3.") else None


def load_model(path, compile: bool = True):
    """Load a tf_keras model from ``.keras``, ``.h5`` or a SavedModel folder.

    ``.keras`` files load with ``safe_mode=True``: no arbitrary code (Lambda
    layers) is deserialized.
    """
    import tf_keras

    path = Path(path)
    if not path.exists():
        raise ModelError(f"no model at '{path}': the path does not exist")
    is_saved_model = path.is_dir() and (path / "saved_model.pb").exists()
    if not is_saved_model and path.suffix not in KERAS_SUFFIXES:
        raise ModelError(f"'{path}' is not a Keras model; expected a .keras or .h5 file "
                         "or a SavedModel folder")
    if path.suffix == ".keras":
        version = _saved_by_keras3(path)
        if version:
            raise KerasVersionError(
                f"'{path}' was saved by Keras {version}; artspeed needs Keras 2 (tf_keras). "
                "Rebuild the model with `import tf_keras as keras` and save it again, or "
                "export its weights and load them into the same architecture.")
    try:
        kwargs = {"safe_mode": True} if path.suffix == ".keras" else {}
        model = tf_keras.models.load_model(path, compile=compile, **kwargs)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"could not load '{path}' as a Keras model: {first}") from None
    return check_tf_keras_model(model, "artspeed.load_model")
