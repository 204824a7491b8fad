"""Bad input, over every subcommand and the main API: one clear line, nothing harmed.

The CLI cases run ``artspeed`` one after another in one fresh interpreter (each
command's descriptors 1 and 2 captured on their own, native lines included; one
more case starts an interpreter of its own, first imports included), each in a
folder of real files (a saved model, a .tflite, an IR, a folder with a file in
it, ...), and asserts: exit status 2; exactly one line on stderr, with no
traceback and no native log line; a hint of what to do; and that the folder is
exactly as it was (nothing written, nothing deleted). The API cases assert an
``ArtspeedError`` subclass with the same kind of hint.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from _inference_models import tiny_models  # noqa: F401  (a fixture)
from conftest import run_cli, run_cli_many, tiny_lm

import artspeed
from artspeed.core.errors import ArtspeedError

# (id, argv, a word of the hint). In argv, {name} is a file of the case's folder
# (see _materials); the folder also holds keep/kept.txt and folders named old.keras and old.tflite,
# each with a file in it, which must survive.
CLI_CASES = [
    # train
    ("train-epochs-0", ["train", "--epochs", "0"], ">= 1"),
    ("train-epochs-word", ["train", "--epochs", "x"], "whole number"),
    ("train-width-0", ["train", "--width", "0"], "from 1 to 1024"),
    ("train-width-huge", ["train", "--width", "100000"], "from 1 to 1024"),
    ("train-seed-negative", ["train", "--seed", "-1"], "0 to 4294967295"),
    ("train-seed-huge", ["train", "--seed", str(2**32)], "0 to 4294967295"),
    ("train-batch-0", ["train", "--batch-size", "0"], ">= 1"),
    ("train-limit-negative", ["train", "--limit-train", "-5"], ">= 1"),
    ("train-unknown-dataset", ["train", "--dataset", "nope"], "choose one of"),
    ("train-masks", ["train", "--dataset", "shapes_seg", "--out", "{dir}/m.keras"],
     "train the UNet instead"),
    ("train-out-is-folder", ["train", "--out", "{keras_dir}"], "file path"),
    ("train-out-under-file", ["train", "--out", "{keep}/kept.txt/m.keras"], "another output path"),
    ("train-out-in-proc", ["train", "--out", "/proc/artspeed-test/m.keras"], "another output path"),
    ("train-out-suffix", ["train", "--out", "{dir}/model.txt"], ".keras"),
    # profile
    ("profile-missing", ["profile", "{dir}/nowhere.keras"], "does not exist"),
    ("profile-text-keras", ["profile", "{text_keras}"], "save the model again"),
    ("profile-unknown-app", ["profile", "keras.applications.Nope"], "known:"),
    ("profile-unknown-spec", ["profile", "nothing"], "expected a saved model"),
    ("profile-batch-0", ["profile", "keras.applications.MobileNet", "--batch-size", "0"], ">= 1"),
    ("profile-shape-0", ["profile", "keras.applications.MobileNet", "--input-shape", "0,0,3"],
     "224,224,3"),
    ("profile-shape-on-file", ["profile", "{keras}", "--input-shape", "28,28,1"],
     "keras.applications.NAME only"),
    ("profile-lambda-h5", ["profile", "{lambda_h5}"], "--unsafe"),
    # bench
    ("bench-missing", ["bench", "{dir}/nowhere.tflite"], "does not exist"),
    ("bench-not-a-model", ["bench", "{keep}/kept.txt"], "expected a .keras"),
    ("bench-threads-0", ["bench", "{tflite}", "--threads", "0"], "threads"),
    ("bench-threads-huge", ["bench", "{tflite}", "--threads", "1000000"], "threads"),
    ("bench-streams-huge", ["bench", "{xml}", "--streams", "1000000"], "streams"),
    ("bench-duration-0", ["bench", "{tflite}", "--duration", "0"], "above 0"),
    ("bench-duration-inf", ["bench", "{tflite}", "--duration", "inf"], "above 0"),
    ("bench-duration-nan", ["bench", "{tflite}", "--duration", "nan"], "above 0"),
    ("bench-iterations-0", ["bench", "{tflite}", "--iterations", "0"], ">= 1"),
    ("bench-warmup-word", ["bench", "{tflite}", "--warmup", "many"], "whole number"),
    ("bench-scenario", ["bench", "{tflite}", "--scenario", "burst"], "choose from"),
    ("bench-runtime", ["bench", "{tflite}", "--runtime", "tpu"], "choose from"),
    ("bench-precision", ["bench", "{xml}", "--precision", "f8"], "choose from"),
    ("bench-bound-0", ["bench", "{tflite}", "--latency-bound-ms", "0"], "above 0"),
    ("bench-qps-tiny", ["bench", "{tflite}", "--scenario", "server", "--target-qps", "1e-9"],
     "at least 1 QPS"),
    ("bench-qps-huge", ["bench", "{tflite}", "--scenario", "server", "--target-qps", "1e12",
                        "--duration", "1"], "lower target_qps"),
    ("bench-batch-huge", ["bench", "{tflite}", "--batch-size", str(10**12)], "batch size of at most"),
    ("bench-corrupt-tflite", ["bench", "{corrupt_tflite}"], "TFLite model"),
    ("bench-text-xml", ["bench", "{text_xml}"], "OpenVINO IR"),
    ("bench-xml-without-bin", ["bench", "{lonely_xml}"], "copy both"),
    ("bench-truncated-bin", ["bench", "{truncated_xml}"], "truncated"),
    # quantize
    ("quantize-mode", ["quantize", "{keras}", "--mode", "int4", "--out", "{dir}/q.tflite"],
     "choose from"),
    ("quantize-no-out", ["quantize", "{keras}", "--mode", "int8"], "--out"),
    ("quantize-out-suffix", ["quantize", "{keras}", "--mode", "int8", "--out", "{dir}/q.keras"],
     ".tflite"),
    ("quantize-out-folder", ["quantize", "{keras}", "--mode", "int8", "--out", "{tflite_dir}"],
     "file path"),
    ("quantize-calibration-0", ["quantize", "{keras}", "--mode", "int8",
                                "--calibration-samples", "0", "--out", "{dir}/q.tflite"], ">= 1"),
    ("quantize-io", ["quantize", "{keras}", "--mode", "int8", "--io", "int4",
                     "--out", "{dir}/q.tflite"], "choose from"),
    ("quantize-missing-model", ["quantize", "{dir}/nowhere.keras", "--mode", "int8",
                                "--out", "{dir}/q.tflite"], "does not exist"),
    ("quantize-tflite-as-model", ["quantize", "{tflite}", "--mode", "int8",
                                  "--out", "{dir}/q.tflite"], "expected a .keras"),
    # prune
    ("prune-nothing", ["prune", "{keras}", "--out", "{dir}/p.keras"], "--sparsity S"),
    ("prune-sparsity-1.5", ["prune", "{keras}", "--sparsity", "1.5", "--out", "{dir}/p.keras"],
     "[0, 1)"),
    ("prune-sparsity-nan", ["prune", "{keras}", "--sparsity", "nan", "--out", "{dir}/p.keras"],
     "[0, 1)"),
    ("prune-m-by-n-5-4", ["prune", "{keras}", "--m-by-n", "5,4", "--out", "{dir}/p.keras"],
     "such as (2, 4)"),
    ("prune-m-by-n-word", ["prune", "{keras}", "--m-by-n", "x", "--out", "{dir}/p.keras"],
     "such as (2, 4)"),
    ("prune-channels-1", ["prune", "{keras}", "--channels", "1", "--out", "{dir}/p.keras"],
     "[0, 1)"),
    ("prune-both", ["prune", "{keras}", "--sparsity", "0.5", "--m-by-n", "2,4",
                    "--out", "{dir}/p.keras"], "not both"),
    ("prune-norm", ["prune", "{keras}", "--channels", "0.5", "--norm", "l3",
                    "--out", "{dir}/p.keras"], "choose from"),
    ("prune-out-folder", ["prune", "{keras}", "--sparsity", "0.5", "--out", "{keras_dir}"],
     "file path"),
    # distill
    ("distill-temperature-0", ["distill", "{keras}", "--temperature", "0",
                               "--out", "{dir}/s.keras"], "above 0"),
    ("distill-temperature-inf", ["distill", "{keras}", "--temperature", "inf",
                                 "--out", "{dir}/s.keras"], "above 0"),
    ("distill-temperature-nan", ["distill", "{keras}", "--temperature", "nan",
                                 "--out", "{dir}/s.keras"], "above 0"),
    ("distill-alpha-2", ["distill", "{keras}", "--alpha", "2", "--out", "{dir}/s.keras"],
     "[0, 1]"),
    ("distill-alpha-nan", ["distill", "{keras}", "--alpha", "nan", "--out", "{dir}/s.keras"],
     "[0, 1]"),
    ("distill-width-0", ["distill", "{keras}", "--student-width", "0",
                         "--out", "{dir}/s.keras"], "from 1 to 1024"),
    ("distill-seed-negative", ["distill", "{keras}", "--seed", "-1", "--out", "{dir}/s.keras"],
     "0 to 4294967295"),
    # deploy
    ("deploy-precision", ["deploy", "{keras}", "--precision", "int4", "--out", "{dir}/ir"],
     "choose"),
    ("deploy-not-a-model", ["deploy", "{keep}/kept.txt", "--precision", "f32",
                            "--out", "{dir}/ir"], "expected a .keras"),
    ("deploy-calibration-0", ["deploy", "{keras}", "--precision", "int8",
                              "--calibration-samples", "0", "--out", "{dir}/ir"], ">= 1"),
    ("deploy-wrong-dataset", ["deploy", "{rgb_keras}", "--precision", "f32",
                              "--dataset", "shapes", "--out", "{dir}/ir"], "dataset it was"),
    ("deploy-out-is-file", ["deploy", "{keras}", "--precision", "f32",
                            "--out", "{keep}/kept.txt"], "another output path"),
    # tour
    ("tour-variants", ["tour", "--variants", "turbo", "--out", "{dir}/tour"], "choose from"),
    ("tour-dataset", ["tour", "--dataset", "nope", "--out", "{dir}/tour"], "choose one of"),
    ("tour-missing-model", ["tour", "{dir}/nowhere.keras", "--out", "{dir}/tour"],
     "does not exist"),
    ("tour-out-is-file", ["tour", "--out", "{keep}/kept.txt"], "another output path"),
    ("tour-task-unknown", ["tour", "--task", "detection", "--out", "{dir}/tour"],
     "classification"),
    ("tour-task-not-the-datasets", ["tour", "--task", "segmentation", "--dataset", "scenes",
                                    "--out", "{dir}/tour"], "shapes_seg"),
    ("tour-regression-without-model", ["tour", "--dataset", "scenes_size", "--out",
                                       "{dir}/tour"], "give your own"),
    ("tour-classifier-on-masks", ["tour", "{rgb96_keras}", "--dataset", "shapes_seg",
                                  "--out", "{dir}/tour"], "needs (None, 96, 96, 2 or 1"),
    # tasks on the other commands
    ("quantize-task-not-the-datasets", ["quantize", "{keras}", "--mode", "int8", "--task",
                                        "segmentation", "--dataset", "shapes", "--out",
                                        "{dir}/q.tflite"], "--task classification"),
    ("prune-classifier-on-masks", ["prune", "{rgb96_keras}", "--sparsity", "0.5", "--dataset",
                                   "shapes_seg", "--out", "{dir}/p.keras"], "output shape"),
    ("deploy-task-not-the-datasets", ["deploy", "{keras}", "--precision", "f32", "--task",
                                      "regression", "--dataset", "shapes", "--out", "{dir}/ir"],
     "scenes_size"),
    ("bench-task-without-dataset", ["bench", "{tflite}", "--task", "segmentation"],
     "--dataset"),
    # lm
    ("lm-no-job", ["lm"], "JOB"),
    ("lm-generate-empty-prompt", ["lm", "generate", "{lm}", "--prompt", ""], "at least one"),
    ("lm-generate-long-prompt", ["lm", "generate", "{lm}", "--prompt", "x" * 40],
     "at most 31"),
    ("lm-generate-vocabulary", ["lm", "generate", "{lm}", "--prompt", "d\u00e9f"],
     "outside the model's vocabulary"),
    ("lm-generate-not-an-lm", ["lm", "generate", "{keras}", "--prompt", "def "],
     "artspeed lm train saved"),
    ("lm-generate-h5-not-an-lm", ["lm", "generate", "{lambda_h5}", "--prompt", "def "],
     "no record"),
    ("lm-generate-ir-in-keras", ["lm", "generate", "{xml}", "--prompt", "def ", "--runtime",
                                 "keras"], "OpenVINO"),
    ("lm-compress-group-size", ["lm", "compress", "{lm}", "--precision", "int4",
                                "--group-size", "5", "--out", "{dir}/lmc"], "does not divide"),
    ("lm-bench-past-context", ["lm", "bench", "{lm}", "--prompt-tokens", "30",
                               "--new-tokens", "10"], "context of 32"),
    ("lm-train-out-suffix", ["lm", "train", "--out", "{dir}/model.keras"], ".h5"),
    # serve (all checked before Ray starts)
    ("serve-missing", ["serve", "{dir}/nowhere.keras"], "does not exist"),
    ("serve-not-a-model", ["serve", "{keep}/kept.txt"], "expected a .keras"),
    ("serve-lambda-h5", ["serve", "{lambda_h5}"], "--unsafe"),
    ("serve-replicas-0", ["serve", "{keras}", "--replicas", "0"], ">= 1"),
    ("serve-too-many-cpus", ["serve", "{keras}", "--replicas", "64",
                             "--threads-per-replica", "64"], "lower the replicas"),
    ("serve-streams-on-keras", ["serve", "{keras}", "--streams", "2"], "OpenVINO .xml"),
    ("serve-streams-over-threads", ["serve", "{xml}", "--streams", "2",
                                    "--threads-per-replica", "1"], "at least 2 threads"),
    ("serve-port-huge", ["serve", "{keras}", "--port", "70000"], "65535"),
    ("serve-wait-negative", ["serve", "{keras}", "--batch-wait-ms", "-1"], "number"),
    ("serve-proxy", ["serve", "{keras}", "--proxy", "nginx"], "choose from"),
    ("serve-address-nowhere", ["serve", "{keras}", "--address", "127.0.0.1:1"],
     "ray start --head"),
    # the command itself
    ("unknown-command", ["frobnicate"], "--help"),
]


@pytest.fixture(scope="module")
def _models(tiny_models, tmp_path_factory):  # noqa: F811
    """Real files every case may copy: models, a crafted Lambda .h5, broken files."""
    import tf_keras

    folder = tmp_path_factory.mktemp("bad_input_models")
    inputs = tf_keras.Input((28, 28, 1))
    lambda_model = tf_keras.Model(inputs, tf_keras.layers.Lambda(lambda x: 2 * x)(inputs))
    lambda_model.save(folder / "lambda.h5")
    rgb = artspeed.baseline_cnn((32, 32, 3), 10, width=2)
    artspeed.save_model(rgb, folder / "rgb.keras")
    artspeed.save_model(artspeed.baseline_cnn((96, 96, 3), 2, width=2), folder / "rgb96.keras")
    lm = tiny_lm(width=16)
    lm.save(folder / "tiny.lm.h5")
    data = tiny_models["tflite"].read_bytes()
    return {"keras": tiny_models["keras"], "tflite": tiny_models["tflite"],
            "lm": folder / "tiny.lm.h5",
            "xml": tiny_models["xml"], "lambda_h5": folder / "lambda.h5",
            "rgb_keras": folder / "rgb.keras", "rgb96_keras": folder / "rgb96.keras",
            "corrupt_tflite": data[:8] + np.random.default_rng(0).bytes(len(data) - 8)}


def _materials(folder, models) -> dict:
    """The case's folder: the files its argv may name, and what must survive."""
    (folder / "keep").mkdir()
    (folder / "keep" / "kept.txt").write_text("must survive")
    names = {"dir": folder, "keep": folder / "keep"}
    for key, name in (("keras_dir", "old.keras"), ("tflite_dir", "old.tflite")):
        names[key] = folder / name          # a folder named like a model, with a file in it
        names[key].mkdir()
        (names[key] / "inside.txt").write_text("must survive")
    for key in ("keras", "tflite", "xml", "lambda_h5", "rgb_keras", "rgb96_keras", "lm"):
        source = models[key]
        names[key] = folder / source.name
        shutil.copy(source, names[key])
        if key == "lm":                    # its record
            shutil.copy(source.with_name(source.name + ".json"), folder / (source.name + ".json"))
        if source.suffix == ".xml":
            shutil.copy(source.with_suffix(".bin"), names[key].with_suffix(".bin"))
    names["corrupt_tflite"] = folder / "corrupt.tflite"
    names["corrupt_tflite"].write_bytes(models["corrupt_tflite"])
    names["text_keras"] = folder / "notes.keras"
    names["text_keras"].write_text("not a model")
    names["text_xml"] = folder / "text.xml"
    names["text_xml"].write_text("not xml at all")
    (folder / "text.bin").write_bytes(b"\0" * 16)
    names["lonely_xml"] = folder / "lonely" / "model.xml"
    names["lonely_xml"].parent.mkdir()
    shutil.copy(models["xml"], names["lonely_xml"])
    names["truncated_xml"] = folder / "truncated" / "model.xml"
    names["truncated_xml"].parent.mkdir()
    shutil.copy(models["xml"], names["truncated_xml"])
    weights = models["xml"].with_suffix(".bin").read_bytes()
    names["truncated_xml"].with_suffix(".bin").write_bytes(weights[: len(weights) // 2])
    return names


def _snapshot(folder) -> dict:
    return {str(p.relative_to(folder)): (p.is_dir(), None if p.is_dir() else p.read_bytes())
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def _cli_runs(_models, tmp_path_factory):
    """Every CLI case, each in a folder of its own, run in one interpreter (run_cli_many):
    {case: (its folder before, its folder, exit status, stderr)}."""
    root = tmp_path_factory.mktemp("cli_cases")
    folders, commands = {}, {}
    for case, argv, _ in CLI_CASES:
        folder = root / case
        folder.mkdir()
        names = _materials(folder, _models)
        folders[case] = (folder, _snapshot(folder))
        commands[case] = [a.format(**names) for a in argv]
    results = run_cli_many(commands, timeout=1800)
    return {case: (*folders[case], results[case][0], results[case][2]) for case in folders}


@pytest.mark.parametrize("case, hint", [(c[0], c[2]) for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_is_one_clear_line_and_harms_nothing(case, hint, _cli_runs):
    folder, before, code, stderr = _cli_runs[case]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, (code, stderr[-2000:])
    assert len(lines) == 1, stderr[-2000:]
    assert "Traceback" not in stderr and lines[0].startswith("artspeed")
    assert hint in lines[0], lines[0]
    assert _snapshot(folder) == before, "the command changed the folder"


def test_the_first_command_in_a_fresh_interpreter_is_one_line_too(_models, tmp_path):
    # run_cli_many shares one interpreter; this one starts as a user's does, TensorFlow's
    # and OpenVINO's first imports (and their native notes) included
    folder = tmp_path / "case"
    folder.mkdir()
    names = _materials(folder, _models)
    before = _snapshot(folder)
    result = run_cli("deploy", str(names["rgb_keras"]), "--precision", "f32", "--dataset",
                     "shapes", "--out", str(folder / "ir"))       # loads TensorFlow first
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert "dataset it was" in lines[0] and _snapshot(folder) == before


def test_the_suite_covers_every_subcommand():
    from artspeed.cli.app import _SUBCOMMANDS

    covered = {argv[0] for _, argv, _ in CLI_CASES}
    assert {add.__name__.removeprefix("_add_") for add in _SUBCOMMANDS} <= covered
    assert len(CLI_CASES) + len(API_CASES) >= 60


def _api_cases():
    """(id, call of the case's files ``n``, a word of the hint)."""
    from artspeed import FunctionPredictor

    tiny = FunctionPredictor(lambda x: x, input_shape=(None, 28, 28, 1))
    return [
        ("dataset-unknown", lambda n: artspeed.load_dataset("nope"), "choose one of"),
        ("dataset-limit-0", lambda n: artspeed.load_dataset("shapes", limit_train=0), ">= 1"),
        ("width-bool", lambda n: artspeed.baseline_cnn(width=True), "whole number"),
        ("width-huge", lambda n: artspeed.baseline_cnn(width=10**6), "from 1 to 1024"),
        ("model-seed", lambda n: artspeed.baseline_cnn(seed=-3), "0 to 4294967295"),
        ("threads-huge", lambda n: artspeed.load_predictor(n["tflite"], threads=10**6),
         "threads"),
        ("threads-float", lambda n: artspeed.load_predictor(n["tflite"], threads=2.5),
         "threads"),
        ("batch-memory", lambda n: tiny.sample_input(10**12), "batch size of at most"),
        ("server-huge-qps", lambda n: artspeed.server(tiny, 1e12, 10.0), "lower target_qps"),
        ("server-nan-qps", lambda n: artspeed.server(tiny, math.nan, 10.0), "above 0"),
        ("scenario-tiny-qps", lambda n: artspeed.run_scenario(tiny, "server", target_qps=1e-6),
         "at least 1 QPS"),
        ("benchmark-duration", lambda n: artspeed.benchmark(tiny, duration_s=math.inf),
         "above 0"),
        ("save-into-folder", lambda n: artspeed.save_model(artspeed.dense_example(), n["keras_dir"]),
         "file path"),
        ("load-text-keras", lambda n: artspeed.load_model(n["text_keras"]), "Keras"),
        ("load-lambda-h5", lambda n: artspeed.load_model(n["lambda_h5"]), "safe_mode=False"),
        ("tflite-corrupt", lambda n: artspeed.load_predictor(n["corrupt_tflite"]),
         "TFLite model"),
        ("ir-truncated", lambda n: artspeed.read_ir(n["truncated_xml"]), "truncated"),
        ("deploy-precision", lambda n: artspeed.deploy(n["keras"], n["dir"] / "ir", "int4"),
         "choose"),
        ("unet-depth", lambda n: artspeed.unet((90, 90, 3), depth=3), "multiples of 8"),
        ("task-unknown", lambda n: artspeed.task_for("detection"), "choose classification"),
        ("evaluate-task-not-the-datasets",
         lambda n: artspeed.evaluate(artspeed.load_model(n["keras"]), artspeed.load_dataset(
             "shapes", limit_train=2, limit_test=2), task="regression"), "scenes_size"),
        ("pruning-initial-above-target",
         lambda n: artspeed.pruning_schedule("polynomial", 0.5, 10, initial_sparsity=0.8),
         "ramps up"),
        ("representative-0",
         lambda n: list(artspeed.representative_samples(np.ones((2, 3)), 0)), ">= 1"),
    ]


API_CASES = [c[0] for c in _api_cases()]


@pytest.mark.parametrize("index", range(len(API_CASES)), ids=API_CASES)
def test_api_bad_input_raises_an_artspeed_error(index, tmp_path, _models):
    folder = tmp_path / "case"
    folder.mkdir()
    names = _materials(folder, _models)
    _, call, hint = _api_cases()[index]
    before = _snapshot(folder)
    with pytest.raises(ArtspeedError) as excinfo:
        call(names)
    assert hint in str(excinfo.value), str(excinfo.value)
    assert _snapshot(folder) == before
