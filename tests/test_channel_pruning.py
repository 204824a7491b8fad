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


# Inverted-residual networks: the vehicle (MobileNetV2) and small graphs with branches.

def _random_vehicle(alpha=0.35, seed=0):
    """A vehicle whose weights and BatchNorm statistics are all random (no gamma at zero),
    so a wrongly sliced weight anywhere changes the output."""
    model = artspeed.vehicle(alpha=alpha)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = layer.get_weights()
        if type(layer).__name__ == "BatchNormalization":
            shape = values[0].shape
            values = [rng.uniform(0.5, 1.5, shape), rng.normal(0, 0.1, shape),
                      rng.normal(0, 0.1, shape), rng.uniform(0.5, 1.5, shape)]
        else:
            values = [w + rng.normal(0, 0.05, w.shape) for w in values]
        layer.set_weights([v.astype(np.float32) for v in values])
    return model


def _kept_channels(model, narrow, name):
    """Which channels of layer ``name`` (a conv's filters, found by its kernel columns, or a
    BatchNorm's, by its statistics) the narrow model kept."""
    def columns(m):
        return np.concatenate([w.reshape(-1, w.shape[-1]) for w in m.get_layer(name).get_weights()])

    old, new = columns(model), columns(narrow)
    kept = np.array([np.flatnonzero((old == column[:, None]).all(0))[0] for column in new.T])
    assert np.all(np.diff(kept) > 0)   # each found once, in order
    return kept


def _zero_inputs(model, readers: dict, kept: dict):
    """A copy of ``model`` whose readers ignore the removed channels (their input rows zeroed):
    what the narrow model computes, since everything in between works channel by channel."""
    import tf_keras

    copy = tf_keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for name, reader in readers.items():
        kernel, *rest = copy.get_layer(reader).get_weights()
        mask = np.zeros(kernel.shape[-2], bool)
        mask[kept[name]] = True
        copy.get_layer(reader).set_weights([kernel * mask[:, None], *rest])
    return copy


def _vehicle_readers(model):
    """Each prunable layer of a vehicle -> the conv (or Dense) that reads its channels."""
    names = {layer.name for layer in model.layers}
    first = "expanded_conv_expand" if "expanded_conv_expand" in names else "expanded_conv_project"
    readers = {"Conv1": first, "expanded_conv_project": "block_1_expand", "Conv_1": "logits"}
    readers.update({layer.name: layer.name[:-len("_expand")] + "_project"
                    for layer in model.layers if layer.name.endswith("_expand")})
    return readers


