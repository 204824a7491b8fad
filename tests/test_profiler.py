"""artspeed.profile on small models: each layer type's count, by hand; bad input."""

import artspeed  # noqa: I001  (before TensorFlow: selects Keras 2)

import json
import math

import numpy as np
import pytest
import tf_keras as keras

from artspeed import profile
from artspeed.core.errors import InvalidArgumentError, ModelError

L = keras.layers


def one_layer(input_shape, layer, dtype="float32"):
    inp = keras.Input(input_shape, dtype=dtype)
    return keras.Model(inp, layer(inp))


def only_row(model, batch_size=1):
    p = profile(model, batch_size=batch_size)
    rows = [r for r in p.layers if r.type != "InputLayer"]
    assert len(rows) == 1
    return p, rows[0]


def test_dense_example_parameters():
    p = profile(artspeed.dense_example())
    assert (p.total_params, p.trainable_params, p.non_trainable_params) == (387, 249, 138)
    assert p.macs == 3 * 5 + 5 * 8 + 8 * 10 + 10 * 15 + 15 * 4
    assert p.weights_bytes == 387 * 4 and p.weights_bytes_by_dtype == {"float32": 387 * 4}
    # 2 x MACs + bias adds + relu (1 x 5) + softmax (5 x 4)
    assert p.flops == 2 * p.macs + (5 + 8 + 10 + 15 + 4) + 5 + 20
    assert p.warnings == ()


@pytest.mark.parametrize("input_shape, layer, macs", [
    ((5, 7), L.Dense(4), 5 * 7 * 4),                                      # rank-3 input
    ((2, 3, 7), L.Dense(4, use_bias=False), 2 * 3 * 7 * 4),               # rank-4 input
    ((20, 4), L.Conv1D(8, 5, padding="causal"), 20 * 8 * 5 * 4),
    ((20, 4), L.Conv1D(8, 3, strides=2), 9 * 8 * 3 * 4),
    ((16, 16, 8), L.Conv2D(12, 3, strides=2, padding="same", groups=4), 8 * 8 * 12 * 9 * 2),
    ((16, 16, 8), L.Conv2D(6, 3, dilation_rate=2), 12 * 12 * 6 * 9 * 8),
    ((6, 6, 6, 2), L.Conv3D(4, 3), 4 * 4 * 4 * 4 * 27 * 2),
    ((4, 4, 3), L.Conv2DTranspose(5, 3, strides=2, padding="same"), 4 * 4 * 3 * 9 * 5),
    ((4, 4, 3), L.Conv2DTranspose(5, 3, strides=2), 4 * 4 * 3 * 9 * 5),
    ((8, 8, 4), L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), 8 * 8 * 8 * 9),
    ((8, 8, 4), L.DepthwiseConv2D(3, strides=2), 3 * 3 * 4 * 9),
    ((8, 8, 4), L.SeparableConv2D(6, 3, depth_multiplier=2, padding="same"),
     8 * 8 * 8 * 9 + 8 * 8 * 8 * 6),
    ((12, 4), L.SeparableConv1D(6, 3), 10 * 4 * 3 + 10 * 4 * 6),
])
def test_linear_layers_macs_and_flops(input_shape, layer, macs):
    p, row = only_row(one_layer(input_shape, layer), batch_size=3)
    n_out = math.prod(row.output_shape)
    assert row.output_shape[0] == 3
    assert row.macs == 3 * macs
    assert row.flops == 2 * row.macs + (n_out if layer.use_bias else 0)
    assert row.params == layer.count_params() == p.total_params


def test_depthwise_multiplier_params_and_shape():
    _, row = only_row(one_layer((8, 8, 4), L.DepthwiseConv2D(3, depth_multiplier=3)))
    assert row.output_shape == (1, 6, 6, 12)
    assert row.params == 3 * 3 * 4 * 3 + 12
    assert row.macs == 6 * 6 * 12 * 9


