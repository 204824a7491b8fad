"""The one lazy gate to the frameworks: Keras 2 first, then TensorFlow, OpenVINO, NNCF.

tensorflow-model-optimization does not work with Keras 3, so artspeed routes
``tf.keras`` to ``tf_keras``. TensorFlow reads ``TF_USE_LEGACY_KERAS`` when it
is imported, so this module must run before ``import tensorflow``:
``import artspeed`` does that first thing.

Every artspeed module gets the frameworks from here, as stand-ins that import
the real module on first use (``tf``, ``tf_keras``, ``tfmot``, ``ov``,
``nncf``), so ``import artspeed`` loads none of them. The gate keeps their
order (TensorFlow before OpenVINO) and turns telemetry off, Ray's usage reporting
included (``ray``).

>>> import os, artspeed
>>> os.environ["TF_USE_LEGACY_KERAS"]
'1'
>>> tfmot
<lazy module 'tensorflow_model_optimization'>
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys

from artspeed.core.errors import KerasVersionError, ModelError

__all__ = ["check_tf_keras_model"]

_RESTART = (
    "Import artspeed before TensorFlow (put `import artspeed` in the first "
    "cell), or restart the kernel and run the notebook from the top."
)


def _tensorflow_uses_keras3(tf) -> bool:
    flag = getattr(tf, "_tf_uses_legacy_keras", None)
    if flag is not None:
        return not flag
    return str(getattr(tf.keras, "__version__", "3")).startswith("3.")


def select_keras2() -> None:
    """Route ``tf.keras`` to tf_keras; fail clearly if it is too late for that."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "__version__") and _tensorflow_uses_keras3(tf):
        raise KerasVersionError(
            "TensorFlow was already imported with Keras 3, and artspeed needs "
            "Keras 2 (tf_keras). " + _RESTART
        )


def check_tf_keras_model(model, where: str = "artspeed"):
    """Return ``model`` if it is a tf_keras model; otherwise raise a clear error.

    >>> check_tf_keras_model("not a model", "artspeed.profile")
    Traceback (most recent call last):
    ...
    artspeed.ModelError: artspeed.profile needs a tf_keras model, got str.
    """
    if isinstance(model, tf_keras.Model):
        return model
    cls = type(model)
    module = cls.__module__ or ""
    if module == "keras" or module.startswith("keras."):
        raise KerasVersionError(
            f"{where} got a Keras 3 model ({cls.__name__}), but needs a Keras 2 "
            "(tf_keras) model, because tensorflow-model-optimization does not "
            "work with Keras 3. Build the model with `import tf_keras as keras` "
            "(or `tf.keras` after `import artspeed`), or load it with "
            "artspeed.load_model. " + _RESTART
        )

    raise ModelError(f"{where} needs a tf_keras model, got {cls.__name__}.")


_INSTEAD = {"quantize": ", or use post-training quantization "
                        "(artspeed.convert_to_tflite(model, 'int8', data))"}


def check_wrappable(model, where: str, action: str) -> None:
    """Refuse what tfmot cannot wrap to ``action`` (prune, cluster, quantize).

    tfmot clones Sequential and functional models layer by layer; a subclassed
    or unbuilt model has no layer graph to clone.
    """
    check_tf_keras_model(model, where)
    if not (isinstance(model, tf_keras.Sequential) or getattr(model, "_is_graph_network", False)):
        raise ModelError(
            f"{where}: tfmot cannot {action} {model.name} ({type(model).__name__}): it "
            f"{action}s only Sequential and functional models, not subclassed ones. Rebuild "
            f"it with keras.Sequential or the functional API{_INSTEAD.get(action, '')}.")
    if not model.built:
        raise ModelError(f"{where}: {model.name} is not built; call model.build(input_shape) "
                         f"or give it an Input layer before you {action} it")


def telemetry_allowed() -> bool:
    """True when the learner opted in to OpenVINO's and NNCF's telemetry.

    artspeed turns that telemetry off in its processes unless
    ``ARTSPEED_TELEMETRY=1`` is set, so nothing leaves the machine unasked.
    """
    return os.environ.get("ARTSPEED_TELEMETRY", "").strip().lower() in {"1", "true", "yes", "on"}


