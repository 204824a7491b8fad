"""The model-making subcommands: ``train``, ``quantize``, ``prune``, ``distill``
and ``deploy``."""

from __future__ import annotations

from artspeed.cli._args import (
    _add_data_arguments,
    _add_out_arguments,
    _add_task_argument,
    _add_unsafe_argument,
    _dataset_choice,
    _emit,
    _fraction,
    _positive_float,
    _positive_int,
    _seed,
    _width,
)
from artspeed.compress.channels import NORMS
from artspeed.compress.pruning import SCHEDULES
from artspeed.compress.ptq import IO_TYPES, PTQ_MODES
from artspeed.compress.workflows import distill_student, prune_and_fine_tune, quantize_to_tflite
from artspeed.core.baseline import trained_baseline
from artspeed.deployment.pipeline import PRECISIONS, deploy


def _cmd_train(args) -> int:
    result = trained_baseline(_dataset_choice(args), width=args.width, epochs=args.epochs,
                              seed=args.seed, batch_size=args.batch_size, path=args.out,
                              retrain=True, progress=not args.json, quiet=True)
    dataset, history, path = result.dataset, result.history, result.path
    epochs, params = history.epochs, result.record["params"]
    payload = {
        "dataset": dataset.name, "source": dataset.source,
        "train_samples": len(dataset.x_train), "test_samples": len(dataset.x_test),
        "epochs": epochs, "width": args.width, "params": params,
        "epoch_seconds": list(history.epoch_seconds),
        "median_epoch_s": history.median_epoch_s,
        "test_accuracy": result.test_accuracy, "model_path": str(path),
        "size_bytes": path.stat().st_size,
    }
    _emit(args, payload, [
        f"dataset      {dataset.name} ({len(dataset.x_train)} train / "
        f"{len(dataset.x_test)} test, from {dataset.source})",
        f"model        baseline_cnn width={args.width}, {params:,} parameters",
        f"training     {epochs} epochs, median {history.median_epoch_s:.1f} s/epoch",
        f"test acc.    {result.test_accuracy:.2%}",
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
    result = quantize_to_tflite(args.model, args.out, args.mode, _dataset_choice(args),
                                calibration_samples=args.calibration_samples, io_type=args.io,
                                epochs=args.epochs, progress=not args.json,
                                safe_mode=not args.unsafe, task=args.task)
    m = result.measure
    drop = m.drop(result.float_score, result.score)
    unit = f" {m.drop_unit}" if m.drop_unit else ""
    alike = ("" if result.agreement is None else
             f"{result.agreement:.2%} {'pixels' if result.metric == 'mean_iou' else 'top-1'} "
             "with the float model")
    _emit(args, result.to_dict(), [
        f"mode         {result.mode} ({result.input_dtype} in, {result.output_dtype} out)",
        f"size         {result.size_bytes:,} bytes, {result.times_smaller:.2f}x smaller than the "
        f"float TFLite file ({result.float_size_bytes:,} bytes)",
        f"{m.name:<12} {m.format(result.score)} (float {m.format(result.float_score)}, "
        f"{drop:+.2f}{unit} lost) on {result.test_samples} {result.dataset} test images",
        *([f"agreement    {alike}"] if alike else []),
        f"in float     {', '.join(result.float_ops) or 'no ops'}",
        f"saved        {result.path}",
    ])
    return 0


def _add_quantize(commands) -> None:
    quant = commands.add_parser("quantize", help="quantize a Keras model to TFLite "
                                "(post-training or quantization-aware training)")
    quant.add_argument("model", metavar="MODEL", help="a saved Keras model (.keras, .h5, "
                       "or a SavedModel folder), e.g. from `artspeed train`")
    quant.add_argument("--mode", required=True, choices=_QUANTIZE_MODES,
                       help="dynamic range, float16, full-integer int8, int16x8 "
                       "(int16 activations), sparse (float32, a pruned model's zeros stored "
                       "sparse for XNNPACK), or qat (fine-tune with tfmot, then int8)")
    quant.add_argument("--calibration-samples", type=_positive_int, default=100,
                       help="representative images for int8 and int16x8 (default 100)")
    quant.add_argument("--io", choices=_IO,
                       help="the model's input and output type (default float32; int8 and "
                       "qat: int8 or uint8; int16x8: int16)")
    _add_data_arguments(quant, "calibration, fine-tuning and test data",
                        "qat: fine-tuning epochs (default 1)")
    _add_task_argument(quant)
    _add_out_arguments(quant, "where to write the .tflite file")
    _add_unsafe_argument(quant)
    quant.set_defaults(func=_cmd_quantize)


def _cmd_prune(args) -> int:
    r = prune_and_fine_tune(args.model, args.out, _dataset_choice(args), sparsity=args.sparsity,
                            m_by_n=args.m_by_n, channels=args.channels, schedule=args.schedule,
                            norm=args.norm, skip=args.skip or (), epochs=args.epochs,
                            progress=not args.json, safe_mode=not args.unsafe, task=args.task)
    _emit(args, r.to_dict(), [
        f"sparsity     {r.achieved_sparsity:.1%} of the pruned kernels are zero "
        f"(target {r.target_sparsity:.1%})",
        *(f"  {row['name']:<16} target {row['target_sparsity']:6.1%}  "
          f"achieved {row['achieved_sparsity']:6.1%}" for row in r.layers),
        f"parameters   {r.baseline_params:,} -> {r.params:,}; MACs {r.baseline_macs:,} -> "
        f"{r.macs:,}",
        f"size         {r.baseline_size_bytes:,} -> {r.size_bytes:,} bytes; gzipped "
        f"{r.baseline_gzip_bytes:,} -> {r.gzip_bytes:,} "
        f"({r.times_smaller:.2f}x smaller)",
        f"{r.measure.name:<12} {r._score_text(name=False)} after {r.epochs} fine-tuning "
        "epoch(s)",
        f"saved        {r.path}",
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
    _add_task_argument(prune)
    _add_out_arguments(prune, "where to save the pruned .keras model")
    _add_unsafe_argument(prune)
    prune.set_defaults(func=_cmd_prune)


def _cmd_distill(args) -> int:
    r = distill_student(args.teacher, args.out, _dataset_choice(args),
                        student_width=args.student_width, temperature=args.temperature,
                        alpha=args.alpha, compare=args.compare, epochs=args.epochs,
                        seed=args.seed, progress=not args.json, safe_mode=not args.unsafe)
    alone = ("" if r.alone_accuracy is None else
             f"; alone {r.alone_accuracy:.2%} ({r.gain_points:+.2f} points from the teacher)")
    _emit(args, r.to_dict(), [
        f"teacher      {r.teacher_params:,} parameters, accuracy {r.teacher_accuracy:.2%}",
        f"student      baseline_cnn width={r.student_width}, {r.student_params:,} "
        f"parameters ({r.teacher_params / r.student_params:.1f}x fewer)",
        f"distilled    {r.epochs} epoch(s) at T={r.temperature:g}, alpha={r.alpha:g}: "
        f"accuracy {r.student_accuracy:.2%}{alone}",
        f"saved        {r.path} ({r.size_bytes:,} bytes)",
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
    result = deploy(args.model, args.out, args.precision, _dataset_choice(args),
                    calibration_samples=args.calibration_samples, progress=not args.json,
                    safe_mode=not args.unsafe, task=args.task)
    payload = result.to_dict()
    payload["model"] = args.model
    m = result.measure
    drop = m.drop(result.reference_score, result.score)
    unit = f" {m.drop_unit}" if m.drop_unit else ""
    alike = ("" if result.top1_agreement is None else
             f", {'pixel' if result.metric == 'mean_iou' else 'top-1'} agreement "
             f"{result.top1_agreement:.2%}")
    _emit(args, payload, [
        f"precision    {result.precision} IR, validated with the f32 inference precision hint",
        f"saved        {result.xml} (+ .bin, {result.bin_bytes:,} bytes of weights)",
        f"{m.name:<12} {m.format(result.score)} (source model "
        f"{m.format(result.reference_score)}, {drop:+.2f}{unit} lost) on "
        f"{result.validation_samples} {result.dataset} test images",
        f"outputs      max |diff| {result.max_abs_diff:.2e} against the source model{alike}",
        *([f"calibration  {result.calibration_samples} {result.dataset} training images "
           "(nncf.quantize)"] if result.precision == "int8" else []),
        f"benchmark    artspeed bench {result.xml}",
    ])
    return 0


def _add_deploy(commands) -> None:
    dep = commands.add_parser("deploy", help="convert a model to an OpenVINO IR (f32, f16 "
                              "or NNCF int8) and validate it")
    dep.add_argument("model", metavar="MODEL", help="a saved Keras model (.keras, .h5), a "
                     "SavedModel folder or a .tflite file")
    dep.add_argument("--precision", required=True, metavar="PRECISION",
                     help=f"the IR's weights: {', '.join(PRECISIONS)} (int8: nncf.quantize)")
    dep.add_argument("--calibration-samples", type=_positive_int, default=300,
                     help="int8: calibration images (default 300)")
    _add_data_arguments(dep, "calibration and test data")
    _add_task_argument(dep)
    _add_out_arguments(dep, "the folder for the .xml and .bin")
    _add_unsafe_argument(dep)
    dep.set_defaults(func=_cmd_deploy)
