"""Magnitude and N:M pruning through real tfmot wrappers, fine-tuning and strip_pruning."""

import numpy as np
import pytest

import artspeed
from artspeed import InvalidArgumentError, KerasVersionError, ModelError
from artspeed.compress.pruning import (
    PruningResult,
    SparsityReport,
    check_m_by_n,
    check_sparsity,
    magnitude_pruning,
    prune_low_magnitude,
    pruning_schedule,
    sparsity_report,
    sparsity_sweep,
    strip_pruning,
    verify_m_by_n,
)


@pytest.fixture(scope="module")
def pruned80(trained, shapes_small):
    return magnitude_pruning(trained, shapes_small, 0.8, skip=["conv1"], epochs=1,
                             learning_rate=1e-3, progress=False)


def test_constant_schedule_reaches_the_target_in_every_pruned_layer(pruned80, trained):
    report = pruned80.report
    for name in ("conv2", "dense", "logits"):
        row = report.layer(name)
        assert row.target_sparsity == 0.8
        assert row.achieved_sparsity == pytest.approx(0.8, abs=0.01), name
    assert report.layer("conv1").target_sparsity == 0.0
    assert report.layer("conv1").achieved_sparsity < 0.1   # skipped: still dense
    assert report.achieved_sparsity == pytest.approx(0.8, abs=0.01)
    assert 0 < report.model_sparsity < report.achieved_sparsity
    assert np.count_nonzero(trained.get_layer("dense").kernel.numpy()) > \
        0.9 * trained.get_layer("dense").kernel.shape.num_elements(), "original left alone"


def test_pruned_file_gzips_smaller_and_keeps_accuracy(pruned80):
    assert pruned80.size_bytes == pytest.approx(pruned80.baseline_size_bytes, rel=0.05)
    assert pruned80.times_smaller == pruned80.baseline_gzip_bytes / pruned80.gzip_bytes > 2
    assert isinstance(pruned80, artspeed.CompressionResult)
    with pytest.warns(DeprecationWarning, match="gzip_ratio was renamed times_smaller"):
        assert pruned80.gzip_ratio == pruned80.times_smaller
    assert pruned80.baseline_accuracy > 0.5
    assert pruned80.accuracy > 0.3     # one short epoch on a small dataset
    assert [layer.name for layer in pruned80.model.layers][0] == "conv1"   # stripped


def test_result_serializes_and_shows(pruned80):
    data = pruned80.to_dict()
    assert data["model"] == "baseline_cnn" and data["report"]["layers"][1]["name"] == "conv2"
    report = SparsityReport.from_dict(data["report"])
    assert report == pruned80.report
    assert "<table" in pruned80._repr_html_() and "<table" in report._repr_html_()
    assert "sparse" in repr(pruned80) and isinstance(pruned80, PruningResult)


def test_polynomial_schedule_ramps_to_the_target(trained, shapes_small):
    schedule = pruning_schedule("polynomial", 0.6, 40)
    assert schedule.end_step == 30 and schedule.frequency == 2
    run = magnitude_pruning(trained, shapes_small, 0.6, schedule="polynomial", epochs=2,
                            layers=["dense"], progress=False)
    assert run.report.layer("dense").achieved_sparsity == pytest.approx(0.6, abs=0.01)
    assert run.report.layer("conv2").achieved_sparsity < 0.1
    assert run.schedule == "polynomial"


def test_two_four_pattern_holds_in_every_pruned_kernel(trained, shapes_small):
    from tensorflow_model_optimization.python.core.sparsity.keras.pruning_utils import (
        is_pruned_m_by_n,
    )

    run = magnitude_pruning(trained, shapes_small, 0.0, m_by_n=(2, 4), skip=["conv1"],
                            epochs=1, progress=False)
    assert run.m_by_n == (2, 4) and run.report.target_sparsity == 0.5
    checked = verify_m_by_n(run.model, (2, 4), layers=["conv2", "dense", "logits"])
    assert checked == {"conv2": True, "dense": True, "logits": True}
    for name in checked:   # the same verdict as tfmot's own checker
        assert is_pruned_m_by_n(run.model.get_layer(name).kernel, (2, 4))
    assert not any(verify_m_by_n(trained, (2, 4), layers=["conv2", "dense"]).values())


def test_verifier_catches_a_broken_block():
    model = artspeed.dense_example()
    kernel = np.zeros((5, 8), np.float32)
    kernel[0:2, :] = 1.0                       # 2 of every 4 inputs (C_IN = 5, padded to 8)
    model.get_layer("dense_2").set_weights([kernel, np.zeros(8, np.float32)])
    assert verify_m_by_n(model, (2, 4), layers=["dense_2"]) == {"dense_2": True}
    kernel[:4, 0] = 1.0                        # 4 non-zeros in the first block of 4 inputs
    model.get_layer("dense_2").set_weights([kernel, np.zeros(8, np.float32)])
    assert verify_m_by_n(model, (2, 4), layers=["dense_2"]) == {"dense_2": False}


