"""`artspeed deploy`: an IR per precision, validated; bad input in one line, exit 2."""

import json

import pytest
from _openvino_models import shapes_tiny, trained_cnn  # noqa: F401
from conftest import run_cli_many

KEYS = {"precision", "xml", "bin_bytes", "accuracy", "reference_accuracy", "max_abs_diff",
        "top1_agreement"}


@pytest.fixture(scope="module")
def deployed(trained_cnn, tmp_path_factory):  # noqa: F811
    """``artspeed deploy`` at f32 and int8, then ``artspeed bench`` of each IR, in one
    interpreter (run_cli_many): {command: (exit status, stdout, stderr)}, and the folder."""
    _, path = trained_cnn
    out = tmp_path_factory.mktemp("deployed")
    commands = {}
    for precision in ("f32", "int8"):
        commands[f"deploy {precision}"] = [
            "deploy", str(path), "--precision", precision, "--dataset", "shapes",
            "--calibration-samples", "40", "--limit-train", "400", "--out", str(out), "--json"]
    for precision in ("f32", "int8"):   # deploy names the IR <model>_<precision>.xml
        commands[f"bench {precision}"] = ["bench", str(out / f"{path.stem}_{precision}.xml"),
                                          "--iterations", "20", "--json"]
    return run_cli_many(commands), out


@pytest.mark.parametrize("precision", ["f32", "int8"])
def test_deploy_json_and_bench_the_ir(deployed, trained_cnn, precision):  # noqa: F811
    done, out = deployed
    code, stdout, stderr = done[f"deploy {precision}"]
    assert code == 0, stderr
    payload = json.loads(stdout)
    assert KEYS <= set(payload)
    assert payload["precision"] == precision
    assert payload["top1_agreement"] >= 0.9
    if precision == "f32":
        assert payload["max_abs_diff"] < 1e-4
    assert payload["xml"] == str(out / f"{trained_cnn[1].stem}_{precision}.xml")
    code, stdout, stderr = done[f"bench {precision}"]   # the IR deploy wrote
    assert code == 0, stderr
    assert json.loads(stdout)["runtime"] == "openvino"


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
    done = run_cli_many({str(i): args for i, (args, _) in enumerate(cases)})
    for i, (args, message) in enumerate(cases):   # one interpreter for all (run_cli_many)
        code, _, stderr = done[str(i)]
        assert code == 2, (args, stderr)
        assert message in stderr and "Traceback" not in stderr
        assert len(stderr.strip().splitlines()) == 1
