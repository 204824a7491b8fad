"""The ``artspeed`` command line: one subcommand per chapter's main job.

Every subcommand takes ``--json``. On bad input it prints one line to stderr
and exits with status 2, with no traceback (``ARTSPEED_DEBUG=1`` shows it).

>>> build_parser().parse_args(["train", "--epochs", "2"]).epochs
2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

from . import __version__
from .errors import ArtspeedError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _emit(args, payload: dict, lines) -> None:
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        for line in lines:
            print(line)


def _cmd_train(args) -> int:
    from . import config
    from .data import DATASETS, load_dataset

    name = args.dataset or config.default_dataset()
    if name not in DATASETS:  # fail before TensorFlow loads
        load_dataset(name)
    from pathlib import Path

    from ._io import ensure_writable_dir

    ensure_writable_dir(Path(args.out).parent)  # fail before any work starts
    from .evaluation import accuracy
    from .models import baseline_cnn
    from .saving import save_model
    from .training import train

    fast = config.fast_mode()
    epochs = args.epochs or (1 if fast else 5)
    dataset = load_dataset(name, limit_train=args.limit_train or (2000 if fast else None))
    model = baseline_cnn(dataset.input_shape, dataset.num_classes, width=args.width)
    history = train(model, dataset, epochs=epochs, batch_size=args.batch_size,
                    seed=args.seed, progress=not args.json)
    test_accuracy = accuracy(model, dataset)
    path = save_model(model, args.out)
    payload = {
        "dataset": dataset.name, "source": dataset.source,
        "train_samples": len(dataset.x_train), "test_samples": len(dataset.x_test),
        "epochs": epochs, "width": args.width, "params": model.count_params(),
        "epoch_seconds": list(history.epoch_seconds),
        "median_epoch_s": history.median_epoch_s,
        "test_accuracy": test_accuracy, "model_path": str(path),
        "size_bytes": path.stat().st_size,
    }
    _emit(args, payload, [
        f"dataset      {dataset.name} ({len(dataset.x_train)} train / "
        f"{len(dataset.x_test)} test, from {dataset.source})",
        f"model        baseline_cnn width={args.width}, {model.count_params():,} parameters",
        f"training     {epochs} epochs, median {history.median_epoch_s:.1f} s/epoch",
        f"test acc.    {test_accuracy:.2%}",
        f"saved        {path} ({path.stat().st_size:,} bytes)",
    ])
    return 0


def _add_train(commands) -> None:
    train = commands.add_parser("train", help="train, evaluate and save the baseline CNN")
    train.add_argument("--dataset", help="fashion_mnist, mnist, cifar10 or shapes "
                       "(default: $ARTSPEED_DATASET or fashion_mnist)")
    train.add_argument("--epochs", type=_positive_int,
                       help="epochs (default 5; 1 with ARTSPEED_FAST=1)")
    train.add_argument("--width", type=_positive_int, default=32,
                       help="filters in the first conv layer (default 32)")
    train.add_argument("--batch-size", type=_positive_int, default=64)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--limit-train", type=_positive_int,
                       help="train on the first N samples only")
    train.add_argument("--out", default="runs/baseline.keras",
                       help="where to save the model (default runs/baseline.keras)")
    train.add_argument("--json", action="store_true", help="print JSON only")
    train.set_defaults(func=_cmd_train)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text}")
    return value


def _bench_payload(result, scenario: str) -> dict:
    """The JSON of one model's run: the same keys for a benchmark and a scenario."""
    data = result.to_dict()
    data.pop("latencies_ms", None)
    is_scenario = scenario != "benchmark"
    data.update(
        scenario=scenario,
        batch_size=result.samples_per_query if is_scenario else result.batch_size,
        threads=result.predictor.get("threads"),
        iterations=result.queries if is_scenario else result.iterations,
    )
    for key in ("latency_ms", "runtime_latency_ms"):
        if data.get(key) is not None:
            data[key] = {k: data[key].get(k) for k in ("p50", "p90", "p99", "mean", "std")}
    return data


