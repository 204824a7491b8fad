"""Weight clustering with tfmot, and pruning combined with int8 (PTQ and sparsity-preserving QAT)."""

import numpy as np
import pytest

import artspeed
from artspeed import InvalidArgumentError, KerasVersionError, ModelError
from artspeed.compress.clustering import (
    cluster_weights,
    prune_then_quantize,
    sparsity_preserving_qat,
    strip_clustering,
    unique_weights,
    weight_clustering,
)


@pytest.fixture(scope="module")
def pruned(trained, shapes_small):
    return artspeed.magnitude_pruning(trained, shapes_small, 0.8, epochs=1, learning_rate=1e-3,
                                      progress=False)


def test_clustering_leaves_at_most_k_values_per_kernel(trained, shapes_small):
    run = weight_clustering(trained, shapes_small, 8, epochs=1, progress=False)
    assert set(run.unique) == {"conv1", "conv2", "dense", "logits"}
    assert all(2 <= count <= 8 for count in run.unique.values()), run.unique
    assert run.times_smaller > 2.5            # 8 values compress: 3 bits each, not 32
    assert run.accuracy > 0.5 and run.baseline_accuracy > 0.5
    assert unique_weights(trained)["dense"] > 1000   # the original is left alone
    assert run.to_dict()["model"] == "baseline_cnn" and "clusters" in repr(run)


def test_clustering_starts_from_the_trained_weights(trained, shapes_small):
    stripped = strip_clustering(cluster_weights(trained, 16, skip=["conv1"]))
    assert unique_weights(stripped)["conv1"] == unique_weights(trained)["conv1"]
    assert unique_weights(stripped)["dense"] <= 16
    agree = artspeed.agreement(stripped, trained, shapes_small)
    assert agree > 0.8, "16 k-means++ centroids barely change a trained model"


def test_pruned_then_int8_is_the_smallest_file(trained, pruned, shapes_small, tmp_path):
    base = artspeed.convert_to_tflite(trained, "float32", path=tmp_path / "float.tflite")
    small = prune_then_quantize(pruned.model, shapes_small, path=tmp_path / "small.tflite",
                                calibration_samples=32)
    base_gzip = artspeed.model_size(base.path).gzip_bytes
    small_gzip = artspeed.model_size(small.path).gzip_bytes
    assert small.mode == "int8" and small.float_ops == ()
    assert base_gzip / small_gzip > 6
    assert artspeed.agreement(small.predictor(), pruned.model, shapes_small) > 0.85


def test_sparsity_preserving_qat_keeps_the_zeros(pruned, shapes_small, tmp_path):
    run = sparsity_preserving_qat(pruned.model, shapes_small, epochs=1,
                                  path=tmp_path / "pqat.tflite", progress=False)
    assert run.quantized.mode == "qat" and run.quantized.float_ops == ()
    from artspeed.runtimes.tflite import tflite_interpreter

    interpreter_class, _ = tflite_interpreter()
    interpreter = interpreter_class(model_path=run.quantized.path)
    interpreter.allocate_tensors()
    kernels = [interpreter.get_tensor(d["index"]) for d in interpreter.get_tensor_details()
               if d["dtype"] == np.int8 and d["shape"].tolist() == [32, 7 * 7 * 16]]
    assert kernels, "the int8 dense kernel should be in the file"
    assert 0.79 <= np.mean(kernels[0] == 0) < 0.9     # the pruned zeros stayed zero


def test_still_wrapped_model_is_refused(trained, shapes_small):
    wrapped = artspeed.prune_low_magnitude(trained, 0.5)
    with pytest.raises(ModelError, match="strip_pruning"):
        prune_then_quantize(wrapped, shapes_small)


@pytest.mark.parametrize("clusters", [1, 0, 2.5, True])
def test_bad_cluster_counts_and_inits(clusters):
    with pytest.raises(InvalidArgumentError, match="number_of_clusters must be"):
        cluster_weights(artspeed.baseline_cnn(width=2), clusters)


def test_bad_options_and_keras3():
    with pytest.raises(InvalidArgumentError, match="unknown init 'kmeans'"):
        cluster_weights(artspeed.baseline_cnn(width=2), 8, init="kmeans")
    with pytest.raises(InvalidArgumentError, match="skip names no layer"):
        cluster_weights(artspeed.baseline_cnn(width=2), 8, skip=["conv9"])
    with pytest.raises(ModelError, match="no Conv or Dense layers left"):
        cluster_weights(artspeed.baseline_cnn(width=2), 8,
                        skip=["conv1", "conv2", "dense", "logits"])
    import keras  # Keras 3, installed as TensorFlow's own dependency

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(KerasVersionError, match="Keras 3 model"):
        cluster_weights(model, 8)
