"""Weight clustering with tfmot, and combining pruning with int8 for the smallest model.

Taught in notebooks/07-clustering-and-distillation. ``cluster_weights``
replaces each kernel's weights by the nearest of ``number_of_clusters``
centroids (initialized by k-means++ by default), and fine-tuning moves the
centroids; ``strip_clustering`` leaves an ordinary model whose kernels hold at
most that many distinct values. Like pruning, clustering does not make a dense
kernel faster: it makes the file compress (16 values need 4 bits each).

The smallest model combines the ideas:

- ``prune_then_quantize``: a pruned (stripped) model through full-integer int8
  post-training quantization (``artspeed.convert_to_tflite``): zeros stay zeros
  (0 maps to the zero point), so gzip still finds them, and each weight is one
  byte instead of four;
- ``sparsity_preserving_qat``: tfmot's quantization-aware training with the
  ``Default8BitPrunePreserveQuantizeScheme``, which keeps the pruned weights at
  zero while the model learns the int8 grid.

>>> import artspeed
>>> m = strip_clustering(cluster_weights(artspeed.baseline_cnn(width=2), 4))
>>> max(unique_weights(m).values()) <= 4
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from artspeed.compress.pruning import _copy_weights, _kernel
from artspeed.compress.ptq import _default_path, convert_to_tflite
from artspeed.compress.qat import QATResult, convert_qat_model, skip_names, unsupported_layers
from artspeed.compress.results import CompressionResult, task_score
from artspeed.core import _checks
from artspeed.core.errors import ModelError
from artspeed.core.frameworks import check_tf_keras_model, check_wrappable, tf_keras, tfmot
from artspeed.core.training import check_model_fits, train
from artspeed.measure.evaluation import model_size

__all__ = ["CENTROID_INITS", "ClusteringResult", "cluster_weights", "strip_clustering",
           "unique_weights", "weight_clustering", "prune_then_quantize",
           "sparsity_preserving_qat"]

CENTROID_INITS = ("kmeans_plus_plus", "linear", "density_based", "random")


def cluster_weights(model, number_of_clusters: int = 16, *, init: str = "kmeans_plus_plus",
                    skip=()):
    """tfmot's ``cluster_weights`` on every Conv/Dense layer but those in ``skip``.

    Returns a new model (the original keeps its weights); ``init`` is one of
    ``CENTROID_INITS``. Fine-tune it with a low learning rate, then
    ``strip_clustering``.

    >>> import artspeed
    >>> cluster_weights(artspeed.baseline_cnn(width=2), 1)
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: number_of_clusters must be a whole number >= 2, got 1; 16 clusters need 4 bits a weight
    """
    number_of_clusters = _checks.whole_number("number_of_clusters", number_of_clusters, 2,
                                              hint="16 clusters need 4 bits a weight")
    _checks.choice("init", init, CENTROID_INITS)
    check_wrappable(model, "artspeed.cluster_weights", "cluster")
    skip = skip_names(model, skip)
    chosen = {layer.name for layer in model.layers
              if _kernel(layer) is not None and layer.name not in skip}
    if not chosen:
        raise ModelError(f"{model.name} has no Conv or Dense layers left to cluster")
    centroids = tfmot.clustering.keras.CentroidInitialization[init.upper()]

    def wrap(layer):
        if layer.name in chosen:  # wrap the layer itself, so its weights seed the centroids
            copy = layer.__class__.from_config(layer.get_config())
            copy.build(layer.input_shape)
            copy.set_weights(layer.get_weights())
            return tfmot.clustering.keras.cluster_weights(
                copy, number_of_clusters=number_of_clusters, cluster_centroids_init=centroids)
        return layer.__class__.from_config(layer.get_config())

    clustered = tf_keras.models.clone_model(model, clone_function=wrap)
    _copy_weights(model, clustered)
    return clustered


def strip_clustering(model):
    """tfmot's ``strip_clustering``: remove the wrappers, keep the clustered weights."""
    check_wrappable(model, "artspeed.strip_clustering", "cluster")
    return tfmot.clustering.keras.strip_clustering(model)


def unique_weights(model) -> dict:
    """The number of distinct values in each Conv/Dense kernel (layer name -> count).

    >>> import artspeed
    >>> unique_weights(artspeed.dense_example())["dense_1"]
    15
    """
    check_tf_keras_model(model, "artspeed.unique_weights")
    return {layer.name: int(np.unique(kernel).size) for layer in model.layers
            if (kernel := _kernel(layer)) is not None}


