"""Quantization-aware training with tfmot: fake-quantize, fine-tune, convert to int8.

Taught in notebooks/05-quantization-aware-training. Post-training
quantization rounds a trained model once and hopes for the best;
quantization-aware training (QAT) puts the rounding *into* training:
``quantize_model`` wraps each layer so its forward pass fake-quantizes weights
and activations (``x_hat = s * (round(x / s) + z - z)``), and a few epochs of
fine-tuning let the weights adapt to the grid. The gradient passes the
rounding unchanged (the straight-through estimator). The fine-tuned model then
converts to an int8 ``.tflite`` without a representative dataset: the ranges
were learned.

tfmot's default 8-bit scheme knows the common layers (Conv2D, Dense,
pooling, Flatten, Dropout, ...). For any other layer, ``quantize_model``
names it and offers the ways out: leave it in float (``skip=[name]``, which
annotates the other layers with ``quantize_annotate_layer`` and calls
``quantize_apply``), or give it a ``QuantizeConfig``.

>>> import artspeed
>>> unsupported_layers(artspeed.baseline_cnn(width=2))
[]
"""

from __future__ import annotations

from dataclasses import dataclass

from artspeed.compress.ptq import QuantizedModel, _check_io, _default_path, _write
from artspeed.compress.results import SCORE_FIELDS, CompressionResult, task_score
from artspeed.core.errors import InvalidArgumentError, ModelError, first_line
from artspeed.core.frameworks import (
    LazyModule,
    check_tf_keras_model,
    check_wrappable,
    tf,
    tf_keras,
    tfmot,
)
from artspeed.core.training import TrainingHistory, check_model_fits, train

__all__ = ["QATResult", "unsupported_layers", "quantize_model", "convert_qat_model",
           "quantization_aware_training"]


def _tfmot_keras():
    return tfmot.quantization.keras


_default_8bit = LazyModule("tensorflow_model_optimization.python.core.quantization.keras."
                          "default_8bit.default_8bit_quantize_registry")


def _registry():
    return _default_8bit.Default8BitQuantizeRegistry()


def _folded_batch_norm(layer) -> bool:
    """A BatchNormalization right after a Conv2D or DepthwiseConv2D that feeds nothing else:
    tfmot's layout transforms (Conv2DBatchNormQuantize and its kin) fold it into that layer,
    so it needs no QuantizeConfig of its own (MobileNet's conv, BN, ReLU6)."""
    if not isinstance(layer, tf_keras.layers.BatchNormalization):
        return False
    nodes = getattr(layer, "_inbound_nodes", [])
    if len(nodes) != 1:
        return False
    before = nodes[0].inbound_layers
    return (type(before) in (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D)
            and len(before._outbound_nodes) == 1)


def unsupported_layers(model) -> list[tuple[str, str]]:
    """(name, class) of each layer tfmot's default 8-bit scheme cannot quantize.

    Nested models count as unsupported: tfmot does not quantize a model inside a model.
    A BatchNormalization right after a Conv2D or DepthwiseConv2D is supported: tfmot
    folds it into that layer.
    """
    check_wrappable(model, "artspeed.unsupported_layers", "quantize")
    registry = _registry()
    found = []
    for layer in model.layers:
        if isinstance(layer, tf_keras.layers.InputLayer) or _folded_batch_norm(layer):
            continue
        if isinstance(layer, tf_keras.Model) or isinstance(layer, tf_keras.layers.Lambda) \
                or not registry.supports(layer):
            found.append((layer.name, type(layer).__name__))
    return found


def skip_names(model, skip) -> tuple:
    """``skip`` (a layer name or several) as a tuple, each checked to name a layer of ``model``."""
    skip = (skip,) if isinstance(skip, str) else tuple(skip)
    names = [layer.name for layer in model.layers]
    missing = [s for s in skip if s not in names]
    if missing:
        raise InvalidArgumentError(f"skip names no layer of {model.name}: {', '.join(missing)}; "
                                   f"its layers are {', '.join(names)}")
    return skip


def quantize_model(model, skip=()):
    """tfmot's ``quantize_model``, with clear errors and a way to leave layers in float.

    Returns a new model whose layers fake-quantize weights and activations
    (the original keeps its weights). ``skip`` names layers to leave in float:
    every other layer is annotated with ``quantize_annotate_layer`` and the
    model goes through ``quantize_apply``. A layer tfmot cannot quantize
    raises a ``ModelError`` that names it and how to skip it.

    >>> import artspeed
    >>> q = quantize_model(artspeed.baseline_cnn(width=2))
    >>> type(q.get_layer("quant_conv1")).__name__
    'QuantizeWrapperV2'
    >>> quantize_model(artspeed.baseline_cnn(width=2), skip=["conv9"])
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: skip names no layer of baseline_cnn: conv9; its layers are conv1, pool1, conv2, pool2, flatten, dropout1, dense, dropout2, logits, probabilities
    """
    check_wrappable(model, "artspeed.quantize_model", "quantize")
    skip = skip_names(model, skip)
    blocked = [(n, c) for n, c in unsupported_layers(model) if n not in skip]
    if blocked:
        listed = ", ".join(f"'{n}' ({c})" for n, c in blocked)
        raise ModelError(
            f"tfmot cannot quantize layer{'s' if len(blocked) > 1 else ''} {listed} of "
            f"{model.name}: its default 8-bit scheme has no QuantizeConfig for "
            f"{'them' if len(blocked) > 1 else 'it'}. Leave "
            f"{'them' if len(blocked) > 1 else 'it'} in float with "
            f"artspeed.quantize_model(model, skip={[n for n, _ in blocked]!r}) (the other "
            "layers are annotated with quantize_annotate_layer, then quantize_apply), or "
            "annotate it with tfmot.quantization.keras.quantize_annotate_layer(layer, "
            "quantize_config=YourConfig()) and quantize_apply inside quantize_scope.")
    qk = _tfmot_keras()
    try:
        if not skip:
            return qk.quantize_model(model)

        def annotate(layer):
            if layer.name in skip or isinstance(layer, tf_keras.layers.InputLayer):
                return layer.__class__.from_config(layer.get_config())
            return qk.quantize_annotate_layer(layer.__class__.from_config(layer.get_config()))

        annotated = tf_keras.models.clone_model(model, clone_function=annotate)
        annotated.set_weights(model.get_weights())
        return qk.quantize_apply(annotated)
    except (ValueError, RuntimeError, TypeError) as exc:
        first = first_line(exc)
        raise ModelError(f"tfmot could not quantize {model.name}: {first}. Skip the layer it "
                         "names (artspeed.quantize_model(model, skip=[...])) or use "
                         "post-training quantization instead.") from None


