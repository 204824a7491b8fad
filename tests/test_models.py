"""The workbook's models and the training helper."""

import numpy as np
import pytest

import artspeed
from artspeed.core.errors import InvalidArgumentError


def test_dense_example_has_the_lectures_387_parameters():
    model = artspeed.dense_example()
    assert model.count_params() == 387
    assert artspeed.trainable_params(model) == 249
    assert artspeed.non_trainable_params(model) == 138
    assert [layer.units for layer in model.layers] == [5, 8, 10, 15, 4]
    assert [layer.trainable for layer in model.layers] == [True, False, False, True, True]
    assert model.layers[-1].activation.__name__ == "softmax"


def test_baseline_width_scales_the_model():
    narrow, wide = artspeed.baseline_cnn(width=8), artspeed.baseline_cnn(width=32)
    assert wide.count_params() == 421_642  # 320 + 18,496 + 401,536 + 1,290
    assert narrow.count_params() < wide.count_params() / 10
    assert [layer.name for layer in wide.layers if "conv" in layer.name] == ["conv1", "conv2"]
    assert wide.get_layer("conv2").filters == 64 and wide.get_layer("dense").units == 128
    assert wide.get_layer("logits").activation.__name__ == "linear"


def test_baseline_for_cifar_shapes():
    model = artspeed.baseline_cnn((32, 32, 3), num_classes=10, width=4)
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)


def test_vehicle_is_a_mobilenetv2_of_inverted_residual_blocks():
    model = artspeed.vehicle()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert model.input_shape == (None, 96, 96, 3) and model.output_shape == (None, 10)
    stages = artspeed.VEHICLE_BLOCKS
    fused = artspeed.VEHICLE_FUSED_STAGES
    # the fused stages' blocks expand with a 3x3 conv; the others are depthwise-separable
    assert kinds.count("DepthwiseConv2D") == sum(n for _, _, n, _ in stages[fused:])
    assert model.get_layer("block_4_expand").kernel_size == (3, 3)
    assert model.get_layer("block_7_expand").kernel_size == (1, 1)
    assert model.get_layer("block_7_depthwise").kernel_size == (3, 3)
    assert kinds.count("Add") == 6   # each stage's blocks after its first: 1 + 2 + 2 + 1
    assert model.get_layer("block_4_expand").filters == 6 * model.get_layer(
        "block_3_project").filters            # expansion 6
    assert model.get_layer("Conv1").filters == 48       # 32 x alpha 1.4, rounded to 8
    assert model.get_layer("logits").activation.__name__ == "linear"
    # it costs a hundred or more millions of MACs (milliseconds at batch 1), unlike the 28x28 CNN
    assert 150e6 < artspeed.profile(model, 1).macs < 220e6
    plain = artspeed.vehicle(fused_stages=0)   # MobileNetV2's blocks everywhere
    assert [type(layer).__name__ for layer in plain.layers].count("DepthwiseConv2D") == sum(
        n for _, _, n, _ in stages)
    assert 50e6 < artspeed.profile(plain, 1).macs < 90e6
    with pytest.raises(InvalidArgumentError, match="fused_stages"):
        artspeed.vehicle(fused_stages=6)
    a, b = artspeed.vehicle(alpha=0.35, seed=3), artspeed.vehicle(alpha=0.35, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    small = artspeed.vehicle((32, 32, 3), alpha=0.35)
    assert small.get_layer("resize").output_shape == (None, 96, 96, 3)
    with pytest.raises(InvalidArgumentError, match="alpha"):
        artspeed.vehicle(alpha=0)


@pytest.mark.parametrize("kwargs, match", [
    ({"width": 0}, "width"), ({"width": 2.5}, "width"), ({"num_classes": 1}, "num_classes"),
    ({"dropout": 1.0}, "dropout"), ({"input_shape": (28, 28)}, "input_shape"),
    ({"input_shape": (2, 2, 1)}, "at least 4x4"),
])
def test_baseline_refuses_nonsense(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        artspeed.baseline_cnn(**kwargs)


def test_training_learns_the_builtin_dataset(shapes_small):
    model = artspeed.baseline_cnn(width=8)
    history = artspeed.train(model, shapes_small, epochs=3, batch_size=32, progress=False)
    assert history.epochs == 3 and len(history.epoch_seconds) == 3
    assert set(history.metrics) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.metrics["loss"][-1] < history.metrics["loss"][0]
    assert artspeed.accuracy(model, shapes_small) > 0.5  # chance is 0.1
    restored = artspeed.TrainingHistory.from_json(history.to_json())
    assert restored == history and "epochs" in repr(history)
    assert "<table" in history._repr_html_()


def test_training_is_seeded(shapes_small):
    first, second = artspeed.baseline_cnn(width=4, seed=3), artspeed.baseline_cnn(width=4, seed=3)
    other = artspeed.baseline_cnn(width=4, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights()))
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])
    artspeed.train(first, shapes_small, epochs=1, seed=7, progress=False)
    artspeed.train(second, shapes_small, epochs=1, seed=7, progress=False)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_training_refuses_a_model_of_the_wrong_shape(shapes_small):
    with pytest.raises(InvalidArgumentError, match=r"\(28, 28, 1\)"):
        artspeed.train(artspeed.baseline_cnn((32, 32, 3), width=4), shapes_small, epochs=1)
    with pytest.raises(InvalidArgumentError, match="num_classes=10"):
        artspeed.train(artspeed.baseline_cnn(num_classes=5, width=4), shapes_small, epochs=1)
    with pytest.raises(InvalidArgumentError, match="epochs"):
        artspeed.train(artspeed.baseline_cnn(width=4), shapes_small, epochs=0)
