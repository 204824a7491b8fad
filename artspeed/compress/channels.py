"""Channel (filter) pruning: a narrower dense model that is really smaller and faster.

Taught in notebooks/06-pruning. Magnitude pruning zeroes single weights, and
a CPU multiplies by zero as fast as by anything else. Channel pruning removes
whole filters instead: rank each Conv filter (or Dense unit) by the L1 or L2
norm of its weights, keep the strongest, and rebuild the model narrower. The
surviving weights are copied across:

- a pruned layer keeps the kernel columns (and biases) of its kept filters;
- the next Conv or Dense keeps only the input channels that still exist;
- a Dense after ``Flatten`` keeps the rows of the kept channels at every
  spatial position: Flatten orders its output (H, W, C), so channel ``c`` at
  position ``p`` is row ``p * C + c``;
- a BatchNormalization between them keeps the statistics of the kept channels.

The result has fewer parameters and fewer MACs, so it runs faster everywhere;
a short fine-tuning recovers most of the accuracy.

>>> import artspeed
>>> m = artspeed.baseline_cnn(width=4)
>>> narrow = prune_channels(m, 0.5)
>>> [narrow.get_layer(n).kernel.shape[-1] for n in ("conv1", "conv2", "dense", "logits")]
[2, 4, 8, 10]
>>> prune_channels(m, 0.9, layers=["conv1"])
Traceback (most recent call last):
...
artspeed.InvalidArgumentError: a channel fraction of 0.9 would leave conv1 with no filters (it has 4; pruning keeps round(4 x (1 - 0.9)) = 0); use a fraction below 0.875
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from artspeed.compress.results import CompressionResult
from artspeed.core import _checks
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.core.frameworks import check_tf_keras_model, tf_keras
from artspeed.core.training import check_model_fits, train
from artspeed.measure.evaluation import accuracy, model_size
from artspeed.measure.profiler import profile

__all__ = ["NORMS", "ChannelPruningResult", "channel_prunable_layers", "filter_norms",
           "prune_channels", "channel_pruning"]

NORMS = ("l1", "l2")
_PASS_THROUGH = ("InputLayer", "MaxPooling2D", "AveragePooling2D", "MaxPooling1D",
                 "AveragePooling1D", "Dropout", "SpatialDropout2D", "Activation", "ReLU",
                 "LeakyReLU", "Softmax", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
                 "ZeroPadding2D")


def _kind(layer) -> str:
    name = type(layer).__name__
    if name in ("Conv2D", "Conv1D", "Dense"):
        return "kernel"
    if name in ("Flatten", "BatchNormalization"):
        return name
    if name in _PASS_THROUGH:
        return "pass"
    return "unknown"


def _chain(model, where: str) -> list:
    """The model's layers in order, if they form a plain chain artspeed can narrow."""
    check_tf_keras_model(model, where)
    if not (isinstance(model, tf_keras.Sequential) or getattr(model, "_is_graph_network", False)):
        raise ModelError(f"{where} narrows Sequential and functional models only; "
                         f"{model.name} is a {type(model).__name__}")
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    previous = None
    for layer in layers:
        if not isinstance(model, tf_keras.Sequential):
            inbound = layer._inbound_nodes[0].inbound_layers if layer._inbound_nodes else []
            inbound = inbound if isinstance(inbound, list) else [inbound]
            names = [i.name for i in inbound if type(i).__name__ != "InputLayer"]
            if len(inbound) != 1 or names != ([previous.name] if previous else []):
                raise ModelError(f"{where} handles a plain chain of layers; {layer.name} "
                                 "does not simply follow the layer before it (a branch or "
                                 "a skip connection): narrow such models by hand")
        if _kind(layer) == "unknown" and layer.weights:
            raise ModelError(f"{where} does not know how to narrow {layer.name} "
                             f"({type(layer).__name__}); it handles Conv1D/2D, Dense, "
                             "BatchNormalization, Flatten, pooling and dropout")
        previous = layer
    return layers