@dataclass(frozen=True)
class ClusteringResult(CompressionResult):
    """A clustering run: the stripped model, distinct values per kernel, size and accuracy."""

    model: object
    number_of_clusters: int
    unique: dict
    size_bytes: int
    gzip_bytes: int
    baseline_size_bytes: int
    baseline_gzip_bytes: int
    accuracy: float | None
    baseline_accuracy: float | None
    history: object = None
    metric: str = "accuracy"
    score: float | None = None
    baseline_score: float | None = None

    def __repr__(self) -> str:
        m = self.measure
        return (f"<ClusteringResult {self.number_of_clusters} clusters: gzip "
                f"{self.times_smaller:.2f}x smaller, {m.name} {m.format(self.score)} "
                f"(baseline {m.format(self.baseline_score)})>")

def weight_clustering(model, dataset, number_of_clusters: int = 16, *,
                      init: str = "kmeans_plus_plus", skip=(), epochs: int = 1,
                      learning_rate: float = 1e-4, batch_size: int = 64, seed: int = 0,
                      progress: bool = True) -> ClusteringResult:
    """``cluster_weights`` a trained model, fine-tune, ``strip_clustering``, and measure.

    Sizes are of the ``.keras`` file without optimizer state, raw and gzipped.
    Taught in notebooks/07-clustering-and-distillation.
    """
    check_model_fits(model, dataset, "artspeed.weight_clustering")
    clustered = cluster_weights(model, number_of_clusters, init=init, skip=skip)
    history = train(clustered, dataset, epochs=epochs, batch_size=batch_size,
                    learning_rate=learning_rate, seed=seed, validate=False, progress=progress)
    stripped = strip_clustering(clustered)
    before, after = model_size(model), model_size(stripped)
    found, base = task_score(stripped, dataset), task_score(model, dataset)
    return ClusteringResult(stripped, number_of_clusters, unique_weights(stripped),
                            after.size_bytes, after.gzip_bytes, before.size_bytes,
                            before.gzip_bytes, found["accuracy"], base["accuracy"], history,
                            found["metric"], found["score"], base["score"])


def prune_then_quantize(pruned_model, representative_data, *, path=None,
                        calibration_samples: int = 100):
    """Full-integer int8 PTQ of a pruned, stripped model: the smallest file (a ``QuantizedModel``).

    A thin, named step over ``artspeed.convert_to_tflite(model, "int8", data)``;
    it refuses a model that still carries pruning wrappers.
    """
    check_tf_keras_model(pruned_model, "artspeed.prune_then_quantize")
    wrapped = [layer.name for layer in pruned_model.layers
               if type(layer).__name__ == "PruneLowMagnitude"]
    if wrapped:
        raise ModelError(f"{pruned_model.name} still has pruning wrappers ({', '.join(wrapped)}); "
                         "call artspeed.strip_pruning(model) first")
    return convert_to_tflite(pruned_model, "int8", representative_data, path=path,
                             calibration_samples=calibration_samples)


def sparsity_preserving_qat(pruned_model, dataset, *, epochs: int = 1,
                            learning_rate: float = 1e-5, batch_size: int = 64, path=None,
                            seed: int = 0, progress: bool = True):
    """tfmot's sparsity-preserving QAT on a pruned, stripped model, converted to int8.

    Annotates the whole model (``quantize_annotate_model``) and applies
    ``Default8BitPrunePreserveQuantizeScheme``, so the fine-tuning keeps the
    zeros; returns an ``artspeed.QATResult``.
    """
    check_model_fits(pruned_model, dataset, "artspeed.sparsity_preserving_qat")
    check_wrappable(pruned_model, "artspeed.sparsity_preserving_qat", "quantize")
    blocked = unsupported_layers(pruned_model)
    if blocked:
        raise ModelError(f"tfmot cannot quantize {', '.join(n for n, _ in blocked)}; use "
                         "artspeed.prune_then_quantize (post-training int8) instead")
    annotated = tfmot.quantization.keras.quantize_annotate_model(pruned_model)
    qat_model = tfmot.quantization.keras.quantize_apply(
        annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    history = train(qat_model, dataset, epochs=epochs, batch_size=batch_size,
                    learning_rate=learning_rate, seed=seed, validate=False, progress=progress)
    quantized = convert_qat_model(qat_model, path=path if path is not None
                                  else _default_path(pruned_model, "pqat"))
    found, base = task_score(qat_model, dataset), task_score(pruned_model, dataset)
    return QATResult(quantized, history, found["accuracy"], baseline_accuracy=base["accuracy"],
                     metric=found["metric"], score=found["score"], baseline_score=base["score"])
