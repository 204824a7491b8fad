"""Magnitude pruning with tfmot: zero the smallest weights, fine-tune, strip, measure.

Taught in notebooks/06-pruning. ``prune_low_magnitude`` wraps the chosen
layers (by default every layer tfmot can prune) so that, during training, a
mask zeroes the weights of smallest magnitude until each kernel reaches the
schedule's sparsity: ``"constant"`` (tfmot's ``ConstantSparsity``, the target
from the first step) or ``"polynomial"`` (``PolynomialDecay``, from 0 up to the
target, fast at first, then slowly). Fine-tuning needs tfmot's
``UpdatePruningStep`` callback; ``strip_pruning`` then removes the wrappers and
leaves an ordinary model whose kernels are mostly zeros.

Sparsity is a fraction in [0, 1). With ``m_by_n=(2, 4)`` the pattern is
structured instead: 2 zeros in every 4 consecutive weights along the input
channels, the pattern sparse tensor cores accelerate; ``verify_m_by_n`` checks
it in every kernel.

Zeros do not make a dense kernel faster: the file compresses better (gzip),
but a CPU multiplies by zero as fast as by anything else. Channel pruning
(``artspeed.prune_channels``) is what makes the model smaller *and* faster.
A sparse kernel can run faster: ``pruning_policy="xnnpack"`` (tfmot's
``PruneForLatencyOnXNNPack``) prunes only the 1x1 convs of a model shaped as
XNNPACK's sparse inference needs, for a ``.tflite`` file converted in mode
``"sparse"`` (see ``artspeed.compress.sparse_inference``).

>>> import artspeed
>>> m = prune_low_magnitude(artspeed.baseline_cnn(width=2), 0.5, skip=["conv1"])
>>> [layer.name for layer in m.layers if layer.name.startswith("prune_low_magnitude")]
['prune_low_magnitude_conv2', 'prune_low_magnitude_dense', 'prune_low_magnitude_logits']
>>> prune_low_magnitude(artspeed.baseline_cnn(width=2), 1.0)
Traceback (most recent call last):
...
artspeed.InvalidArgumentError: sparsity must be a fraction in [0, 1), got 1.0; 0.8 prunes 80% of the weights
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from artspeed.compress.results import CompressionResult, task_score
from artspeed.core import _checks
from artspeed.core._checks import m_by_n as check_m_by_n
from artspeed.core._checks import sparsity as check_sparsity
from artspeed.core._result import Result, html_table
from artspeed.core.errors import InvalidArgumentError, ModelError, first_line
from artspeed.core.frameworks import (
    LazyModule,
    check_tf_keras_model,
    check_wrappable,
    tf,
    tf_keras,
    tfmot,
)
from artspeed.core.training import check_model_fits, train
from artspeed.measure.evaluation import accuracy, model_size

__all__ = ["SCHEDULES", "PRUNING_POLICIES", "LayerSparsity", "SparsityReport", "PruningResult",
           "SparsitySweep", "check_sparsity", "check_m_by_n", "prunable_layers",
           "pruning_schedule", "check_pruning_policy", "pad_for_xnnpack", "prune_low_magnitude",
           "strip_pruning", "sparsity_report", "verify_m_by_n", "magnitude_pruning",
           "sparsity_sweep"]

SCHEDULES = ("constant", "polynomial")
PRUNING_POLICIES = ("xnnpack",)   # tfmot's PruneForLatencyOnXNNPack
_prune_registry = LazyModule("tensorflow_model_optimization.python.core.sparsity.keras."
                             "prune_registry")
_PREFIX = "prune_low_magnitude_"


def _registry():
    return _prune_registry.PruneRegistry


def prunable_layers(model) -> list[str]:
    """Names of the layers whose weights tfmot can prune (Conv, Dense, ...), in order.

    >>> import artspeed
    >>> prunable_layers(artspeed.baseline_cnn(width=2))
    ['conv1', 'conv2', 'dense', 'logits']
    """
    check_tf_keras_model(model, "artspeed.prunable_layers")
    registry = _registry()
    return [layer.name for layer in model.layers
            if registry.supports(layer) and registry._weight_names(layer)]


def _selected(model, layers, skip, where: str) -> list[str]:
    candidates = prunable_layers(model)
    names = [layer.name for layer in model.layers]
    skip = (skip,) if isinstance(skip, str) else tuple(skip)
    chosen = candidates if layers is None else (
        [layers] if isinstance(layers, str) else list(layers))
    for label, given in (("layers", chosen if layers is not None else ()), ("skip", skip)):
        missing = [n for n in given if n not in names]
        if missing:
            raise InvalidArgumentError(f"{label} names no layer of {model.name}: "
                                       f"{', '.join(missing)}; its layers are {', '.join(names)}")
    unprunable = [n for n in chosen if n not in candidates]
    if unprunable:
        raise InvalidArgumentError(f"{where}: tfmot cannot prune {', '.join(unprunable)}; "
                                   f"the prunable layers are {', '.join(candidates) or 'none'}")
    chosen = [n for n in chosen if n not in skip]
    if not chosen:
        raise ModelError(f"{where}: {model.name} has no prunable layers left to prune "
                         f"(prunable: {', '.join(candidates) or 'none'}; skipped: "
                         f"{', '.join(skip) or 'none'}); pruning needs Conv or Dense kernels")
    return chosen


def pruning_schedule(schedule: str, target_sparsity: float, total_steps: int,
                     frequency: int | None = None, initial_sparsity: float = 0.0):
    """tfmot's ``ConstantSparsity`` or ``PolynomialDecay`` for ``total_steps`` of fine-tuning.

    ``"constant"`` prunes to the target at step 0 and re-prunes every
    ``frequency`` steps; ``"polynomial"`` ramps from ``initial_sparsity`` (0 by
    default; the seed lecture's hands-on starts at 0.5) to the target over the
    first three quarters of the steps, leaving the rest to recover.

    >>> s = pruning_schedule("polynomial", 0.8, 100, initial_sparsity=0.5)
    >>> type(s).__name__, s.initial_sparsity, s.end_step, s.frequency
    ('PolynomialDecay', 0.5, 75, 5)
    """
    target_sparsity = check_sparsity(target_sparsity)
    if schedule not in SCHEDULES:
        raise InvalidArgumentError(f"unknown schedule {schedule!r}; choose constant or polynomial")
    initial_sparsity = check_sparsity(initial_sparsity)
    if initial_sparsity and schedule != "polynomial":
        raise InvalidArgumentError("initial_sparsity applies to the polynomial schedule only "
                                   "(a constant one prunes to the target at once)")
    if initial_sparsity > target_sparsity:
        raise InvalidArgumentError(f"initial_sparsity {initial_sparsity} is above the target "
                                   f"{target_sparsity}; the schedule ramps up to the target")
    total_steps = _checks.whole_number("total_steps", total_steps)
    frequency = frequency or max(1, total_steps // 20)
    if schedule == "constant":
        return tfmot.sparsity.keras.ConstantSparsity(target_sparsity, 0, frequency=frequency)
    end_step = max(frequency, frequency * ((3 * total_steps // 4) // frequency))
    return tfmot.sparsity.keras.PolynomialDecay(initial_sparsity, target_sparsity, 0, end_step,
                                                frequency=frequency)


_XNNPACK_SHAPE = (
    "XNNPACK runs a model sparse only from a 3x3 stride-2 Conv2D on the 3-channel input "
    "(padding 1 on each side: ZeroPadding2D(1), then padding='valid'), through 1x1 convs, "
    "3x3 or 5x5 depthwise convs, adds and ReLUs, to a GlobalAveragePooling2D")


def _pruning_policy(value):
    """tfmot's policy object for ``value``: None, "xnnpack" or a tfmot PruningPolicy."""
    if value is None or isinstance(value, tfmot.sparsity.keras.PruningPolicy):
        return value
    if value == "xnnpack":
        return tfmot.sparsity.keras.PruneForLatencyOnXNNPack()
    raise InvalidArgumentError(f"pruning_policy must be None, 'xnnpack' or a tfmot "
                               f"PruningPolicy, got {value!r}")


def check_pruning_policy(model, pruning_policy="xnnpack") -> None:
    """Raise ``ModelError`` (saying what to do) if tfmot's policy rejects ``model``.

    ``"xnnpack"`` is tfmot's ``PruneForLatencyOnXNNPack``: it checks that the
    model has the structure XNNPACK's sparse inference needs. Keras's own
    MobileNetV2 does not (its first conv pads 'same', one pixel on one side
    only); ``pad_for_xnnpack`` rewrites that padding.

    >>> import artspeed
    >>> check_pruning_policy(artspeed.baseline_cnn(width=2))
    Traceback (most recent call last):
    ...
    artspeed.ModelError: tfmot's PruneForLatencyOnXNNPack rejects baseline_cnn: Could not find `Conv2D 3x3` layer with stride 2x2, `input filters == 3` and `VALID` padding and preceding `ZeroPadding2D` with `padding == 1` in all input branches of the model. XNNPACK runs a model sparse only from a 3x3 stride-2 Conv2D on the 3-channel input (padding 1 on each side: ZeroPadding2D(1), then padding='valid'), through 1x1 convs, 3x3 or 5x5 depthwise convs, adds and ReLUs, to a GlobalAveragePooling2D; artspeed.pad_for_xnnpack(model) makes 'same' stride-2 padding explicit (as Keras's MobileNetV2 needs), or prune without pruning_policy
    """
    check_wrappable(model, "artspeed.check_pruning_policy", "prune")
    policy = _pruning_policy(pruning_policy)
    if policy is None:
        return
    try:
        policy.ensure_model_supports_pruning(model)
    except ValueError as exc:
        raise ModelError(
            f"tfmot's {type(policy).__name__} rejects {model.name}: "
            f"{first_line(exc).rstrip('.')}. {_XNNPACK_SHAPE}; artspeed.pad_for_xnnpack(model) "
            "makes 'same' stride-2 padding explicit (as Keras's MobileNetV2 needs), or prune "
            "without pruning_policy") from None


def _strided_window(layer):
    """k if ``layer`` is a k x k (3 or 5) stride-2 undilated conv or depthwise conv, else None."""
    conv = (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D)
    if (isinstance(layer, conv) and layer.strides == (2, 2) and layer.dilation_rate == (1, 1)
            and layer.kernel_size[0] == layer.kernel_size[1] in (3, 5)):
        return layer.kernel_size[0]
    return None


def _symmetric_padding(layer, consumers):
    """The symmetric padding for a ZeroPadding2D before a valid stride-2 conv, if it keeps
    the output shape; else None."""
    if len(consumers) != 1 or not isinstance(layer, tf_keras.layers.ZeroPadding2D):
        return None
    k = _strided_window(consumers[0])
    if k is None or consumers[0].padding != "valid":
        return None
    p = k // 2
    sizes = layer.input_shape[1:3]
    if any(size is None or (size + sum(pads) - k) // 2 != (size + 2 * p - k) // 2
           for size, pads in zip(sizes, layer.padding)):
        return None
    return ((p, p), (p, p))


def pad_for_xnnpack(model):
    """The same network, with the padding XNNPACK's sparse inference needs: a new model.

    A 3x3 or 5x5 stride-2 conv with ``padding='same'`` pads one pixel more on
    the bottom and right than on the top and left; XNNPACK's sparse path takes
    only equal padding. Each such conv becomes ``ZeroPadding2D(k // 2)`` then
    ``padding='valid'``, and a ``ZeroPadding2D`` that pads one side before a
    valid stride-2 depthwise conv (Keras's MobileNetV2 blocks) pads both sides.
    Every output keeps its shape and every layer its weights, but the stride-2
    windows move by one pixel, so the outputs change: fine-tune afterwards (as
    pruning does). Functional and Sequential models whose layers are each
    called once.

    >>> import artspeed
    >>> x = tf_keras.Input((8, 8, 3))
    >>> y = tf_keras.layers.Conv2D(4, 3, strides=2, padding="same", name="stem")(x)
    >>> padded = pad_for_xnnpack(tf_keras.Model(x, y))
    >>> [(layer.name, getattr(layer, "padding", None)) for layer in padded.layers[1:]]
    [('stem_pad', ((1, 1), (1, 1))), ('stem', 'valid')]
    >>> padded.output_shape
    (None, 4, 4, 4)
    """
    check_wrappable(model, "artspeed.pad_for_xnnpack", "prune")
    reused = [layer.name for layer in model.layers if len(layer._inbound_nodes) > 1]
    if reused:
        raise ModelError(f"artspeed.pad_for_xnnpack: {model.name} calls {', '.join(reused)} "
                         "more than once; it rewrites models whose layers are each called once")
    consumers = {id(layer): [node.outbound_layer for node in layer._outbound_nodes]
                 for layer in model.layers}
    new = {}
    inputs = []
    for tensor in model.inputs:
        layer = tensor._keras_history.layer
        inputs.append(tf_keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype,
                                     name=layer.name))
        new[id(tensor)] = inputs[-1]
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            layer = node.layer
            if isinstance(layer, tf_keras.layers.InputLayer):
                continue
            args, kwargs = tf.nest.map_structure(lambda t: new.get(id(t), t),
                                                 (node.call_args, node.call_kwargs))
            config = layer.get_config()
            k = _strided_window(layer)
            if k is not None and layer.padding == "same":
                args = (tf_keras.layers.ZeroPadding2D(k // 2, name=f"{layer.name}_pad")(
                    args[0]), *args[1:])
                config["padding"] = "valid"
            padding = _symmetric_padding(layer, consumers[id(layer)])
            if padding is not None:
                config["padding"] = padding
            clone = layer.__class__.from_config(config)
            outputs = clone(*args, **kwargs)
            clone.set_weights(layer.get_weights())
            for old, out in zip(tf.nest.flatten(node.output_tensors), tf.nest.flatten(outputs)):
                new[id(old)] = out
    padded = tf_keras.Model(inputs, [new[id(t)] for t in model.outputs], name=model.name)
    if padded.output_shape != model.output_shape:  # a guard: every rewrite keeps shapes
        raise ModelError(f"artspeed.pad_for_xnnpack changed {model.name}'s output shape "
                         f"from {model.output_shape} to {padded.output_shape}")
    return padded