@pytest.mark.parametrize("input_shape, layer, flops", [
    ((8, 8, 4), L.MaxPooling2D(2), 4 * 4 * 4 * 4),
    ((8, 8, 4), L.AveragePooling2D(3, strides=1, padding="same"), 8 * 8 * 4 * 9),
    ((10, 4), L.MaxPooling1D(2), 5 * 4 * 2),
    ((4, 4, 4, 2), L.AveragePooling3D(2), 2 * 2 * 2 * 2 * 8),
    ((8, 8, 4), L.GlobalAveragePooling2D(), 8 * 8 * 4),
    ((8, 8, 4), L.GlobalMaxPooling2D(), 8 * 8 * 4),
    ((8, 8, 4), L.BatchNormalization(), 2 * 256),
    ((8, 8, 4), L.LayerNormalization(), 7 * 256),
    ((8, 8, 4), L.Rescaling(1 / 255), 2 * 256),
    ((8, 8, 4), L.Activation("relu"), 256),
    ((8, 8, 4), L.Activation("sigmoid"), 3 * 256),
    ((8, 8, 4), L.Activation("swish"), 4 * 256),
    ((8, 8, 4), L.ReLU(6.0), 2 * 256),
    ((8, 8, 4), L.LeakyReLU(), 2 * 256),
    ((8, 8, 4), L.Softmax(), 5 * 256),
    ((8, 8, 4), L.Flatten(), 0),
    ((8, 8, 4), L.Dropout(0.5), 0),
    ((8, 8, 4), L.ZeroPadding2D(1), 0),
    ((8, 8, 4), L.UpSampling2D(2), 0),
])
def test_elementwise_and_free_layers(input_shape, layer, flops):
    _, row = only_row(one_layer(input_shape, layer))
    assert row.macs == 0
    assert row.flops == flops


def test_merge_layers():
    a, b, c = (keras.Input((4, 5)) for _ in range(3))
    model = keras.Model([a, b, c], [L.Add()([a, b, c]), L.Multiply()([a, b]),
                                    L.Concatenate()([a, b, c]), L.Average()([a, b])])
    flops = {r.type: r.flops for r in profile(model, batch_size=2).layers}
    assert flops == {"InputLayer": 0, "Add": 2 * 40, "Multiply": 40, "Concatenate": 0,
                     "Average": 2 * 40}


def test_embedding_is_a_lookup():
    p, row = only_row(one_layer((10,), L.Embedding(100, 8), dtype="int32"))
    assert (row.params, row.macs, row.flops) == (800, 0, 0)
    assert row.output_bytes == 10 * 8 * 4


def test_multi_head_attention_counts_projections_and_attention():
    q_in, v_in = keras.Input((6, 16)), keras.Input((4, 12))
    mha = L.MultiHeadAttention(num_heads=2, key_dim=8)
    model = keras.Model([q_in, v_in], mha(q_in, v_in))
    row = profile(model).layer(mha.name)
    b, t, s, h, dk = 1, 6, 4, 2, 8
    macs = (t * 16 * h * dk + s * 12 * h * dk + s * 12 * h * dk    # Q, K, V projections
            + h * t * s * dk * 2                                    # scores and weighted sum
            + t * h * dk * 16)                                      # output projection
    assert row.macs == b * macs
    biases = t * h * dk + s * h * dk + s * h * dk + t * 16
    assert row.flops == 2 * macs + biases + t * h * dk + 5 * h * t * s
    assert row.params == mha.count_params()


def test_flops_exactly_linear_in_batch_size():
    model = artspeed.baseline_cnn(width=4)
    one = profile(model)
    for batch in (2, 7, 64):
        p = profile(model, batch_size=batch)
        assert (p.flops, p.macs) == (batch * one.flops, batch * one.macs)
        assert p.peak_activation_bytes == batch * one.peak_activation_bytes
        assert p.total_params == one.total_params


def test_unknown_layers_are_warned_not_zero():
    inp = keras.Input((4,))
    x = L.Dense(3, name="dense")(inp)
    x = L.Lambda(lambda t: t * 2, name="double")(x)

    class Custom(L.Layer):
        def call(self, t):
            return t + 1

    model = keras.Model(inp, Custom(name="plus_one")(x))
    p = profile(model)
    assert p.unknown_layers == ["double", "plus_one"]
    assert p.layer("double").flops is None and p.layer("double").macs is None
    assert len(p.warnings) == 2 and "double" in p.warnings[0]
    assert p.flops == p.layer("dense").flops   # known part only: a lower bound
    assert "lower bound" in repr(p)


