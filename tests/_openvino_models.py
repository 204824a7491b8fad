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
    """(a small baseline CNN trained for two epochs, its .keras path)."""
    baseline = artspeed.trained_baseline(shapes_tiny, width=4, epochs=2, progress=False,
                                         path=tmp_path_factory.mktemp("cnn") / "cnn.keras")
    return baseline.model, baseline.path
