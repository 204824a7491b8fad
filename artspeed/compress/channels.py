"""Channel (filter) pruning: a narrower dense model that is really smaller and faster.

Taught in notebooks/06-pruning. Magnitude pruning zeroes single weights, and
a CPU multiplies by zero as fast as by anything else. Channel pruning removes
whole filters instead: rank each Conv filter (or Dense unit) by the L1 or L2
norm of its weights, keep the strongest, and rebuild the model narrower (its
config with fewer ``filters``/``units``). The surviving weights are copied:

- a pruned layer keeps the kernel columns (and biases) of its kept filters;
- the next Conv or Dense keeps only the input channels that still exist;
- a Dense after ``Flatten`` keeps the rows of the kept channels at every
  spatial position: Flatten orders its output (H, W, C), so channel ``c`` at
  position ``p`` is row ``p * C + c``;
- a BatchNormalization or DepthwiseConv2D on the way keeps the statistics
  and the 3x3 kernels of the kept channels.

A layer can be narrowed when its output reaches the next Conv/Dense layers
only through such channel-wise layers (activations, pooling, dropout,
Flatten, BatchNormalization, DepthwiseConv2D), found from the model's graph:
every layer of a plain chain but the classifier, and in an inverted-residual
network (``artspeed.vehicle``, MobileNetV2) each block's *expand* conv (1x1,
or 3x3 in a fused block), whose channels run through the depthwise conv, if
any, to the 1x1 *project* conv.
The block's output width stays, so its residual Add is untouched; a conv
whose output a skip connection adds to, or that gives the model's output,
cannot be narrowed (``channel_prunable_layers`` lists the others).

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
>>> v = prune_channels(artspeed.vehicle(alpha=0.35), 0.5, layers=["block_6_expand"])
>>> [v.get_layer(f"block_6_{n}").output_shape[-1] for n in ("expand", "depthwise", "project")]
[48, 48, 24]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from artspeed.compress.results import CompressionResult, task_score
from artspeed.core import _checks
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.core.frameworks import check_tf_keras_model, tf_keras
from artspeed.core.training import check_model_fits, train
from artspeed.measure.evaluation import model_size
from artspeed.measure.profiler import profile

__all__ = ["NORMS", "ChannelPruningResult", "channel_prunable_layers", "filter_norms",
           "prune_channels", "channel_pruning"]

NORMS = ("l1", "l2")
_KERNELS = ("Conv2D", "Conv1D", "Dense")
_PASS_THROUGH = ("InputLayer", "MaxPooling2D", "AveragePooling2D", "MaxPooling1D",
                 "AveragePooling1D", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
                 "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "GlobalAveragePooling2D",
                 "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
                 "ZeroPadding2D", "ZeroPadding1D", "Cropping2D", "UpSampling2D", "Resizing")
_MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot")
_HOW = ("artspeed narrows a Conv/Dense layer whose output reaches the next Conv/Dense layers "
        "only through BatchNormalization, DepthwiseConv2D, activations, pooling, dropout or "
        "Flatten: a plain chain, or an inverted-residual block's expanded channels")


def _kind(layer) -> str:
    name = type(layer).__name__
    if name in _KERNELS:
        return "kernel"
    if name in ("Flatten", "BatchNormalization", "DepthwiseConv2D"):
        return name
    if name in _PASS_THROUGH:
        return "pass"
    return "merge" if name in _MERGES else "unknown"


@dataclass(frozen=True)
class _Reach:
    """Where a layer's output channels go: the channel-wise layers on the way, and the
    Conv/Dense layers that read them. Each comes with the Flatten layers passed before it."""

    followers: tuple   # ((name, flattens), ...): BatchNormalization, DepthwiseConv2D
    readers: tuple     # ((name, flattens), ...): Conv/Dense whose input channels shrink


def _references(value, names):
    """The layer names an inbound-node entry of a functional config refers to."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _references(item, names)
    elif isinstance(value, (list, tuple)):
        if len(value) >= 3 and isinstance(value[0], str) and value[0] in names \
                and isinstance(value[1], int) and isinstance(value[2], int):
            yield value[0]
            value = value[3:]
        for item in value:
            yield from _references(item, names)