def prune_low_magnitude(model, target_sparsity: float = 0.5, *, schedule="constant",
                        layers=None, skip=(), m_by_n=None, total_steps: int = 100,
                        frequency: int | None = None, pruning_policy=None,
                        initial_sparsity: float = 0.0):
    """tfmot's ``prune_low_magnitude`` on the chosen layers, with clear errors.

    Returns a new model (the original keeps its weights) whose chosen layers
    are wrapped. ``layers`` names the layers to prune (default: all prunable);
    ``skip`` removes some (the first conv and the classifier are the usual
    ones to spare). ``schedule`` is ``"constant"``, ``"polynomial"`` or a tfmot
    schedule; ``total_steps`` is the fine-tuning length it is laid over
    (``initial_sparsity``: where a polynomial one starts).
    ``m_by_n=(2, 4)`` prunes in that N:M pattern instead (``target_sparsity``
    is then ignored: the sparsity is m / n). ``pruning_policy="xnnpack"``
    (tfmot's ``PruneForLatencyOnXNNPack``, or any tfmot ``PruningPolicy``)
    first checks the model's structure (``check_pruning_policy``), then
    prunes only the layers the policy allows: XNNPACK's, the 1x1 convs.
    """
    target_sparsity = check_sparsity(target_sparsity)
    if m_by_n is not None:
        m_by_n = check_m_by_n(m_by_n)
    check_wrappable(model, "artspeed.prune_low_magnitude", "prune")
    policy = _pruning_policy(pruning_policy)
    chosen = _selected(model, layers, skip, "artspeed.prune_low_magnitude")
    if policy is not None:
        check_pruning_policy(model, policy)
        allowed = [n for n in prunable_layers(model) if policy.allow_pruning(model.get_layer(n))]
        refused = [n for n in chosen if n not in allowed]
        if layers is not None and refused:
            raise InvalidArgumentError(f"tfmot's {type(policy).__name__} does not prune "
                                       f"{', '.join(refused)}; the layers it prunes are "
                                       f"{', '.join(allowed) or 'none'}")
        chosen = [n for n in chosen if n in allowed]
        if not chosen:
            why = (f"it allows {', '.join(allowed)}, all skipped" if allowed else
                   "it allows none of its layers")
            raise ModelError(f"tfmot's {type(policy).__name__} leaves no layer of {model.name} "
                             f"to prune: {why}")
    chosen = set(chosen)
    if isinstance(schedule, str):
        schedule = pruning_schedule(schedule, target_sparsity, total_steps, frequency,
                                    initial_sparsity)
    elif not isinstance(schedule, tfmot.sparsity.keras.PruningSchedule):
        raise InvalidArgumentError(f"schedule must be constant, polynomial or a tfmot "
                                   f"PruningSchedule, got {schedule!r}")
    options = {"pruning_schedule": schedule}
    if m_by_n is not None:
        options["sparsity_m_by_n"] = m_by_n

    def wrap(layer):
        clone = layer.__class__.from_config(layer.get_config())
        if layer.name in chosen:
            return tfmot.sparsity.keras.prune_low_magnitude(clone, **options)
        return clone

    pruned = tf_keras.models.clone_model(model, clone_function=wrap)
    _copy_weights(model, pruned)
    return pruned


