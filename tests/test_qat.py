"""Quantization-aware training with the real tfmot."""

import numpy as np
import pytest

import artspeed
from artspeed import InvalidArgumentError, KerasVersionError, ModelError
from artspeed.compress.qat import (
    QATResult,
    convert_qat_model,
    quantization_aware_training,
    quantize_model,
    unsupported_layers,
)


def _with_layer_norm():
    import tf_keras as keras

    layers = keras.layers
    return keras.Sequential([
        layers.Input((28, 28, 1)), layers.Conv2D(4, 3, name="conv"),
        layers.LayerNormalization(name="norm"), layers.Flatten(name="flat"),
        layers.Dense(10, name="out"),
    ], name="with_norm")


def test_quantize_model_wraps_and_keeps_the_original():
    model = artspeed.baseline_cnn(width=2)
    before = [w.copy() for w in model.get_weights()]
    q = quantize_model(model)
    assert type(q.get_layer("quant_conv1")).__name__ == "QuantizeWrapperV2"
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    x = np.random.default_rng(0).random((2, 28, 28, 1), np.float32)
    assert np.allclose(q(x).numpy(), model(x).numpy(), atol=0.05)  # fake-quant ~ float


def test_unsupported_layer_names_it_and_the_way_out():
    model = _with_layer_norm()
    assert unsupported_layers(model) == [("norm", "LayerNormalization")]
    with pytest.raises(ModelError) as excinfo:
        quantize_model(model)
    message = str(excinfo.value)
    assert "'norm' (LayerNormalization)" in message
    assert "skip=['norm']" in message and "quantize_annotate_layer" in message


def test_batch_norm_after_a_convolution_is_folded_not_refused():
    import tf_keras as keras

    layers = keras.layers
    image = layers.Input((8, 8, 3))
    x = layers.Conv2D(4, 1, use_bias=False, name="conv")(image)
    x = layers.BatchNormalization(name="conv_bn")(x)
    x = layers.ReLU(6.0, name="relu6")(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="depthwise")(x)
    x = layers.BatchNormalization(name="depthwise_bn")(x)
    y = layers.Add(name="add")([x, x])
    y = layers.BatchNormalization(name="add_bn")(y)      # after an Add: nothing folds it
    model = keras.Model(image, layers.Dense(2, name="out")(layers.Flatten()(y)))
    assert unsupported_layers(model) == [("add_bn", "BatchNormalization")]
    q = quantize_model(model, skip=["add_bn"])
    kinds = {layer.name: type(layer).__name__ for layer in q.layers}
    assert kinds["quant_conv"] == kinds["quant_depthwise"] == "QuantizeWrapperV2"
    assert kinds["add_bn"] == "BatchNormalization"     # skipped: left in float
    x = np.random.default_rng(0).random((2, 8, 8, 3), np.float32)
    assert q(x).shape == model(x).shape


def test_skip_leaves_a_layer_in_float(tmp_path):
    q = quantize_model(_with_layer_norm(), skip=["norm"])
    kinds = {layer.name: type(layer).__name__ for layer in q.layers}
    assert kinds["norm"] == "LayerNormalization" and kinds["quant_conv"] == "QuantizeWrapperV2"
    converted = convert_qat_model(q, path=tmp_path / "skip.tflite")
    assert converted.mode == "qat" and "int8" in converted.op_kinds
    assert {"MEAN", "RSQRT"} <= set(converted.float_ops)   # the normalization, in float


def test_models_tfmot_cannot_wrap(subclassed_model):
    import tf_keras as keras

    with pytest.raises(ModelError, match="not subclassed ones.*convert_to_tflite"):
        quantize_model(subclassed_model)
    inner = artspeed.dense_example()
    nested = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(2)], name="nested")
    with pytest.raises(ModelError, match="'dense_example' \\(Sequential\\)"):
        quantize_model(nested)
    with pytest.raises(InvalidArgumentError, match="skip names no layer"):
        quantize_model(artspeed.dense_example(), skip=["nope"])
    with pytest.raises(ModelError, match="no quantization wrappers"):
        convert_qat_model(artspeed.dense_example())


def test_keras3_model_is_refused():
    import keras  # Keras 3, installed as TensorFlow's own dependency

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(KerasVersionError, match="Keras 3 model"):
        quantize_model(model)


def test_quantization_aware_training_end_to_end(shapes_small, tmp_path):
    model = artspeed.baseline_cnn(width=4)
    with pytest.raises(InvalidArgumentError, match="not available in mode 'qat'"):
        quantization_aware_training(model, shapes_small, input_type="int16")
    result = quantization_aware_training(model, shapes_small, epochs=1, progress=False,
                                         input_type="uint8", output_type="uint8",
                                         path=tmp_path / "qat.tflite")
    q = result.quantized
    assert q.mode == "qat" and q.input_dtype == "uint8" and q.float_ops == ()
    assert q.size_bytes == (tmp_path / "qat.tflite").stat().st_size
    assert result.history.epochs == 1 and 0.0 <= result.qat_accuracy <= 1.0
    assert 0.0 <= artspeed.accuracy(q.predictor(), shapes_small) <= 1.0
    assert QATResult.from_json(result.to_json()) == result
    assert result.model is q and result.accuracy == result.qat_accuracy
    assert result.baseline_accuracy == artspeed.accuracy(model, shapes_small)
    assert result.times_smaller is None     # no .keras sizes: the result is a .tflite file


def test_qat_on_the_vehicle_folds_its_batchnorms_into_int8_convolutions(scenes_small, tmp_path):
    """Inverted-residual blocks: each BatchNormalization after a (depthwise) convolution is
    folded by tfmot, so nothing is left in float."""
    model = artspeed.vehicle(alpha=0.35)
    assert artspeed.unsupported_layers(model) == []
    result = quantization_aware_training(model, scenes_small, epochs=1, progress=False,
                                         path=tmp_path / "vehicle-qat.tflite")
    q = result.quantized
    assert q.float_ops == () and q.mode == "qat"
    assert 0.0 <= artspeed.accuracy(q.predictor(), scenes_small) <= 1.0
