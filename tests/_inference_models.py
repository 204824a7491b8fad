"""Tiny models converted for real to every runtime, built once per test session.

Imported by the inference-metrics tests (predictors, benchmark, scenarios,
evaluation): ``from _inference_models import tiny_models``.
"""

from __future__ import annotations

import numpy as np
import pytest

import artspeed


def _to_tflite(model, int8: bool = False, fixed_batch: int | None = None) -> bytes:
    import tensorflow as tf

    if fixed_batch is not None:
        spec = tf.TensorSpec((fixed_batch, *model.input_shape[1:]), tf.float32)
        function = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        images = np.random.default_rng(0).random((32, *model.input_shape[1:]), dtype=np.float32)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x] for x in
                                                    artspeed.representative_samples(images, 32))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return converter.convert()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """A dict of paths: keras, h5, float/int8/fixed-batch tflite, OpenVINO IRs, and the model."""
    import openvino as ov
    import tf_keras

    folder = tmp_path_factory.mktemp("tiny_models")
    tf_keras.utils.set_random_seed(0)
    model = artspeed.baseline_cnn(width=4)
    paths = {"model": model}
    paths["keras"] = artspeed.save_model(model, folder / "tiny.keras")
    paths["h5"] = artspeed.save_model(model, folder / "tiny.h5")
    for key, kwargs in (("tflite", {}), ("tflite_int8", {"int8": True}),
                        ("tflite_fixed", {"fixed_batch": 1})):
        paths[key] = folder / f"{key}.tflite"
        paths[key].write_bytes(_to_tflite(model, **kwargs))
    ir = ov.convert_model(model)
    paths["xml"] = folder / "tiny.xml"
    ov.save_model(ir, paths["xml"], compress_to_fp16=False)
    ir.reshape([1, *model.input_shape[1:]])
    paths["xml_fixed"] = folder / "tiny_b1.xml"
    ov.save_model(ir, paths["xml_fixed"], compress_to_fp16=False)
    return paths
