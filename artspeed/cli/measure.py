"""The measuring subcommands: ``profile``, ``bench`` and ``tour``."""

from __future__ import annotations

from pathlib import Path

from artspeed.cli._args import (
    _add_data_arguments,
    _add_task_argument,
    _add_unsafe_argument,
    _dataset_choice,
    _emit,
    _input_shape,
    _positive_float,
    _positive_int,
    _threads,
)
from artspeed.core.config import DEFAULT_DATASET_HELP
from artspeed.core.saving import existing_model
from artspeed.core.tasks import METRICS
from artspeed.measure.scenarios import SCENARIOS
from artspeed.measure.workflows import SPEC_FORMS, bench_models, profile_spec
from artspeed.runtimes.factory import RUNTIMES
from artspeed.runtimes.openvino import HINTS, INFERENCE_PRECISIONS
from artspeed.tour.run import SPEED_DATASET, run_tour


def _cmd_bench(args) -> int:
    options = {key: getattr(args, key) for key in ("hint", "streams")
               if getattr(args, key) is not None}
    precision = None if args.precision == "default" else args.precision
    comparison = bench_models(args.models, args.runtime, scenario=args.scenario, mode=args.mode,
                              batch_size=args.batch_size, threads=args.threads,
                              duration_s=args.duration, iterations=args.iterations,
                              warmup=args.warmup, latency_bound_ms=args.latency_bound_ms,
                              target_qps=args.target_qps, safe_mode=not args.unsafe,
                              precision=precision,
                              dataset=_dataset_choice(args) if args.dataset else None,
                              task=args.task, **options)
    payloads = [run.to_dict() for run in comparison.runs]
    lines = [f"{'model':<28} {'runtime':<9} {'precision':<9} {'scenario':<14} {'batch':>5} "
             f"{'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'samples/s':>11} {'vs first':>8}"]
    for p in payloads:
        lat = p["latency_ms"]
        fmt = [f"{lat[k]:9.3f}" if lat[k] is not None else f"{'inf':>9}" for k in ("p50", "p90", "p99")]
        speed = p["speedup_p50_vs_first"]
        lines.append(f"{p['model'][-28:]:<28} {p['runtime']:<9} "
                     f"{p['inference_precision'] or '-':<9} {p['scenario']:<14} "
                     f"{p['batch_size']:>5} {' '.join(fmt)} {p['throughput_per_s']:>11,.0f} "
                     f"{(f'{speed:.2f}x' if speed else '-'):>8}")
        if p["score"] is not None:
            metric = METRICS[p["score"]["metric"]]
            lines.append(f"  {metric.name} {metric.format(p['score']['value'])} on "
                         f"{p['score']['samples']} test images")
        if p["scenario"] == "server":
            lines.append(f"  server at {p['target_qps']:.0f} QPS: p99 bound "
                         f"{p['latency_bound_ms']} ms {'met' if p['bound_met'] else 'MISSED'}")
    env = payloads[0]["env"]
    lines.append(f"on {env['cpu_model']}, {env['available_cores']} cores available")
    lines += comparison.notes
    _emit(args, payloads[0] if len(payloads) == 1 else payloads, lines)
    return 0