def test_sweep_is_monotonic_in_sparsity(trained, shapes_small):
    sweep = sparsity_sweep(trained, shapes_small, (0.5, 0.9), epochs=1)
    assert sweep.achieved[0] == pytest.approx(0.5, abs=0.01)
    assert sweep.achieved[1] == pytest.approx(0.9, abs=0.01)
    assert sweep.gzip_bytes[1] < sweep.gzip_bytes[0] < sweep.baseline_gzip_bytes
    assert sweep.plot() is not None and "<table" in sweep._repr_html_()
    assert type(sweep).from_json(sweep.to_json()) == sweep


def test_model_size_leaves_out_the_optimizer(trained, tmp_path):
    with_optimizer = artspeed.save_model(trained, tmp_path / "full.keras")
    assert artspeed.model_size(trained).size_bytes < artspeed.model_size(with_optimizer).size_bytes / 2


def test_strip_pruning_gives_back_plain_layers():
    wrapped = prune_low_magnitude(artspeed.baseline_cnn(width=2), 0.5, layers=["dense"])
    assert [layer.name for layer in wrapped.layers if "prune" in layer.name] == \
        ["prune_low_magnitude_dense"]
    plain = strip_pruning(wrapped)
    assert not any("prune" in layer.name for layer in plain.layers)
    assert sparsity_report(wrapped, 0.5).layer("dense").name == "dense"


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, "0.5", True, float("nan")])
def test_sparsity_outside_zero_one_is_refused(value):
    with pytest.raises(InvalidArgumentError, match=r"sparsity must be a fraction in \[0, 1\)"):
        check_sparsity(value)
    with pytest.raises(InvalidArgumentError, match="sparsity must be"):
        prune_low_magnitude(artspeed.baseline_cnn(width=2), value)


@pytest.mark.parametrize("value", [(2, 2), (0, 4), (3, 2), (2, 4, 8), "a,b", (2.0, 4), "2"])
def test_invalid_m_by_n_is_refused(value):
    with pytest.raises(InvalidArgumentError, match="invalid N:M pattern"):
        check_m_by_n(value)
    with pytest.raises(InvalidArgumentError, match="invalid N:M pattern"):
        prune_low_magnitude(artspeed.baseline_cnn(width=2), 0.5, m_by_n=value)


def test_model_with_no_prunable_layers_is_refused():
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((4, 4, 1)), tf_keras.layers.Flatten(),
                                 tf_keras.layers.Softmax()], name="no_kernels")
    with pytest.raises(ModelError, match="no prunable layers"):
        prune_low_magnitude(model, 0.5)
    with pytest.raises(ModelError, match="no prunable layers left"):
        prune_low_magnitude(artspeed.baseline_cnn(width=2), 0.5,
                            skip=["conv1", "conv2", "dense", "logits"])


def test_bad_layer_names_and_schedules():
    model = artspeed.baseline_cnn(width=2)
    with pytest.raises(InvalidArgumentError, match="layers names no layer .* conv9"):
        prune_low_magnitude(model, 0.5, layers=["conv9"])
    with pytest.raises(InvalidArgumentError, match="tfmot cannot prune pool1"):
        prune_low_magnitude(model, 0.5, layers=["pool1"])
    with pytest.raises(InvalidArgumentError, match="unknown schedule 'cubic'"):
        prune_low_magnitude(model, 0.5, schedule="cubic")


def test_subclassed_and_unbuilt_models_are_refused_with_what_to_do(subclassed_model):
    import tf_keras as keras

    from artspeed.compress.clustering import cluster_weights

    model = subclassed_model
    with pytest.raises(ModelError, match="cannot prune sub .*Rebuild it with keras.Sequential"):
        prune_low_magnitude(model, 0.5)
    with pytest.raises(ModelError, match="cannot cluster sub .*functional API"):
        cluster_weights(model, 8)
    unbuilt = keras.Sequential([keras.layers.Dense(3)], name="unbuilt")
    with pytest.raises(ModelError, match="unbuilt is not built; call model.build"):
        prune_low_magnitude(unbuilt, 0.5)


def test_keras3_model_is_refused():
    import keras  # Keras 3, installed as TensorFlow's own dependency

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(KerasVersionError, match="Keras 3 model"):
        prune_low_magnitude(model, 0.5)
    with pytest.raises(KerasVersionError, match="Keras 3 model"):
        sparsity_report(model)
