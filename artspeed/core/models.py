"""The workbook's models: the baseline CNN, the speed lessons' vehicle, the lecture's Dense example.

Taught in notebooks/00-setup-and-baseline (baseline),
notebooks/01-model-complexity (the Dense example's 387 parameters) and
notebooks/02-inference-metrics (the vehicle, a MobileNetV2 with EfficientNetV2's fused first
stages, for 96x96 colour images).

>>> m = dense_example()
>>> m.count_params(), trainable_params(m), non_trainable_params(m)
(387, 249, 138)
>>> baseline_cnn(width=8).output_shape
(None, 10)
>>> v = vehicle(alpha=0.35)
>>> v.output_shape, v.get_layer("block_4_add").name
((None, 10), 'block_4_add')
>>> conv_stack("separable", (8, 8, 16), depth=1).count_params()   # 3x3x16 + 16x16 + 2 BNs
528
"""

from __future__ import annotations

from artspeed.core import _checks
from artspeed.core.errors import InvalidArgumentError
from artspeed.core.frameworks import tf_keras as keras

__all__ = ["baseline_cnn", "vehicle", "unet", "VEHICLE_BLOCKS", "VEHICLE_FUSED_STAGES", "conv_stack", "CONV_KINDS",
           "dense_example", "trainable_params", "non_trainable_params"]

# MobileNetV2's inverted-residual stages: (expansion, output channels, blocks, first stride)
# (MobileNetV2's first five; its 160- and 320-channel stages and 1280-channel head are left out)
VEHICLE_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 3, 2), (6, 96, 2, 1))
VEHICLE_HEAD = 640
# The first stages use Fused-MBConv blocks (Tan & Le, EfficientNetV2, 2021): a 3x3 convolution
# does the expansion and the depthwise convolution's work. Measured on 2 cores, it makes the
# int8 variants 3-4x faster than TFLite float32 instead of 2x: a depthwise layer at high
# resolution waits for memory, and int8 speeds up arithmetic, not memory.
VEHICLE_FUSED_STAGES = 3


def baseline_cnn(input_shape=(28, 28, 1), num_classes: int = 10, width: int = 32,
                 dropout: float = 0.25, seed: int = 0, name: str = "baseline_cnn"):
    """The CNN the workbook optimizes: two conv blocks, a dense layer, softmax.

    ``width`` is the first conv layer's filter count; the second has 2x, the
    dense layer 4x. The last Dense is named ``logits`` and a separate Softmax
    gives probabilities, so distillation can read the logits. ``seed`` fixes
    the initial weights (each layer's initializer is seeded; no global state).
    """
    width = _checks.whole_number("width", width, 1, _checks.MAX_WIDTH)
    seed = _checks.seed(seed)
    num_classes = _checks.whole_number("num_classes", num_classes, 2)
    dropout = _checks.fraction("dropout", dropout, "0.5 drops half the dense units in training")
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise InvalidArgumentError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    if min(shape[:2]) < 4:
        raise InvalidArgumentError(f"images must be at least 4x4 for two 2x2 poolings, got {shape}")
    layers = keras.layers

    def init(offset: int):
        return keras.initializers.GlorotUniform(seed=seed * 16 + offset)

    return keras.Sequential([
        layers.Input(shape, name="image"),
        layers.Conv2D(width, 3, padding="same", activation="relu", name="conv1",
                      kernel_initializer=init(1)),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="conv2",
                      kernel_initializer=init(2)),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dropout(dropout, name="dropout1"),
        layers.Dense(4 * width, activation="relu", name="dense", kernel_initializer=init(3)),
        layers.Dropout(dropout, name="dropout2"),
        layers.Dense(num_classes, name="logits", kernel_initializer=init(4)),
        layers.Softmax(name="probabilities"),
    ], name=name)


