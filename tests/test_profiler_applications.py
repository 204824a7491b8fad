"""artspeed.profile on Keras applications (weights=None): published figures,
TensorFlow's graph profiler, and the lecture's model_profiler table."""

import artspeed  # noqa: F401, I001  (before TensorFlow: selects Keras 2)

import pytest
import tf_keras as keras

from artspeed import compare_model_profiler, profile, tf_graph_flops
from artspeed.core.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def vgg16():
    return keras.applications.VGG16(weights=None)


@pytest.fixture(scope="module")
def resnet50():
    return keras.applications.ResNet50(weights=None)


@pytest.fixture(scope="module")
def mobilenetv2():
    return keras.applications.MobileNetV2(weights=None)


@pytest.mark.parametrize("fixture, params, gmacs", [
    ("vgg16", 138_357_544, 15.47),
    ("resnet50", 25_636_712, 3.86),
    ("mobilenetv2", 3_538_984, 0.30),
])
def test_published_figures(request, fixture, params, gmacs):
    model = request.getfixturevalue(fixture)
    p = profile(model)
    assert p.total_params == params == sum(r.params for r in p.layers)
    assert p.trainable_params + p.non_trainable_params == params
    assert p.macs / 1e9 == pytest.approx(gmacs, rel=0.01)
    assert p.warnings == ()
    assert p.weights_bytes == 4 * params


def test_resnet50_against_tensorflow_graph_profiler(resnet50):
    p = profile(resnet50)
    tf_count = tf_graph_flops(resnet50)
    rows = tf_count.compare(p)
    assert rows[0][1] == rows[0][2] == 2 * p.macs      # linear layers: exactly equal
    # the rest differ only by the ops TensorFlow does not count: BatchNorm and Relu
    assert set(tf_count.uncounted_ops) == {"FusedBatchNormV3", "Relu"}
    not_in_tf = sum(r.flops for r in p.layers if r.type in ("BatchNormalization", "Activation"))
    assert p.flops - not_in_tf == tf_count.flops
    with pytest.raises(InvalidArgumentError, match="same batch size"):
        tf_count.compare(profile(resnet50, batch_size=2))


def test_unet_against_tensorflow_graph_profiler():
    # Conv2D + BN + ReLU blocks, MaxPooling, Conv2DTranspose (2x2, stride 2), Concatenate
    # skips and a 1x1 sigmoid head: the segmentation lessons' model
    model = artspeed.unet(filters=8, depth=2)
    p = profile(model)
    tf_count = tf_graph_flops(model)
    rows = tf_count.compare(p)
    assert rows[0][1] == rows[0][2] == 2 * p.macs      # linear layers: exactly equal
    # TensorFlow's transposed conv (Conv2DBackpropInput) is exact here: kernel = stride
    transposed = sum(r.macs for r in p.layers if r.type == "Conv2DTranspose")
    assert tf_count.flops_by_op["Conv2DBackpropInput"] == 2 * transposed > 0
    assert tf_count.flops_by_op["MaxPool"] == sum(r.flops for r in p.layers
                                                  if r.type == "MaxPooling2D")
    assert [r.flops for r in p.layers if r.type == "Concatenate"] == [0, 0]   # data movement
    # the rest differ only by the ops TensorFlow does not count: BN, ReLU, the head's sigmoid
    assert tf_count.uncounted_ops == {"FusedBatchNormV3": 10, "Relu": 10, "Sigmoid": 1}
    head = model.layers[-1]
    assert head.activation.__name__ == "sigmoid"
    sigmoid = 3 * 96 * 96 * head.filters                 # 3 FLOPs per output element
    not_in_tf = sum(r.flops for r in p.layers if r.type in ("BatchNormalization", "ReLU"))
    assert p.flops - not_in_tf - sigmoid == tf_count.flops