def _add_bench(commands) -> None:
    bench = commands.add_parser("bench", help="measure latency and throughput of models "
                                "(Keras, TFLite or OpenVINO)")
    bench.add_argument("models", nargs="+", metavar="MODEL",
                       help=".keras, .h5, SavedModel folder, .tflite or OpenVINO .xml")
    bench.add_argument("--runtime", choices=RUNTIMES,
                       help="default: from the file's extension (a Keras file can run in all three)")
    bench.add_argument("--mode", help="keras: predict, call or function; openvino: sync or async")
    bench.add_argument("--batch-size", type=_positive_int, default=1,
                       help="batch size (multi-stream: samples per query; offline: batch)")
    bench.add_argument("--threads", type=_threads, help="inference threads")
    bench.add_argument("--scenario", choices=SCENARIOS,
                       help="an MLPerf-like load scenario (default: a plain benchmark)")
    bench.add_argument("--duration", type=_positive_float,
                       help="seconds of timed runs (default 1)")
    bench.add_argument("--iterations", type=_positive_int,
                       help="timed runs (plain benchmark only)")
    bench.add_argument("--warmup", type=_positive_int, default=10, help="warm-up runs (default 10)")
    bench.add_argument("--hint", choices=HINTS, help="OpenVINO performance hint")
    bench.add_argument("--streams", type=_threads, help="OpenVINO streams")
    bench.add_argument("--precision", choices=(*INFERENCE_PRECISIONS, "default"),
                       help="OpenVINO inference precision (default: OpenVINO's own, as in "
                            "benchmark_app: bf16 on CPUs with AMX or AVX512_BF16, else f32)")
    bench.add_argument("--latency-bound-ms", type=_positive_float, default=10.0,
                       help="server scenario: the p99 bound in ms (default 10)")
    bench.add_argument("--target-qps", type=_positive_float,
                       help="server scenario: queries per second (default: half the capacity)")
    _add_data_arguments(bench, "also score each model on this dataset's test images, by its "
                        "task's metric")
    _add_task_argument(bench)
    _add_unsafe_argument(bench)
    bench.add_argument("--json", action="store_true", help="print JSON only")
    bench.set_defaults(func=_cmd_bench)


def _cmd_profile(args) -> int:
    result = profile_spec(args.spec, batch_size=args.batch_size, input_shape=args.input_shape,
                          safe_mode=not args.unsafe)
    payload = result.to_dict()
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
    prof.add_argument("spec", metavar="SPEC", help=SPEC_FORMS)
    prof.add_argument("--batch-size", type=_positive_int, default=1,
                      help="count for this many samples (default 1)")
    prof.add_argument("--input-shape", type=_input_shape, metavar="H,W,C",
                      help="input shape of a keras.applications model, where it allows one")
    _add_unsafe_argument(prof)
    prof.add_argument("--json", action="store_true", help="print JSON only")
    prof.set_defaults(func=_cmd_profile)


def _cmd_tour(args) -> int:
    # run_tour checks the variants, the dataset and --out; a missing model it finds only
    # after it made the output folder, so that one is checked here
    if args.model is not None:
        existing_model(args.model)
    variants = [v.strip() for v in args.variants.split(",")] if args.variants else None
    result = run_tour(args.model, args.dataset or None, quick=args.quick, out=args.out,
                      progress=not args.json, variants=variants, safe_mode=not args.unsafe,
                      task=args.task)
    report = Path(result.out) / "report.html"
    _emit(args, {**result.to_dict(), "report": str(report),
                 "results": str(Path(result.out) / "results.json")}, [
        result.table(), "",
        f"pick for latency: {result.picks['latency']}, for throughput: "
        f"{result.picks['throughput']} ({result.best_throughput(result.picks['throughput'])[0]}), "
        f"for size: {result.picks['size']}",
        f"tour took {result.seconds / 60:.1f} min{result.time_note}",
        f"report:  {report}",
        f"results: {Path(result.out) / 'results.json'}",
    ])
    return 0


def _add_tour(commands) -> None:
    tour = commands.add_parser("tour", help="the whole pipeline: every variant, measured, "
                               "with a report")
    tour.add_argument("model", nargs="?", metavar="MODEL",
                      help="a saved Keras model of the dataset: a classifier, a segmentation "
                           "or a regression model (default: train the vehicle, a MobileNetV2 "
                           "for 96x96 colour images; on shapes_seg, a UNet)")
    tour.add_argument("--dataset", help=f"default: {SPEED_DATASET} (built in) for the vehicle; "
                      "shapes_seg (built in) for segmentation with the UNet; "
                      f"for a model of yours, {DEFAULT_DATASET_HELP}")
    _add_task_argument(tour)
    tour.add_argument("--quick", action="store_true",
                      help="fewer epochs and shorter measurements, same steps (minutes)")
    tour.add_argument("--out", default="runs/tour",
                      help="folder for report.html, results.json and the variants "
                           "(default runs/tour); run again to resume")
    tour.add_argument("--variants", help="a comma-separated subset of the variants")
    _add_unsafe_argument(tour)
    tour.add_argument("--json", action="store_true", help="print JSON only")
    tour.set_defaults(func=_cmd_tour)