def _is_quantized(model) -> bool:
    return any(type(layer).__name__.startswith("Quantize") for layer in model.layers)


def convert_qat_model(qat_model, *, input_type=None, output_type=None,
                      path=None) -> QuantizedModel:
    """Convert a fine-tuned ``quantize_model`` model to an int8 ``.tflite`` (mode ``"qat"``).

    No representative data: the fake-quantization layers carry the ranges.
    ``input_type``/``output_type``: ``"float32"`` (default), ``"int8"`` or ``"uint8"``.
    """
    check_tf_keras_model(qat_model, "artspeed.convert_qat_model")
    if not _is_quantized(qat_model):
        raise ModelError(f"{qat_model.name} has no quantization wrappers; pass the model "
                         "artspeed.quantize_model returned (after fine-tuning it), or "
                         "use artspeed.convert_to_tflite for post-training quantization")
    input_type, output_type = _check_io("qat", input_type, output_type)

    converter = tf.lite.TFLiteConverter.from_keras_model(qat_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.inference_input_type = getattr(tf, input_type)
    converter.inference_output_type = getattr(tf, output_type)
    path = path if path is not None else _default_path(qat_model, "qat")
    return _write(converter, qat_model, "qat", path, 0)


@dataclass(frozen=True)
class QATResult(CompressionResult):
    """A QAT run: the int8 file, the fine-tuning history, and accuracies along the way."""

    quantized: QuantizedModel
    history: object           # TrainingHistory
    qat_accuracy: float | None   # the fake-quantized Keras model on the test set (classifiers)
    skipped: tuple = ()
    baseline_accuracy: float | None = None   # the float model QAT started from
    metric: str = "accuracy"                 # the task's metric, and the two models' scores
    score: float | None = None
    baseline_score: float | None = None

    _model_field = None       # the model is the .tflite file, ``quantized``

    @property
    def model(self) -> QuantizedModel:
        """The int8 ``.tflite`` model (``quantized``)."""
        return self.quantized

    @property
    def accuracy(self) -> float:
        """The fake-quantized Keras model's accuracy (``qat_accuracy``)."""
        return self.qat_accuracy

    def __repr__(self) -> str:
        m = self.measure
        return (f"<QATResult {self.history.epochs} epochs, fake-quantized {m.name} "
                f"{m.format(self.score)}, {self.quantized!r}>")

    @classmethod
    def from_dict(cls, data: dict) -> QATResult:
        return cls(QuantizedModel.from_dict(data["quantized"]),
                   TrainingHistory.from_dict(data["history"]), data["qat_accuracy"],
                   tuple(data.get("skipped", ())), data.get("baseline_accuracy"),
                   **{k: data[k] for k in SCORE_FIELDS if k in data})

    def _html_rows(self):
        yield from self.quantized._html_rows()
        yield "fine-tuning epochs", self.history.epochs
        yield f"fake-quantized Keras {self.measure.name}", self.measure.format(self.score)
        if self.baseline_score is not None:
            yield f"float {self.measure.name} (baseline)", self.measure.format(self.baseline_score)
        if self.skipped:
            yield "left in float", ", ".join(self.skipped)


def quantization_aware_training(model, dataset, *, epochs: int = 1,
                                learning_rate: float = 1e-4, batch_size: int = 64,
                                skip=(), input_type=None, output_type=None, path=None,
                                seed: int = 0, progress: bool = True) -> QATResult:
    """``quantize_model``, fine-tune on ``dataset`` for ``epochs``, convert to int8 TFLite.

    Start from a *trained* float model: QAT fine-tunes, with a learning rate
    about 10x below the original (``learning_rate``). Taught in
    notebooks/05-quantization-aware-training.
    """
    _check_io("qat", input_type, output_type)  # before any training
    check_model_fits(model, dataset, "artspeed.quantization_aware_training")
    qat_model = quantize_model(model, skip=skip)
    history = train(qat_model, dataset, epochs=epochs, batch_size=batch_size,
                    learning_rate=learning_rate, seed=seed, validate=False, progress=progress)
    found, base = task_score(qat_model, dataset), task_score(model, dataset)
    quantized = convert_qat_model(qat_model, input_type=input_type, output_type=output_type,
                                  path=path if path is not None else _default_path(model, "qat"))
    return QATResult(quantized, history, found["accuracy"],
                     tuple((skip,) if isinstance(skip, str) else skip), base["accuracy"],
                     found["metric"], found["score"], base["score"])