def test_nested_models_are_walked():
    inner = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, name="c1"),
                              L.Conv2D(4, 3, name="c2")], name="inner")
    inp = keras.Input((8, 8, 3))
    x = inner(inp)
    out = L.Dense(2, name="head")(L.Flatten()(x))
    model = keras.Model(inp, out)
    p = profile(model)
    names = [r.name for r in p.layers]
    assert "inner/c1" in names and "inner/c2" in names and "head" in names
    assert p.layer("inner/c1").macs == 6 * 6 * 4 * 27
    assert p.total_params == model.count_params() == sum(r.params for r in p.layers)
    assert p.macs == profile(inner).macs + 4 * 4 * 4 * 2
    # peak: the tensors alive at once stay right across the nested boundary
    assert p.peak_activation_bytes == 4 * (8 * 8 * 3 + 6 * 6 * 4)


def test_shared_layer_counts_macs_per_call_params_once():
    dense = L.Dense(5, name="shared")
    inp = keras.Input((5,))
    model = keras.Model(inp, dense(dense(inp)))
    p = profile(model)
    assert [r.name for r in p.layers[1:]] == ["shared", "shared"]
    assert p.macs == 2 * 25 and sum(r.params for r in p.layers) == 30 == p.total_params


def test_frozen_and_mixed_dtypes_bytes():
    inp = keras.Input((4,))
    x = L.Dense(3, dtype="float16", name="half")(inp)
    model = keras.Model(inp, L.Dense(2, name="full")(x))
    p = profile(model)
    assert p.weights_bytes_by_dtype == {"float16": 15 * 2, "float32": 8 * 4}
    assert p.layer("half").output_bytes == 3 * 2


def test_arithmetic_intensity_is_flops_per_byte_moved():
    _, row = only_row(one_layer((8, 8, 4), L.Conv2D(8, 3, padding="same")))
    moved = 8 * 8 * 4 * 4 + 8 * 8 * 8 * 4 + (3 * 3 * 4 * 8 + 8) * 4
    assert row.arithmetic_intensity == pytest.approx(row.flops / moved)


def test_result_serializes_and_renders():
    p = profile(artspeed.baseline_cnn(width=4), batch_size=2)
    data = json.loads(p.to_json())
    for key in ("total_params", "trainable_params", "non_trainable_params", "macs", "flops",
                "weights_bytes", "peak_activation_bytes", "batch_size", "warnings", "layers"):
        assert key in data
    for key in ("name", "type", "output_shape", "params", "macs", "flops"):
        assert key in data["layers"][1]
    assert type(p).from_json(p.to_json()) == p
    html = p._repr_html_()
    assert "<table" in html and "conv1" in html and "MaxPooling2D" in html
    assert repr(p).startswith("<ModelProfile baseline_cnn:")


def test_bad_input():
    with pytest.raises(ModelError, match=r"build\(\)|build\(|input shape"):
        profile(keras.Sequential([L.Dense(3)]))

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = L.Dense(2)

        def call(self, x):
            return self.d(x)

    sub = Sub()
    sub(np.ones((1, 3), dtype="float32"))
    with pytest.raises(ModelError, match="subclassed"):
        profile(sub)
    with pytest.raises(InvalidArgumentError, match="concrete input shape"):
        profile(one_layer((None, None, 3), L.Conv2D(2, 3)))
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        profile(artspeed.dense_example(), batch_size=0)
    with pytest.raises(ModelError, match="tf_keras model"):
        profile("vgg16")
    with pytest.raises(InvalidArgumentError, match="no layer named"):
        profile(artspeed.dense_example()).layer("nope")


def test_sequential_built_with_build_call():
    model = keras.Sequential([L.Dense(4), L.Dense(2)])
    model.build((None, 3))
    assert profile(model).macs == 3 * 4 + 4 * 2
