"""The model-making subcommands: ``train``, ``quantize``, ``prune``, ``distill``
and ``deploy``."""

from __future__ import annotations

from artspeed.cli._args import (
    _add_data_arguments,
    _add_out_arguments,
    _add_unsafe_argument,
    _check_model_and_out,
    _check_out,
    _dataset_for,
    _emit,
    _fraction,
    _load_data,
    _positive_float,
    _positive_int,
    _seed,
    _width,
)
from artspeed.compress.channels import NORMS, channel_pruning
from artspeed.compress.distillation import distill
from artspeed.compress.pruning import (
    SCHEDULES,
    check_m_by_n,
    check_sparsity,
    magnitude_pruning,
    sparsity_report,
)
from artspeed.compress.ptq import IO_TYPES, PTQ_MODES, convert_to_tflite
from artspeed.compress.qat import quantization_aware_training
from artspeed.core._io import check_writable_dir
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.core.models import baseline_cnn
from artspeed.core.saving import load_model, save_model
from artspeed.core.training import check_model_fits, train
from artspeed.deployment.pipeline import PRECISIONS, deploy
from artspeed.measure.evaluation import accuracy, agreement, model_size
from artspeed.measure.profiler import profile


def _cmd_train(args) -> int:
    from pathlib import Path

    name = _dataset_for(args)
    _check_out(Path(args.out))  # fail before any work starts

    dataset, epochs = _load_data(args, name, epochs=5)
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
    _add_data_arguments(train, "training and test data",
                        "epochs (default 5; 1 with ARTSPEED_FAST=1)")
    train.add_argument("--width", type=_width, default=32,
                       help="filters in the first conv layer (default 32)")
    train.add_argument("--batch-size", type=_positive_int, default=64)
    train.add_argument("--seed", type=_seed, default=0, help="0 to 2**32-1 (default 0)")
    _add_out_arguments(train, "where to save the model (default runs/baseline.keras)",
                       default="runs/baseline.keras")
    train.set_defaults(func=_cmd_train)


_QUANTIZE_MODES = (*(m for m in PTQ_MODES if m != "float32"), "qat")
_IO = tuple(dict.fromkeys(t for types in IO_TYPES.values() for t in types))


def _cmd_quantize(args) -> int:
    import tempfile
    from pathlib import Path

    model_path, out = Path(args.model), Path(args.out)
    _check_model_and_out(model_path, out, (".tflite",))
    if args.io is not None and args.io not in IO_TYPES.get(args.mode, ("float32",)):
        allowed = IO_TYPES.get(args.mode, ("float32",))
        raise InvalidArgumentError(f"--io {args.io} is not available with --mode {args.mode}; "
                                   f"choose {', '.join(allowed)}")
    if args.epochs is not None and args.mode != "qat":
        raise InvalidArgumentError("--epochs applies to --mode qat only (fine-tuning epochs)")
    name = _dataset_for(args)

    dataset, epochs = _load_data(args, name)
    model = load_model(model_path, compile=False, safe_mode=not args.unsafe)
    check_model_fits(model, dataset, "artspeed quantize")
    with tempfile.TemporaryDirectory() as folder:
        reference = convert_to_tflite(model, "float32", path=Path(folder) / "float32.tflite")
        float_predictor = reference.predictor(name="float32")
        float_accuracy = accuracy(float_predictor, dataset)
        extra = {}
        if args.mode == "qat":
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
    quant.add_argument("--calibration-samples", type=_positive_int, default=100,
                       help="representative images for int8 and int16x8 (default 100)")
    quant.add_argument("--io", choices=_IO,
                       help="the model's input and output type (default float32; int8 and "
                       "qat: int8 or uint8; int16x8: int16)")
    _add_data_arguments(quant, "calibration, fine-tuning and test data",
                        "qat: fine-tuning epochs (default 1)")
    _add_out_arguments(quant, "where to write the .tflite file")
    _add_unsafe_argument(quant)
    quant.set_defaults(func=_cmd_quantize)