def test_vehicle_prunes_expanded_channels_and_keeps_the_residual_adds():
    model = _random_vehicle()
    readers = _vehicle_readers(model)
    assert channel_prunable_layers(model) == [layer.name for layer in model.layers
                                              if layer.name in readers]
    narrow = prune_channels(model, 0.5)
    kept = {name: _kept_channels(model, narrow, f"{name}_BN") for name in readers}
    names = {layer.name for layer in model.layers}
    assert {"block_1_expand", "block_6_depthwise"} <= names and "block_1_depthwise" not in names
    for layer in model.layers:
        name, wide = layer.name, layer.get_weights()
        if name.endswith("_expand"):
            block = name[:-len("_expand")]
            filters = layer.filters
            assert narrow.get_layer(name).filters == filters // 2 == len(kept[name])
            index = kept[name]
            fused = f"{block}_depthwise" not in names   # a Fused-MBConv block: a 3x3 expand
            assert layer.kernel_size == ((3, 3) if fused else (1, 1))
            if not fused:
                dw = narrow.get_layer(f"{block}_depthwise")
                assert dw.depthwise_kernel.shape[2] == dw.output_shape[-1] == filters // 2
                np.testing.assert_array_equal(
                    dw.get_weights()[0],
                    model.get_layer(f"{block}_depthwise").get_weights()[0][:, :, index])
            for bn in (f"{name}_BN",) + (() if fused else (f"{block}_depthwise_BN",)):
                for new, old in zip(narrow.get_layer(bn).get_weights(),
                                    model.get_layer(bn).get_weights()):
                    np.testing.assert_array_equal(new, old[index])
            project, wide_project = narrow.get_layer(f"{block}_project"), model.get_layer(
                f"{block}_project")
            outputs = kept.get(project.name, slice(None))   # pruned too where no Add reads it
            np.testing.assert_array_equal(project.kernel.numpy(),
                                          wide_project.kernel.numpy()[:, :, index][..., outputs])
        if type(layer).__name__ == "Add":
            twin = narrow.get_layer(name)
            assert twin.output_shape == layer.output_shape
            assert [t.name for t in twin.input] == [t.name for t in layer.input]
        if name.startswith("block_") and name.endswith("_project_BN"):   # block outputs stay
            for new, old in zip(narrow.get_layer(name).get_weights(), wide):
                np.testing.assert_array_equal(new, old)
    np.testing.assert_array_equal(narrow.get_layer("logits").kernel.numpy(),
                                  model.get_layer("logits").kernel.numpy()[kept["Conv_1"]])

    x = np.random.default_rng(2).random((3, 96, 96, 3), np.float32)
    expected = artspeed.logits_model(_zero_inputs(model, readers, kept))(x).numpy()
    got = artspeed.logits_model(narrow)(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_array_equal(prune_channels(model, 0.0)(x).numpy(), model(x).numpy())
    before, after = artspeed.profile(model, 1), artspeed.profile(narrow, 1)
    assert after.macs < 0.6 * before.macs and after.total_params < 0.6 * before.total_params


def test_vehicle_channel_pruning_fine_tunes_and_converts_to_tflite(scenes_small, tmp_path):
    model = artspeed.vehicle(alpha=0.35)
    run = channel_pruning(model, scenes_small, 0.5, epochs=1, batch_size=32, progress=False)
    assert run.macs < run.baseline_macs / 1.8 and run.params < run.baseline_params / 1.8
    assert run.macs == artspeed.profile(run.model).macs
    assert run.filters["block_1_expand"] == [48, 24] and run.filters["Conv_1"] == [640, 320]
    assert run.filters["block_2_project"] == [8, 8] and run.filters["logits"] == [10, 10]
    assert run.history.epochs == 1 and 0 <= run.accuracy <= 1
    tflite = artspeed.convert_to_tflite(run.model, "float32", path=tmp_path / "narrow.tflite")
    x = scenes_small.x_test[:4]
    np.testing.assert_allclose(tflite.predictor().predict(x), run.model(x).numpy(), atol=1e-5)


def test_a_conv_read_by_two_branches_narrows_both():
    import tf_keras

    layers = tf_keras.layers
    image = tf_keras.Input((8, 8, 3))
    x = layers.ReLU(name="relu")(layers.BatchNormalization(name="bn")(
        layers.Conv2D(8, 3, name="stem")(image)))
    left = layers.Conv2D(4, 1, name="left")(x)
    right = layers.Conv2D(4, 1, name="right")(layers.DepthwiseConv2D(3, padding="same",
                                                                     name="dw")(x))
    joined = layers.GlobalAveragePooling2D()(layers.Concatenate(name="join")([left, right]))
    model = _random_weights(tf_keras.Model(image, layers.Dense(3, name="logits")(joined),
                                           name="branches"))
    bn = model.get_layer("bn")
    bn.set_weights([*bn.get_weights()[:3], np.abs(bn.get_weights()[3]) + 0.5])
    assert channel_prunable_layers(model) == ["stem"]
    narrow = prune_channels(model, 0.5)
    assert narrow.get_layer("dw").depthwise_kernel.shape[2] == 4
    assert narrow.get_layer("left").kernel.shape[-2] == narrow.get_layer("right").kernel.shape[-2] == 4
    kept = _kept_channels(model, narrow, "stem")
    x = _images(4, (8, 8, 3))
    for reader in ("left", "right"):   # zero the removed channels for both readers
        model = _zero_inputs(model, {"stem": reader}, {"stem": kept})
    np.testing.assert_allclose(narrow(x).numpy(), model(x).numpy(), atol=1e-5)
    with pytest.raises(InvalidArgumentError,
                       match=r"cannot prune the filters of left: its output reaches join "
                             r"\(Concatenate\), which joins it with another branch"):
        prune_channels(model, 0.5, layers="left")


def test_structures_it_cannot_narrow_are_refused_with_the_reason():
    import tf_keras

    vehicle = artspeed.vehicle(alpha=0.35)
    with pytest.raises(InvalidArgumentError, match=r"block_2_project: its output reaches "
                                                   r"block_2_add \(Add\)"):
        prune_channels(vehicle, 0.5, layers=["block_2_project"])
    with pytest.raises(InvalidArgumentError, match="block_7_depthwise: it is a DepthwiseConv2D, "
                                                   "not a Conv1D, Conv2D or Dense layer"):
        prune_channels(vehicle, 0.5, layers=["block_7_depthwise"])
    with pytest.raises(InvalidArgumentError, match="vehicle has no layer of that name"):
        prune_channels(vehicle, 0.5, layers=["block_99_expand"])
    layers = tf_keras.layers
    image = tf_keras.Input((8, 8, 3))
    x = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(layers.Conv2D(4, 1, name="c")(image))
    x = layers.Conv2D(4, 1, name="p")(x)
    model = tf_keras.Model(image, layers.Add(name="add")([x, layers.Conv2D(4, 1, name="q")(image)]),
                           name="odd")
    with pytest.raises(ModelError, match=r"odd has no layers whose filters can be pruned \(c: its "
                                         r"output reaches dw, and dw has depth_multiplier 2"):
        prune_channels(model, 0.5)
