"""Keras 2 is selected before TensorFlow loads, and Keras 3 gets a clear error."""

import pytest
from conftest import run_python

import artspeed
from artspeed.core.errors import KerasVersionError


def test_import_artspeed_routes_tf_keras_to_keras2():
    result = run_python(
        "import sys, artspeed\n"
        "assert 'tensorflow' not in sys.modules, 'import artspeed must not load TensorFlow'\n"
        "import tensorflow as tf, tf_keras\n"
        "print(tf.keras.layers.Dense is tf_keras.layers.Dense)",
        env_drop=("TF_USE_LEGACY_KERAS",))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_tensorflow_imported_first_with_keras3_is_a_clear_error():
    result = run_python("import tensorflow\nimport artspeed", env_drop=("TF_USE_LEGACY_KERAS",))
    assert result.returncode != 0
    assert "KerasVersionError" in result.stderr
    assert "Import artspeed before TensorFlow" in result.stderr
    assert "restart the kernel" in result.stderr


def test_tensorflow_imported_first_with_legacy_flag_is_fine():
    result = run_python("import tensorflow\nimport artspeed\nprint('ok')",
                        TF_USE_LEGACY_KERAS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_openvino_is_imported_after_tensorflow():
    # openvino's import starts a telemetry thread that forks; TensorFlow imported after it
    # could deadlock on the logging and import locks (seen once in 20 `artspeed bench` runs).
    result = run_python(
        "import sys\nfrom artspeed.core.frameworks import import_openvino\nimport_openvino()\n"
        "names = list(sys.modules)\n"
        "print(names.index('tensorflow') < names.index('openvino'))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"


@pytest.fixture(scope="module")
def keras3_model():
    import keras  # Keras 3, installed as TensorFlow's own dependency

    assert keras.__version__.startswith("3.")
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])


@pytest.mark.parametrize("call", [
    lambda m, ds: artspeed.check_tf_keras_model(m),
    lambda m, ds: artspeed.train(m, ds, epochs=1),
    lambda m, ds: artspeed.save_model(m, "never-written.keras"),
    lambda m, ds: artspeed.accuracy(m, ds),
])
def test_keras3_model_is_refused_everywhere(call, keras3_model, shapes_small, tmp_path,
                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KerasVersionError, match="Keras 3 model"):
        call(keras3_model, shapes_small)
    assert not (tmp_path / "never-written.keras").exists()
