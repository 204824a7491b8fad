"""Safe loading: a model file whose loading could run code is refused, in every format.

The files are real: a tf_keras model with a Lambda layer whose function touches a
marker file, saved as .h5, as a SavedModel folder and as .keras. Loading one with
plain tf_keras runs that function; artspeed.load_model must refuse it before.
"""

import artspeed  # noqa: I001  (before TensorFlow: selects Keras 2)

import json
import shutil

import h5py
import numpy as np
import pytest
import tf_keras

from artspeed.cli.app import build_parser
from artspeed.core.errors import KerasVersionError, ModelError
from conftest import run_cli, run_python

OPT_IN = "pass safe_mode=False (CLI: --unsafe) only if you trust the file's author"


@tf_keras.saving.register_keras_serializable(package="artspeed_test")
class Doubler(tf_keras.layers.Layer):
    """A custom layer: its code lives in this test, not in tf_keras."""

    def call(self, x):
        return 2 * x


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """(folder, marker, {format: path}) of a model whose Lambda touches ``marker``."""
    folder = tmp_path_factory.mktemp("crafted")
    marker = folder / "marker"
    # Marshalled with the model: only literals and builtins, no closure.
    touch = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")
    inputs = tf_keras.Input((3,))
    x = tf_keras.layers.Dense(4, name="dense")(inputs)
    x = tf_keras.layers.Lambda(touch, name="sneaky")(x)
    model = tf_keras.Model(inputs, x)
    paths = {"h5": folder / "crafted.h5", "savedmodel": folder / "crafted_savedmodel",
             "keras": folder / "crafted.keras"}
    model.save(paths["h5"])
    model.save(paths["savedmodel"], save_format="tf")
    model.save(paths["keras"])
    marker.unlink()  # building and saving called the layer
    return folder, marker, paths


@pytest.fixture
def marker(crafted):
    _, marker, _ = crafted
    if marker.exists():
        marker.unlink()
    yield marker
    if marker.exists():
        marker.unlink()


@pytest.mark.parametrize("kind", ["h5", "savedmodel", "keras"])
def test_lambda_is_refused_before_its_code_runs(crafted, marker, kind):
    path = crafted[2][kind]
    with pytest.raises(ModelError) as info:
        artspeed.load_model(path)
    message = str(info.value)
    assert "'sneaky' (Lambda)" in message and "could run code" in message
    assert OPT_IN in message
    assert not marker.exists()
    with pytest.raises(ModelError, match="'sneaky' \\(Lambda\\)"):
        artspeed.load_predictor(path)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["h5", "savedmodel", "keras"])
def test_safe_mode_false_loads_the_lambda(crafted, marker, kind):
    model = artspeed.load_model(crafted[2][kind], safe_mode=False)
    assert [layer.name for layer in model.layers][-1] == "sneaky"
    out = model(np.ones((2, 3), np.float32))
    assert out.shape == (2, 4)
    assert marker.exists()  # the opt-in ran the file's code, as it says


def test_an_h5_named_keras_is_still_checked(crafted, marker, tmp_path):
    # tf_keras loads a .keras that is not a zip with its .h5 loader, without safe mode
    disguised = tmp_path / "disguised.keras"
    shutil.copy(crafted[2]["h5"], disguised)
    with pytest.raises(ModelError, match="'sneaky' \\(Lambda\\)"):
        artspeed.load_model(disguised)
    assert not marker.exists()


