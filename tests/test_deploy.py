"""artspeed.deploy: convert, save and read the IR, compile with hints, validate."""

import numpy as np
import pytest
from _openvino_models import shapes_tiny, trained_cnn  # noqa: F401

import artspeed
from artspeed.core.errors import InvalidArgumentError, ModelError


def test_convert_keras_saved_model_and_tflite_agree(trained_cnn, shapes_tiny, tmp_path):  # noqa: F811
    model, keras_path = trained_cnn
    model.save(tmp_path / "saved")                       # a SavedModel folder
    tflite = artspeed.convert_to_tflite(model, "float32", path=tmp_path / "m.tflite")
    x = shapes_tiny.x_test[:16]
    expected = model(x, training=False).numpy()
    for source in (model, keras_path, tmp_path / "saved", tflite.path):
        predictor = artspeed.compile_model(source)
        assert np.abs(predictor(x) - expected).max() < 1e-4, source


def test_static_batch_and_dynamic_batch(trained_cnn):  # noqa: F811
    model, _ = trained_cnn
    dynamic = artspeed.convert_model(model)
    assert not dynamic.inputs[0].get_partial_shape()[0].is_static
    static = artspeed.convert_model(model, batch_size=4)
    assert list(static.inputs[0].get_shape()) == [4, 28, 28, 1]
    x = np.zeros((3, 28, 28, 1), np.float32)
    assert artspeed.compile_model(dynamic)(x).shape == (3, 10)    # compiled for batch 3
    with pytest.raises(InvalidArgumentError, match="fixed batch of 4"):
        artspeed.compile_model(static)(x)


def test_save_ir_fp16_halves_the_weights_and_read_back(trained_cnn, tmp_path):  # noqa: F811
    model, _ = trained_cnn
    ir = artspeed.convert_model(model)
    f32 = artspeed.save_ir(ir, tmp_path / "f32.xml")
    f16 = artspeed.save_ir(ir, tmp_path / "f16.xml", compress_to_fp16=True)
    ratio = f16.with_suffix(".bin").stat().st_size / f32.with_suffix(".bin").stat().st_size
    assert 0.45 < ratio < 0.55
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f16.bin", "f16.xml", "f32.bin",
                                                         "f32.xml"]   # no temporary left
    assert artspeed.count_ops(artspeed.read_ir(f32)) == artspeed.count_ops(ir)


def test_hints_streams_requests_and_precision_reach_the_compiled_model(trained_cnn):  # noqa: F811
    model, _ = trained_cnn
    latency = artspeed.compile_model(model, hint="latency", inference_precision="bf16")
    compiled = latency.compiled_model()
    assert str(compiled.get_property("PERFORMANCE_HINT")) == "LATENCY"
    assert compiled.get_property("INFERENCE_PRECISION_HINT").to_string() == "bf16"
    queue = artspeed.compile_model(model, hint="throughput", streams=2, requests=3, mode="async")
    assert queue.compiled_model().get_property("NUM_STREAMS") == 2
    x = np.zeros((1, 28, 28, 1), np.float32)
    assert queue(x).shape == (1, 10)
    assert queue.describe()["compiled_requests"] == 3
    result = artspeed.benchmark(queue, 1, iterations=20, warmup=2, warn=False)
    assert result.mode == "async" and result.iterations >= 20


def test_validate_f32_matches_keras_and_precisions_table(trained_cnn, shapes_tiny):  # noqa: F811
    model, _ = trained_cnn
    check = artspeed.validate(artspeed.convert_model(model), model, shapes_tiny)
    assert check.max_abs_diff < 1e-4
    assert check.top1_agreement == 1.0
    assert check.accuracy == check.reference_accuracy == artspeed.accuracy(model, shapes_tiny)
    assert check.inference_precision == "f32"
    table = artspeed.compare_precisions(model, model, shapes_tiny)
    assert [r.name for r in table.rows] == ["f32", "bf16", "default"]
    assert table["bf16"].inference_precision == "bf16"
    assert table["default"].inference_precision == table.default_precision
    assert table["bf16"].max_abs_diff > table["f32"].max_abs_diff   # bf16 keeps 8 bits of mantissa
    assert "precision hint" in str(table) and "<table" in table._repr_html_()
    assert artspeed.PrecisionComparison.from_json(table.to_json()) == table