def _cmd_prune(args) -> int:
    from pathlib import Path

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
    _check_model_and_out(model_path, out)
    name = _dataset_for(args)

    dataset, epochs = _load_data(args, name, epochs=2)
    model = load_model(model_path, compile=False, safe_mode=not args.unsafe)
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
    prune.add_argument("--schedule", choices=SCHEDULES, default="constant",
                       help="tfmot ConstantSparsity or PolynomialDecay (default constant)")
    prune.add_argument("--m-by-n", metavar="M,N", help="N:M structured sparsity, e.g. 2,4: "
                       "m zeros in every n consecutive weights")
    prune.add_argument("--channels", type=_fraction, metavar="FRACTION", help="remove this "
                       "fraction of the filters of each Conv/Dense but the classifier")
    prune.add_argument("--norm", choices=NORMS, default="l1",
                       help="rank filters by this norm (default l1)")
    prune.add_argument("--skip", nargs="*", metavar="LAYER",
                       help="layers to leave dense in magnitude pruning")
    _add_data_arguments(prune, "fine-tuning and test data",
                        "fine-tuning epochs (default 2; 1 with ARTSPEED_FAST=1)")
    _add_out_arguments(prune, "where to save the pruned .keras model")
    _add_unsafe_argument(prune)
    prune.set_defaults(func=_cmd_prune)


def _cmd_distill(args) -> int:
    from pathlib import Path

    teacher_path, out = Path(args.teacher), Path(args.out)
    if not 0 <= args.alpha <= 1:
        raise InvalidArgumentError(f"--alpha must be in [0, 1], got {args.alpha:g}")
    _check_model_and_out(teacher_path, out, what="TEACHER")
    name = _dataset_for(args)

    dataset, epochs = _load_data(args, name, epochs=3)
    teacher = load_model(teacher_path, compile=False, safe_mode=not args.unsafe)
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
    dist.add_argument("--student-width", type=_width, default=8,
                      help="the student's first conv filters (baseline_cnn width; default 8)")
    dist.add_argument("--temperature", type=_positive_float, default=4.0,
                      help="softening T, finite and above 0 (default 4)")
    dist.add_argument("--alpha", type=float, default=0.1,
                      help="weight of the label loss in [0, 1] (default 0.1)")
    dist.add_argument("--compare", action="store_true",
                      help="also train the same student alone on the same budget")
    _add_data_arguments(dist, "training and test data",
                        "epochs (default 3; 1 with ARTSPEED_FAST=1)")
    dist.add_argument("--seed", type=_seed, default=0, help="0 to 2**32-1 (default 0)")
    _add_out_arguments(dist, "where to save the student .keras model")
    _add_unsafe_argument(dist)
    dist.set_defaults(func=_cmd_distill)


def _cmd_deploy(args) -> int:
    from pathlib import Path

    model_path = Path(args.model)
    if not model_path.exists():  # cheap checks before TensorFlow or OpenVINO load
        raise ModelError(f"no model at '{model_path}': the path does not exist")
    if not (model_path.suffix in (".keras", ".h5", ".tflite")
            or (model_path / "saved_model.pb").exists()):
        raise ModelError(f"'{model_path}' is not a model artspeed can deploy; expected a .keras "
                         "or .h5 file, a SavedModel folder or a .tflite file")
    name = _dataset_for(args)
    check_writable_dir(Path(args.out))

    dataset, _ = _load_data(args, name)
    result = deploy(model_path, args.out, args.precision, dataset,
                    calibration_samples=args.calibration_samples, progress=not args.json,
                    safe_mode=not args.unsafe)
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
    dep.add_argument("--precision", required=True, choices=PRECISIONS,
                     help="the IR's weights: fp32, fp16 (compressed) or int8 (nncf.quantize)")
    dep.add_argument("--calibration-samples", type=_positive_int, default=300,
                     help="int8: calibration images (default 300)")
    _add_data_arguments(dep, "calibration and test data")
    _add_out_arguments(dep, "the folder for the .xml and .bin")
    _add_unsafe_argument(dep)
    dep.set_defaults(func=_cmd_deploy)
