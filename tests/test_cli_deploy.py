"""`artspeed deploy`: an IR per precision, validated; bad input in one line, exit 2."""

import json

import pytest
from _openvino_models import shapes_tiny, trained_cnn  # noqa: F401
from conftest import run_cli

KEYS = {"precision", "xml", "bin_bytes", "accuracy", "reference_accuracy", "max_abs_diff",
        "top1_agreement"}


@pytest.mark.parametrize("precision", ["f32", "int8"])
def test_deploy_json_and_bench_the_ir(trained_cnn, tmp_path, precision):  # noqa: F811
    _, path = trained_cnn
    done = run_cli("deploy", str(path), "--precision", precision, "--dataset", "shapes",
                   "--calibration-samples", "40", "--limit-train", "400",
                   "--out", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert KEYS <= set(payload)
    assert payload["precision"] == precision
    assert payload["top1_agreement"] >= 0.9
    if precision == "f32":
        assert payload["max_abs_diff"] < 1e-4
    bench = run_cli("bench", payload["xml"], "--iterations", "20", "--json")
    assert bench.returncode == 0, bench.stderr
    assert json.loads(bench.stdout)["runtime"] == "openvino"


def test_deploy_bad_input(trained_cnn, tmp_path):  # noqa: F811
    _, path = trained_cnn
    cases = [
        (["deploy", str(path), "--precision", "int4", "--out", str(tmp_path)], "unknown precision"),
        (["deploy", str(tmp_path / "gone.keras"), "--precision", "f32", "--out", str(tmp_path)],
         "does not exist"),
        (["deploy", str(path), "--precision", "f32", "--dataset", "imagenet",
          "--out", str(tmp_path)], "imagenet"),
    ]
    (tmp_path / "m.xml").write_text("<net/>")
    cases.append((["deploy", str(tmp_path / "m.xml"), "--precision", "f32",
                   "--out", str(tmp_path)], "not a model artspeed can deploy"))
    cases.append((["bench", str(tmp_path / "m.xml")], "no weights file 'm.bin'"))
    for args, message in cases:
        done = run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