def _cmd_bench(args) -> int:
    from pathlib import Path

    from .errors import ModelError

    for model in args.models:  # cheap checks before TensorFlow or OpenVINO load
        path = Path(model)
        if not path.exists():
            raise ModelError(f"no model at '{model}': the path does not exist")
        if not (path.suffix in (".keras", ".h5", ".tflite", ".xml")
                or (path / "saved_model.pb").exists()):
            raise ModelError(f"'{model}' is not a model artspeed can run; expected a .keras "
                             "or .h5 file, a SavedModel folder, a .tflite file or an .xml")
        if path.suffix == ".xml":
            from .deployment import check_ir

            check_ir(path)
    from .benchmarking import benchmark
    from .predictors import load_predictor
    from .scenarios import run_scenario

    options = {}
    for key in ("hint", "streams", "precision"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.precision == "default":
        options["precision"] = None
    scenario = args.scenario or "benchmark"
    payloads, notes = [], []
    for model in args.models:
        predictor = load_predictor(model, args.runtime, mode=args.mode, threads=args.threads,
                                   **options)
        if args.scenario is None:
            duration = args.duration if args.duration or args.iterations else 1.0
            result = benchmark(predictor, args.batch_size, iterations=args.iterations,
                               duration_s=duration, warmup=args.warmup, name=model,
                               warn=False)
            if result.noisy:
                notes.append(f"note: {model} was noisy (spread {result.robust_cv:.0%} around "
                             "the median); trust the p50, or rerun on a quieter machine")
        else:
            result = run_scenario(predictor, args.scenario, duration_s=args.duration,
                                  batch_size=args.batch_size if args.batch_size > 1 else None,
                                  latency_bound_ms=args.latency_bound_ms,
                                  target_qps=args.target_qps)
        payload = _bench_payload(result, scenario)
        payload["model"] = model
        payloads.append(payload)
        predictor.close()
    base = payloads[0]["latency_ms"]["p50"]
    for payload in payloads:
        p50 = payload["latency_ms"]["p50"]
        payload["speedup_p50_vs_first"] = base / p50 if p50 else None
    lines = [f"{'model':<28} {'runtime':<9} {'scenario':<14} {'batch':>5} {'p50 ms':>9} "
             f"{'p90 ms':>9} {'p99 ms':>9} {'samples/s':>11} {'vs first':>8}"]
    for p in payloads:
        lat = p["latency_ms"]
        fmt = [f"{lat[k]:9.3f}" if lat[k] is not None else f"{'inf':>9}" for k in ("p50", "p90", "p99")]
        speed = p["speedup_p50_vs_first"]
        lines.append(f"{p['model'][-28:]:<28} {p['runtime']:<9} {p['scenario']:<14} "
                     f"{p['batch_size']:>5} {' '.join(fmt)} {p['throughput_per_s']:>11,.0f} "
                     f"{(f'{speed:.2f}x' if speed else '-'):>8}")
        if p["scenario"] == "server":
            lines.append(f"  server at {p['target_qps']:.0f} QPS: p99 bound "
                         f"{p['latency_bound_ms']} ms {'met' if p['bound_met'] else 'MISSED'}")
    env = payloads[0]["env"]
    lines.append(f"on {env['cpu_model']}, {env['available_cores']} cores available")
    lines += notes
    if args.json:
        print(json.dumps(payloads[0] if len(payloads) == 1 else payloads, indent=2))
    else:
        for line in lines:
            print(line)
    return 0


def _add_bench(commands) -> None:
    bench = commands.add_parser("bench", help="measure latency and throughput of models "
                                "(Keras, TFLite or OpenVINO)")
    bench.add_argument("models", nargs="+", metavar="MODEL",
                       help=".keras, .h5, SavedModel folder, .tflite or OpenVINO .xml")
    bench.add_argument("--runtime", choices=("keras", "tflite", "openvino"),
                       help="default: from the file's extension (a Keras file can run in all three)")
    bench.add_argument("--mode", help="keras: predict, call or function; openvino: sync or async")
    bench.add_argument("--batch-size", type=_positive_int, default=1,
                       help="batch size (multi-stream: samples per query; offline: batch)")
    bench.add_argument("--threads", type=_positive_int, help="inference threads")
    bench.add_argument("--scenario", choices=("single-stream", "multi-stream", "server", "offline"),
                       help="an MLPerf-like load scenario (default: a plain benchmark)")
    bench.add_argument("--duration", type=_positive_seconds,
                       help="seconds of timed runs (default 1)")
    bench.add_argument("--iterations", type=_positive_int,
                       help="timed runs (plain benchmark only)")
    bench.add_argument("--warmup", type=_positive_int, default=10, help="warm-up runs (default 10)")
    bench.add_argument("--hint", choices=("latency", "throughput"), help="OpenVINO performance hint")
    bench.add_argument("--streams", type=_positive_int, help="OpenVINO streams")
    bench.add_argument("--precision", choices=("f32", "bf16", "default"),
                       help="OpenVINO inference precision (default f32)")
    bench.add_argument("--latency-bound-ms", type=_positive_seconds, default=10.0,
                       help="server scenario: the p99 bound in ms (default 10)")
    bench.add_argument("--target-qps", type=_positive_seconds,
                       help="server scenario: queries per second (default: half the capacity)")
    bench.add_argument("--json", action="store_true", help="print JSON only")
    bench.set_defaults(func=_cmd_bench)


def _input_shape(text: str) -> tuple:
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 224,224,3, got {text!r}") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected sizes >= 1 like 224,224,3, got {text!r}")
    return shape