def test_upsampling_against_tensorflow_graph_profiler():
    L = keras.layers
    inp = keras.Input((8, 8, 4))
    x = L.Conv2D(6, 3, padding="same")(inp)
    x = L.UpSampling2D(2)(x)                            # nearest: moves data, 0 FLOPs
    out = L.Conv2D(3, 3, padding="same")(x)
    model = keras.Model(inp, out)
    for batch in (1, 2):
        p = profile(model, batch_size=batch)
        tf_count = tf_graph_flops(model, batch_size=batch)
        assert [r.flops for r in p.layers if r.type == "UpSampling2D"] == [0]
        assert tf_count.linear_flops == 2 * p.macs
        assert tf_count.uncounted_ops == {"ResizeNearestNeighbor": 1}
        # TensorFlow's only extra count: the Mul that scales the (height, width) shape
        # tensor by the upsampling factor, 2 FLOPs whatever the batch
        assert tf_count.flops_by_op["Mul"] == 2
        assert tf_count.flops - 2 == p.flops
    # bilinear: artspeed says the cost is unknown and leaves it out; TensorFlow counts 0
    bilinear = keras.Model(inp, L.UpSampling2D(2, interpolation="bilinear")(inp))
    p = profile(bilinear)
    assert p.flops == 0 and "bilinear interpolation is not counted" in p.warnings[0]
    assert tf_graph_flops(bilinear).uncounted_ops == {"ResizeBilinear": 1}


def test_tensorflow_cross_check_on_every_conv_kind():
    L = keras.layers
    inp = keras.Input((16, 16, 8))
    x = L.Conv2D(12, 3, strides=2, padding="same")(inp)
    x = L.Conv2D(8, 3, dilation_rate=2, padding="same")(x)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)
    x = L.SeparableConv2D(6, 3, padding="same")(x)
    x = L.Conv2DTranspose(4, 3, strides=2, padding="same")(x)
    x = L.MaxPooling2D(2)(x)
    x = L.AveragePooling2D(2)(x)
    y = L.Reshape((16, 4))(x)
    y = L.Conv1D(5, 3, padding="same")(y)
    y = L.Dense(7)(y)                                   # Dense on a rank-3 input
    out = L.Dense(3, activation="softmax")(L.GlobalAveragePooling1D()(y))
    model = keras.Model(inp, out)
    p = profile(model, batch_size=2)
    tf_count = tf_graph_flops(model, batch_size=2)
    assert tf_count.linear_flops == 2 * p.macs
    assert tf_count.flops == p.flops                    # no op here that TF leaves out


def test_tensorflow_misses_grouped_convolutions():
    inp = keras.Input((16, 16, 8))
    model = keras.Model(inp, keras.layers.Conv2D(12, 3, groups=4, use_bias=False)(inp))
    tf_count = tf_graph_flops(model)
    # tf_keras runs a grouped conv inside a function call, which the profiler does not enter
    assert tf_count.flops == 0 and "PartitionedCall" in tf_count.uncounted_ops
    assert profile(model).macs == 14 * 14 * 12 * 9 * 2


def test_lecture_vgg16_table_at_batch_128(vgg16):
    c = compare_model_profiler(vgg16, batch_size=128)
    assert c.values["Model Parameters"] == (138.3575, "Million")
    assert c.values["Memory Required by Model Weights"] == (527.7921, "MB")
    assert c.values["No. of FLOPs"] == (0.3093, "BFLOPs")
    assert c.values["GPU Memory Requirement"] == (7.4067, "GB")
    p = profile(vgg16, batch_size=128)
    assert c.true_flops == p.flops == 128 * profile(vgg16).flops
    # 'BFLOPs' x 1e11 is ONE sample's 2 x MACs (plus a few bias adds): 100x the label
    assert 0.3093e11 == pytest.approx(2 * profile(vgg16).macs, rel=1e-3)
    assert len(c.rows) == 4 and "<table" in c._repr_html_()
    assert "7.4067 GiB" in c.rows[3][2]                # its memory formula, reproduced


def test_model_profiler_skips_nested_models(mobilenetv2):
    inp = keras.Input((224, 224, 3))
    out = keras.layers.Dense(10, name="head")(mobilenetv2(inp))
    outer = keras.Model(inp, out)
    c = compare_model_profiler(outer)
    assert c.values["No. of FLOPs"][0] == pytest.approx(1000 * 10 * 2 / 1e11, abs=1e-4)
    p = profile(outer)
    assert p.macs == profile(mobilenetv2).macs + 1000 * 10
    assert p.total_params == outer.count_params()