def channel_prunable_layers(model) -> list[str]:
    """The Conv/Dense layers whose filters can be removed: all but the last (the classifier).

    >>> import artspeed
    >>> channel_prunable_layers(artspeed.baseline_cnn(width=2))
    ['conv1', 'conv2', 'dense']
    """
    kernels = [layer.name for layer in _chain(model, "artspeed.channel_prunable_layers")
               if _kind(layer) == "kernel"]
    return kernels[:-1]


def _check_norm(norm: str) -> str:
    return _checks.choice("norm", norm, NORMS)


def filter_norms(model, layer: str, norm: str = "l1") -> np.ndarray:
    """The L1 or L2 norm of each output filter (or Dense unit) of ``layer``'s kernel.

    >>> import artspeed
    >>> filter_norms(artspeed.baseline_cnn(width=2), "conv1").shape
    (2,)
    """
    check_tf_keras_model(model, "artspeed.filter_norms")
    _check_norm(norm)
    kernel = getattr(model.get_layer(layer), "kernel", None)
    if kernel is None:
        raise InvalidArgumentError(f"{layer} has no kernel to rank filters in")
    flat = np.asarray(kernel.numpy()).reshape(-1, kernel.shape[-1])
    return np.abs(flat).sum(0) if norm == "l1" else np.sqrt((flat ** 2).sum(0))


def _check_fraction(fraction) -> float:
    return _checks.fraction("the channel fraction", fraction,
                            "0.5 removes half the filters of each pruned layer")


def _keep_count(name: str, filters: int, fraction: float) -> int:
    keep = int(round(filters * (1 - fraction)))
    if keep < 1:
        limit = 1 - 0.5 / filters
        raise InvalidArgumentError(
            f"a channel fraction of {fraction:g} would leave {name} with no filters (it has "
            f"{filters}; pruning keeps round({filters} x (1 - {fraction:g})) = {keep}); use a "
            f"fraction below {limit:.4g}")
    return keep


def prune_channels(model, fraction: float = 0.5, *, norm: str = "l1", layers=None):
    """A narrower copy of ``model``: each chosen layer keeps its strongest filters.

    ``fraction`` of each chosen layer's filters are removed (rounded), ranked
    by ``norm``. ``layers`` defaults to ``channel_prunable_layers(model)``
    (every Conv/Dense but the classifier). The returned model is uncompiled,
    with the surviving weights; fine-tune it (``channel_pruning`` does).
    """
    fraction = _check_fraction(fraction)
    _check_norm(norm)
    chain = _chain(model, "artspeed.prune_channels")
    allowed = channel_prunable_layers(model)
    chosen = allowed if layers is None else ([layers] if isinstance(layers, str) else list(layers))
    bad = [n for n in chosen if n not in allowed]
    if bad:
        raise InvalidArgumentError(f"cannot prune the filters of {', '.join(bad)}; choose among "
                                   f"{', '.join(allowed) or 'none'} (the last Conv/Dense sets "
                                   "the number of outputs)")
    if not chosen:
        raise ModelError(f"{model.name} has no layers whose filters can be pruned: it needs a "
                         "Conv or Dense layer before the classifier")
    keep = {}
    for layer in chain:
        if layer.name in chosen:
            filters = int(layer.kernel.shape[-1])
            count = _keep_count(layer.name, filters, fraction)
            order = np.argsort(-filter_norms(model, layer.name, norm), kind="stable")
            keep[layer.name] = np.sort(order[:count])
    config = model.get_config()
    for entry in config["layers"]:
        name = entry["config"].get("name")
        if name in keep:
            key = "units" if entry["class_name"] == "Dense" else "filters"
            entry["config"][key] = len(keep[name])
    cls = tf_keras.Sequential if isinstance(model, tf_keras.Sequential) else tf_keras.Model
    narrow = cls.from_config(config)
    _copy_surviving_weights(chain, narrow, keep)
    return narrow


