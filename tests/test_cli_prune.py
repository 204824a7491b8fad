"""`artspeed prune` and `artspeed distill`: end to end on a tiny model, JSON keys, one-line errors."""

import json

import pytest
from conftest import run_cli, run_cli_many

import artspeed
from artspeed.cli import main


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "tiny.keras"
    return artspeed.save_model(artspeed.baseline_cnn(width=4), path)


KEYS = {"target_sparsity", "achieved_sparsity", "layers", "params", "macs", "size_bytes",
        "gzip_bytes", "accuracy", "baseline_accuracy"}
COMMON = ["--dataset", "shapes", "--epochs", "1", "--limit-train", "200", "--json"]


def _run(capsys, *args):
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_prune_unstructured(saved_model, tmp_path, capsys):
    out = tmp_path / "sparse.keras"
    payload = _run(capsys, "prune", str(saved_model), "--sparsity", "0.8", "--schedule",
                   "polynomial", "--skip", "conv1", "--out", str(out), *COMMON)
    assert KEYS <= set(payload) and payload["target_sparsity"] == 0.8
    assert payload["achieved_sparsity"] == pytest.approx(0.8, abs=0.01)
    layers = {row["name"]: row for row in payload["layers"]}
    assert set(layers) == {"conv1", "conv2", "dense", "logits"}
    assert layers["conv1"]["target_sparsity"] == 0.0
    assert set(layers["dense"]) == {"name", "target_sparsity", "achieved_sparsity"}
    assert payload["size_bytes"] == out.stat().st_size
    assert payload["gzip_bytes"] < payload["baseline_gzip_bytes"]
    assert payload["params"] == payload["baseline_params"]
    assert artspeed.load_model(out).count_params() == payload["params"]


def test_cli_prune_two_four_and_channels(saved_model, tmp_path, capsys):
    payload = _run(capsys, "prune", str(saved_model), "--m-by-n", "2,4", "--out",
                   str(tmp_path / "nm.keras"), *COMMON)
    assert payload["m_by_n"] == [2, 4] and payload["target_sparsity"] == 0.5
    assert artspeed.verify_m_by_n(artspeed.load_model(tmp_path / "nm.keras"), (2, 4)) == \
        {"conv1": True, "conv2": True, "dense": True, "logits": True}
    payload = _run(capsys, "prune", str(saved_model), "--channels", "0.5", "--out",
                   str(tmp_path / "narrow.keras"), *COMMON)
    assert payload["params"] < payload["baseline_params"] / 3
    assert payload["macs"] < payload["baseline_macs"] / 3
    assert payload["filters"]["conv2"] == [8, 4] and payload["achieved_sparsity"] < 0.1


def test_cli_distill(saved_model, tmp_path, capsys):
    out = tmp_path / "student.keras"
    payload = _run(capsys, "distill", str(saved_model), "--student-width", "2", "--compare",
                   "--out", str(out), *COMMON)
    assert {"student_accuracy", "teacher_accuracy", "alone_accuracy", "student_params",
            "teacher_params"} <= set(payload)
    assert payload["student_params"] < payload["teacher_params"]
    assert payload["size_bytes"] == out.stat().st_size
    assert artspeed.load_model(out).count_params() == payload["student_params"]


@pytest.mark.parametrize("args, match", [
    (["--sparsity", "1.0"], r"sparsity must be a fraction in \[0, 1\)"),
    (["--sparsity", "-0.2"], r"sparsity must be a fraction in \[0, 1\)"),
    (["--m-by-n", "4,4"], "invalid N:M pattern"),
    (["--m-by-n", "2-4"], "invalid N:M pattern"),
    (["--sparsity", "0.5", "--m-by-n", "2,4"], "give sparsity or m_by_n, not both"),
    (["--channels", "1.2"], r"channels must be a fraction in \[0, 1\)"),
    (["--channels", "0.9"], "would leave conv1 with no filters"),
    ([], "say what to prune"),
    (["--sparsity", "0.5", "--skip", "conv1", "conv2", "dense", "logits"],
     "no prunable layers left"),
    (["--sparsity", "0.5", "--dataset", "nope"], "unknown dataset 'nope'"),
])
def test_cli_prune_bad_input_is_one_line(args, match, saved_model, tmp_path, capsys):
    argv = ["prune", str(saved_model), "--out", str(tmp_path / "p.keras"), "--epochs", "1",
            "--limit-train", "64", *args]
    if "--dataset" not in args:
        argv += ["--dataset", "shapes"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match.replace("\\", "") in err[0].replace("\\", "") or \
        __import__("re").search(match, err[0]), err


def test_cli_bad_files_are_one_line(tmp_path, saved_model):
    done = run_cli_many({
        "does not exist": ["prune", str(tmp_path / "none.keras"), "--sparsity", "0.5", "--out",
                           str(tmp_path / "p.keras")],
        "out must name a .keras": ["distill", str(saved_model), "--out",
                                   str(tmp_path / "s.tflite")],
        "alpha must be a fraction in [0, 1]": ["distill", str(saved_model), "--alpha", "3",
                                               "--out", str(tmp_path / "s.keras")]})
    for message, (code, _, stderr) in done.items():
        lines = stderr.strip().splitlines()
        assert code == 2 and len(lines) == 1 and message in lines[0], stderr


def test_cli_keras3_file_is_refused(tmp_path):
    import keras  # Keras 3, installed as TensorFlow's own dependency

    path = tmp_path / "k3.keras"
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                      keras.layers.Dense(10)]).save(path)
    result = run_cli("prune", str(path), "--sparsity", "0.5", "--dataset", "shapes",
                     "--out", str(tmp_path / "p.keras"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Keras 3" in lines[-1] and lines[-1].startswith("artspeed")