def _divisible(channels: float, by: int = 8) -> int:
    """MobileNet's rounding of a width: a multiple of ``by``, never 10% below ``channels``."""
    rounded = max(by, int(channels + by / 2) // by * by)
    return rounded + by if rounded < 0.9 * channels else rounded


def vehicle(input_shape=(96, 96, 3), num_classes: int = 10, alpha: float = 1.4,
            dropout: float = 0.2, seed: int = 0, name: str = "vehicle",
            fused_stages: int = VEHICLE_FUSED_STAGES):
    """The speed lessons' model: a MobileNetV2 (Sandler et al., 2018), fused first stages.

    Inverted-residual blocks with a residual Add where the shape allows:
    MobileNetV2's first five stages, as ``VEHICLE_BLOCKS`` lists them, at
    width multiplier ``alpha`` (1.4, MobileNetV2's widest), then a 1x1 conv to
    ``VEHICLE_HEAD x alpha`` channels. The first ``fused_stages`` stages are
    Fused-MBConv blocks, as in EfficientNetV2 (3x3 expand, 1x1 project); the
    others are MobileNetV2's depthwise-separable blocks (1x1 expand, 3x3
    depthwise, 1x1 project). Fewer, wider stages than MobileNetV2 train from
    scratch in minutes. Layer names follow ``tf_keras.applications.MobileNetV2``
    (``block_4_expand``, ``block_4_depthwise``, ``block_4_project``,
    ``block_4_add``). Images smaller than 96x96 (CIFAR-10's 32x32) are resized
    to 96 inside the model, so every dataset runs the same network. At 96 px it
    costs about 186 M MACs, so a batch-1 inference takes a millisecond or two
    and the runtimes' differences are real rather than call overhead. As in
    ``baseline_cnn``, a
    Dense named ``logits`` feeds a separate Softmax, and ``seed`` fixes the
    initial weights. Each residual block's last BatchNorm starts at zero, so
    the block starts as the identity (Goyal et al., 2017).
    """
    seed = _checks.seed(seed)
    num_classes = _checks.whole_number("num_classes", num_classes, 2)
    alpha = _checks.positive_finite("alpha", alpha, "1.0 is MobileNetV2's width, 0.5 half of it")
    dropout = _checks.fraction("dropout", dropout, "0.2 drops a fifth of the pooled features")
    fused_stages = _checks.whole_number("fused_stages", fused_stages, 0, len(VEHICLE_BLOCKS))
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise InvalidArgumentError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    layers = keras.layers
    count = iter(range(1, 1000))

    def init():
        return keras.initializers.HeNormal(seed=seed * 1000 + next(count))

    def conv_bn(x, filters, kernel, stride, label, relu=True, depthwise=False, zero_gamma=False):
        if depthwise:
            x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                                       depthwise_initializer=init(), name=label)(x)
        else:
            x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False,
                              kernel_initializer=init(), name=label)(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{label}_BN",
                                      gamma_initializer="zeros" if zero_gamma else "ones")(x)
        return layers.ReLU(6.0, name=f"{label}_relu")(x) if relu else x

    image = layers.Input(shape, name="image")
    x = image
    if shape[:2] != (96, 96) and max(shape[:2]) < 96:
        x = layers.Resizing(96, 96, name="resize")(x)
    x = conv_bn(x, _divisible(32 * alpha), 3, 2, "Conv1")
    block = 0
    for stage, (expansion, channels, repeats, first_stride) in enumerate(VEHICLE_BLOCKS):
        out = _divisible(channels * alpha)
        for r in range(repeats):
            stride = first_stride if r == 0 else 1
            label = "expanded_conv" if block == 0 else f"block_{block}"
            inputs, y = x, x
            if stage < fused_stages:   # Fused-MBConv: one 3x3 conv expands
                y = conv_bn(y, expansion * int(x.shape[-1]), 3, stride, f"{label}_expand")
            else:
                if expansion != 1:
                    y = conv_bn(y, expansion * int(x.shape[-1]), 1, 1, f"{label}_expand")
                y = conv_bn(y, None, 3, stride, f"{label}_depthwise", depthwise=True)
            residual = stride == 1 and int(inputs.shape[-1]) == out
            y = conv_bn(y, out, 1, 1, f"{label}_project", relu=False, zero_gamma=residual)
            if residual:
                y = layers.Add(name=f"{label}_add")([inputs, y])
            x, block = y, block + 1
    x = conv_bn(x, _divisible(VEHICLE_HEAD * max(alpha, 1.0)), 1, 1, "Conv_1")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(num_classes, name="logits", kernel_initializer=init())(x)
    return keras.Model(image, layers.Softmax(name="probabilities")(x), name=name)