def _graph(model, where: str):
    """Each layer's readers, the layers giving the model's outputs, the layers called twice."""
    check_tf_keras_model(model, where)
    sequential = isinstance(model, tf_keras.Sequential)
    if not (sequential or getattr(model, "_is_graph_network", False)):
        raise ModelError(f"{where} narrows Sequential and functional models only; "
                         f"{model.name} is a {type(model).__name__}")
    if not model.built:
        raise ModelError(f"{where} needs a built model: give {model.name} an Input layer "
                         "(or call it on data) first")
    names = [layer.name for layer in model.layers]
    readers = {name: [] for name in names}
    if sequential:
        for name, after in zip(names, names[1:]):
            readers[name].append(after)
        return readers, {names[-1]}, set()
    config = model.get_config()
    shared = set()
    for entry in config["layers"]:
        name = entry.get("name", entry["config"]["name"])
        if len(entry["inbound_nodes"]) > 1:
            shared.add(name)
        for source in dict.fromkeys(_references(entry["inbound_nodes"], readers)):
            readers[source].append(name)
    return readers, {ref[0] for ref in config["output_layers"]}, shared


def _problem(layer, shared) -> str | None:
    """Why artspeed cannot change ``layer``'s channels, or None."""
    if layer.name in shared:
        return f"{layer.name} is called more than once in the model"
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return f"{layer.name} puts its channels first (data_format={layer.data_format!r})"
    if getattr(layer, "groups", 1) != 1:
        return f"{layer.name} is a grouped convolution (groups={layer.groups})"
    if _kind(layer) == "DepthwiseConv2D" and layer.depth_multiplier != 1:
        return f"{layer.name} has depth_multiplier {layer.depth_multiplier}, not 1"
    if _kind(layer) == "BatchNormalization" and list(layer.axis) != [len(layer.input_shape) - 1]:
        return f"{layer.name} normalizes axis {list(layer.axis)}, not the channels"
    return None


def _reach(model, producer, graph) -> tuple[_Reach | None, str | None]:
    """Where ``producer``'s channels go, or why they cannot be narrowed."""
    readers, outputs, shared = graph
    if producer.name in outputs:
        return None, "it gives the model's output"
    problem = _problem(producer, shared)
    if problem:
        return None, problem
    followers, ends = [], []
    queue = [(name, ()) for name in readers[producer.name]]
    while queue:
        name, flattens = queue.pop(0)
        layer = model.get_layer(name)
        kind, cls = _kind(layer), type(layer).__name__
        problem = _problem(layer, shared)
        if problem:
            return None, f"its output reaches {name}, and {problem}"
        if kind == "kernel":
            ends.append((name, flattens))
            continue
        if name in outputs:
            return None, f"its output reaches the model's output through {name}"
        if kind == "merge":
            return None, (f"its output reaches {name} ({cls}), which joins it with another "
                          "branch (a skip connection keeps the width of what it adds to)")
        if kind == "unknown":
            return None, f"its output reaches {name} ({cls}), which artspeed cannot narrow"
        if kind in ("BatchNormalization", "DepthwiseConv2D"):
            followers.append((name, flattens))
        if kind == "Flatten":
            flattens = (*flattens, name)
        queue.extend((after, flattens) for after in readers[name])
    return _Reach(tuple(followers), tuple(ends)), None


def _analyse(model, where: str) -> tuple[dict, dict]:
    """``{layer: _Reach}`` for the layers whose filters can be removed, ``{layer: why not}``
    for the other Conv/Dense layers, both in the model's layer order."""
    graph = _graph(model, where)
    reaches, reasons = {}, {}
    for layer in model.layers:
        if _kind(layer) == "kernel":
            reach, reason = _reach(model, layer, graph)
            if reach is None:
                reasons[layer.name] = reason
            else:
                reaches[layer.name] = reach
    return reaches, reasons


