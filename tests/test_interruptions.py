"""Nothing that exists is deleted, an interruption leaves nothing behind, and the
tour survives a damaged state, a failing variant and a second tour in its folder."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from _inference_models import tiny_models  # noqa: F401  (a fixture)
from conftest import TOUR_EXTRAS, TOUR_FAILING, TOUR_VARIANTS, run_python

import artspeed
from artspeed.cli import main
from artspeed.core._io import atomic_path, signals_deferred
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.tour import run as tour_module

try:
    import fcntl
except ImportError:
    fcntl = None


def _one_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# ------------------------------------------------------------ nothing is deleted
def _folder_with_content(tmp_path):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    return folder


def test_train_refuses_an_existing_folder_as_out_and_keeps_it(tmp_path, capsys):
    folder = _folder_with_content(tmp_path)
    assert main(["train", "--dataset", "shapes", "--epochs", "1", "--limit-train", "50",
                 "--out", str(folder)]) == 2
    line = _one_line(capsys)
    assert f"'{folder}' is a folder; give a file path such as {folder}/model.keras" in line
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    assert (folder / "notes.txt").read_text() == "keep me"


def test_quantize_refuses_a_folder_as_out_before_loading_anything(tmp_path, capsys):
    folder = _folder_with_content(tmp_path)
    model = tmp_path / "m.keras"
    model.write_bytes(b"never read: the --out check comes first")
    assert main(["quantize", str(model), "--mode", "dynamic", "--out", str(folder)]) == 2
    assert f"such as {folder}/model.tflite" in _one_line(capsys)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_save_model_refuses_a_folder_and_keeps_it(tmp_path):
    folder = _folder_with_content(tmp_path)
    with pytest.raises(InvalidArgumentError, match="is a folder; give a file path such as "
                                                   ".*model.keras"):
        artspeed.save_model(artspeed.dense_example(), folder)
    named_like_a_model = tmp_path / "m.keras"
    shutil.copytree(folder, named_like_a_model)
    with pytest.raises(InvalidArgumentError, match="is a folder"):
        artspeed.save_model(artspeed.dense_example(), named_like_a_model)
    for kept in (folder, named_like_a_model):
        assert (kept / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "precious"]


def test_a_file_is_replaced_whole(tmp_path):
    target = tmp_path / "m.keras"
    target.write_text("old")
    artspeed.save_model(artspeed.dense_example(), target)
    assert artspeed.load_model(target).count_params() == 387
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


@pytest.mark.parametrize("where", ["/proc/artspeed-test/m.keras", "/proc/m.keras",
                                   "/sys/artspeed-test/m.keras", "under-a-file"])
def test_an_output_that_cannot_be_written_fails_before_training(where, tmp_path, capsys):
    if where == "under-a-file":
        (tmp_path / "file").write_text("x")
        where = str(tmp_path / "file" / "m.keras")
    elif not os.path.isdir("/" + where.split("/")[1]):
        pytest.skip("no such pseudo file system here")
    assert main(["train", "--dataset", "shapes", "--epochs", "1", "--limit-train", "50",
                 "--out", where]) == 2
    line = _one_line(capsys)
    assert "cannot create the folder" in line or "cannot write to" in line
    assert "choose another output path" in line


# ------------------------------------------------------------ temporaries
def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_save_removes_dead_runs_leftovers_and_nothing_else(tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    leftover = tmp_path / f".m.keras.artspeed-{dead}.abcd1234.keras"
    leftover.write_bytes(b"half a model")
    leftover_pair = tmp_path / f".m.artspeed-{dead}.abcd1234.bin"
    leftover_pair.write_bytes(b"weights")
    leftover_folder = tmp_path / f".saved.artspeed-{dead}.abcd1234"
    leftover_folder.mkdir()
    (leftover_folder / "saved_model.pb").write_bytes(b"")
    keep = [tmp_path / f".m.keras.artspeed-{alive}.efgh5678.keras",   # a live run's
            tmp_path / ".m.keras.abcd1234.keras",                     # not artspeed's pattern
            tmp_path / f"m.artspeed-{dead}.abcd1234.keras",           # not hidden
            tmp_path / "notes.txt"]
    for path in keep:
        path.write_text("keep me")
    artspeed.save_model(artspeed.dense_example(), tmp_path / "other.keras")
    assert not leftover.exists() and not leftover_pair.exists()
    assert not leftover_folder.exists()
    assert all(path.read_text() == "keep me" for path in keep)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in keep] + ["other.keras"])


def test_ctrl_c_while_writing_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("before")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    assert target.read_text() == "before"


def test_signals_are_held_during_the_block_and_delivered_after(tmp_path):
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with signals_deferred():
            signal.raise_signal(signal.SIGINT)
            steps.append("renamed the .bin")
            steps.append("renamed the .xml")
    assert steps == ["renamed the .bin", "renamed the .xml"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"),
                                                (signal.SIGINT, 130, "interrupted")])
def test_a_signal_during_training_exits_cleanly_and_leaves_nothing(signum, code, word,
                                                                   tmp_path):
    out = tmp_path / "D" / "m.keras"
    argv = ["train", "--dataset", "shapes", "--epochs", "50", "--limit-train", "2000",
            "--out", str(out)]
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # as conftest.run_python sets it
    process = subprocess.Popen(
        [sys.executable, "-c",
         f"import sys; from artspeed.cli import main; sys.exit(main({argv!r}))"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    chunks = []

    def read_stderr():
        while chunk := process.stderr.read1(65536):
            chunks.append(chunk)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while b"training" not in b"".join(chunks) and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.poll() is None, b"".join(chunks).decode()
    process.send_signal(signum)
    returncode = process.wait(timeout=60)
    reader.join(timeout=10)
    stderr = b"".join(chunks).decode()
    assert returncode == code, stderr[-2000:]
    lines = [s for s in stderr.splitlines() if s.strip()]
    assert lines[-1] == f"artspeed train: {word}"
    assert "Traceback" not in "\n".join(lines)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


# ------------------------------------------------------------ IR pairs
@pytest.fixture(scope="module")
def two_irs(tmp_path_factory):
    """Two IRs of the same architecture (same .bin size, other weights) and a wider one."""
    folder = tmp_path_factory.mktemp("irs")
    paths = {}
    for name, width, seed in (("a", 4, 1), ("b", 4, 2), ("wide", 8, 1)):
        model = artspeed.baseline_cnn(width=width, seed=seed)
        paths[name] = artspeed.save_ir(artspeed.convert_model(model), folder / name / "m.xml")
    return paths


def test_an_ir_pair_reads_compiles_and_records_its_bin(two_irs):
    import numpy as np

    from artspeed.core.frameworks import openvino_core

    xml = two_irs["a"]
    assert sorted(p.name for p in xml.parent.iterdir()) == ["m.bin", "m.xml"]
    ir = artspeed.read_ir(xml)
    assert int(ir.get_rt_info(["artspeed", "bin_bytes"]).astype(str)) == \
        xml.with_suffix(".bin").stat().st_size
    assert len(ir.get_rt_info(["artspeed", "bin_sha256"]).astype(str)) == 64
    x = np.random.default_rng(0).random((2, 28, 28, 1), np.float32)
    direct = openvino_core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(x)[0]
    assert artspeed.compile_model(xml)(x) == pytest.approx(direct, abs=1e-6)


@pytest.mark.parametrize("other", ["b", "wide"])
def test_a_bin_from_another_run_is_refused(two_irs, other, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(two_irs["a"].parent, folder)
    shutil.copy(two_irs[other].with_suffix(".bin"), folder / "m.bin")
    with pytest.raises(ModelError, match=r"'m.bin' does not belong to 'm.xml' \(written by "
                       r"another run\); re-run artspeed deploy"):
        artspeed.read_ir(folder / "m.xml")


def test_an_ir_written_by_another_tool_passes(tmp_path):
    import openvino as ov

    ir = artspeed.convert_model(artspeed.baseline_cnn(width=4))
    ov.save_model(ir, str(tmp_path / "plain.xml"), compress_to_fp16=False)
    assert "<artspeed>" not in (tmp_path / "plain.xml").read_text()
    assert artspeed.read_ir(tmp_path / "plain.xml").get_friendly_name()


# ------------------------------------------------------------ the tour
# small_tour (tests/conftest.py): a fast tour of the vehicle, shared with tests/test_tour.py,
# where variant "boom"'s builder raised RuntimeError and "garbage" could not be loaded.
# TOUR_EXTRAS holds those builders, and "ctrl-c", whose builder raises KeyboardInterrupt.

@pytest.fixture(scope="module")
def tiny_data():
    return artspeed.load_dataset("shapes", limit_train=300, limit_test=100)


@pytest.fixture(scope="module")
def given_model(tmp_path_factory):
    """A small CNN for tiny_data, saved: a tour of a given model trains no baseline."""
    path = tmp_path_factory.mktemp("given") / "cnn.keras"
    artspeed.save_model(artspeed.baseline_cnn(width=4, seed=1), path)
    return path


def test_a_variant_failing_for_any_reason_is_skipped_and_the_tour_goes_on(small_tour):
    result, out, _ = small_tour
    assert result.names == ["keras", *TOUR_VARIANTS]
    assert set(TOUR_FAILING) <= set(result.skipped)
    assert result.skipped["boom"] == "RuntimeError: the converter crashed"
    assert "garbage" in result.skipped and result.skipped["garbage"]   # failed to measure
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "the converter crashed" in page
    state = json.loads((out / "state.json").read_text())
    assert state["steps"]["measure"]["skipped"] == {"garbage": result.skipped["garbage"]}


def test_the_baseline_failing_and_ctrl_c_are_not_swallowed(tmp_path, monkeypatch, tiny_data,
                                                          given_model):
    monkeypatch.setenv("ARTSPEED_FAST", "1")
    variants = [*tour_module.VARIANTS, *TOUR_EXTRAS]
    boom = dict(TOUR_EXTRAS)["boom"]
    monkeypatch.setattr(tour_module, "VARIANTS", [("keras", boom), *variants[1:]])
    with pytest.raises(RuntimeError, match="the converter crashed"):
        artspeed.run_tour(given_model, tiny_data, quick=True, out=tmp_path, progress=False,
                          variants=["ctrl-c"])
    assert list(json.loads((tmp_path / "state.json").read_text())["steps"]) == ["baseline"]
    monkeypatch.setattr(tour_module, "VARIANTS", variants)   # resumes after the baseline
    with pytest.raises(KeyboardInterrupt):
        artspeed.run_tour(given_model, tiny_data, quick=True, out=tmp_path, progress=False,
                          variants=["ctrl-c"])
    assert list(json.loads((tmp_path / "state.json").read_text())["steps"]) == [
        "baseline", "variant:keras"]


@pytest.mark.parametrize("content, problem", [
    ("{not json", "JSONDecodeError"),
    ("[]", "it holds an array, not an object"),
    ("3", "it holds a number, not an object"),
    ('{"signature": 1}', "no 'signature' object"),
    ('{"steps": []}', "no 'signature' object"),
    ('{"signature": {}, "steps": []}', "no 'steps' object"),
    ('{"signature": {}, "steps": {"baseline": {"path": "x"}}}', "step 'baseline' has no"),
    ('{"signature": {}, "steps": {"variant:x": 5}}', "step 'variant:x' is not one"),
])
def test_a_damaged_state_starts_afresh_with_one_line(content, problem, tmp_path, capsys):
    path = tmp_path / "state.json"
    path.write_text(content)
    state = tour_module._State(path, {"dataset": "shapes"})
    assert state.data == {"signature": {"dataset": "shapes"}, "steps": {}}
    line = _one_line(capsys)
    assert line.startswith(f"artspeed: {path} is unreadable (") and problem in line
    assert line.endswith("; starting the tour afresh")


def test_a_tour_over_a_damaged_state_runs_afresh(small_tour, given_model, tiny_data, tmp_path,
                                                monkeypatch, capsys):
    out = tmp_path / "tour"
    shutil.copytree(small_tour[1], out)   # a finished tour's folder (the shared one stays whole)
    monkeypatch.setenv("ARTSPEED_FAST", "1")
    (out / "state.json").write_text('{"signature": {}, "steps": []}')
    again = artspeed.run_tour(given_model, tiny_data, quick=True, out=out, progress=False,
                              variants=["tflite-float32"])
    assert again.names == ["keras", "tflite-float32"] and not again.skipped
    assert again.model == "baseline_cnn" and again.dataset == "shapes"
    assert "starting the tour afresh" in capsys.readouterr().err
    assert set(json.loads((out / "state.json").read_text())["steps"]) >= {"baseline", "measure"}


def test_a_state_json_folder_is_refused_and_kept(tmp_path, tiny_data):
    folder = _folder_with_content(tmp_path)
    (folder / "state.json").mkdir()
    (folder / "state.json" / "mine.txt").write_text("keep me")
    with pytest.raises(InvalidArgumentError, match="state.json' is a folder"):
        artspeed.run_tour(dataset=tiny_data, quick=True, out=folder, progress=False,
                          variants=["tflite-float32"])
    assert (folder / "state.json" / "mine.txt").read_text() == "keep me"


@pytest.mark.skipif(fcntl is None, reason="no fcntl: the tour runs unlocked")
def test_a_second_tour_in_the_same_out_is_refused(small_tour, tiny_data):
    _, out, _ = small_tour
    with open(out / ".tour.lock", "a+") as held:   # the lock a finished tour released
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.truncate(0)
        held.write("4242\n")
        held.flush()
        with pytest.raises(InvalidArgumentError, match=r"another tour is running in .* "
                           r"\(pid 4242\); wait for it or choose another --out"):
            artspeed.run_tour(dataset=tiny_data, quick=True, out=out, progress=False,
                              variants=["tflite-float32"])
        assert (out / ".tour.lock").exists()


def _ctrl_c_is_clean_after(code: str) -> None:
    """Run ``code`` in a fresh interpreter, then Ctrl-C it: a KeyboardInterrupt, no crash."""
    result = run_python(code + """
