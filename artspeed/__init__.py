"""artspeed: the art of speed, a workbook on deep-learning inference optimization.

Importing artspeed first selects Keras 2 (tf_keras) for TensorFlow; it does not
import TensorFlow itself, so ``import artspeed`` stays fast. The names below
load their module on first use.

>>> import artspeed
>>> artspeed.load_dataset.__module__
'artspeed.data'
"""

from __future__ import annotations

import importlib

from . import _keras  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from .errors import ArtspeedError, DatasetError, InvalidArgumentError, KerasVersionError, ModelError

__version__ = "0.1.0"

# module -> the public names it provides
_EXPORTS = {
    "config": ["fast_mode", "offline", "data_dir", "default_dataset"],
    "env": ["Environment", "environment"],
    "data": ["Dataset", "DATASETS", "load_dataset", "representative_samples"],
    "shapes": ["make_shapes", "SHAPE_NAMES"],
    "models": ["baseline_cnn", "dense_example", "trainable_params", "non_trainable_params"],
    "training": ["TrainingHistory", "train"],
    "evaluation": ["accuracy", "predict_labels", "agreement", "ModelSize", "model_size"],
    "predictors": ["Predictor", "KerasPredictor", "FunctionPredictor", "load_predictor",
                   "as_predictor"],
    "tflite_predictor": ["TFLitePredictor", "tflite_interpreter"],
    "openvino_predictor": ["OpenVINOPredictor"],
    "benchmarking": ["BenchmarkResult", "Comparison", "Sweep", "NoisyMeasurementWarning",
                  "benchmark", "compare", "batch_sweep", "thread_sweep", "plot_latencies"],
    "scenarios": ["ScenarioResult", "ServerSearch", "single_stream", "multi_stream", "server",
                  "find_max_qps", "offline_throughput", "run_scenario"],
    "pareto": ["pareto_front", "plot_pareto"],
    "tour": ["TourSettings", "VariantMeasurement", "TourResult", "run_tour", "load_tour"],
    "report": ["write_report", "plot_tour_pareto", "plot_batch_curves"],
    "saving": ["save_model", "load_model"],
    "plots": ["show_images"],
    "_keras": ["check_tf_keras_model"],
    "profiler": ["ModelProfile", "LayerProfile", "profile"],
    "tf_flops": ["GraphFlops", "tf_graph_flops"],
    "model_profiler_compat": ["ModelProfilerComparison", "compare_model_profiler"],
    "roofline": ["MachinePeak", "measure_machine_peak", "plot_roofline"],
    "quantization": ["QuantParams", "QuantizationError", "BitWidthSweep", "integer_range",
                     "calibrate", "quantize", "dequantize", "fake_quantize", "error_metrics",
                     "bit_width_sweep", "plot_quantization_grid"],
    "formats": ["NumberFormat", "NumberFormatTable", "number_format", "number_formats",
                       "representable_values"],
    "ptq": ["QuantizedModel", "LayerErrors", "PTQ_MODES", "convert_to_tflite",
            "inspect_tflite", "layer_errors"],
    "qat": ["QATResult", "unsupported_layers", "quantize_model", "convert_qat_model",
            "quantization_aware_training"],
    "variants": ["VariantReport", "VariantTable", "evaluate_variant", "compare_variants"],
    "deployment": ["PRECISIONS", "convert_model", "save_ir", "read_ir", "compile_model",
                   "default_inference_precision", "Deployment", "deploy"],
    "validation": ["Validation", "validate", "PrecisionComparison", "compare_precisions"],
    "openvino_int8": ["calibration_dataset", "make_ignored_scope", "quantize_openvino",
                      "quantize_openvino_with_accuracy_control", "qat_to_openvino"],
    "runtime_graphs": ["count_ops", "RuntimeLayer", "RuntimeGraph", "runtime_graph"],
    "benchmark_tool": ["benchmark_app"],
    "pruning": ["LayerSparsity", "SparsityReport", "PruningResult", "SparsitySweep",
                "prunable_layers", "pruning_schedule", "prune_low_magnitude", "strip_pruning",
                "sparsity_report", "verify_m_by_n", "magnitude_pruning",
                "sparsity_sweep"],
    "channels": ["ChannelPruningResult", "channel_prunable_layers", "filter_norms",
                        "prune_channels", "channel_pruning"],
    "clustering": ["ClusteringResult", "cluster_weights", "strip_clustering", "unique_weights",
                   "weight_clustering", "prune_then_quantize", "sparsity_preserving_qat"],
    "distillation": ["Distiller", "DistillationResult", "logits_model", "distill"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["__version__", "ArtspeedError", "DatasetError", "InvalidArgumentError",
           "KerasVersionError", "ModelError", *_WHERE]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'artspeed' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
