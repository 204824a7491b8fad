"""`artspeed bench` runs OpenVINO in its own default precision (as benchmark_app) unless asked."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli_many

import artspeed
from artspeed.core.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny CNN saved as .keras and as an f32 IR."""
    import tf_keras

    folder = tmp_path_factory.mktemp("bench_precision")
    tf_keras.utils.set_random_seed(0)
    model = artspeed.baseline_cnn(width=4)
    return {"keras": artspeed.save_model(model, folder / "tiny.keras"),
            "xml": artspeed.save_ir(artspeed.convert_model(model), folder / "tiny.xml")}


@pytest.fixture(scope="module")
def benched(tiny):
    """``artspeed bench`` four ways, in one interpreter (run_cli_many):
    {key: (exit status, stdout, stderr)}."""
    xml, keras = str(tiny["xml"]), str(tiny["keras"])
    return run_cli_many({
        "ir": ["bench", xml, "--iterations", "20", "--json"],
        "ir f32": ["bench", xml, "--iterations", "20", "--precision", "f32", "--json"],
        "ir and keras": ["bench", xml, keras, "--iterations", "20"],
        "ir and keras f32": ["bench", xml, keras, "--iterations", "20", "--precision", "f32"]})


def test_cli_bench_reports_the_precision_that_ran(benched):
    default = artspeed.default_inference_precision()["default"]
    code, stdout, stderr = benched["ir"]
    assert code == 0, stderr
    payload = json.loads(stdout)
    assert payload["inference_precision"] == default
    assert payload["predictor"]["precision"] is None   # nothing pinned: OpenVINO chose
    assert payload["predictor"]["compiled_precision"] == default

    code, stdout, stderr = benched["ir f32"]
    assert code == 0, stderr
    payload = json.loads(stdout)
    assert payload["inference_precision"] == "f32" and payload["predictor"]["precision"] == "f32"


def test_cli_bench_table_has_a_precision_column(benched):
    default = artspeed.default_inference_precision()["default"]
    code, stdout, stderr = benched["ir and keras"]
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0].split()[:3] == ["model", "runtime", "precision"]
    assert lines[1].split()[1:3] == ["openvino", default]
    assert lines[2].split()[1:3] == ["keras", "-"]
    assert (f"ran in {default}" in stdout) == (default != "f32")

    # --precision applies to the OpenVINO models only, so Keras can stay in the comparison
    code, stdout, stderr = benched["ir and keras f32"]
    assert code == 0, stderr
    assert stdout.splitlines()[1].split()[1:3] == ["openvino", "f32"]
    assert "ran in" not in stdout


def test_bench_models_precision(tiny):
    default = artspeed.default_inference_precision()["default"]
    comparison = artspeed.bench_models([tiny["xml"], tiny["keras"]], iterations=5, warmup=1)
    ov_run, keras_run = comparison.runs
    assert ov_run.inference_precision == default and keras_run.inference_precision is None
    assert ov_run.to_dict()["inference_precision"] == default
    assert keras_run.to_dict()["inference_precision"] is None
    assert any(f"ran in {default}" in note for note in comparison.notes) == (default != "f32")

    run, = artspeed.bench_models([tiny["keras"]], "openvino", precision="f32", iterations=5,
                                 warmup=1).runs
    assert run.inference_precision == "f32"
    run, = artspeed.bench_models([tiny["xml"]], precision="bf16", scenario="single-stream",
                                 duration_s=0.05).runs
    if "BF16" in artspeed.default_inference_precision()["capabilities"]:
        assert run.inference_precision == "bf16"
    assert run.to_dict()["inference_precision"] == run.inference_precision

    with pytest.raises(InvalidArgumentError, match="none of these models runs in OpenVINO"):
        artspeed.bench_models([tiny["keras"]], precision="f32")
    with pytest.raises(InvalidArgumentError, match="precision must be f32, bf16, f16 or None"):
        artspeed.bench_models([tiny["xml"]], precision="int8")


def test_the_library_still_pins_f32(tiny):
    # load_predictor and compile_model keep f32, so outputs match Keras's
    with artspeed.load_predictor(tiny["xml"]) as predictor:
        predictor(predictor.sample_input())
        assert predictor.describe()["compiled_precision"] == "f32"
    predictor = artspeed.compile_model(tiny["xml"])
    assert predictor.describe()["precision"] == "f32"
