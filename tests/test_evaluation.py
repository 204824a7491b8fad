"""Accuracy of any Predictor, agreement between models, size on disk."""

import gzip

import numpy as np
import pytest
from _inference_models import tiny_models  # noqa: F401  (a session fixture)

import artspeed
from artspeed.core.errors import InvalidArgumentError, ModelError


@pytest.fixture(scope="module")
def shapes_tiny():
    return artspeed.load_dataset("shapes", limit_train=16, limit_test=100)


def test_accuracy_is_the_same_across_runtimes(tiny_models, shapes_tiny):  # noqa: F811
    keras_acc = artspeed.accuracy(tiny_models["model"], shapes_tiny)
    for key in ("tflite", "xml", "tflite_fixed", "xml_fixed"):
        predictor = artspeed.load_predictor(tiny_models[key])
        assert artspeed.accuracy(predictor, shapes_tiny, batch_size=32) == pytest.approx(keras_acc)
    labels = artspeed.predict_labels(artspeed.load_predictor(tiny_models["tflite_fixed"]),
                                     shapes_tiny.x_test[:7])
    assert labels.shape == (7,)  # a fixed batch of 1, fed one at a time


def test_agreement(tiny_models, shapes_tiny):  # noqa: F811
    float_model = artspeed.load_predictor(tiny_models["tflite"])
    int8_model = artspeed.load_predictor(tiny_models["tflite_int8"])
    assert artspeed.agreement(tiny_models["model"], float_model, shapes_tiny) == 1.0
    assert 0.5 <= artspeed.agreement(float_model, int8_model, shapes_tiny) <= 1.0


def test_model_size(tiny_models, tmp_path):  # noqa: F811
    size = artspeed.model_size(tiny_models["tflite"])
    data = tiny_models["tflite"].read_bytes()
    assert size.size_bytes == len(data)
    assert size.gzip_bytes == len(gzip.compress(data, 9, mtime=0))
    ir = artspeed.model_size(tiny_models["xml"])
    assert len(ir.files) == 2  # the .xml and its .bin
    assert ir.size_bytes == sum(p.stat().st_size for p in (
        tiny_models["xml"], tiny_models["xml"].with_suffix(".bin")))
    in_memory = artspeed.model_size(tiny_models["model"])
    assert in_memory.size_bytes > 0 and in_memory.gzip_times_smaller > 1
    assert in_memory.gzip_times_smaller == in_memory.size_bytes / in_memory.gzip_bytes
    with pytest.warns(DeprecationWarning, match="gzip_ratio was renamed gzip_times_smaller"):
        assert in_memory.gzip_ratio == in_memory.gzip_times_smaller
    assert artspeed.ModelSize.from_json(size.to_json()) == size
    with pytest.raises(ModelError, match="does not exist"):
        artspeed.model_size(tmp_path / "none.tflite")


def test_bad_input(tiny_models, shapes_tiny):  # noqa: F811
    cifar_like = artspeed.Dataset("c", np.zeros((2, 32, 32, 3), np.float32), np.zeros(2),
                                  np.zeros((2, 32, 32, 3), np.float32), np.zeros(2),
                                  tuple("abcdefghij"), "test")
    with pytest.raises(InvalidArgumentError, match="32, 32, 3"):
        artspeed.accuracy(artspeed.load_predictor(tiny_models["tflite"]), cifar_like)
    with pytest.raises(InvalidArgumentError, match="Dataset"):
        artspeed.accuracy(tiny_models["model"], shapes_tiny.x_test)
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        artspeed.predict_labels(tiny_models["model"], shapes_tiny.x_test, batch_size=0)
    with pytest.raises(ModelError, match="tf_keras model"):
        artspeed.predict_labels("model.keras", shapes_tiny.x_test)