def _telemetry_off() -> None:
    """Make openvino_telemetry's consent check answer 'declined' in this process.

    OpenVINO's converter and NNCF ask ``OptInChecker.check`` once, when they set
    up telemetry; with no consent file they would send usage data. The learner's
    own consent file is left as it is.
    """
    if telemetry_allowed():
        return
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:  # not installed: nothing to turn off
        return
    if not getattr(OptInChecker.check, "_artspeed_declined", False):
        def declined(self, *args, **kwargs):
            return ConsentCheckResult.DECLINED

        declined._artspeed_declined = True
        OptInChecker.check = declined


def import_openvino():
    """``import openvino``, after TensorFlow and with telemetry off (``telemetry_allowed``).

    With OpenVINO 2025.4 and TensorFlow 2.18, importing openvino first and then
    converting a tf_keras model hangs; TensorFlow first works. Every artspeed
    module imports OpenVINO (and NNCF) through this gate. A process that only
    runs IRs and never converts (a serving replica) sets ``ARTSPEED_OPENVINO_ONLY=1``
    and skips TensorFlow's import, seconds and hundreds of MB.
    """
    if os.environ.get("ARTSPEED_OPENVINO_ONLY") != "1":   # a process that only runs IRs
        importlib.import_module("tensorflow")  # first, see above
    _telemetry_off()
    return importlib.import_module("openvino")


_CORE = []


def openvino_core():
    """The process's one ``ov.Core``, made on first use and kept.

    Each Core starts its own CPU plugin, and the plugin installs an alternate
    signal stack on the calling thread, which it frees when the Core goes.
    Cores freed out of order leave a freed stack installed, and the next
    Ctrl-C or SIGTERM then crashes the process (seen with OpenVINO 2026.4).
    One Core for the whole process avoids that, and starts the plugin once.
    """
    if not _CORE:
        _CORE.append(import_openvino().Core())
    return _CORE[0]


@contextlib.contextmanager
def one_core():
    """Within the block, ``openvino.compile_model`` compiles on the process's one Core.

    NNCF compiles small helper models with ``openvino.compile_model``, which makes a
    Core of its own at each call (``nncf.compress_weights`` with ``ratio`` below 1,
    for one). Freed, such a Core leaves its freed signal stack installed (see
    ``openvino_core``), and the process's next Ctrl-C crashed it. artspeed runs its
    NNCF calls in this block.
    """
    ov = import_openvino()
    original = ov.compile_model

    def compile_model(model, device_name="AUTO", config=None):
        return openvino_core().compile_model(model, device_name, {} if config is None
                                             else config)

    ov.compile_model = compile_model
    try:
        yield
    finally:
        ov.compile_model = original


def _ray_token_at_hand() -> bool:
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or os.path.isfile(path)


def import_ray():
    """``import ray`` and ``ray.serve``, with Ray's usage reporting off (``telemetry_allowed``).

    Ray reads ``RAY_USAGE_STATS_ENABLED`` when a cluster starts, and every process
    it starts inherits it, so nothing leaves the machine unasked.
    """
    if not telemetry_allowed():
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if "RAY_AUTH_MODE" not in os.environ and _ray_token_at_hand():
        # Ray reads this once, at import: without it a driver joining a cluster that
        # `ray start` began with token authentication sends no token (Ray 2.60)
        os.environ["RAY_AUTH_MODE"] = "token"
    ray = importlib.import_module("ray")
    importlib.import_module("ray.serve")
    return ray


_AFTER_OPENVINO = ("openvino", "nncf")


def _import(name: str):
    """Import ``name`` in artspeed's order: OpenVINO and NNCF only after TensorFlow."""
    if name.partition(".")[0] in _AFTER_OPENVINO:
        import_openvino()
    if name.partition(".")[0] == "ray":
        import_ray()
    module = importlib.import_module(name)
    if name == "nncf":
        logging.getLogger("nncf").setLevel(logging.WARNING)  # keep INFO lines out of notebooks
    return module


class LazyModule:
    """A framework module, imported through the gate when an attribute is first used."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        if attr.startswith("__"):   # introspection (doctest, inspect) must not import it
            raise AttributeError(attr)
        return getattr(_import(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


tf = LazyModule("tensorflow")
tf_keras = LazyModule("tf_keras")
tfmot = LazyModule("tensorflow_model_optimization")
ov = LazyModule("openvino")
nncf = LazyModule("nncf")
ray = LazyModule("ray")

select_keras2()