def test_deploy_f32_and_f16(trained_cnn, shapes_tiny, tmp_path):  # noqa: F811
    model, path = trained_cnn
    f32 = artspeed.deploy(path, tmp_path, "f32", shapes_tiny)
    f16 = artspeed.deploy(model, tmp_path, "f16", shapes_tiny, name="cnn16")
    assert artspeed.PRECISIONS == ("f32", "f16", "int8")          # OpenVINO's words
    assert f32.precision == "f32" and f16.precision == "f16"
    assert f32.max_abs_diff < 1e-4 and f32.top1_agreement == 1.0
    assert f16.bin_bytes < 0.6 * f32.bin_bytes
    assert f16.max_abs_diff < 1e-2 and abs(f16.accuracy - f16.reference_accuracy) <= 0.02
    assert f16.xml.endswith("cnn16_f16.xml")
    assert artspeed.Deployment.from_json(f32.to_json()) == f32
    no_data = artspeed.deploy(model, tmp_path)                   # f32; random inputs, no accuracy
    assert no_data.precision == "f32"
    assert no_data.accuracy is None and no_data.max_abs_diff < 1e-4


@pytest.mark.parametrize("old, new", [("fp32", "f32"), ("fp16", "f16")])
def test_deploy_takes_the_old_precision_names_with_a_warning(trained_cnn, tmp_path, old, new):  # noqa: F811
    model, _ = trained_cnn
    with pytest.warns(DeprecationWarning, match=f"precision '{old}' is now called '{new}'"):
        done = artspeed.deploy(model, tmp_path, old, name="old")
    assert done.precision == new and done.xml.endswith(f"old_{new}.xml")


def test_artspeed_bench_loads_the_ir(trained_cnn, tmp_path):  # noqa: F811
    model, _ = trained_cnn
    xml = artspeed.save_ir(artspeed.convert_model(model), tmp_path / "m.xml")
    predictor = artspeed.load_predictor(xml, mode="async")
    assert predictor.runtime == "openvino" and predictor.precision == "f32"


def test_bad_input(trained_cnn, tmp_path):  # noqa: F811
    import tensorflow as tf
    import tf_keras

    inputs = tf_keras.Input((4,))
    odd = tf_keras.Model(inputs, tf_keras.layers.Lambda(lambda x: tf.math.lgamma(x))(inputs))
    with pytest.raises(ModelError, match="cannot convert .*Lgamma"):
        artspeed.convert_model(odd)
    model, _ = trained_cnn
    xml = artspeed.save_ir(artspeed.convert_model(model), tmp_path / "m.xml")
    xml.with_suffix(".bin").unlink()
    for call in (artspeed.read_ir, artspeed.compile_model, artspeed.load_predictor):
        with pytest.raises(ModelError, match=r"no weights file 'm.bin'"):
            call(xml)
    with pytest.raises(InvalidArgumentError, match="unknown precision 'int4'; choose f32, f16 or int8"):
        artspeed.deploy(model, tmp_path, "int4")
    with pytest.raises(InvalidArgumentError, match="int8 needs a dataset"):
        artspeed.deploy(model, tmp_path, "int8")
    with pytest.raises(InvalidArgumentError, match=r"saved as .xml"):
        artspeed.save_ir(artspeed.convert_model(model), tmp_path / "m.bin")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ModelError, match="not a model OpenVINO can convert"):
        artspeed.convert_model(tmp_path / "notes.txt")
    with pytest.raises(ModelError, match="does not exist"):
        artspeed.convert_model(tmp_path / "gone.keras")
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        artspeed.convert_model(model, batch_size=0)
    with pytest.raises(InvalidArgumentError, match="non-empty"):
        artspeed.validate(model, model, np.zeros((0, 28, 28, 1), np.float32))
    with pytest.raises(InvalidArgumentError, match="expects inputs of shape"):
        artspeed.validate(model, model, np.zeros((2, 8, 8, 1), np.float32))


def test_a_damaged_ir_is_named_before_openvino_reads_it(trained_cnn, tmp_path):  # noqa: F811
    from conftest import run_cli

    model, _ = trained_cnn
    xml = artspeed.save_ir(artspeed.convert_model(model), tmp_path / "m.xml")
    weights = xml.with_suffix(".bin")
    full = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[: full // 2])
    message = (f"'m.bin' is truncated: it has {full // 2:,} bytes, the .xml needs {full:,}; "
               "copy the .bin again or re-run artspeed deploy")
    for call in (artspeed.read_ir, artspeed.compile_model, artspeed.load_predictor):
        with pytest.raises(ModelError) as info:
            call(xml)
        assert str(info.value) == message
    done = run_cli("bench", str(xml))
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"artspeed bench: error: {message}"]
    for text, match in (("this is not XML", "its XML does not parse"),
                        ("<model><layer/></model>", "its root element is <model>, not <net>")):
        xml.write_text(text)
        with pytest.raises(ModelError, match=f"'.*m.xml' is not an OpenVINO IR: {match}"):
            artspeed.read_ir(xml)