def _copy_weights(model, pruned) -> None:
    """Copy each layer's weights into its wrapped clone (masks stay 1, steps -1)."""
    for old, new in zip(model.layers, pruned.layers):
        own = {w.name.split("/")[-1]: w for w in old.weights}
        for w in new.weights:
            source = own.get(w.name.split("/")[-1])
            if source is not None:
                w.assign(source)


def strip_pruning(model):
    """tfmot's ``strip_pruning``: remove the wrappers, keep the zeroed weights.

    >>> import artspeed
    >>> m = strip_pruning(prune_low_magnitude(artspeed.baseline_cnn(width=2), 0.5))
    >>> [layer.name for layer in m.layers][:2]
    ['conv1', 'pool1']
    """
    check_wrappable(model, "artspeed.strip_pruning", "prune")
    return tfmot.sparsity.keras.strip_pruning(model)


def _kernel(layer):
    """A layer's main weight (the kernel of Conv and Dense), or None."""
    kernel = getattr(layer, "kernel", None)
    if kernel is None and hasattr(layer, "layer"):  # a pruning wrapper
        kernel = getattr(layer.layer, "kernel", None)
    return None if kernel is None else np.asarray(kernel.numpy())


@dataclass(frozen=True)
class LayerSparsity(Result):
    """One layer's kernel: how many weights, how many are zero, achieved against target."""

    name: str
    target_sparsity: float
    achieved_sparsity: float
    weights: int
    zeros: int

    def __repr__(self) -> str:
        return (f"<LayerSparsity {self.name}: {self.achieved_sparsity:.1%} zeros "
                f"(target {self.target_sparsity:.1%})>")