def channel_prunable_layers(model) -> list[str]:
    """The Conv/Dense layers whose filters can be removed, in the model's order.

    Those whose output reaches the next Conv/Dense layers only through
    channel-wise layers: not the classifier, not a conv a residual Add reads.

    >>> import artspeed
    >>> channel_prunable_layers(artspeed.baseline_cnn(width=2))
    ['conv1', 'conv2', 'dense']
    >>> names = channel_prunable_layers(artspeed.vehicle(alpha=0.35))
    >>> names[:4], names[-1], "block_2_project" in names
    (['Conv1', 'expanded_conv_expand', 'expanded_conv_project', 'block_1_expand'], 'Conv_1', False)
    """
    return list(_analyse(model, "artspeed.channel_prunable_layers")[0])


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


def _why_not(model, name, reasons) -> str:
    if name in reasons:
        return reasons[name]
    found = [layer for layer in model.layers if layer.name == name]
    if not found:
        return f"{model.name} has no layer of that name"
    return f"it is a {type(found[0]).__name__}, not a Conv1D, Conv2D or Dense layer"


def prune_channels(model, fraction: float = 0.5, *, norm: str = "l1", layers=None):
    """A narrower copy of ``model``: each chosen layer keeps its strongest filters.

    ``fraction`` of each chosen layer's filters are removed (rounded), ranked
    by ``norm``. ``layers`` defaults to ``channel_prunable_layers(model)``
    (in a plain chain every Conv/Dense but the classifier; in the vehicle
    every block's expand conv, and the stem, the head conv and block 0's
    project conv, which no Add reads).
    The returned model is uncompiled, with the surviving weights; fine-tune it
    (``channel_pruning`` does).
    """
    fraction = _check_fraction(fraction)
    _check_norm(norm)
    reaches, reasons = _analyse(model, "artspeed.prune_channels")
    allowed = list(reaches)
    chosen = allowed if layers is None else ([layers] if isinstance(layers, str) else list(layers))
    bad = [n for n in chosen if n not in reaches]
    if bad:
        raise InvalidArgumentError(
            "; ".join(f"cannot prune the filters of {n}: {_why_not(model, n, reasons)}"
                      for n in bad) + f"; choose among {', '.join(allowed) or 'none'}")
    if not chosen:
        why = "; ".join(f"{n}: {r}" for n, r in reasons.items()) or "it has no Conv/Dense layer"
        raise ModelError(f"{model.name} has no layers whose filters can be pruned ({why}). "
                         f"{_HOW}; narrow other structures by hand")
    keep = {}
    for name in dict.fromkeys(chosen):
        filters = int(model.get_layer(name).kernel.shape[-1])
        count = _keep_count(name, filters, fraction)
        order = np.argsort(-filter_norms(model, name, norm), kind="stable")
        keep[name] = np.sort(order[:count])
    config = model.get_config()
    for entry in config["layers"]:
        name = entry["config"].get("name")
        if name in keep:
            key = "units" if entry["class_name"] == "Dense" else "filters"
            entry["config"][key] = len(keep[name])
    cls = tf_keras.Sequential if isinstance(model, tf_keras.Sequential) else tf_keras.Model
    narrow = cls.from_config(config)
    _copy_surviving_weights(model, narrow, reaches, keep)
    return narrow


def _through_flattens(model, channels: np.ndarray, flattens) -> np.ndarray:
    """The indices of ``channels`` after the Flatten layers ``flattens``: (H, W, C) order."""
    for name in flattens:
        shape = model.get_layer(name).input_shape
        width, positions = int(shape[-1]), int(np.prod(shape[1:-1]))
        channels = (np.arange(positions)[:, None] * width + channels[None, :]).ravel()
    return channels


