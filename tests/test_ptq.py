"""Post-training quantization through the real TFLite converter and interpreter."""

import numpy as np
import pytest

import artspeed
from artspeed import InvalidArgumentError, KerasVersionError, ModelError
from artspeed.compress.ptq import (
    LayerErrors,
    QuantizedModel,
    calibration_batches,
    convert_to_tflite,
    inspect_tflite,
    layer_errors,
)


@pytest.fixture(scope="module")
def converted(trained, shapes_small, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ptq")
    out = {}
    for label, mode, io in (("float32", "float32", None), ("dynamic", "dynamic", None),
                            ("float16", "float16", None), ("int8", "int8", None),
                            ("uint8", "int8", "uint8"), ("int16x8", "int16x8", None),
                            ("int16io", "int16x8", "int16")):
        data = shapes_small if mode.startswith("int") else None
        out[label] = convert_to_tflite(trained, mode, data, calibration_samples=32,
                                       input_type=io, output_type=io,
                                       path=folder / f"{label}.tflite")
    return out


def test_every_mode_writes_a_file_of_its_reported_size(converted):
    for label, q in converted.items():
        assert q.size_bytes == (artspeed.model_size(q.path).size_bytes), label
    sizes = {k: v.size_bytes for k, v in converted.items()}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"]
    assert sizes["dynamic"] < sizes["float16"]


def test_ops_are_classified_by_where_they_compute(converted):
    assert set(converted["float32"].op_kinds) == {"float32"}
    assert "FULLY_CONNECTED" in converted["float32"].float_ops
    assert converted["dynamic"].op_kinds.get("hybrid", 0) >= 1   # int8 weights, float math
    assert converted["float16"].op_kinds["convert"] >= 4         # DEQUANTIZE fp16 -> fp32
    for label in ("int8", "uint8"):
        assert converted[label].float_ops == ()
        assert converted[label].op_kinds["int8"] >= 8
    assert converted["int16x8"].float_ops == ()
    assert converted["int16x8"].op_kinds["int16x8"] >= 8


def test_input_and_output_types_with_scale_and_zero_point(converted):
    q = converted["uint8"]
    assert (q.input_dtype, q.output_dtype) == ("uint8", "uint8")
    assert q.input_scale == pytest.approx(1 / 255) and q.input_zero_point == 0
    assert q.output_scale > 0 and 0 <= q.output_zero_point <= 255
    i16 = converted["int16io"]
    assert (i16.input_dtype, i16.input_zero_point) == ("int16", 0)
    f = converted["int8"]
    assert (f.input_dtype, f.input_scale, f.input_zero_point) == ("float32", None, None)
    assert f.calibration_samples == 32 and converted["dynamic"].calibration_samples == 0


def test_quantized_models_agree_with_the_float_model(converted, trained, shapes_small):
    float_accuracy = artspeed.accuracy(trained, shapes_small)
    assert float_accuracy > 0.5, "the fixture model should have learned something"
    for label in ("dynamic", "float16", "int8", "uint8", "int16x8"):
        predictor = converted[label].predictor()
        assert artspeed.agreement(predictor, trained, shapes_small) > 0.85, label


def test_result_round_trips_and_shows(converted):
    q = converted["uint8"]
    assert QuantizedModel.from_json(q.to_json()) == q
    assert inspect_tflite(q.path, mode="int8") == q.__class__(**{**q.to_dict(),
                                                                 "ops": q.ops,
                                                                 "float_ops": q.float_ops,
                                                                 "calibration_samples": 0})
    html = q._repr_html_()
    assert "uint8 (scale 0.003922, zero point 0)" in html and "none" in html
    assert repr(q).startswith("<QuantizedModel int8: ")


def test_layer_errors_view(trained, shapes_small):
    errors = layer_errors(trained, shapes_small, calibration_samples=16, debug_samples=4)
    ops = [e.op_name for e in errors.layers]
    assert ops.count("CONV_2D") == 2 and ops.count("FULLY_CONNECTED") == 2
    assert {e.layer for e in errors.layers} >= {"conv1", "conv2", "dense", "logits"}
    for e in errors.layers:
        assert e.scale > 0 and np.isfinite(e.rmse_per_scale) and e.rmse_per_scale < 5
    assert LayerErrors.from_json(errors.to_json()) == errors
    assert "RMSE / scale" in errors._repr_html_()


@pytest.mark.parametrize("data, match", [
    (np.zeros((5, 10, 10, 1), np.float32), r"samples of shape \(10, 10, 1\), but baseline_cnn "
                                           r"takes \(28, 28, 1\)"),
    (np.zeros((5, 28, 28, 1), np.uint8), "must be float images, got uint8"),
    (np.zeros((0, 28, 28, 1), np.float32), "non-empty batch"),
    (np.full((5, 28, 28, 1), np.nan, np.float32), "NaN"),
    (None, "need representative data"),
])
def test_bad_representative_data(trained, data, match, tmp_path):
    with pytest.raises(InvalidArgumentError, match=match):
        convert_to_tflite(trained, "int8", data, path=tmp_path / "x.tflite")
    assert not (tmp_path / "x.tflite").exists()


def test_representative_data_of_another_dataset(trained):
    cifar_like = np.zeros((4, 32, 32, 3), np.float32)
    with pytest.raises(InvalidArgumentError, match="calibrate with samples of the data"):
        calibration_batches(trained, cifar_like)


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "int4"}, "unknown mode 'int4'; choose float32, dynamic, float16, int8, int16x8 or sparse"),
    ({"mode": "dynamic", "input_type": "uint8"}, "not available in mode 'dynamic'"),
    ({"mode": "int8", "input_type": "int16"}, "choose float32, int8, uint8"),
    ({"mode": "int16x8", "output_type": "uint8"}, "choose float32, int16"),
    ({"mode": "float16", "representative_data": np.zeros((2, 28, 28, 1), np.float32)},
     "needs no representative data"),
])
def test_bad_arguments(trained, kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        convert_to_tflite(trained, **kwargs)


def test_bad_paths_and_models(trained, tmp_path):
    with pytest.raises(InvalidArgumentError, match=r"save the model as \.tflite"):
        convert_to_tflite(trained, "dynamic", path=tmp_path / "m.bin")
    with pytest.raises(ModelError, match="no TFLite model"):
        inspect_tflite(tmp_path / "missing.tflite")
    with pytest.raises(ModelError, match="needs a tf_keras model"):
        convert_to_tflite("model.keras", "dynamic")


def test_keras3_model_is_refused():
    import keras  # Keras 3, installed as TensorFlow's own dependency

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(KerasVersionError, match="Keras 3 model"):
        convert_to_tflite(model, "dynamic")


def test_compare_variants(converted, trained, shapes_small):
    table = artspeed.compare_variants(
        {"float32": converted["float32"], "int8": converted["int8"], "keras": trained},
        shapes_small, trained, rounds=1, duration_s=0.05)
    assert table.baseline == "float32" and table.times_smaller("float32") == 1.0
    assert table["int8"].size_bytes == converted["int8"].size_bytes
    assert table.times_smaller("int8") == pytest.approx(
        converted["float32"].size_bytes / converted["int8"].size_bytes) and \
        table.times_smaller("int8") > 2.5
    with pytest.warns(DeprecationWarning, match="times_smaller"):
        assert table.size_ratio("int8") == pytest.approx(1 / table.times_smaller("int8"))
    lat = table["int8"].latency_stats_ms
    assert 0 < lat["p50"] <= lat["p99"] and lat["p50"] == table["int8"].latency_ms
    assert table["int8"].throughput_per_s > 0 and not table.skipped
    assert table["keras"].agreement == 1.0 and table["keras"].path is None
    for name in ("float32", "int8"):   # one pass per model: the figures of the two functions
        variant = converted[name].predictor()
        assert table[name].accuracy == artspeed.accuracy(variant, shapes_small)
        assert table[name].agreement == artspeed.agreement(variant, trained, shapes_small)
        assert table[name].float_accuracy == artspeed.accuracy(trained, shapes_small)
        assert table[name].score == table[name].accuracy and table[name].metric == "accuracy"
    assert table.speedup("int8") > 0 and table["int8"].latency_ms > 0
    text, page = str(table), table._repr_html_()
    assert "int8" in text and "× smaller" in text and "<table" in page and "× smaller" in page
    assert f"{table.times_smaller('int8'):.2f}" in text and f"{table.times_smaller('int8'):.2f}" in page
    assert type(table).from_json(table.to_json()) == table
    with pytest.raises(InvalidArgumentError, match="baseline 'fp64' is not one of"):
        artspeed.compare_variants({"a": trained}, shapes_small, trained, baseline="fp64")


def test_conversion_keeps_the_terminal_quiet_and_gives_stderr_back(tmp_path):
    from conftest import run_python

    done = run_python(
        "import sys, artspeed\n"
        f"artspeed.convert_to_tflite(artspeed.dense_example(), 'float32', "
        f"path={str(tmp_path / 'd.tflite')!r})\n"
        "print('stderr is back', file=sys.stderr)")
    assert done.returncode == 0, done.stderr
    assert "Ignored output_format" not in done.stderr   # the converter's C++ notes
    assert done.stderr.strip().endswith("stderr is back")
    assert (tmp_path / "d.tflite").stat().st_size > 0