@dataclass(frozen=True)
class SparsityReport(Result):
    """Per-layer sparsity of a model's kernels, and the totals over the pruned ones."""

    model: str
    target_sparsity: float
    achieved_sparsity: float    # zeros / weights over the kernels with a target above 0
    model_sparsity: float       # zeros / every weight of the model (biases included)
    layers: tuple = ()

    def __repr__(self) -> str:
        return (f"<SparsityReport {self.model}: {self.achieved_sparsity:.1%} of pruned kernels "
                f"are zero (target {self.target_sparsity:.1%}), {len(self.layers)} layers>")

    @classmethod
    def from_dict(cls, data: dict) -> SparsityReport:
        data = dict(data)
        data["layers"] = tuple(LayerSparsity.from_dict(r) for r in data.get("layers", ()))
        return super().from_dict(data)

    def layer(self, name: str) -> LayerSparsity:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(f"no layer {name!r}; the layers are "
                       f"{', '.join(r.name for r in self.layers)}")

    def _repr_html_(self) -> str:
        rows = [(r.name, r.weights, r.zeros, r.target_sparsity, r.achieved_sparsity)
                for r in self.layers]
        rows.append(("pruned kernels", "", "", self.target_sparsity, self.achieved_sparsity))
        return html_table(rows, header=("layer", "weights", "zeros", "target", "achieved"),
                          caption=f"Sparsity of {self.model}")


