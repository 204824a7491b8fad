"""artspeed.compile_times: OpenVINO compiles without a cache, writing it, and reading it."""

from __future__ import annotations

import tempfile

import pytest

import artspeed
from artspeed import CompileTimes
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.core.frameworks import openvino_core


@pytest.fixture(scope="module")
def tiny_ir(tmp_path_factory):
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    model = artspeed.baseline_cnn(width=4)
    folder = tmp_path_factory.mktemp("compile_cache")
    return model, artspeed.save_ir(artspeed.convert_model(model), folder / "tiny.xml")


def _check(times: CompileTimes, repeats: int):
    assert times.repeats == repeats and times.device == "CPU"
    assert times.no_cache_ms > 0 and times.cache_write_ms > 0 and times.cache_read_ms > 0
    assert times.read_speedup == times.no_cache_ms / times.cache_read_ms
    assert len(times.cache_files) == 1 and times.cache_files[0].endswith(".blob")
    assert times.cache_size_bytes > 0
    assert CompileTimes.from_dict(times.to_dict()) == times
    assert "without a cache" in repr(times) and "<table" in times._repr_html_()


def test_an_ir_file_into_a_temporary_cache(tiny_ir, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))   # where the temporary cache goes
    _, xml = tiny_ir
    times = artspeed.compile_times(xml, repeats=2)
    _check(times, 2)
    assert times.source == "ir file" and times.model == "tiny"
    assert times.inference_precision == "f32" and times.cache_dir is None
    assert list(tmp_path.iterdir()) == []   # the temporary cache was removed


def test_a_keras_model_into_a_cache_dir_you_keep(tiny_ir, tmp_path):
    model, _ = tiny_ir
    folder = tmp_path / "new" / "cache"
    times = artspeed.compile_times(model, cache_dir=folder, repeats=1, inference_precision=None)
    _check(times, 1)
    assert times.source == "ov.Model"
    assert times.inference_precision == artspeed.default_inference_precision()["default"]
    assert times.cache_dir == str(folder)
    blobs = sorted(p.name for p in folder.iterdir())
    assert blobs == list(times.cache_files)
    assert (folder / blobs[0]).stat().st_size == times.cache_size_bytes

    # the blob is OpenVINO's cache for this model: a compile with it reads it, writes nothing
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    openvino_core().compile_model(artspeed.convert_model(model), "CPU",
                                  {"PERFORMANCE_HINT": "LATENCY", "CACHE_DIR": str(folder)})
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_an_existing_empty_folder_is_kept_and_bad_input_is_refused(tiny_ir, tmp_path):
    _, xml = tiny_ir
    empty = tmp_path / "empty"
    empty.mkdir()
    artspeed.compile_times(xml, cache_dir=empty, repeats=1)
    assert empty.is_dir() and len(list(empty.iterdir())) == 1
    with pytest.raises(InvalidArgumentError, match="is not empty"):
        artspeed.compile_times(xml, cache_dir=empty)
    assert len(list(empty.iterdir())) == 1   # a folder in use is left as it was
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidArgumentError, match="is a file"):
        artspeed.compile_times(xml, cache_dir=tmp_path / "file")
    with pytest.raises(InvalidArgumentError, match="repeats must be"):
        artspeed.compile_times(xml, repeats=0)
    with pytest.raises(InvalidArgumentError, match="unknown inference_precision 'int8'"):
        artspeed.compile_times(xml, inference_precision="int8")
    with pytest.raises(ModelError, match="no OpenVINO IR"):
        artspeed.compile_times(tmp_path / "gone.xml")
