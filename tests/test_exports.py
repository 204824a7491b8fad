"""The public API: listed once, in each module's ``__all__``, and no name users had lost."""

import importlib
import pkgutil
import warnings

import pytest
from conftest import run_python

import artspeed

# Every top-level name artspeed 0.1 exported before the package was layered (issue 14).
NAMES_BEFORE_THE_LAYERS = """
    ArtspeedError BenchmarkResult BitWidthSweep ChannelPruningResult ClusteringResult
    Comparison DATASETS Dataset DatasetError Deployment DistillationResult Distiller
    Environment FunctionPredictor GraphFlops InvalidArgumentError KerasPredictor
    KerasVersionError LayerErrors LayerProfile LayerSparsity MachinePeak ModelError
    ModelProfile ModelProfilerComparison ModelSize NoisyMeasurementWarning NumberFormat
    NumberFormatTable OpenVINOPredictor PRECISIONS PTQ_MODES PrecisionComparison Predictor
    PruningResult QATResult QuantParams QuantizationError QuantizedModel RuntimeGraph
    RuntimeLayer SHAPE_NAMES ScenarioResult ServerSearch SparsityReport SparsitySweep Sweep
    TFLitePredictor TourResult TourSettings TrainingHistory Validation VariantMeasurement
    VariantReport VariantTable __version__ accuracy agreement as_predictor baseline_cnn
    batch_sweep benchmark benchmark_app bit_width_sweep calibrate calibration_dataset
    channel_prunable_layers channel_pruning check_tf_keras_model cluster_weights compare
    compare_model_profiler compare_precisions compare_variants compile_model convert_model
    convert_qat_model convert_to_tflite count_ops data_dir default_dataset
    default_inference_precision dense_example deploy dequantize distill environment
    error_metrics evaluate_variant fake_quantize fast_mode filter_norms find_max_qps
    inspect_tflite integer_range layer_errors load_dataset load_model load_predictor
    load_tour logits_model magnitude_pruning make_ignored_scope make_shapes
    measure_machine_peak model_size multi_stream non_trainable_params number_format
    number_formats offline offline_throughput pareto_front plot_batch_curves plot_latencies
    plot_pareto plot_quantization_grid plot_roofline plot_tour_pareto predict_labels profile
    prunable_layers prune_channels prune_low_magnitude prune_then_quantize pruning_schedule
    qat_to_openvino quantization_aware_training quantize quantize_model quantize_openvino
    quantize_openvino_with_accuracy_control read_ir representable_values
    representative_samples run_scenario run_tour runtime_graph save_ir save_model server
    show_images single_stream sparsity_preserving_qat sparsity_report sparsity_sweep
    strip_clustering strip_pruning tf_graph_flops tflite_interpreter thread_sweep train
    trainable_params unique_weights unsupported_layers validate verify_m_by_n
    weight_clustering write_report
""".split()

LAYERS = ("core", "runtimes", "measure", "compress", "deployment", "tour", "generative")


def _public_modules():
    for layer in LAYERS:
        package = importlib.import_module(f"artspeed.{layer}")
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                yield importlib.import_module(f"artspeed.{layer}.{info.name}")


def test_the_top_level_exports_exactly_the_modules_all():
    declared = [name for module in _public_modules() for name in module.__all__]
    assert len(declared) == len(set(declared)), "a name is public in two modules"
    assert sorted(artspeed.__all__) == sorted(["__version__", *declared])


@pytest.mark.parametrize("module", list(_public_modules()), ids=lambda m: m.__name__)
def test_every_name_in_a_modules_all_exists_and_is_exported(module):
    for name in module.__all__:
        assert getattr(artspeed, name) is getattr(module, name), name


def test_no_name_users_had_was_lost():
    with warnings.catch_warnings(record=True):   # a renamed one warns, naming its successor
        warnings.simplefilter("always")
        lost = [name for name in NAMES_BEFORE_THE_LAYERS if not hasattr(artspeed, name)]
    assert not lost


@pytest.mark.parametrize("old, new", [("pruning", "compress.pruning"),
                                      ("deployment", "deployment"),
                                      ("tflite_predictor", "runtimes.tflite"),
                                      ("tour", "tour")])
def test_old_module_paths_still_import(old, new):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        module = importlib.import_module(f"artspeed.{old}")
    assert module is importlib.import_module(f"artspeed.{new}")


def test_an_old_module_path_says_where_it_went():
    run = run_python("import warnings; warnings.simplefilter('error')\n"
                     "try:\n    import artspeed.ptq\n"
                     "except DeprecationWarning as w:\n    print(w)")
    assert run.stdout.strip() == ("artspeed.ptq moved to artspeed.compress.ptq; import that "
                                  "(or use artspeed.NAME)"), run.stderr


def test_a_name_that_left_a_package_says_where_it_went():
    with pytest.warns(DeprecationWarning, match="artspeed.deployment.read_ir moved to "
                                                "artspeed.runtimes.ir.read_ir"):
        assert artspeed.deployment.read_ir is artspeed.read_ir


@pytest.mark.parametrize("first, name", [("number_format", "number_formats"),
                                         ("filter_norms", "channel_pruning")])
def test_a_sibling_export_does_not_shadow_the_function(first, name):
    # importing the submodule (through a sibling name) used to rebind artspeed.<module>
    code = (f"import artspeed\nartspeed.{first}\nimport inspect\n"
            f"assert callable(artspeed.{name}) and inspect.isfunction(artspeed.{name}), "
            f"artspeed.{name}\nprint('ok')")
    run = run_python(code)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_no_layer_or_module_is_named_like_a_public_name():
    # artspeed.deploy is a function; a subpackage of that name would shadow it
    modules = set(LAYERS) | {m.__name__.rpartition(".")[2] for m in _public_modules()}
    assert not modules & set(artspeed.__all__)


@pytest.mark.parametrize("where", ["artspeed", "artspeed.compress",
                                   "artspeed.compress.quantization"])
def test_a_renamed_name_still_works_and_says_its_new_name(where):
    module = importlib.import_module(where)
    with pytest.warns(DeprecationWarning, match=rf"{where}\.QuantizationError was renamed "
                                                r"ErrorMetrics; use artspeed\.ErrorMetrics"):
        old = module.QuantizationError
    assert old is artspeed.ErrorMetrics
    assert repr(artspeed.error_metrics([1.0], [0.5])).startswith("<ErrorMetrics ")


def test_a_renamed_name_imports_with_from():
    run = run_python("import warnings; warnings.simplefilter('error')\n"
                     "try:\n    from artspeed.compress.quantization import QuantizationError\n"
                     "except DeprecationWarning as w:\n    print(w)")
    assert "renamed ErrorMetrics" in run.stdout, run.stderr