def sparsity_report(model, targets=0.0) -> SparsityReport:
    """The fraction of zeros in each Conv/Dense kernel, against its target.

    ``targets`` is one sparsity for every layer or a dict name -> sparsity
    (layers it omits get 0). Works on a wrapped model (before
    ``strip_pruning``) or a stripped one.

    >>> import artspeed
    >>> r = sparsity_report(artspeed.baseline_cnn(width=2), {"dense": 0.8})
    >>> r.layer("dense").target_sparsity, r.layer("conv1").target_sparsity
    (0.8, 0.0)
    """
    check_tf_keras_model(model, "artspeed.sparsity_report")
    rows = []
    for layer in model.layers:
        kernel = _kernel(layer)
        if kernel is None:
            continue
        name = layer.name[len(_PREFIX):] if layer.name.startswith(_PREFIX) else layer.name
        target = targets.get(name, 0.0) if isinstance(targets, dict) else targets
        zeros = int(kernel.size - np.count_nonzero(kernel))
        rows.append(LayerSparsity(name, check_sparsity(target), zeros / kernel.size,
                                  int(kernel.size), zeros))
    if not rows:
        raise ModelError(f"{model.name} has no Conv or Dense kernels to report on")
    pruned = [r for r in rows if r.target_sparsity > 0] or rows
    weights = sum(r.weights for r in pruned)
    target = sum(r.target_sparsity * r.weights for r in pruned) / weights
    every = [np.asarray(w) for w in model.get_weights()]
    total = sum(w.size for w in every)
    zeros = sum(w.size - np.count_nonzero(w) for w in every)
    return SparsityReport(model.name, target, sum(r.zeros for r in pruned) / weights,
                          zeros / total if total else 0.0, tuple(rows))


