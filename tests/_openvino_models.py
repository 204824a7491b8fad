"""A tiny trained CNN on the built-in shapes data, shared by the OpenVINO deployment tests."""

from __future__ import annotations

import pytest

import artspeed


@pytest.fixture(scope="session")
def shapes_tiny():
    """400 train and 200 test images of the built-in shapes dataset."""
    return artspeed.load_dataset("shapes", limit_train=400, limit_test=200)


@pytest.fixture(scope="session")
def trained_cnn(shapes_tiny, tmp_path_factory):
    """(a small baseline CNN trained for one epoch, its .keras path)."""
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    model = artspeed.baseline_cnn(shapes_tiny.input_shape, shapes_tiny.num_classes, width=4)
    artspeed.train(model, shapes_tiny, epochs=2, progress=False)
    path = artspeed.save_model(model, tmp_path_factory.mktemp("cnn") / "cnn.keras")
    return model, path
