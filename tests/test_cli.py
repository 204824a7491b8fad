"""The artspeed command line: one line on bad input, JSON on request."""

import json

import pytest
from conftest import run_cli

from artspeed.cli import main


def test_version_and_help():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("artspeed ")
    result = run_cli("--help")
    assert result.returncode == 0 and "train" in result.stdout


def test_unknown_dataset_is_one_line_without_traceback():
    result = run_cli("train", "--dataset", "nope")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "unknown dataset 'nope'" in lines[0] and "shapes" in lines[0]


@pytest.mark.parametrize("args, match", [
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--width", "x"], "--width"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_are_one_line(args, match, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(args)
    assert excinfo.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_offline_download_error_is_one_line(tmp_path):
    # No data folder file, an empty Keras cache, and downloads forbidden.
    result = run_cli("train", "--dataset", "fashion_mnist", "--out", str(tmp_path / "m.keras"),
                     HOME=str(tmp_path), ARTSPEED_DATA_DIR=str(tmp_path), ARTSPEED_OFFLINE="1")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "ARTSPEED_DATA_DIR" in lines[0] and "shapes" in lines[0]
    assert not (tmp_path / "m.keras").exists()


def test_train_json_on_the_builtin_dataset(tmp_path, capsys):
    out = tmp_path / "runs" / "b.keras"
    assert main(["train", "--dataset", "shapes", "--epochs", "1", "--width", "4",
                 "--limit-train", "300", "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["dataset"] == "shapes" and payload["train_samples"] == 300
    assert payload["epochs"] == 1 and len(payload["epoch_seconds"]) == 1
    assert 0.0 <= payload["test_accuracy"] <= 1.0
    assert payload["model_path"] == str(out) and out.stat().st_size == payload["size_bytes"]


def test_unwritable_out_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["train", "--dataset", "shapes", "--epochs", "1", "--width", "4",
                 "--limit-train", "100", "--out", str(blocker / "m.keras"), "--json"])
    assert code == 2
    assert "cannot create the folder" in capsys.readouterr().err
    assert not any(tmp_path.glob("**/*.keras"))
