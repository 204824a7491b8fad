"""The workbook's models: the baseline CNN and the lecture's Dense example.

Taught in notebooks/00-setup-and-baseline (baseline) and
notebooks/01-model-complexity (the Dense example's 387 parameters).

>>> m = dense_example()
>>> m.count_params(), trainable_params(m), non_trainable_params(m)
(387, 249, 138)
>>> baseline_cnn(width=8).output_shape
(None, 10)
"""

from __future__ import annotations

from artspeed.core import _checks
from artspeed.core.errors import InvalidArgumentError
from artspeed.core.frameworks import tf_keras as keras

__all__ = ["baseline_cnn", "dense_example", "trainable_params", "non_trainable_params"]


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