def unet(input_shape=(96, 96, 3), num_classes: int = 2, filters: int = 16, depth: int = 3,
         seed: int = 0, name: str = "unet"):
    """A small UNet (Ronneberger et al., 2015) for segmentation, in the seed lecture's style.

    The encoder has ``depth`` levels of two 3x3 Conv2D + BatchNorm + ReLU, each followed by a
    2x2 max-pool, with ``filters`` doubling per level; then a bottleneck; the
    decoder goes back up with a 2x2 ``Conv2DTranspose`` (stride 2), concatenates
    the encoder's level of the same size (the skip connection) and applies two
    3x3 convolutions. A 1x1 convolution gives each pixel's class: one sigmoid
    channel for two classes (shape against background, as the seed's water
    masks), else ``num_classes`` channels and a Softmax. At 96x96 with the
    defaults it costs about 330 M MACs (480 K parameters), so an inference takes milliseconds.

    >>> m = unet(filters=4, depth=2)
    >>> m.output_shape, unet(num_classes=11, filters=4, depth=2).output_shape
    ((None, 96, 96, 1), (None, 96, 96, 11))
    """
    num_classes = _checks.whole_number("num_classes", num_classes, 2)
    filters = _checks.whole_number("filters", filters, 1, _checks.MAX_WIDTH)
    depth = _checks.whole_number("depth", depth, 1, 6)
    seed = _checks.seed(seed)
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise InvalidArgumentError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    if shape[0] % 2 ** depth or shape[1] % 2 ** depth:
        raise InvalidArgumentError(f"a UNet of depth {depth} halves the image {depth} times, so "
                                   f"its height and width must be multiples of {2 ** depth}; "
                                   f"got {shape[:2]}")
    layers = keras.layers
    count = iter(range(1, 1000))

    def conv(x, width, label, kernel=3):
        x = layers.Conv2D(width, kernel, padding="same", use_bias=False, name=label,
                          kernel_initializer=keras.initializers.HeNormal(
                              seed=seed * 1000 + next(count)))(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{label}_BN")(x)
        return layers.ReLU(name=f"{label}_relu")(x)

    image = layers.Input(shape, name="image")
    x, skips = image, []
    for level in range(depth):
        width = filters * 2 ** level
        x = conv(conv(x, width, f"down{level}_conv1"), width, f"down{level}_conv2")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
    width = filters * 2 ** depth
    x = conv(conv(x, width, "bottom_conv1"), width, "bottom_conv2")
    for level in reversed(range(depth)):
        width = filters * 2 ** level
        x = layers.Conv2DTranspose(width, 2, strides=2, padding="same", name=f"up{level}_transpose",
                                   kernel_initializer=keras.initializers.HeNormal(
                                       seed=seed * 1000 + next(count)))(x)
        x = layers.Concatenate(name=f"up{level}_concat")([x, skips[level]])
        x = conv(conv(x, width, f"up{level}_conv1"), width, f"up{level}_conv2")
    init = keras.initializers.GlorotUniform(seed=seed * 1000 + next(count))
    if num_classes == 2:
        out = layers.Conv2D(1, 1, activation="sigmoid", name="mask", kernel_initializer=init)(x)
    else:
        x = layers.Conv2D(num_classes, 1, name="logits", kernel_initializer=init)(x)
        out = layers.Softmax(name="probabilities")(x)
    return keras.Model(image, out, name=name)


CONV_KINDS = ("standard", "separable")


def conv_stack(kind: str = "standard", input_shape=(56, 56, 128), depth: int = 4,
               kernel: int = 3, seed: int = 0):
    """``depth`` convolutions at one width (the input's channels), of one ``kind``.

    ``"standard"``: each is a ``kernel x kernel`` Conv2D from C to C channels,
    then BatchNorm and ReLU. ``"separable"``: each is MobileNet's replacement
    for it, a ``kernel x kernel`` DepthwiseConv2D (one filter per channel) and
    a 1x1 Conv2D from C to C, each with BatchNorm and ReLU. Same width, same
    output shape, same receptive field; the separable stack has
    ``1/C + 1/kernel**2`` of the standard one's MACs. Taught in
    notebooks/01-model-complexity (section 8), measured by
    ``artspeed.compare_convolutions``.
    """
    _checks.choice("kind", kind, CONV_KINDS)
    depth = _checks.whole_number("depth", depth, 1, 64)
    kernel = _checks.whole_number("kernel", kernel, 1, 15)
    seed = _checks.seed(seed)
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise InvalidArgumentError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    layers, width = keras.layers, shape[-1]
    count = iter(range(1, 1000))

    def init():
        return keras.initializers.HeNormal(seed=seed * 1000 + next(count))

    def bn_relu(x, label):
        x = layers.BatchNormalization(name=f"{label}_BN")(x)
        return layers.ReLU(name=f"{label}_relu")(x)

    image = layers.Input(shape, name="features")
    x = image
    for i in range(1, depth + 1):
        if kind == "standard":
            x = layers.Conv2D(width, kernel, padding="same", use_bias=False,
                              kernel_initializer=init(), name=f"conv_{i}")(x)
            x = bn_relu(x, f"conv_{i}")
        else:
            x = layers.DepthwiseConv2D(kernel, padding="same", use_bias=False,
                                       depthwise_initializer=init(), name=f"depthwise_{i}")(x)
            x = bn_relu(x, f"depthwise_{i}")
            x = layers.Conv2D(width, 1, use_bias=False, kernel_initializer=init(),
                              name=f"pointwise_{i}")(x)
            x = bn_relu(x, f"pointwise_{i}")
    return keras.Model(image, x, name=f"{kind}_{kernel}x{kernel}_x{depth}")


def dense_example():
    """The lecture's five-layer Dense model, with its second and third layers frozen.

    Dense(5, relu, input 3), Dense(8) and Dense(10) frozen, Dense(15),
    Dense(4, softmax): 387 parameters, 249 trainable and 138 not.
    """
    layers = keras.layers
    return keras.Sequential([
        layers.Input((3,)),
        layers.Dense(5, activation="relu", name="dense_1"),
        layers.Dense(8, name="dense_2", trainable=False),
        layers.Dense(10, name="dense_3", trainable=False),
        layers.Dense(15, name="dense_4"),
        layers.Dense(4, activation="softmax", name="dense_5"),
    ], name="dense_example")


def trainable_params(model) -> int:
    """The number of trainable parameters (scalars), as model.summary() counts them."""
    return int(sum(w.shape.num_elements() for w in model.trainable_weights))


def non_trainable_params(model) -> int:
    """The number of non-trainable parameters: frozen layers, BatchNorm statistics."""
    return int(sum(w.shape.num_elements() for w in model.non_trainable_weights))
