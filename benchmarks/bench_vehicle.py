"""Issue 15's targets on the vehicle, each measured in one run and printed as a ratio.

Run: ``python benchmarks/bench_vehicle.py`` (the quick tour; ``--full`` for the full one).

1. The tour of the vehicle (a MobileNetV2 with fused first stages, for the built-in 96x96 ``scenes``),
   trained here, every variant measured in interleaved rounds: the fastest
   variant within 1 point of the baseline's accuracy against TFLite float32
   (target 2.5x) and against Keras through tf.function (target 8x); the quick
   tour's wall-clock time (target under 10 minutes).
2. OpenVINO on the tour's INT8 IR: the throughput hint with async inference
   against one synchronous request (target 1.5x the throughput), interleaved
   with one request on one thread, whose throughput times the streams is the
   most async can reach: on few cores that ceiling, not async, is the limit.
3. ``bench_roofs.py``: ResNet50 INT8 at batch 1 against the measured int8 roof
   (target 30%), and ``bench_sparse.py --model <the vehicle>``: 80% sparse
   through XNNPACK against dense (target 1.3x, or why not). Both run as
   their own processes; their target lines are repeated at the end.

The environment is printed first; every figure is a median of this run's rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import artspeed  # noqa: E402

HERE = Path(__file__).resolve().parent


def async_against_sync(ir_path: str, rounds: int, duration_s: float) -> tuple[dict, dict]:
    """Median throughputs of the IR at batch 1, in interleaved rounds: one synchronous request
    (latency hint, all cores), the throughput hint with async requests, and one synchronous
    request on one thread (what each async stream can do at most); and their settings."""
    predictors = {
        "sync": artspeed.compile_model(ir_path, hint="latency", mode="sync",
                                       inference_precision=None),
        "async": artspeed.compile_model(ir_path, hint="throughput", mode="async",
                                        inference_precision=None),
        "one thread": artspeed.compile_model(ir_path, hint="latency", mode="sync", threads=1,
                                             inference_precision=None)}
    runs = {name: [] for name in predictors}
    for _ in range(rounds):
        for name, predictor in predictors.items():
            result = artspeed.benchmark(predictor, 1, duration_s=duration_s, warn=False)
            runs[name].append(result.throughput_per_s)
    settings = {name: predictor.describe() for name, predictor in predictors.items()}
    for predictor in predictors.values():
        predictor.close()
    return {name: statistics.median(rates) for name, rates in runs.items()}, settings


def target_lines(script: str, *extra: str) -> list[str]:
    """Run a sibling benchmark script; echo its output, return its target lines."""
    print(f"\n== {script} {' '.join(extra)}", flush=True)
    done = subprocess.run([sys.executable, str(HERE / script), *extra], text=True,
                          capture_output=True, check=False)
    print(done.stdout[-4000:])
    if done.returncode != 0:
        return [f"{script} failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}"]
    lines = done.stdout.splitlines()
    return [line.strip() for i, line in enumerate(lines)
            if "target" in line.lower() or (i and "target" in lines[i - 1].lower()
                                            and line.startswith("  "))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full tour instead of --quick")
    parser.add_argument("--out", help="the tour's folder (default: a temporary one); one that "
                        "holds a tour is resumed, so its figures are reused, not measured again")
    parser.add_argument("--rounds", type=int, default=5, help="async/sync rounds")
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per async/sync run")
    parser.add_argument("--skip-others", action="store_true",
                        help="do not run bench_roofs.py and bench_sparse.py")
    args = parser.parse_args()
    print(artspeed.environment())
    print(f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"(other programs on the cores make every figure noisier)")
    out = Path(args.out or tempfile.mkdtemp(prefix="artspeed-vehicle-"))
    resumed = (out / "state.json").exists()   # a tour there already: its steps are reused

    tour = artspeed.run_tour(quick=not args.full, out=out, progress=False)
    print(tour.table())
    targets = tour.targets
    pick = tour.picks["latency"]
    vs_tflite = targets["fastest_within_1pt_speedup_vs_tflite_float32"]
    vs_function = targets["fastest_within_1pt_speedup_vs_function"]
    lines = [
        f"[{'met' if vs_tflite >= 2.5 else 'MISSED'}] fastest within 1 point ({pick}, "
        f"{tour[pick].p50_ms:.3f} ms) against TFLite float32 "
        f"({tour['tflite-float32'].p50_ms:.3f} ms): {vs_tflite:.2f}x (target 2.5x)",
        f"[{'met' if vs_function >= 8 else 'MISSED'}] the same against Keras tf.function "
        f"({tour['keras'].p50_ms:.3f} ms): {vs_function:.2f}x (target 8x); against "
        f"model.predict {targets.get('fastest_within_1pt_speedup_vs_predict', float('nan')):.1f}x",
    ]
    if resumed:
        lines.append(f"[not measured] the quick tour's time: {out} held a tour, which was "
                     "resumed (run without --out, or with a new folder, to time one)")
    elif tour.baseline_origin == "reused" and not args.full:
        lines.append(f"[not measured] the quick tour took {tour.seconds / 60:.1f} min"
                     f"{tour.time_note}; a fresh clone's `make demo` trains it too (move "
                     "runs/baseline/scenes.keras away to time that)")
    elif not args.full:
        lines.append(f"[{'met' if tour.seconds < 600 else 'MISSED'}] the quick tour took "
                     f"{tour.seconds / 60:.1f} min{tour.time_note} (target under 10)")

    int8 = next((v for v in tour.variants if v.name == "openvino-int8"), None)
    if int8 is None:
        lines.append(f"[MISSED] no openvino-int8 variant: {tour.skipped.get('openvino-int8')}")
    else:
        rates, settings = async_against_sync(int8.path, args.rounds, args.duration)
        sync, async_, single = rates["sync"], rates["async"], rates["one thread"]
        streams = settings["async"].get("compiled_streams") or 1
        ratio, ceiling = async_ / sync, streams * single / sync
        print(f"\nOpenVINO INT8 throughput at batch 1, medians of {args.rounds} interleaved "
              f"rounds of {args.duration:g} s: sync {sync:,.0f}/s, throughput hint + async "
              f"{async_:,.0f}/s ({streams} streams, "
              f"{settings['async'].get('compiled_requests')} requests), one request on one "
              f"thread {single:,.0f}/s")
        line = (f"[{'met' if ratio >= 1.5 else 'MISSED'}] OpenVINO throughput hint with "
                f"async against sync: {ratio:.2f}x the throughput (target 1.5x)")
        if ratio < 1.5:
            line += (f"; why: {streams} streams can finish at most {streams} x one thread's "
                     f"{single:,.0f}/s = {ceiling:.2f}x sync here, because one synchronous "
                     f"request on all cores already runs at {sync / (streams * single):.0%} of "
                     f"{streams} one-thread requests; async reached {ratio / ceiling:.0%} of "
                     "that ceiling")
        lines.append(line)

    if not args.skip_others:
        lines += target_lines("bench_roofs.py")
        lines += target_lines("bench_sparse.py", "--model", str(out / "baseline.keras"))
    print(f"\n== targets (this run; tour in {out})")
    for line in lines:
        print(f"  {line}")


if __name__ == "__main__":
    main()
