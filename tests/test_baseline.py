"""trained_baseline: trained once, saved with its record, reused only when it matches."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import artspeed
from artspeed import InvalidArgumentError, ModelError
from artspeed.core._io import file_sha256

SMALL = {"width": 4, "epochs": 1, "progress": False}


@pytest.fixture(scope="module")
def tiny():
    return artspeed.load_dataset("shapes", limit_train=300, limit_test=100)


def _record(path):
    return json.loads(path.with_name(path.name + ".json").read_text())


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def _last_line(capsys):
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_it_trains_saves_its_record_then_reuses_the_same_weights(tiny, tmp_path, capsys):
    path = tmp_path / "runs" / "baseline.keras"
    first = artspeed.trained_baseline(tiny, path=path, **SMALL)
    assert not first.reused and first.path == path and first.history.epochs == 1
    assert _last_line(capsys).startswith("trained the baseline (width 4, 1 epoch on shapes, "
                                         "300 images) in ")
    assert _files(path.parent) == ["baseline.keras", "baseline.keras.json"]
    record = _record(path)
    assert record["model_sha256"] == file_sha256(path)
    assert record["dataset"]["name"] == "shapes" and record["dataset"]["train_samples"] == 300
    assert record["dataset"]["input_shape"] == [28, 28, 1]
    assert record["dataset"]["num_classes"] == 10 and len(record["dataset"]["class_names"]) == 10
    assert (record["width"], record["epochs"], record["seed"]) == (4, 1, 0)
    assert record["fast_mode"] == artspeed.fast_mode()
    assert record["versions"]["artspeed"] and record["versions"]["tensorflow"]
    assert record["params"] == first.model.count_params()
    modified = path.stat().st_mtime_ns

    again = artspeed.trained_baseline(tiny, path=path, **SMALL)
    assert _last_line(capsys) == (f"reused the baseline {path} "
                                  "(width 4, 1 epoch on shapes, 300 images)")
    assert again.reused and again.model is not first.model
    for old, new in zip(first.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert again.history == first.history                      # from the record: no training
    assert path.stat().st_mtime_ns == modified and _record(path) == record
    assert again.to_dict()["reused"] is True and "reused from" in repr(again)
    np.testing.assert_array_equal(artspeed.predict_labels(again.model, tiny.x_test),
                                  artspeed.predict_labels(first.model, tiny.x_test))


def test_without_a_path_it_trains_every_time(tiny, capsys):
    one = artspeed.trained_baseline(tiny, **SMALL)
    two = artspeed.trained_baseline(tiny, **SMALL)
    assert one.path is None and not one.reused and not two.reused
    for a, b in zip(one.model.get_weights(), two.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)                     # seeded: the same model twice
    assert "saved" not in _last_line(capsys)


@pytest.mark.parametrize("change, why", [
    ({"width": 8}, "it was trained with width 4, not 8"),
    ({"seed": 3}, "it was trained with seed 0, not 3"),
    ({"epochs": 2}, "it was trained with epochs 1, not 2"),
])
def test_a_different_request_retrains_and_replaces_it(tiny, tmp_path, capsys, change, why):
    path = tmp_path / "baseline.keras"
    first = artspeed.trained_baseline(tiny, path=path, **SMALL)
    other = artspeed.trained_baseline(tiny, path=path, **{**SMALL, **change})
    assert not other.reused
    assert _last_line(capsys).endswith(f"; saved to {path} (the one there was not reused: {why})")
    assert _record(path)["model_sha256"] == file_sha256(path)
    key, value = next(iter(change.items()))
    assert _record(path)[key] == value
    if "width" in change:
        assert other.model.count_params() > first.model.count_params()
    assert artspeed.trained_baseline(tiny, path=path, **{**SMALL, **change}).reused
    assert _files(tmp_path) == ["baseline.keras", "baseline.keras.json"]


def test_other_data_retrains(tiny, tmp_path, capsys):
    path = tmp_path / "baseline.keras"
    artspeed.trained_baseline(tiny, path=path, **SMALL)
    fewer = artspeed.load_dataset("shapes", limit_train=200, limit_test=100)
    assert not artspeed.trained_baseline(fewer, path=path, **SMALL).reused
    assert "dataset.train_samples 300, not 200" in _last_line(capsys)
    artspeed.trained_baseline(tiny, path=path, **SMALL)
    # the same images fetched from elsewhere are the same data
    moved = artspeed.Dataset("shapes", tiny.x_train, tiny.y_train, tiny.x_test, tiny.y_test,
                             tiny.class_names, "a folder of .npz files")
    assert artspeed.trained_baseline(moved, path=path, **SMALL).reused
    # the same sizes, other images: told apart by the digest of the arrays
    shuffled = artspeed.Dataset("shapes", tiny.x_train[::-1].copy(), tiny.y_train[::-1].copy(),
                                tiny.x_test, tiny.y_test, tiny.class_names, tiny.source)
    assert not artspeed.trained_baseline(shuffled, path=path, **SMALL).reused
    assert _last_line(capsys).endswith("it was trained with other images or labels of the "
                                       "same size (their digest differs))")


def test_retrain_trains_even_when_it_matches(tiny, tmp_path):
    path = tmp_path / "baseline.keras"
    artspeed.trained_baseline(tiny, path=path, **SMALL)
    assert not artspeed.trained_baseline(tiny, path=path, retrain=True, **SMALL).reused


@pytest.mark.parametrize("damage, why", [
    ("truncate", "the file is not the one its record describes (changed or half-written)"),
    ("garbage", "the file is not the one its record describes (changed or half-written)"),
    ("garbage, record updated", "it could not be loaded"),
    ("no record", "it has no readable record baseline.keras.json"),
    ("broken record", "it has no readable record baseline.keras.json"),
])
def test_a_damaged_file_is_never_reused(tiny, tmp_path, capsys, damage, why):
    path = tmp_path / "baseline.keras"
    good = artspeed.trained_baseline(tiny, path=path, **SMALL)
    sidecar = path.with_name(path.name + ".json")
    if damage == "truncate":      # as a copy cut short leaves it
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage.startswith("garbage"):
        path.write_bytes(b"not a model at all")
        if damage.endswith("record updated"):
            sidecar.write_text(json.dumps({**_record(path), "model_sha256": file_sha256(path)}))
    elif damage == "no record":
        sidecar.unlink()
    else:
        sidecar.write_text('{"width": 4, "epo')
    again = artspeed.trained_baseline(tiny, path=path, **SMALL)
    assert not again.reused and why in _last_line(capsys)
    assert artspeed.load_model(path).count_params() == good.model.count_params()
    assert _record(path)["model_sha256"] == file_sha256(path)
    assert artspeed.trained_baseline(tiny, path=path, **SMALL).reused
    assert _files(tmp_path) == ["baseline.keras", "baseline.keras.json"]


def test_bad_requests_fail_before_training(tiny, tmp_path):
    with pytest.raises(ModelError, match="save the model as .keras"):
        artspeed.trained_baseline(tiny, path=tmp_path / "model.onnx", **SMALL)
    (tmp_path / "d.keras").mkdir()
    with pytest.raises(InvalidArgumentError, match="is a folder; give a file path"):
        artspeed.trained_baseline(tiny, path=tmp_path / "d.keras", **SMALL)
    with pytest.raises(InvalidArgumentError, match="width must be a whole number"):
        artspeed.trained_baseline(tiny, width=0, path=tmp_path / "b.keras", progress=False)
    with pytest.raises(InvalidArgumentError, match="epochs must be a whole number"):
        artspeed.trained_baseline(tiny, epochs=0, path=tmp_path / "b.keras", progress=False)
    with pytest.raises(InvalidArgumentError, match="expected an artspeed Dataset"):
        artspeed.trained_baseline(tiny.x_train, **SMALL)
    assert _files(tmp_path) == ["d.keras"]


def test_the_default_epochs_follow_fast_mode(monkeypatch):
    monkeypatch.setenv("ARTSPEED_FAST", "1")
    assert artspeed.baseline_epochs() == 1
    assert artspeed.baseline_path("mnist").name == "mnist-fast.keras"
    monkeypatch.setenv("ARTSPEED_FAST", "0")
    assert artspeed.baseline_epochs() == 5
    assert artspeed.baseline_path("mnist").name == "mnist.keras"


def test_the_baseline_path_is_the_repositorys_from_any_folder(monkeypatch):
    root = artspeed.runs_dir().parent
    assert (root / "pyproject.toml").is_file()
    monkeypatch.chdir(root / "notebooks")
    assert artspeed.baseline_path("shapes").parent == root / "runs" / "baseline"


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_an_interrupted_retraining_keeps_the_saved_baseline_whole(tiny, tmp_path):
    path = tmp_path / "baseline.keras"
    artspeed.trained_baseline(tiny, path=path, **SMALL)
    before = file_sha256(path), _record(path)
    code = ("import artspeed\n"
            "ds = artspeed.load_dataset('shapes', limit_train=2000, limit_test=100)\n"
            f"artspeed.trained_baseline(ds, width=4, epochs=200, path={str(path)!r})\n")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, env=env)
    seen = b""
    deadline = time.monotonic() + 120
    while b"epoch 2" not in seen and process.poll() is None and time.monotonic() < deadline:
        seen += process.stderr.read1(4096)      # tqdm's bar: "epoch 1", "epoch 2", ...
    assert process.poll() is None, seen.decode()[-2000:]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) != 0
    assert (file_sha256(path), _record(path)) == before
    assert _files(tmp_path) == ["baseline.keras", "baseline.keras.json"]
    assert artspeed.trained_baseline(tiny, path=path, **SMALL).reused


def test_the_vehicle_is_trained_once_then_reused_with_its_own_record(tmp_path, capsys):
    scenes = artspeed.load_dataset("scenes", limit_train=100, limit_test=50)
    path = tmp_path / "vehicle.keras"
    first = artspeed.trained_vehicle(scenes, alpha=0.35, epochs=1, path=path, progress=False)
    assert _last_line(capsys).startswith("trained the vehicle (alpha 0.35, 1 epoch on scenes, "
                                         "100 images) in ")
    record = _record(path)
    assert record["model"] == "vehicle" and record["alpha"] == 0.35
    assert record["dataset"]["input_shape"] == [96, 96, 3]
    assert first.model.get_layer("block_4_add") is not None
    again = artspeed.trained_vehicle(scenes, alpha=0.35, epochs=1, path=path)
    assert again.reused and _last_line(capsys) == (
        f"reused the vehicle {path} (alpha 0.35, 1 epoch on scenes, 100 images)")
    other = artspeed.trained_vehicle(scenes, alpha=0.5, epochs=1, path=path, progress=False)
    assert not other.reused and "alpha 0.35, not 0.5" in _last_line(capsys)
    # a baseline's record is not a vehicle's: the same file is not reused across them
    artspeed.trained_baseline(artspeed.load_dataset("scenes", limit_train=100, limit_test=50),
                              path=path, **SMALL)
    assert "model 'vehicle', not 'baseline_cnn'" in _last_line(capsys)
