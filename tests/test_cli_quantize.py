"""`artspeed quantize`: every mode end to end, JSON keys, one-line errors."""

import json

import pytest
from conftest import run_cli

import artspeed
from artspeed.cli import main


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "tiny.keras"
    return artspeed.save_model(artspeed.baseline_cnn(width=4), path)


KEYS = {"mode", "size_bytes", "float_size_bytes", "accuracy", "float_accuracy", "agreement",
        "input_dtype", "output_dtype"}


@pytest.mark.parametrize("mode, extra, dtypes", [
    ("dynamic", [], ("float32", "float32")),
    ("float16", [], ("float32", "float32")),
    ("int8", ["--io", "uint8", "--calibration-samples", "16"], ("uint8", "uint8")),
    ("int16x8", ["--calibration-samples", "8"], ("float32", "float32")),
    ("qat", ["--epochs", "1", "--limit-train", "200"], ("float32", "float32")),
])
def test_cli_quantize_every_mode(mode, extra, dtypes, saved_model, tmp_path, capsys):
    out = tmp_path / f"{mode}.tflite"
    assert main(["quantize", str(saved_model), "--mode", mode, "--dataset", "shapes",
                 "--out", str(out), "--json", *extra]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert KEYS <= set(payload) and payload["mode"] == mode
    assert payload["size_bytes"] == out.stat().st_size < payload["float_size_bytes"]
    assert (payload["input_dtype"], payload["output_dtype"]) == dtypes
    assert 0 <= payload["accuracy"] <= 1 and 0 <= payload["agreement"] <= 1


@pytest.mark.parametrize("args, match", [
    (["--mode", "int8", "--out", "q.onnx"], "out must name a .tflite file"),
    (["--mode", "dynamic", "--io", "uint8", "--out", "q.tflite"], "input_type='uint8' is not available"),
    (["--mode", "int8", "--epochs", "2", "--out", "q.tflite"], "epochs applies to mode 'qat' only"),
    (["--mode", "int8", "--dataset", "nope", "--out", "q.tflite"], "unknown dataset 'nope'"),
])
def test_cli_bad_arguments_are_one_line(args, match, saved_model, capsys):
    assert main(["quantize", str(saved_model), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_cli_unknown_mode_and_missing_model(tmp_path):
    result = run_cli("quantize", str(tmp_path / "m.keras"), "--mode", "int4", "--out", "q.tflite")
    assert result.returncode == 2 and "invalid choice: 'int4'" in result.stderr
    result = run_cli("quantize", str(tmp_path / "m.keras"), "--mode", "int8", "--out", "q.tflite")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "does not exist" in lines[0]
