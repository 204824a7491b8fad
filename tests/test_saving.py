"""Save and load: native format, safe loading, atomic writes, clear errors."""

import json
import zipfile

import numpy as np
import pytest

import artspeed
from artspeed.core.errors import KerasVersionError, ModelError


def test_round_trip_keeps_predictions(tmp_path, shapes_small):
    model = artspeed.baseline_cnn(width=4)
    path = artspeed.save_model(model, tmp_path / "nested" / "m.keras")
    assert path.exists() and [p.name for p in path.parent.iterdir()] == ["m.keras"]
    loaded = artspeed.load_model(path)
    x = shapes_small.x_test[:8]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def test_without_the_optimizer_the_file_is_smaller(tmp_path, shapes_small):
    model = artspeed.baseline_cnn(width=4)
    artspeed.train(model, shapes_small, epochs=1, progress=False)
    full = artspeed.save_model(model, tmp_path / "full.keras")
    lean = artspeed.save_model(model, tmp_path / "lean.keras", include_optimizer=False)
    assert lean.stat().st_size < full.stat().st_size
    np.testing.assert_allclose(artspeed.load_model(lean).predict(shapes_small.x_test[:4], verbose=0),
                               model.predict(shapes_small.x_test[:4], verbose=0), atol=1e-6)


def test_h5_round_trip(tmp_path):
    path = artspeed.save_model(artspeed.dense_example(), tmp_path / "dense.h5")
    assert artspeed.load_model(path).count_params() == 387


def test_a_failed_save_leaves_nothing_behind(tmp_path):
    model = artspeed.dense_example()
    target = tmp_path / "m.keras"
    artspeed.save_model(model, target)
    before = target.read_bytes()

    class Boom(RuntimeError):
        pass

    def failing_save(path, *args, **kwargs):  # same signature as Model.save
        open(path, "wb").write(b"half")  # a half-written file, then a crash
        raise Boom("disk full")

    model.save = failing_save
    with pytest.raises(Boom):
        artspeed.save_model(model, target)
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]
    assert target.read_bytes() == before


def test_load_errors_name_the_path(tmp_path):
    with pytest.raises(ModelError, match="no model at .*missing.keras"):
        artspeed.load_model(tmp_path / "missing.keras")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelError, match="not a Keras model"):
        artspeed.load_model(text)
    bad = tmp_path / "bad.keras"
    bad.write_text("not a zip")
    with pytest.raises(ModelError, match="could not load .*bad.keras"):
        artspeed.load_model(bad)
    with pytest.raises(ModelError, match="save the model as .keras"):
        artspeed.save_model(artspeed.dense_example(), tmp_path / "m.pb")


def test_keras3_file_gets_the_keras_version_error(tmp_path):
    path = tmp_path / "k3.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        archive.writestr("config.json", "{}")
    with pytest.raises(KerasVersionError, match="saved by Keras 3.5.0"):
        artspeed.load_model(path)