def verify_m_by_n(model, m_by_n=(2, 4), layers=None) -> dict:
    """For each kernel (or those named in ``layers``): does it hold the N:M pattern?

    Every block of n consecutive weights along the input channels (TFLite's
    layout: ``[C_OUT, ..., C_IN]``, as tfmot's ``is_pruned_m_by_n``) must hold
    at least m zeros; a last block shorter than n counts as padded with zeros.

    >>> import artspeed
    >>> verify_m_by_n(artspeed.baseline_cnn(width=2), (2, 4), layers=["dense"])
    {'dense': False}
    """
    check_tf_keras_model(model, "artspeed.verify_m_by_n")
    m, n = check_m_by_n(m_by_n)
    found = {}
    for layer in model.layers:
        kernel = _kernel(layer)
        name = layer.name[len(_PREFIX):] if layer.name.startswith(_PREFIX) else layer.name
        if kernel is None or (layers is not None and name not in layers):
            continue
        rows = np.moveaxis(kernel, -1, 0).reshape(-1, kernel.shape[-2])  # [C_OUT * ..., C_IN]
        pad = (-rows.shape[1]) % n
        blocks = np.pad(rows, ((0, 0), (0, pad))).reshape(-1, n)
        found[name] = bool((np.count_nonzero(blocks, axis=1) <= n - m).all())
    if layers is not None:
        missing = [name for name in layers if name not in found]
        if missing:
            raise InvalidArgumentError(f"no Conv or Dense kernel named {', '.join(missing)} "
                                       f"in {model.name}")
    return found


@dataclass(frozen=True)
class PruningResult(CompressionResult):
    """A magnitude-pruning run: the stripped model, its sparsity, size and accuracy."""

    model: object
    report: SparsityReport
    history: object               # TrainingHistory of the fine-tuning
    schedule: str
    m_by_n: tuple | None
    size_bytes: int
    gzip_bytes: int
    baseline_size_bytes: int
    baseline_gzip_bytes: int
    accuracy: float | None
    baseline_accuracy: float | None
    metric: str = "accuracy"
    score: float | None = None
    baseline_score: float | None = None

    def __repr__(self) -> str:
        pattern = f"{self.m_by_n[0]}:{self.m_by_n[1]}" if self.m_by_n else self.schedule
        m = self.measure
        return (f"<PruningResult {pattern}, {self.report.achieved_sparsity:.1%} sparse: gzip "
                f"{self.times_smaller:.2f}x smaller, {m.name} {m.format(self.score)} "
                f"(baseline {m.format(self.baseline_score)})>")

    def _html_rows(self):
        yield "schedule", self.schedule
        if self.m_by_n:
            yield "pattern", f"{self.m_by_n[0]}:{self.m_by_n[1]}"
        yield "achieved sparsity", f"{self.report.achieved_sparsity:.1%}"
        yield from self._size_rows()
        yield self.measure.name, self._score_text(name=False)


