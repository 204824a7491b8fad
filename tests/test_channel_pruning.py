"""Channel pruning: a narrower model whose outputs match the original with those filters zeroed."""

import numpy as np
import pytest

import artspeed
from artspeed import InvalidArgumentError, KerasVersionError, ModelError
from artspeed.compress.channels import (
    channel_prunable_layers,
    channel_pruning,
    filter_norms,
    prune_channels,
)


def _random_weights(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.weights:   # non-zero biases too, so a wrong slice shows
            layer.set_weights([w + rng.normal(0, 0.1, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    return model


def _images(n=6, shape=(28, 28, 1)):
    return np.random.default_rng(1).random((n, *shape), np.float32)


def _zero_removed_filters(model, narrow):
    """A copy of ``model`` whose removed filters (kernel and bias) are zero."""
    import tf_keras

    copy = tf_keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for name in channel_prunable_layers(model):
        kernel, bias = copy.get_layer(name).get_weights()
        kept = np.isin(bias, narrow.get_layer(name).get_weights()[1])
        copy.get_layer(name).set_weights([kernel * kept, bias * kept])
    return copy


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_narrow_model_computes_what_the_zeroed_original_computes(norm):
    model = _random_weights(artspeed.baseline_cnn(width=4))
    narrow = prune_channels(model, 0.5, norm=norm)
    x = _images()
    expected = _zero_removed_filters(model, narrow)(x).numpy()
    np.testing.assert_allclose(narrow(x).numpy(), expected, atol=1e-6)
    assert narrow.count_params() < model.count_params() / 3


def test_flatten_rows_follow_height_width_channel_order():
    # A Dense right after Flatten: its input rows are (h, w, c); a wrong order breaks this.
    import tf_keras

    layers = tf_keras.layers
    model = _random_weights(tf_keras.Sequential([
        layers.Input((6, 6, 2)), layers.Conv2D(6, 3, activation="relu", name="conv"),
        layers.BatchNormalization(name="bn"), layers.Flatten(name="flatten"),
        layers.Dense(4, name="logits")], name="small"))
    narrow = prune_channels(model, 0.5)
    assert narrow.get_layer("conv").kernel.shape[-1] == 3
    assert narrow.get_layer("logits").kernel.shape[0] == 4 * 4 * 3
    expected = _zero_removed_filters(model, narrow)
    bn = expected.get_layer("bn")   # BatchNorm of a zeroed channel gives its beta: zero it too
    kept = np.isin(model.get_layer("conv").get_weights()[1],
                   narrow.get_layer("conv").get_weights()[1])
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights([gamma, beta - (beta - gamma * mean / np.sqrt(var + bn.epsilon)) * ~kept,
                    mean, var])
    x = _images(4, (6, 6, 2))
    np.testing.assert_allclose(narrow(x).numpy(), expected(x).numpy(), atol=1e-5)


def test_zero_fraction_is_an_exact_copy_and_filters_rank_by_norm():
    model = _random_weights(artspeed.baseline_cnn(width=4))
    x = _images()
    np.testing.assert_array_equal(prune_channels(model, 0.0)(x).numpy(), model(x).numpy())
    norms = filter_norms(model, "conv2", "l1")
    narrow = prune_channels(model, 0.75, layers=["conv2"])
    kept = narrow.get_layer("conv2").get_weights()[1]
    strongest = model.get_layer("conv2").get_weights()[1][np.argsort(-norms)[:2]]
    assert sorted(kept) == sorted(strongest)
    assert narrow.get_layer("conv1").kernel.shape[-1] == 4       # not chosen: untouched


def test_channel_pruning_cuts_params_and_macs_and_fine_tunes(shapes_small, trained):
    run = channel_pruning(trained, shapes_small, 0.5, epochs=2, learning_rate=2e-3,
                          progress=False)
    assert run.filters == {"conv1": [8, 4], "conv2": [16, 8], "dense": [32, 16],
                           "logits": [10, 10]}
    assert run.params < run.baseline_params / 3
    assert run.macs_ratio > 3   # both conv layers halve: conv2 and the dense cost 4x less
    assert run.macs == artspeed.profile(run.model).macs
    assert run.baseline_accuracy > 0.5 and run.accuracy > 0.4
    assert run.to_dict()["filters"]["conv2"] == [16, 8]
    assert run.to_dict()["model"] == run.model.name
    assert run.size_bytes < run.baseline_size_bytes and run.times_smaller > 1
    assert run.accuracy_drop_points == pytest.approx(100 * (run.baseline_accuracy - run.accuracy))
    assert "fewer MACs" in repr(run) and "<table" in run._repr_html_()


def test_a_fraction_that_empties_a_layer_is_refused():
    with pytest.raises(InvalidArgumentError, match="would leave conv1 with no filters"):
        prune_channels(artspeed.baseline_cnn(width=2), 0.8)
    for value in (-0.1, 1.0, "half"):
        with pytest.raises(InvalidArgumentError, match=r"channel fraction must be a fraction in \[0, 1\)"):
            prune_channels(artspeed.baseline_cnn(width=2), value)


def test_unsupported_models_and_choices_are_refused():
    import tf_keras

    with pytest.raises(InvalidArgumentError, match="cannot prune the filters of logits"):
        prune_channels(artspeed.baseline_cnn(width=4), 0.5, layers=["logits"])
    with pytest.raises(InvalidArgumentError, match="unknown norm 'l3'"):
        prune_channels(artspeed.baseline_cnn(width=4), 0.5, norm="l3")
    single = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(3)], name="one")
    with pytest.raises(ModelError, match="no layers whose filters can be pruned"):
        prune_channels(single, 0.5)
    inputs = tf_keras.Input((8,))
    hidden = tf_keras.layers.Dense(8)(inputs)
    skip = tf_keras.Model(inputs, tf_keras.layers.Add()([hidden, inputs]), name="residual")
    with pytest.raises(ModelError, match="plain chain"):
        prune_channels(skip, 0.5)


def test_keras3_model_is_refused():
    import keras  # Keras 3, installed as TensorFlow's own dependency

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(KerasVersionError, match="Keras 3 model"):
        prune_channels(model, 0.5)
