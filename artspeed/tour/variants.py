"""The tour's variants: how each one is built from the baseline.

``VARIANTS`` lists them in the order the tour builds and reports them. Each
builder takes a ``_Context`` (the baseline's path, the data, the tour's
settings, the output folder) and returns the variant's file and a one-line
description. Keep tfmot's, TFLite's and OpenVINO's steps as they are taught in
chapters 04 to 08; the tour only calls them. The names use each tool's own
words: TFLite's modes (``float32``, ``int8``), OpenVINO's precisions (``f32``,
``int8``).

The Keras baseline (``keras``) runs through ``tf.function``, the fair Keras
number; ``keras-predict`` is the same model through ``model.predict``, a
reference row that shows its per-call overhead. ``MEASURE_OPTIONS`` says how
each variant is run when it is measured.

>>> len(VARIANTS), [name for name, _ in VARIANTS[-3:]]
(14, ['openvino-f32', 'openvino-bf16', 'openvino-int8'])
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from artspeed.compress.channels import channel_pruning
from artspeed.compress.clustering import prune_then_quantize
from artspeed.compress.distillation import distill
from artspeed.compress.pruning import magnitude_pruning
from artspeed.compress.ptq import convert_to_tflite
from artspeed.compress.qat import quantization_aware_training
from artspeed.core.errors import ArtspeedError
from artspeed.core.models import baseline_cnn, vehicle
from artspeed.core.saving import load_model, save_model
from artspeed.deployment.openvino_int8 import quantize_openvino
from artspeed.runtimes.ir import convert_model, save_ir
from artspeed.runtimes.openvino import default_inference_precision
from artspeed.tour.results import TourSettings

__all__ = ["VARIANTS", "MEASURE_OPTIONS"]


class _Context:
    """What a variant builder needs: the baseline, the data, the settings, a folder."""

    def __init__(self, baseline_path: Path, dataset, settings: TourSettings, folder: Path,
                 progress: bool, safe_mode: bool = True):
        self.baseline_path = baseline_path
        self.dataset = dataset
        self.settings = settings
        self.folder = folder
        self.progress = progress
        self.safe_mode = safe_mode  # False: the learner's model holds code they trust

    def model(self):
        """A fresh copy of the baseline (builders may change what they get)."""
        return load_model(self.baseline_path, safe_mode=self.safe_mode)

    @property
    def finetune_data(self):
        """The data fine-tunes train on: the first ``settings.finetune_images`` images."""
        keep = self.settings.finetune_images
        if keep is None or keep >= len(self.dataset.x_train):
            return self.dataset
        return replace(self.dataset, x_train=self.dataset.x_train[:keep],
                       y_train=self.dataset.y_train[:keep])

    def path(self, name: str, suffix: str) -> Path:
        return self.folder / f"{name}{suffix}"


def _keras(ctx):
    return ctx.baseline_path, "the baseline, run with Keras through tf.function"


def _keras_predict(ctx):
    return ctx.baseline_path, ("the baseline through Keras model.predict: a reference, "
                               "mostly its per-call overhead at batch 1")


def _tflite(mode: str, description: str):
    def build(ctx):
        data = ctx.dataset if mode in ("int8", "int16x8") else None
        kwargs = {"calibration_samples": ctx.settings.calibration_samples} if data else {}
        result = convert_to_tflite(ctx.model(), mode, data, path=ctx.path(f"tflite-{mode}",
                                                                           ".tflite"), **kwargs)
        return Path(result.path), description
    return build


def _qat(ctx):
    result = quantization_aware_training(
        ctx.model(), ctx.finetune_data, epochs=ctx.settings.finetune_epochs,
        path=ctx.path("qat-int8", ".tflite"), seed=ctx.settings.seed, progress=ctx.progress)
    return Path(result.quantized.path), "quantization-aware training, then int8 TFLite"


def _kept_dense(model, task: str) -> tuple:
    """The layers pruning leaves dense: a segmentation model's output layer, a 1x1
    convolution with one weight per channel (the UNet's has 16), which 80% sparsity would
    leave with 3, and every pixel would then read as background."""
    if task != "segmentation":
        return ()
    return (next(layer.name for layer in reversed(model.layers) if layer.weights),)


def _pruned_model(ctx):
    """The baseline pruned to 80% sparsity and fine-tuned, built once for two variants."""
    path = ctx.path("pruned-80", ".keras")
    if not path.exists():
        model = ctx.model()
        result = magnitude_pruning(model, ctx.finetune_data, 0.8,
                                   skip=_kept_dense(model, ctx.dataset.task),
                                   epochs=ctx.settings.finetune_epochs, seed=ctx.settings.seed,
                                   progress=ctx.progress)
        save_model(result.model, path, include_optimizer=False)
    return load_model(path, safe_mode=ctx.safe_mode)


def _pruned(ctx):
    result = convert_to_tflite(_pruned_model(ctx), "float32",
                               path=ctx.path("pruned-80", ".tflite"))
    return Path(result.path), "80% magnitude pruning (tfmot), float32 TFLite"


def _pruned_int8(ctx):
    result = prune_then_quantize(_pruned_model(ctx), ctx.dataset,
                                 path=ctx.path("pruned-80-int8", ".tflite"),
                                 calibration_samples=ctx.settings.calibration_samples)
    return Path(result.path), "80% magnitude pruning, then full-integer int8 TFLite"


def _channel_pruned(ctx):
    result = channel_pruning(ctx.model(), ctx.finetune_data, 0.5,
                             epochs=ctx.settings.finetune_epochs, seed=ctx.settings.seed,
                             progress=ctx.progress)
    tflite = convert_to_tflite(result.model, "float32",
                               path=ctx.path("channel-pruned", ".tflite"))
    return Path(tflite.path), "half the filters removed (L1 norm), fine-tuned, float32 TFLite"


def _distilled(ctx):
    if ctx.dataset.task != "classification":
        raise ArtspeedError(f"distillation matches a teacher's class probabilities, so it "
                            f"takes classifiers; this is {ctx.dataset.task}")
    if ctx.settings.quick:
        raise ArtspeedError("the quick tour leaves it out: a student learns from scratch, so it "
                            "needs as many epochs as the model itself (the full tour, without "
                            "--quick, distils one)")
    teacher = ctx.model()
    shape, classes, seed = ctx.dataset.input_shape, ctx.dataset.num_classes, ctx.settings.seed
    if any(type(layer).__name__ == "DepthwiseConv2D" for layer in teacher.layers):
        student, what = vehicle(shape, classes, alpha=0.5, seed=seed, name="student"), \
            "an alpha-0.5 vehicle"
    else:
        student, what = baseline_cnn(shape, classes, width=8, seed=seed, name="student"), \
            "a width-8 baseline_cnn"
    result = distill(teacher, student, ctx.dataset, epochs=max(2, ctx.settings.epochs // 2),
                     seed=seed, progress=ctx.progress)
    tflite = convert_to_tflite(result.student, "float32", path=ctx.path("distilled", ".tflite"))
    return Path(tflite.path), f"{what} student distilled from the model, float32 TFLite"


def _openvino_f32(ctx):
    path = save_ir(convert_model(ctx.model()), ctx.path("openvino-f32", ".xml"))
    return Path(path), "OpenVINO IR, f32 weights, run with the f32 inference precision"


def _openvino_bf16(ctx):
    capabilities = default_inference_precision()["capabilities"]
    if "BF16" not in capabilities:
        raise ArtspeedError("this CPU has neither AVX512_BF16 nor AMX (OpenVINO lists "
                            f"{', '.join(capabilities)}), so OpenVINO would run bf16 as f32")
    path = save_ir(convert_model(ctx.model()), ctx.path("openvino-bf16", ".xml"))
    return Path(path), ("OpenVINO IR, f32 weights, run with the bf16 inference precision "
                        "(this CPU has bf16 instructions)")


def _openvino_int8(ctx):
    quantized = quantize_openvino(ctx.model(), ctx.dataset,
                                  subset_size=ctx.settings.calibration_samples,
                                  seed=ctx.settings.seed, progress=ctx.progress)
    path = save_ir(quantized, ctx.path("openvino-int8", ".xml"))
    return Path(path), ("OpenVINO IR quantized to INT8 by NNCF (post-training), run in "
                        "OpenVINO's default precision for the rest")


VARIANTS = [
    ("keras", _keras),
    ("keras-predict", _keras_predict),
    ("tflite-float32", _tflite("float32", "TFLite, float32")),
    ("tflite-dynamic", _tflite("dynamic", "TFLite, dynamic-range (int8 weights)")),
    ("tflite-float16", _tflite("float16", "TFLite, float16 weights")),
    ("tflite-int8", _tflite("int8", "TFLite, full-integer int8 (post-training)")),
    ("qat-int8", _qat),
    ("pruned-80", _pruned),
    ("pruned-80-int8", _pruned_int8),
    ("channel-pruned", _channel_pruned),
    ("distilled", _distilled),
    ("openvino-f32", _openvino_f32),
    ("openvino-bf16", _openvino_bf16),
    ("openvino-int8", _openvino_int8),
]

# How each variant runs when measured (``as_predictor``'s options); the rest use the defaults
# (TFLite; OpenVINO at f32, as the library pins it)
MEASURE_OPTIONS = {"keras": {"mode": "function"}, "keras-predict": {"mode": "predict"},
                   "openvino-bf16": {"precision": "bf16"}, "openvino-int8": {"precision": None}}