import signal
try:
    signal.raise_signal(signal.SIGINT)
except KeyboardInterrupt:
    print("interrupted cleanly")
""")
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "interrupted cleanly" in result.stdout


def test_ctrl_c_after_openvino_predictors_are_freed_out_of_order(tmp_path):
    # Each ov.Core's CPU plugin installs an alternate signal stack and frees it with the
    # Core; freed out of order, a dangling stack crashed the next Ctrl-C (exit 139).
    code = """
import gc, numpy as np, artspeed
model = artspeed.baseline_cnn(width=2)
first = artspeed.compile_model(model, hint="latency", inference_precision="bf16")
first.compiled_model()
second = artspeed.compile_model(model, hint="throughput", streams=2, requests=3, mode="async")
second(np.zeros((1, 28, 28, 1), np.float32))
del first; gc.collect()
del second; gc.collect()
"""
    _ctrl_c_is_clean_after(code)


def test_ctrl_c_after_nncf_compiled_helper_models(tmp_path):
    # nncf.compress_weights with ratio < 1 compiles helper models with
    # openvino.compile_model, a Core each; freed, they left a freed signal stack
    # installed and the next Ctrl-C crashed (exit 139) until artspeed ran NNCF in one_core()
    code = """
import gc, artspeed
lm = artspeed.LanguageModel(artspeed.decoder_lm(97, layers=1, context=32, width=64, heads=2),
                            artspeed.CharTokenizer())
artspeed.compile_lm(lm)
artspeed.compress_lm(lm, "int4", group_size=32, ratio=0.5)
gc.collect()
"""
    _ctrl_c_is_clean_after(code)


def test_a_variant_without_a_batch_curve_is_noted_and_the_tour_goes_on(tiny_models):  # noqa: F811
    # A .tflite built for batch 1 only cannot be swept over batch sizes: its curve is
    # skipped with the reason, the other variants' curves are kept.
    from artspeed.tour.results import TourSettings, VariantMeasurement
    from artspeed.tour.run import _batch_curves

    def variant(name, key):
        return VariantMeasurement(name=name, runtime="tflite", path=str(tiny_models[key]),
                                  accuracy=1.0, size_bytes=1, gzip_bytes=1)

    settings = TourSettings(batch_sizes=(1, 4), duration_s=0.02)
    record = _batch_curves([variant("fixed", "tflite_fixed"), variant("free", "tflite")],
                           {"fixed", "free"}, settings, threads=1)
    assert list(record["curves"]) == ["free"]
    assert record["curves"]["free"]["batch_sizes"] == [1, 4]
    assert "fixed batch of 1" in record["skipped"]["fixed (batch curve)"]