def magnitude_pruning(model, dataset, target_sparsity: float = 0.8, *, schedule="constant",
                      layers=None, skip=(), m_by_n=None, pruning_policy=None, epochs: int = 2,
                      learning_rate: float = 1e-4, batch_size: int = 64, seed: int = 0,
                      progress: bool = True, baseline_accuracy: float | None = None,
                      initial_sparsity: float = 0.0) -> PruningResult:
    """Prune a *trained* model, fine-tune it with ``UpdatePruningStep``, strip, and measure.

    The original model is left as it was. Sizes are of the ``.keras`` file
    without optimizer state (``artspeed.model_size``), raw and gzipped, before and
    after. ``pruning_policy`` and ``initial_sparsity`` (a polynomial schedule's start:
    the seed's hands-on ramps 0.5 to 0.8) go to ``prune_low_magnitude``. Scores are by
    the dataset's task (accuracy, mean IoU or MAE; ``baseline_accuracy``: the baseline's
    score, if known). Taught in notebooks/06-pruning.
    """
    check_model_fits(model, dataset, "artspeed.magnitude_pruning")
    steps = -(-len(dataset.x_train) // batch_size) * max(1, int(epochs))
    wrapped = prune_low_magnitude(model, target_sparsity, schedule=schedule, layers=layers,
                                  skip=skip, m_by_n=m_by_n, total_steps=steps,
                                  pruning_policy=pruning_policy,
                                  initial_sparsity=initial_sparsity)
    history = train(wrapped, dataset, epochs=epochs, batch_size=batch_size,
                    learning_rate=learning_rate, seed=seed, validate=False, progress=progress,
                    callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = strip_pruning(wrapped)
    wrapped_names = {layer.name[len(_PREFIX):] for layer in wrapped.layers
                     if layer.name.startswith(_PREFIX)}
    m_by_n = check_m_by_n(m_by_n) if m_by_n is not None else None
    target = m_by_n[0] / m_by_n[1] if m_by_n else check_sparsity(target_sparsity)
    report = sparsity_report(stripped, {name: target for name in wrapped_names})
    before, after = model_size(model), model_size(stripped)
    base = task_score(model, dataset, known=baseline_accuracy)
    found = task_score(stripped, dataset)
    return PruningResult(stripped, report, history, schedule if isinstance(schedule, str)
                         else type(schedule).__name__, m_by_n, after.size_bytes,
                         after.gzip_bytes, before.size_bytes, before.gzip_bytes,
                         found["accuracy"], base["accuracy"], found["metric"], found["score"],
                         base["score"])


@dataclass(frozen=True)
class SparsitySweep(Result):
    """Accuracy and gzipped size at each target sparsity (same fine-tuning for each)."""

    sparsities: tuple
    achieved: tuple
    accuracies: tuple
    gzip_bytes: tuple
    baseline_accuracy: float
    baseline_gzip_bytes: int

    def __repr__(self) -> str:
        points = ", ".join(f"{s:.0%}: {a:.2%}" for s, a in zip(self.sparsities, self.accuracies))
        return f"<SparsitySweep {points}>"

    @classmethod
    def from_dict(cls, data: dict) -> SparsitySweep:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def _repr_html_(self) -> str:
        rows = [(s, a, acc, g, self.baseline_gzip_bytes / g) for s, a, acc, g in
                zip(self.sparsities, self.achieved, self.accuracies, self.gzip_bytes)]
        return html_table(rows, header=("target", "achieved", "accuracy", "gzip (bytes)",
                                        "gzip x smaller"), caption="Accuracy against sparsity")

    def plot(self, ax=None):
        """Accuracy (%) against sparsity, with the baseline as a dashed line."""
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([100 * s for s in self.sparsities], [100 * a for a in self.accuracies],
                marker="o", label="pruned + fine-tuned")
        ax.axhline(100 * self.baseline_accuracy, color="gray", ls="--", label="baseline")
        ax.set(xlabel="target sparsity (%)", ylabel="test accuracy (%)",
               title="Accuracy against sparsity")
        ax.grid(alpha=0.3)
        ax.legend()
        return ax


def sparsity_sweep(model, dataset, sparsities=(0.5, 0.8, 0.9, 0.95), **options) -> SparsitySweep:
    """``magnitude_pruning`` at each sparsity (``options`` passed on), from the same model.

    Taught in notebooks/06-pruning.
    """
    sparsities = tuple(check_sparsity(s) for s in sparsities)
    if not sparsities:
        raise InvalidArgumentError("sparsity_sweep needs at least one sparsity")
    options.setdefault("progress", False)
    baseline = accuracy(model, dataset)
    runs = [magnitude_pruning(model, dataset, s, baseline_accuracy=baseline, **options)
            for s in sparsities]
    return SparsitySweep(sparsities, tuple(r.report.achieved_sparsity for r in runs),
                         tuple(r.accuracy for r in runs), tuple(r.gzip_bytes for r in runs),
                         baseline, runs[0].baseline_gzip_bytes)