def _copy_surviving_weights(model, narrow, reaches: dict, keep: dict) -> None:
    inputs = {}   # layer -> the kept indices of its input channels
    for name, kept in keep.items():
        for target, flattens in reaches[name].followers + reaches[name].readers:
            inputs[target] = _through_flattens(model, kept, flattens)
    for layer in model.layers:
        values = layer.get_weights()
        if not values:
            continue
        name, kind = layer.name, _kind(layer)
        channels, out = inputs.get(name), keep.get(name)
        if kind in ("kernel", "DepthwiseConv2D"):
            kernel, *rest = values
            if channels is not None:    # a kernel's input channels are its axis -2
                kernel = np.take(kernel, channels, axis=-2)
                if kind == "DepthwiseConv2D":
                    rest = [np.take(b, channels, axis=-1) for b in rest]
            if out is not None:
                kernel = np.take(kernel, out, axis=-1)
                rest = [np.take(b, out, axis=-1) for b in rest]
            values = [kernel, *rest]
        elif channels is not None:      # BatchNormalization: one value per channel
            values = [np.take(v, channels, axis=-1) for v in values]
        narrow.get_layer(name).set_weights(values)


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
    accuracy: float | None
    accuracy_before_fine_tuning: float | None
    baseline_accuracy: float | None
    history: object = None   # TrainingHistory of the fine-tuning
    size_bytes: int | None = None            # the .keras files, raw and gzipped
    gzip_bytes: int | None = None
    baseline_size_bytes: int | None = None
    baseline_gzip_bytes: int | None = None
    metric: str = "accuracy"                 # the task's metric, and the scores by it
    score: float | None = None
    baseline_score: float | None = None
    score_before_fine_tuning: float | None = None

    _from_accuracy = {"score": "accuracy", "baseline_score": "baseline_accuracy",
                      "score_before_fine_tuning": "accuracy_before_fine_tuning"}

    @property
    def macs_ratio(self) -> float:
        """How many times fewer MACs than the baseline."""
        return self.baseline_macs / self.macs

    def __repr__(self) -> str:
        return (f"<ChannelPruningResult {self.fraction:.0%} of filters removed: "
                f"{self.params:,} params ({self.baseline_params:,}), {self.macs_ratio:.2f}x "
                f"fewer MACs, {self.measure.name} {self.measure.format(self.score)} (baseline "
                f"{self.measure.format(self.baseline_score)})>")

    def _html_rows(self):
        yield "filters removed per layer", f"{self.fraction:.0%} (ranked by {self.norm})"
        for name, (before, after) in self.filters.items():
            yield f"filters of {name}", f"{before} -> {after}"
        yield "parameters", f"{self.baseline_params:,} -> {self.params:,}"
        yield "MACs", f"{self.baseline_macs:,} -> {self.macs:,} ({self.macs_ratio:.2f}x fewer)"
        yield from self._size_rows()
        m = self.measure
        yield f"{m.name} before fine-tuning", m.format(self.score_before_fine_tuning)
        yield f"{m.name}: baseline, pruned + fine-tuned", \
            f"{m.format(self.baseline_score)}, {m.format(self.score)}"


def channel_pruning(model, dataset, fraction: float = 0.5, *, norm: str = "l1", layers=None,
                    epochs: int = 2, learning_rate: float = 5e-4, batch_size: int = 64,
                    seed: int = 0, progress: bool = True,
                    baseline_accuracy: float | None = None) -> ChannelPruningResult:
    """``prune_channels``, then fine-tune on ``dataset`` and count what was saved.

    Parameters and MACs come from ``artspeed.profile``. Taught in notebooks/06-pruning.
    """
    check_model_fits(model, dataset, "artspeed.channel_pruning")
    narrow = prune_channels(model, fraction, norm=norm, layers=layers)
    before_tuning = task_score(narrow, dataset)
    history = train(narrow, dataset, epochs=epochs, batch_size=batch_size,
                    learning_rate=learning_rate, seed=seed, validate=False, progress=progress)
    old, new = profile(model), profile(narrow)
    filters = {layer.name: [int(layer.kernel.shape[-1]),
                            int(narrow.get_layer(layer.name).kernel.shape[-1])]
               for layer in model.layers if _kind(layer) == "kernel"}
    base = task_score(model, dataset, known=baseline_accuracy)
    found = task_score(narrow, dataset)
    before, after = model_size(model), model_size(narrow)
    return ChannelPruningResult(narrow, float(fraction), norm, filters, new.total_params,
                                new.macs, old.total_params, old.macs, found["accuracy"],
                                before_tuning["accuracy"], base["accuracy"], history,
                                after.size_bytes, after.gzip_bytes, before.size_bytes,
                                before.gzip_bytes, found["metric"], found["score"],
                                base["score"], before_tuning["score"])