def _copy_surviving_weights(chain, narrow, keep: dict) -> None:
    channels = None  # the kept channels of the current activation (None: all)
    for layer in chain:
        kind = _kind(layer)
        target = narrow.get_layer(layer.name)
        if kind == "kernel":
            kernel, *rest = layer.get_weights()
            if channels is not None:
                kernel = np.take(kernel, channels, axis=-2)
            out = keep.get(layer.name)
            if out is not None:
                kernel = np.take(kernel, out, axis=-1)
                rest = [np.take(b, out, axis=-1) for b in rest]
            target.set_weights([kernel, *rest])
            channels = out
        elif kind == "BatchNormalization":
            values = layer.get_weights()
            target.set_weights(values if channels is None
                               else [np.take(v, channels, axis=-1) for v in values])
        elif kind == "Flatten" and channels is not None:
            width = int(layer.input_shape[-1])
            positions = int(np.prod(layer.input_shape[1:-1]))
            channels = (np.arange(positions)[:, None] * width + channels[None, :]).ravel()


@dataclass(frozen=True)
class ChannelPruningResult(CompressionResult):
    """A channel-pruning run: the narrower model, params, MACs and sizes before and after, accuracy."""

    model: object            # the narrower, fine-tuned tf_keras model
    fraction: float
    norm: str
    filters: dict            # layer -> [before, after]
    params: int
    macs: int
    baseline_params: int
    baseline_macs: int
    accuracy: float
    accuracy_before_fine_tuning: float
    baseline_accuracy: float
    history: object = None   # TrainingHistory of the fine-tuning
    size_bytes: int | None = None            # the .keras files, raw and gzipped
    gzip_bytes: int | None = None
    baseline_size_bytes: int | None = None
    baseline_gzip_bytes: int | None = None

    @property
    def macs_ratio(self) -> float:
        """How many times fewer MACs than the baseline."""
        return self.baseline_macs / self.macs

    def __repr__(self) -> str:
        return (f"<ChannelPruningResult {self.fraction:.0%} of filters removed: "
                f"{self.params:,} params ({self.baseline_params:,}), {self.macs_ratio:.2f}x "
                f"fewer MACs, accuracy {self.accuracy:.2%} (baseline "
                f"{self.baseline_accuracy:.2%})>")

    def _html_rows(self):
        yield "filters removed per layer", f"{self.fraction:.0%} (ranked by {self.norm})"
        for name, (before, after) in self.filters.items():
            yield f"filters of {name}", f"{before} -> {after}"
        yield "parameters", f"{self.baseline_params:,} -> {self.params:,}"
        yield "MACs", f"{self.baseline_macs:,} -> {self.macs:,} ({self.macs_ratio:.2f}x fewer)"
        yield from self._size_rows()
        yield "accuracy before fine-tuning", self.accuracy_before_fine_tuning
        yield "accuracy: baseline, pruned + fine-tuned", \
            f"{self.baseline_accuracy:.2%}, {self.accuracy:.2%}"


def channel_pruning(model, dataset, fraction: float = 0.5, *, norm: str = "l1", layers=None,
                    epochs: int = 2, learning_rate: float = 5e-4, batch_size: int = 64,
                    seed: int = 0, progress: bool = True,
                    baseline_accuracy: float | None = None) -> ChannelPruningResult:
    """``prune_channels``, then fine-tune on ``dataset`` and count what was saved.

    Parameters and MACs come from ``artspeed.profile``. Taught in notebooks/06-pruning.
    """
    check_model_fits(model, dataset, "artspeed.channel_pruning")
    narrow = prune_channels(model, fraction, norm=norm, layers=layers)
    before_tuning = accuracy(narrow, dataset)
    history = train(narrow, dataset, epochs=epochs, batch_size=batch_size,
                    learning_rate=learning_rate, seed=seed, validate=False, progress=progress)
    old, new = profile(model), profile(narrow)
    filters = {layer.name: [int(layer.kernel.shape[-1]),
                            int(narrow.get_layer(layer.name).kernel.shape[-1])]
               for layer in model.layers if _kind(layer) == "kernel"}
    if baseline_accuracy is None:
        baseline_accuracy = accuracy(model, dataset)
    before, after = model_size(model), model_size(narrow)
    return ChannelPruningResult(narrow, float(fraction), norm, filters, new.total_params,
                                new.macs, old.total_params, old.macs, accuracy(narrow, dataset),
                                before_tuning, baseline_accuracy, history, after.size_bytes,
                                after.gzip_bytes, before.size_bytes, before.gzip_bytes)