_PROFILE_FORMS = ("a saved model: a .keras or .h5 file, or a SavedModel folder; or "
                  "keras.applications.NAME, for example keras.applications.ResNet50 "
                  "(built with weights=None, nothing is downloaded)")


def _profile_model(spec: str, input_shape):
    """The model SPEC names: a saved model, or a Keras application without weights."""
    from pathlib import Path

    from .errors import InvalidArgumentError, ModelError

    prefix = next((p for p in ("tf.keras.applications.", "keras.applications.")
                   if spec.startswith(p)), None)
    if prefix is None:
        path = Path(spec)
        if not path.exists():
            if path.suffix in (".keras", ".h5") or "/" in spec or "\\" in spec:
                raise ModelError(f"no model at '{spec}': the path does not exist")
            raise InvalidArgumentError(f"unknown SPEC {spec!r}; expected {_PROFILE_FORMS}")
        if input_shape:
            raise InvalidArgumentError("--input-shape applies to keras.applications.NAME only; "
                                       "a saved model keeps the input shape it was built with")
        from .saving import load_model

        return load_model(path, compile=False)
    name = spec[len(prefix):]
    import tf_keras

    builder = getattr(tf_keras.applications, name, None)
    if not name or not name[0].isupper() or not callable(builder):
        known = sorted(n for n in dir(tf_keras.applications)
                       if n[:1].isupper() and callable(getattr(tf_keras.applications, n)))
        raise InvalidArgumentError(f"unknown application {name!r} in SPEC {spec!r}; "
                                   f"known: {', '.join(known)}")
    kwargs = {"weights": None}
    if input_shape:
        kwargs["input_shape"] = tuple(input_shape)
    try:
        return builder(**kwargs)
    except (ValueError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidArgumentError(f"{name} cannot be built with input shape "
                                   f"{input_shape}: {first}") from None


def _cmd_profile(args) -> int:
    from .profiler import profile

    model = _profile_model(args.spec, args.input_shape)
    result = profile(model, batch_size=args.batch_size)
    payload = {"spec": args.spec, **result.to_dict()}
    top = sorted((r for r in result.layers if r.flops), key=lambda r: -r.flops)[:10]
    lines = [
        f"model        {result.name} ({args.spec}), batch {result.batch_size}",
        f"parameters   {result.total_params:,} ({result.trainable_params:,} trainable, "
        f"{result.non_trainable_params:,} not)",
        f"MACs         {result.macs:,} ({result.macs / 1e9:.4g} G)",
        f"FLOPs        {result.flops:,} ({result.flops / 1e9:.4g} G)",
        f"weights      {result.weights_bytes:,} bytes",
        f"activations  {result.peak_activation_bytes:,} bytes at the peak",
        *(f"warning      {w}" for w in result.warnings),
        f"costliest layers (all {len(result.layers)} with --json):",
        *(f"  {r.name:<32} {r.type:<20} {r.flops / 1e9:9.4f} G FLOPs {r.params:>12,} params"
          for r in top),
    ]
    _emit(args, payload, lines)
    return 0


def _add_profile(commands) -> None:
    prof = commands.add_parser("profile", help="count a model's parameters, MACs, FLOPs "
                               "and memory, per layer")
    prof.add_argument("spec", metavar="SPEC", help=_PROFILE_FORMS)
    prof.add_argument("--batch-size", type=_positive_int, default=1,
                      help="count for this many samples (default 1)")
    prof.add_argument("--input-shape", type=_input_shape, metavar="H,W,C",
                      help="input shape of a keras.applications model, where it allows one")
    prof.add_argument("--json", action="store_true", help="print JSON only")
    prof.set_defaults(func=_cmd_profile)


_QUANTIZE_MODES = ("dynamic", "float16", "int8", "int16x8", "qat")


def _cmd_quantize(args) -> int:
    import tempfile
    from pathlib import Path

    from . import config
    from ._io import ensure_writable_dir
    from .data import DATASETS, load_dataset
    from .errors import InvalidArgumentError, ModelError
    from .ptq import IO_TYPES

    model_path, out = Path(args.model), Path(args.out)
    if not model_path.exists():  # cheap checks before TensorFlow loads
        raise ModelError(f"no model at '{model_path}': the path does not exist")
    if model_path.suffix not in (".keras", ".h5") and not (model_path / "saved_model.pb").exists():
        raise ModelError(f"'{model_path}' is not a Keras model; expected a .keras or .h5 file "
                         "or a SavedModel folder (train one with `artspeed train`)")
    if out.suffix != ".tflite":
        raise InvalidArgumentError(f"--out must name a .tflite file, got '{out}'")
    if args.io is not None and args.io not in IO_TYPES.get(args.mode, ("float32",)):
        allowed = IO_TYPES.get(args.mode, ("float32",))
        raise InvalidArgumentError(f"--io {args.io} is not available with --mode {args.mode}; "
                                   f"choose {', '.join(allowed)}")
    if args.epochs is not None and args.mode != "qat":
        raise InvalidArgumentError("--epochs applies to --mode qat only (fine-tuning epochs)")
    name = args.dataset or config.default_dataset()
    if name not in DATASETS:
        load_dataset(name)  # raises the unknown-dataset error
    ensure_writable_dir(out.parent)

    from .evaluation import accuracy, agreement
    from .ptq import convert_to_tflite
    from .saving import load_model
    from .training import check_model_fits

    fast = config.fast_mode()
    dataset = load_dataset(name, limit_train=args.limit_train or (2000 if fast else None))
    model = load_model(model_path, compile=False)
    check_model_fits(model, dataset, "artspeed quantize")
    with tempfile.TemporaryDirectory() as folder:
        reference = convert_to_tflite(model, "float32", path=Path(folder) / "float32.tflite")
        float_predictor = reference.predictor(name="float32")
        float_accuracy = accuracy(float_predictor, dataset)
        extra = {}
        if args.mode == "qat":
            from .qat import quantization_aware_training

            epochs = args.epochs or 1
            run = quantization_aware_training(model, dataset, epochs=epochs, input_type=args.io,
                                              output_type=args.io, path=out,
                                              progress=not args.json)
            result = run.quantized
            extra = {"epochs": epochs, "qat_keras_accuracy": run.qat_accuracy}
        else:
            needs_data = args.mode in ("int8", "int16x8")
            result = convert_to_tflite(model, args.mode, dataset if needs_data else None,
                                       calibration_samples=args.calibration_samples,
                                       input_type=args.io, output_type=args.io, path=out)
        predictor = result.predictor()
        payload = {
            "mode": args.mode, "size_bytes": result.size_bytes,
            "float_size_bytes": reference.size_bytes,
            "accuracy": accuracy(predictor, dataset), "float_accuracy": float_accuracy,
            "agreement": agreement(predictor, float_predictor, dataset),
            "input_dtype": result.input_dtype, "output_dtype": result.output_dtype,
            "size_ratio": result.size_bytes / reference.size_bytes,
            "input_quantization": [result.input_scale, result.input_zero_point],
            "output_quantization": [result.output_scale, result.output_zero_point],
            "float_ops": list(result.float_ops), "op_kinds": result.op_kinds,
            "calibration_samples": result.calibration_samples,
            "dataset": dataset.name, "test_samples": len(dataset.x_test),
            "model": str(model_path), "path": str(out), **extra,
        }
    drop = 100 * (payload["float_accuracy"] - payload["accuracy"])
    _emit(args, payload, [
        f"mode         {args.mode} ({result.input_dtype} in, {result.output_dtype} out)",
        f"size         {result.size_bytes:,} bytes, {payload['size_ratio']:.2f}x the float "
        f"TFLite file ({reference.size_bytes:,} bytes)",
        f"accuracy     {payload['accuracy']:.2%} (float {float_accuracy:.2%}, "
        f"{drop:+.2f} points lost) on {len(dataset.x_test)} {dataset.name} test images",
        f"agreement    {payload['agreement']:.2%} top-1 with the float model",
        f"in float     {', '.join(result.float_ops) or 'no ops'}",
        f"saved        {out}",
    ])
    return 0


def _add_quantize(commands) -> None:
    quant = commands.add_parser("quantize", help="quantize a Keras model to TFLite "
                                "(post-training or quantization-aware training)")
    quant.add_argument("model", metavar="MODEL", help="a saved Keras model (.keras, .h5, "
                       "or a SavedModel folder), e.g. from `artspeed train`")
    quant.add_argument("--mode", required=True, choices=_QUANTIZE_MODES,
                       help="dynamic range, float16, full-integer int8, int16x8 "
                       "(int16 activations), or qat (fine-tune with tfmot, then int8)")
    quant.add_argument("--dataset", help="calibration and test data (default: "
                       "$ARTSPEED_DATASET or fashion_mnist)")
    quant.add_argument("--calibration-samples", type=_positive_int, default=100,
                       help="representative images for int8 and int16x8 (default 100)")
    quant.add_argument("--epochs", type=_positive_int, help="qat: fine-tuning epochs (default 1)")
    quant.add_argument("--io", choices=("float32", "int8", "uint8", "int16"),
                       help="the model's input and output type (default float32; int8 and "
                       "qat: int8 or uint8; int16x8: int16)")
    quant.add_argument("--limit-train", type=_positive_int,
                       help="use the first N training images only (2000 with ARTSPEED_FAST=1)")
    quant.add_argument("--out", required=True, help="where to write the .tflite file")
    quant.add_argument("--json", action="store_true", help="print JSON only")
    quant.set_defaults(func=_cmd_quantize)


def _fraction(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.8, got {text!r}") from None


def _check_keras_in_out(model_path, out, what: str = "MODEL") -> None:
    """Cheap checks, before TensorFlow loads: the input model exists, the output is .keras."""
    from ._io import ensure_writable_dir
    from .errors import InvalidArgumentError, ModelError

    if not model_path.exists():
        raise ModelError(f"no model at '{model_path}': the path does not exist")
    if model_path.suffix not in (".keras", ".h5") and not (model_path / "saved_model.pb").exists():
        raise ModelError(f"{what} '{model_path}' is not a Keras model; expected a .keras or .h5 "
                         "file or a SavedModel folder (train one with `artspeed train`)")
    if out.suffix not in (".keras", ".h5"):
        raise InvalidArgumentError(f"--out must name a .keras (or .h5) file, got '{out}'")
    ensure_writable_dir(out.parent)


def _dataset_for(args):
    from . import config
    from .data import DATASETS, load_dataset

    name = args.dataset or config.default_dataset()
    if name not in DATASETS:
        load_dataset(name)  # raises the unknown-dataset error before TensorFlow loads
    return name


def _cmd_prune(args) -> int:
    from pathlib import Path

    from . import config
    from .errors import InvalidArgumentError
    from .pruning import check_m_by_n, check_sparsity

    model_path, out = Path(args.model), Path(args.out)
    sparsity = check_sparsity(args.sparsity if args.sparsity is not None else 0.0)
    m_by_n = check_m_by_n(args.m_by_n) if args.m_by_n is not None else None
    if args.channels is not None and not 0 <= args.channels < 1:
        raise InvalidArgumentError(f"--channels must be a fraction in [0, 1), got "
                                   f"{args.channels:g}; 0.5 removes half the filters")
    if m_by_n is not None and args.sparsity is not None:
        raise InvalidArgumentError("give --sparsity or --m-by-n, not both: an N:M pattern "
                                   "sets the sparsity to m / n")
    if args.sparsity is None and m_by_n is None and args.channels is None:
        raise InvalidArgumentError("say what to prune: --sparsity S (unstructured), "
                                   "--m-by-n 2,4 (N:M) and/or --channels FRACTION (filters)")
    _check_keras_in_out(model_path, out)
    name = _dataset_for(args)

    from .channel_pruning import channel_pruning
    from .data import load_dataset
    from .evaluation import accuracy, model_size
    from .profiler import profile
    from .pruning import magnitude_pruning, sparsity_report
    from .saving import load_model, save_model
    from .training import check_model_fits

    fast = config.fast_mode()
    epochs = args.epochs or (1 if fast else 2)
    dataset = load_dataset(name, limit_train=args.limit_train or (2000 if fast else None))
    model = load_model(model_path, compile=False)
    check_model_fits(model, dataset, "artspeed prune")
    baseline_accuracy = accuracy(model, dataset)
    baseline_size, baseline_profile = model_size(model), profile(model)
    pruned, filters, report = model, None, None
    if args.channels is not None:
        run = channel_pruning(model, dataset, args.channels, norm=args.norm, epochs=epochs,
                              progress=not args.json, baseline_accuracy=baseline_accuracy)
        pruned, filters = run.model, run.filters
    if sparsity > 0 or m_by_n is not None:
        run = magnitude_pruning(pruned, dataset, sparsity, schedule=args.schedule,
                                m_by_n=m_by_n, skip=args.skip or (), epochs=epochs,
                                progress=not args.json, baseline_accuracy=baseline_accuracy)
        pruned, report = run.model, run.report
    if report is None:
        report = sparsity_report(pruned)
    path = save_model(pruned, out, include_optimizer=False)
    size, counts = model_size(path), profile(pruned)
    payload = {
        "target_sparsity": report.target_sparsity if report.layers else 0.0,
        "achieved_sparsity": report.achieved_sparsity,
        "layers": [{"name": r.name, "target_sparsity": r.target_sparsity,
                    "achieved_sparsity": r.achieved_sparsity} for r in report.layers],
        "params": counts.total_params, "macs": counts.macs,
        "size_bytes": size.size_bytes, "gzip_bytes": size.gzip_bytes,
        "accuracy": accuracy(pruned, dataset), "baseline_accuracy": baseline_accuracy,
        "baseline_params": baseline_profile.total_params, "baseline_macs": baseline_profile.macs,
        "baseline_size_bytes": baseline_size.size_bytes,
        "baseline_gzip_bytes": baseline_size.gzip_bytes,
        "schedule": args.schedule, "m_by_n": list(m_by_n) if m_by_n else None,
        "channels": args.channels, "filters": filters, "epochs": epochs,
        "dataset": dataset.name, "model": str(model_path), "path": str(path),
    }
    drop = 100 * (baseline_accuracy - payload["accuracy"])
    _emit(args, payload, [
        f"sparsity     {report.achieved_sparsity:.1%} of the pruned kernels are zero "
        f"(target {payload['target_sparsity']:.1%})",
        *(f"  {r.name:<16} target {r.target_sparsity:6.1%}  achieved {r.achieved_sparsity:6.1%}"
          for r in report.layers),
        f"parameters   {baseline_profile.total_params:,} -> {counts.total_params:,}; "
        f"MACs {baseline_profile.macs:,} -> {counts.macs:,}",
        f"size         {baseline_size.size_bytes:,} -> {size.size_bytes:,} bytes; gzipped "
        f"{baseline_size.gzip_bytes:,} -> {size.gzip_bytes:,} "
        f"({baseline_size.gzip_bytes / size.gzip_bytes:.2f}x smaller)",
        f"accuracy     {payload['accuracy']:.2%} (baseline {baseline_accuracy:.2%}, "
        f"{drop:+.2f} points lost) after {epochs} fine-tuning epoch(s)",
        f"saved        {path}",
    ])
    return 0


def _add_prune(commands) -> None:
    prune = commands.add_parser("prune", help="prune a Keras model: unstructured (magnitude), "
                                "N:M, or whole channels, then fine-tune")
    prune.add_argument("model", metavar="MODEL", help="a saved Keras model (.keras, .h5, or a "
                       "SavedModel folder), e.g. from `artspeed train`")
    prune.add_argument("--sparsity", type=_fraction, help="fraction of weights to zero in each "
                       "pruned kernel, in [0, 1) (magnitude pruning)")
    prune.add_argument("--schedule", choices=("constant", "polynomial"), default="constant",
                       help="tfmot ConstantSparsity or PolynomialDecay (default constant)")
    prune.add_argument("--m-by-n", metavar="M,N", help="N:M structured sparsity, e.g. 2,4: "
                       "m zeros in every n consecutive weights")
    prune.add_argument("--channels", type=_fraction, metavar="FRACTION", help="remove this "
                       "fraction of the filters of each Conv/Dense but the classifier")
    prune.add_argument("--norm", choices=("l1", "l2"), default="l1",
                       help="rank filters by this norm (default l1)")
    prune.add_argument("--skip", nargs="*", metavar="LAYER",
                       help="layers to leave dense in magnitude pruning")
    prune.add_argument("--dataset", help="fine-tuning and test data (default: "
                       "$ARTSPEED_DATASET or fashion_mnist)")
    prune.add_argument("--epochs", type=_positive_int,
                       help="fine-tuning epochs (default 2; 1 with ARTSPEED_FAST=1)")
    prune.add_argument("--limit-train", type=_positive_int,
                       help="use the first N training images only (2000 with ARTSPEED_FAST=1)")
    prune.add_argument("--out", required=True, help="where to save the pruned .keras model")
    prune.add_argument("--json", action="store_true", help="print JSON only")
    prune.set_defaults(func=_cmd_prune)


def _cmd_distill(args) -> int:
    from pathlib import Path

    from . import config
    from .errors import InvalidArgumentError

    teacher_path, out = Path(args.teacher), Path(args.out)
    if not args.temperature > 0:
        raise InvalidArgumentError(f"--temperature must be above 0, got {args.temperature:g}")
    if not 0 <= args.alpha <= 1:
        raise InvalidArgumentError(f"--alpha must be in [0, 1], got {args.alpha:g}")
    _check_keras_in_out(teacher_path, out, "TEACHER")
    name = _dataset_for(args)

    from .data import load_dataset
    from .distillation import distill
    from .evaluation import model_size
    from .models import baseline_cnn
    from .saving import load_model, save_model
    from .training import check_model_fits

    fast = config.fast_mode()
    epochs = args.epochs or (1 if fast else 3)
    dataset = load_dataset(name, limit_train=args.limit_train or (2000 if fast else None))
    teacher = load_model(teacher_path, compile=False)
    check_model_fits(teacher, dataset, "artspeed distill")
    student = baseline_cnn(dataset.input_shape, dataset.num_classes, width=args.student_width,
                           seed=args.seed, name="student")
    run = distill(teacher, student, dataset, epochs=epochs, temperature=args.temperature,
                  alpha=args.alpha, seed=args.seed, compare=args.compare,
                  progress=not args.json)
    path = save_model(run.student, out, include_optimizer=False)
    size = model_size(path)
    payload = {
        "student_accuracy": run.student_accuracy, "teacher_accuracy": run.teacher_accuracy,
        "alone_accuracy": run.alone_accuracy, "student_params": run.student_params,
        "teacher_params": run.teacher_params, "student_width": args.student_width,
        "temperature": run.temperature, "alpha": run.alpha, "epochs": epochs,
        "size_bytes": size.size_bytes, "gzip_bytes": size.gzip_bytes,
        "dataset": dataset.name, "teacher": str(teacher_path), "path": str(path),
    }
    alone = ("" if run.alone_accuracy is None else
             f"; alone {run.alone_accuracy:.2%} ({run.gain_points:+.2f} points from the teacher)")
    _emit(args, payload, [
        f"teacher      {run.teacher_params:,} parameters, accuracy {run.teacher_accuracy:.2%}",
        f"student      baseline_cnn width={args.student_width}, {run.student_params:,} "
        f"parameters ({run.teacher_params / run.student_params:.1f}x fewer)",
        f"distilled    {epochs} epoch(s) at T={run.temperature:g}, alpha={run.alpha:g}: "
        f"accuracy {run.student_accuracy:.2%}{alone}",
        f"saved        {path} ({size.size_bytes:,} bytes)",
    ])
    return 0


def _add_distill(commands) -> None:
    dist = commands.add_parser("distill", help="train a small student from a saved teacher "
                               "(knowledge distillation)")
    dist.add_argument("teacher", metavar="TEACHER", help="a saved Keras classifier with a "
                      "'logits' layer or a final Softmax, e.g. from `artspeed train`")
    dist.add_argument("--student-width", type=_positive_int, default=8,
                      help="the student's first conv filters (baseline_cnn width; default 8)")
    dist.add_argument("--temperature", type=float, default=4.0, help="softening T (default 4)")
    dist.add_argument("--alpha", type=float, default=0.1,
                      help="weight of the label loss in [0, 1] (default 0.1)")
    dist.add_argument("--compare", action="store_true",
                      help="also train the same student alone on the same budget")
    dist.add_argument("--dataset", help="training and test data (default: "
                      "$ARTSPEED_DATASET or fashion_mnist)")
    dist.add_argument("--epochs", type=_positive_int,
                      help="epochs (default 3; 1 with ARTSPEED_FAST=1)")
    dist.add_argument("--limit-train", type=_positive_int,
                      help="use the first N training images only (2000 with ARTSPEED_FAST=1)")
    dist.add_argument("--seed", type=int, default=0)
    dist.add_argument("--out", required=True, help="where to save the student .keras model")
    dist.add_argument("--json", action="store_true", help="print JSON only")
    dist.set_defaults(func=_cmd_distill)


def _cmd_tour(args) -> int:
    from pathlib import Path

    from ._io import ensure_writable_dir
    from .data import DATASETS, load_dataset
    from .errors import ModelError

    ensure_writable_dir(args.out)  # fail before any work starts
    if args.dataset and args.dataset not in DATASETS:
        load_dataset(args.dataset)  # the one-line unknown-dataset error, before TensorFlow
    if args.model is not None and not Path(args.model).exists():
        raise ModelError(f"no model at '{args.model}': the path does not exist")
    from .tour import run_tour

    variants = [v.strip() for v in args.variants.split(",")] if args.variants else None
    result = run_tour(args.model, args.dataset, quick=args.quick, out=args.out,
                      progress=not args.json, variants=variants)
    report = Path(result.out) / "report.html"
    _emit(args, {**result.to_dict(), "report": str(report),
                 "results": str(Path(result.out) / "results.json")}, [
        result.table(), "",
        f"pick for latency: {result.picks['latency']}, for throughput: "
        f"{result.picks['throughput']}, for size: {result.picks['size']}",
        f"tour took {result.seconds / 60:.1f} min",
        f"report:  {report}",
        f"results: {Path(result.out) / 'results.json'}",
    ])
    return 0


def _add_tour(commands) -> None:
    tour = commands.add_parser("tour", help="the whole pipeline: every variant, measured, "
                               "with a report")
    tour.add_argument("model", nargs="?", metavar="MODEL",
                      help="a saved Keras classifier of the dataset (default: train the baseline)")
    tour.add_argument("--dataset", help="default: $ARTSPEED_DATASET or fashion_mnist")
    tour.add_argument("--quick", action="store_true",
                      help="fewer epochs and shorter measurements, same steps (minutes)")
    tour.add_argument("--out", default="runs/tour",
                      help="folder for report.html, results.json and the variants "
                           "(default runs/tour); run again to resume")
    tour.add_argument("--variants", help="a comma-separated subset of the variants")
    tour.add_argument("--json", action="store_true", help="print JSON only")
    tour.set_defaults(func=_cmd_tour)


def _cmd_deploy(args) -> int:
    from pathlib import Path

    from . import config
    from ._io import ensure_writable_dir
    from .data import DATASETS, load_dataset
    from .errors import ModelError

    model_path = Path(args.model)
    if not model_path.exists():  # cheap checks before TensorFlow or OpenVINO load
        raise ModelError(f"no model at '{model_path}': the path does not exist")
    if not (model_path.suffix in (".keras", ".h5", ".tflite")
            or (model_path / "saved_model.pb").exists()):
        raise ModelError(f"'{model_path}' is not a model artspeed can deploy; expected a .keras "
                         "or .h5 file, a SavedModel folder or a .tflite file")
    name = args.dataset or config.default_dataset()
    if name not in DATASETS:
        load_dataset(name)  # raises the unknown-dataset error
    ensure_writable_dir(Path(args.out))

    from .deployment import deploy

    fast = config.fast_mode()
    dataset = load_dataset(name, limit_train=args.limit_train or (2000 if fast else None))
    result = deploy(model_path, args.out, args.precision, dataset,
                    calibration_samples=args.calibration_samples, progress=not args.json)
    payload = result.to_dict()
    payload["model"] = str(model_path)
    drop = (100 * (result.reference_accuracy - result.accuracy)
            if result.accuracy is not None else float("nan"))
    _emit(args, payload, [
        f"precision    {result.precision} IR, validated with the f32 inference precision hint",
        f"saved        {result.xml} (+ .bin, {result.bin_bytes:,} bytes of weights)",
        f"accuracy     {result.accuracy:.2%} (source model {result.reference_accuracy:.2%}, "
        f"{drop:+.2f} points lost) on {result.validation_samples} {dataset.name} test images",
        f"outputs      max |diff| {result.max_abs_diff:.2e} against the source model, "
        f"top-1 agreement {result.top1_agreement:.2%}",
        *([f"calibration  {result.calibration_samples} {dataset.name} training images "
           "(nncf.quantize)"] if result.precision == "int8" else []),
        f"benchmark    artspeed bench {result.xml}",
    ])
    return 0


def _add_deploy(commands) -> None:
    dep = commands.add_parser("deploy", help="convert a model to an OpenVINO IR (fp32, fp16 "
                              "or NNCF int8) and validate it")
    dep.add_argument("model", metavar="MODEL", help="a saved Keras model (.keras, .h5), a "
                     "SavedModel folder or a .tflite file")
    dep.add_argument("--precision", required=True, choices=("fp32", "fp16", "int8"),
                     help="the IR's weights: fp32, fp16 (compressed) or int8 (nncf.quantize)")
    dep.add_argument("--dataset", help="calibration and test data (default: "
                     "$ARTSPEED_DATASET or fashion_mnist)")
    dep.add_argument("--calibration-samples", type=_positive_int, default=300,
                     help="int8: calibration images (default 300)")
    dep.add_argument("--limit-train", type=_positive_int,
                     help="use the first N training images only (2000 with ARTSPEED_FAST=1)")
    dep.add_argument("--out", required=True, help="the folder for the .xml and .bin")
    dep.add_argument("--json", action="store_true", help="print JSON only")
    dep.set_defaults(func=_cmd_deploy)


# Each chapter's subcommand: an _add_<name>(commands) that registers its parser and
# sets func=_cmd_<name>. Append new ones here, in chapter order.
_SUBCOMMANDS = [_add_train, _add_profile, _add_bench, _add_quantize, _add_prune, _add_distill, _add_tour,
                _add_deploy]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="artspeed", description="The art of speed: measure and "
                     "optimize deep-learning inference on the CPU.")
    parser.add_argument("--version", action="version", version=f"artspeed {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in _SUBCOMMANDS:
        add(commands)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ logs quiet
    parser = build_parser()
    if argv is None:
        argv = sys.argv[1:]
    if not argv:
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ArtspeedError as exc:
        print(f"artspeed {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"artspeed {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: still one line unless debugging
        if os.environ.get("ARTSPEED_DEBUG"):
            traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"artspeed {args.command}: internal error: {type(exc).__name__}: {first} "
              "(set ARTSPEED_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