def test_a_savedmodel_from_before_keras_metadata_files_is_checked(crafted, marker, tmp_path):
    """Before TF 2.5 the Keras metadata lived in saved_model.pb's object graph."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tf_keras.protobuf import saved_metadata_pb2

    folder = tmp_path / "old_savedmodel"
    shutil.copytree(crafted[2]["savedmodel"], folder)
    metadata = saved_metadata_pb2.SavedMetadata()
    metadata.ParseFromString((folder / "keras_metadata.pb").read_bytes())
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((folder / "saved_model.pb").read_bytes())
    nodes = saved.meta_graphs[0].object_graph_def.nodes
    for node in metadata.nodes:
        nodes[node.node_id].user_object.metadata = node.metadata
    (folder / "saved_model.pb").write_bytes(saved.SerializeToString())
    (folder / "keras_metadata.pb").unlink()
    with pytest.raises(ModelError, match="'sneaky' \\(Lambda\\)"):
        artspeed.load_model(folder)
    assert not marker.exists()
    assert artspeed.load_model(folder, safe_mode=False).layers[-1].name == "sneaky"


def test_deploy_refuses_the_lambda_by_default(crafted, marker, tmp_path):
    with pytest.raises(ModelError, match=OPT_IN.split(" (")[0]):
        artspeed.deploy(crafted[2]["h5"], tmp_path / "ir")
    with pytest.raises(ModelError, match="'sneaky'"):
        artspeed.convert_model(crafted[2]["keras"])
    assert not marker.exists()


def test_the_tour_refuses_the_lambda_by_default(crafted, marker, shapes_small, tmp_path):
    with pytest.raises(ModelError, match="'sneaky' \\(Lambda\\)"):
        artspeed.run_tour(crafted[2]["savedmodel"], shapes_small, out=tmp_path / "tour",
                          progress=False)
    assert not marker.exists()


def test_a_custom_object_is_refused_naming_its_class(tmp_path):
    inputs = tf_keras.Input((3,))
    model = tf_keras.Model(inputs, Doubler(name="double")(inputs))
    path = tmp_path / "custom.h5"
    model.save(path)
    # here the class is registered, so tf_keras would run its code: refused all the same
    with pytest.raises(ModelError, match="'double' \\(artspeed_test>Doubler\\).*custom object"):
        artspeed.load_model(path)
    loaded = artspeed.load_model(path, safe_mode=False)
    assert float(loaded(np.ones((1, 3), np.float32))[0, 0]) == 2.0
    # a fresh interpreter, where nothing registers Doubler
    run = run_python(f"import artspeed\ntry:\n    artspeed.load_model({str(path)!r})\n"
                     "except artspeed.ModelError as exc:\n    print(exc)\n")
    assert run.returncode == 0, run.stderr
    assert "Doubler" in run.stdout and "custom object" in run.stdout and "--unsafe" in run.stdout


def test_built_in_models_still_load(tmp_path):
    inputs = tf_keras.Input((8, 3))
    x = tf_keras.layers.Bidirectional(tf_keras.layers.LSTM(4, return_sequences=True))(inputs)
    x = tf_keras.layers.TimeDistributed(tf_keras.layers.Dense(2))(x)
    x = tf_keras.layers.Dense(3, kernel_regularizer=tf_keras.regularizers.l2(1e-3),
                              kernel_constraint=tf_keras.constraints.MaxNorm(2))(x)
    x = 2.0 * x[:, 1:]                             # TFOpLambda and SlicingOpLambda
    inner = tf_keras.Sequential([tf_keras.layers.Dense(2)], name="inner")
    model = tf_keras.Model(inputs, inner(x))
    model.compile("adam", "mse", metrics=["mae"])
    for name in ("m.h5", "m.keras", "m_savedmodel"):
        model.save(tmp_path / name, **({"save_format": "tf"} if "_" in name else {}))
        loaded = artspeed.load_model(tmp_path / name)
        assert loaded.count_params() == model.count_params()


def test_keras3_h5_gets_the_keras_version_error(tmp_path):
    path = tmp_path / "k3.h5"
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
         "config": {"name": "dense", "units": 2}}]}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "3.6.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        f.create_group("model_weights")
    with pytest.raises(KerasVersionError, match="saved by Keras 3.6.0.*tf_keras"):
        artspeed.load_model(path)


def test_h5_of_weights_only_says_so(tmp_path):
    path = tmp_path / "weights.h5"
    artspeed.dense_example().save_weights(path)
    with pytest.raises(ModelError, match="holds weights only.*load_weights"):
        artspeed.load_model(path)


def test_a_savedmodel_without_keras_objects_is_not_a_keras_model(tmp_path):
    import tensorflow as tf

    module = tf.Module()
    module.v = tf.Variable(1.0)
    tf.saved_model.save(module, str(tmp_path / "plain"))
    with pytest.raises(ModelError, match="tf_keras model"):
        artspeed.load_model(tmp_path / "plain")


@pytest.mark.parametrize("command", [
    ["profile", "m.keras"], ["bench", "m.keras"], ["quantize", "m.keras", "--mode", "dynamic",
                                                   "--out", "q.tflite"],
    ["prune", "m.keras", "--out", "p.keras"], ["distill", "m.keras", "--out", "s.keras"],
    ["deploy", "m.keras", "--precision", "f32", "--out", "ir"], ["tour", "m.keras"]])
def test_every_loading_subcommand_takes_unsafe(command):
    assert build_parser().parse_args([*command, "--unsafe"]).unsafe is True
    assert build_parser().parse_args(command).unsafe is False


def test_cli_refuses_the_lambda_and_names_the_flag(crafted, marker):
    path = str(crafted[2]["h5"])
    run = run_cli("profile", path)
    assert run.returncode == 2
    # one line from artspeed, last; TensorFlow's C++ start-up logs (absl, printed before
    # absl::InitializeLog) ignore TF_CPP_MIN_LOG_LEVEL and may come before it
    lines = run.stderr.strip().splitlines()
    ours = [line for line in lines if line.startswith("artspeed")]
    assert ours == lines[-1:] and "Traceback" not in run.stderr
    assert "--unsafe" in ours[0] and "'sneaky' (Lambda)" in ours[0]
    assert not marker.exists()
    run = run_cli("profile", path, "--unsafe", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["total_params"] == 16
