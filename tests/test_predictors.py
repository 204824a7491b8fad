"""One Predictor interface over Keras, TFLite and OpenVINO, run for real."""

import numpy as np
import pytest
from _inference_models import tiny_models  # noqa: F401  (a session fixture)

import artspeed
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.runtimes.tflite import tflite_interpreter

X = np.random.default_rng(1).random((3, 28, 28, 1), dtype=np.float32)


def reference(tiny_models):  # noqa: F811
    return tiny_models["model"](X, training=False).numpy()


@pytest.mark.parametrize("mode", ["predict", "call", "function"])
def test_keras_modes_agree(tiny_models, mode):  # noqa: F811
    predictor = artspeed.KerasPredictor(tiny_models["model"], mode=mode)
    out = predictor(X)
    assert out.dtype == np.float32 and out.shape == (3, 10)
    np.testing.assert_allclose(out, reference(tiny_models), atol=1e-6)
    assert predictor.runtime == "keras" and predictor.fixed_batch is None


def test_tflite_float_any_batch_and_threads(tiny_models):  # noqa: F811
    predictor = artspeed.load_predictor(tiny_models["tflite"], threads=1)
    assert isinstance(predictor, artspeed.TFLitePredictor)
    assert predictor.threads == 1 and predictor.describe()["backend"] == tflite_interpreter()[1]
    np.testing.assert_allclose(predictor(X), reference(tiny_models), atol=1e-5)
    assert predictor(X[:1]).shape == (1, 10)  # resized back down
    assert predictor(X.astype(np.float64)).shape == (3, 10)  # floats are cast


def test_tflite_int8_quantized_io_is_handled(tiny_models):  # noqa: F811
    predictor = artspeed.load_predictor(tiny_models["tflite_int8"])
    assert predictor.input_dtype == np.uint8
    assert predictor.input_quantization is not None and predictor.output_quantization is not None
    out = predictor(X)  # float in, quantized for the caller, dequantized out
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=0.05)  # softmax survives
    np.testing.assert_allclose(out, reference(tiny_models), atol=0.05)
    scale, zero_point = predictor.input_quantization
    raw = np.clip(np.round(X / scale + zero_point), 0, 255).astype(np.uint8)
    np.testing.assert_allclose(predictor(raw), out)  # already-quantized input passes through
    assert predictor.describe()["quantized_io"] is True


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_openvino_sync_and_async(tiny_models, mode):  # noqa: F811
    predictor = artspeed.load_predictor(tiny_models["xml"], mode=mode)
    assert isinstance(predictor, artspeed.OpenVINOPredictor) and predictor.mode == mode
    np.testing.assert_allclose(predictor(X), reference(tiny_models), atol=1e-5)
    info = predictor.describe()
    assert info["precision"] == "f32" and info["hint"] == ("latency" if mode == "sync"
                                                           else "throughput")
    assert info["compiled_requests"] >= 1


def test_openvino_options_reach_the_compiled_model(tiny_models):  # noqa: F811
    predictor = artspeed.OpenVINOPredictor(tiny_models["xml"], hint="throughput", streams=2,
                                           threads=2, requests=3, mode="async")
    compiled = predictor.compiled_model(2)
    assert int(compiled.get_property("NUM_STREAMS")) == 2
    assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 2
    assert predictor(X[:2]).shape == (2, 10)
    assert predictor.describe()["compiled_requests"] == 3


@pytest.mark.parametrize("key", ["keras", "h5"])
def test_load_keras_files(tiny_models, key):  # noqa: F811
    predictor = artspeed.load_predictor(tiny_models[key])
    assert predictor.runtime == "keras" and predictor.mode == "call"
    np.testing.assert_allclose(predictor(X), reference(tiny_models), atol=1e-6)


def test_load_saved_model_folder(tiny_models, tmp_path):  # noqa: F811
    folder = tmp_path / "saved"
    tiny_models["model"].save(folder, save_format="tf")
    predictor = artspeed.load_predictor(folder, mode="function")
    np.testing.assert_allclose(predictor(X), reference(tiny_models), atol=1e-5)


@pytest.mark.parametrize("runtime", ["tflite", "openvino"])
def test_keras_file_converted_for_other_runtimes(tiny_models, runtime):  # noqa: F811
    predictor = artspeed.load_predictor(tiny_models["keras"], runtime=runtime)
    assert predictor.runtime == runtime
    np.testing.assert_allclose(predictor(X), reference(tiny_models), atol=1e-5)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("key", ["tflite_fixed", "xml_fixed"])
def test_fixed_batch_model_refuses_other_batch_sizes(tiny_models, key):  # noqa: F811
    predictor = artspeed.load_predictor(tiny_models[key])
    assert predictor.fixed_batch == 1
    assert predictor(X[:1]).shape == (1, 10)
    with pytest.raises(InvalidArgumentError, match="fixed batch of 1"):
        predictor(X)
    with pytest.raises(InvalidArgumentError, match="fixed batch of 1"):
        artspeed.benchmark(predictor, batch_size=4, iterations=2)


@pytest.mark.parametrize("key", ["keras", "tflite", "tflite_int8", "xml"])
def test_wrong_shape_and_dtype(tiny_models, key):  # noqa: F811
    predictor = artspeed.load_predictor(tiny_models[key])
    with pytest.raises(InvalidArgumentError, match=r"expects inputs of shape \(N, 28, 28, 1\)"):
        predictor(np.zeros((2, 32, 32, 1), np.float32))
    with pytest.raises(InvalidArgumentError, match="expects inputs of shape"):
        predictor(np.zeros((28, 28, 1), np.float32))
    with pytest.raises(InvalidArgumentError, match="empty batch"):
        predictor(np.zeros((0, 28, 28, 1), np.float32))
    with pytest.raises(InvalidArgumentError, match="float32 in"):
        predictor(np.zeros((1, 28, 28, 1), np.int8 if key == "tflite_int8" else np.uint8))
    with pytest.raises(InvalidArgumentError):
        predictor(np.array([["a"] * 28] * 28)[None, ..., None])


def test_unknown_runtime_and_mode(tiny_models):  # noqa: F811
    with pytest.raises(InvalidArgumentError, match="unknown runtime 'onnx'"):
        artspeed.load_predictor(tiny_models["keras"], runtime="onnx")
    with pytest.raises(InvalidArgumentError, match="unknown Keras mode"):
        artspeed.load_predictor(tiny_models["keras"], mode="eager")
    with pytest.raises(InvalidArgumentError, match="sync or async"):
        artspeed.load_predictor(tiny_models["xml"], mode="call")
    with pytest.raises(InvalidArgumentError, match="threads"):
        artspeed.load_predictor(tiny_models["tflite"], threads=0)
    with pytest.raises(InvalidArgumentError, match="hint"):
        artspeed.OpenVINOPredictor(tiny_models["xml"], hint="fast")
    with pytest.raises(ModelError, match="cannot run in openvino"):
        artspeed.load_predictor(tiny_models["tflite"], runtime="openvino")


@pytest.mark.parametrize("name, content", [
    ("junk.tflite", b"not a flatbuffer"), ("junk.xml", b"<net><oops"),
    ("junk.keras", b"not a zip"), ("notes.txt", b"hello")])
def test_a_file_that_is_not_a_model(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelError):
        artspeed.load_predictor(path)


def test_missing_file_and_wrong_objects(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        artspeed.load_predictor(tmp_path / "gone.tflite")
    with pytest.raises(ModelError, match="tf_keras model"):
        artspeed.KerasPredictor("model.keras")
    with pytest.raises(InvalidArgumentError, match="callable"):
        artspeed.FunctionPredictor(fn=42)
