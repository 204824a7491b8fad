"""Is the harness trustworthy? It prints figures and ratios; it asserts nothing.

1. For the same OpenVINO IR, hint and API, ``artspeed`` (``benchmark``) against
   OpenVINO's own ``benchmark_app`` (run as a subprocess, its report parsed):
   median latency and throughput, interleaved runs, medians of the repeats,
   and the ratios (target: within 5%).
2. The per-call overhead of the harness: a no-op predictor (target < 20 us),
   and the harness against a bare ``request.infer()`` loop on a tiny IR.

Run: .venv/bin/python benchmarks/bench_harness.py [--seconds 5] [--repeats 3]
(ARTSPEED_FAST=1 shortens it.)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import artspeed  # first: selects Keras 2 before TensorFlow loads

CONFIGS = [  # (label, benchmark_app hint, api, artspeed mode)
    ("latency / sync", "latency", "sync", "sync"),
    ("throughput / async", "throughput", "async", "async"),
]


def build_ir(folder: Path) -> Path:
    """A baseline CNN on 64x64x3 inputs, as a static batch-1 OpenVINO IR (f32)."""
    import openvino as ov
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    model = artspeed.baseline_cnn((64, 64, 3), width=32)
    ir = ov.convert_model(model)
    ir.reshape([1, 64, 64, 3])
    path = folder / "cnn64.xml"
    ov.save_model(ir, path, compress_to_fp16=False)
    return path


def benchmark_app(xml: Path, hint: str, api: str, seconds: float) -> dict:
    """Run OpenVINO's benchmark_app (artspeed.benchmark_app); its median latency and throughput."""
    try:
        return artspeed.benchmark_app(xml, hint=hint, api=api, seconds=seconds)
    except artspeed.ArtspeedError as exc:
        raise SystemExit(str(exc)) from None


def harness(xml: Path, hint: str, mode: str, seconds: float) -> dict:
    predictor = artspeed.load_predictor(xml, mode=mode, hint=hint)
    result = artspeed.benchmark(predictor, 1, duration_s=seconds, warmup=20, warn=False)
    info = predictor.describe()
    predictor.close()
    return {"p50_ms": result.latency_ms["p50"], "throughput_per_s": result.throughput_per_s,
            "streams": info.get("compiled_streams"), "requests": info.get("compiled_requests")}


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def compare_with_benchmark_app(seconds: float, repeats: int) -> None:
    print("== artspeed.benchmark against OpenVINO benchmark_app (same IR, hint, api, f32)")
    with tempfile.TemporaryDirectory() as folder:
        xml = build_ir(Path(folder))
        print(f"model: baseline_cnn((64, 64, 3), width=32), static batch 1; {seconds:g} s per "
              f"run, {repeats} interleaved repeats, medians")
        header = (f"{'config':<20} {'tool':<14} {'p50 ms':>8} {'samples/s':>10} "
                  f"{'streams':>7} {'requests':>8}")
        print(header)
        ratios = []
        for label, hint, api, mode in CONFIGS:
            ours, theirs = [], []
            for _ in range(repeats):
                theirs.append(benchmark_app(xml, hint, api, seconds))
                ours.append(harness(xml, hint, mode, seconds))
            for tool, runs in (("benchmark_app", theirs), ("artspeed", ours)):
                print(f"{label:<20} {tool:<14} {median_of(runs, 'p50_ms'):8.3f} "
                      f"{median_of(runs, 'throughput_per_s'):10.1f} "
                      f"{str(runs[-1]['streams']):>7} {str(runs[-1]['requests']):>8}")
            lat = median_of(ours, "p50_ms") / median_of(theirs, "p50_ms")
            thr = median_of(ours, "throughput_per_s") / median_of(theirs, "throughput_per_s")
            ratios.append((label, lat, thr))
        print("ratios artspeed / benchmark_app (1.00 = identical; target within 0.95-1.05):")
        for label, lat, thr in ratios:
            print(f"  {label:<20} median latency {lat:.3f}   throughput {thr:.3f}")
        print("  (benchmark_app prints latency with 2 decimals in ms: at ~0.3 ms that alone "
              "is up to +-2%)")


def overhead(iterations: int) -> None:
    import numpy as np
    import openvino as ov
    from openvino import opset13 as ops

    print("\n== per-call overhead of the harness")
    noop = artspeed.benchmark(artspeed.FunctionPredictor(None), iterations=iterations,
                              warn=False)
    per_call_us = noop.wall_s / noop.iterations * 1e6
    print(f"no-op predictor: p50 {noop.latency_ms['p50'] * 1000:.2f} us, mean "
          f"{noop.latency_ms['mean'] * 1000:.2f} us timed; {per_call_us:.2f} us per loop "
          f"iteration with the timer (target < 20 us): ratio to target {per_call_us / 20:.3f}")

    x = ops.parameter([1, 8], np.float32, name="x")
    tiny = ov.Model([ops.relu(x)], [x], "relu")
    predictor = artspeed.OpenVINOPredictor(tiny, hint="latency")
    predictor.prepare(predictor.sample_input(1))
    request = predictor._current[1]
    bare, ours = [], []
    chunk = max(iterations // 10, 100)
    for _ in range(5):  # interleaved, so both see the same machine
        start = time.perf_counter_ns()
        for _ in range(chunk):
            request.infer()
        bare.append((time.perf_counter_ns() - start) / chunk / 1000)
        result = artspeed.benchmark(predictor, iterations=chunk, warmup=10, warn=False)
        ours.append(result.wall_s / result.iterations * 1e6)
    bare_us, ours_us = statistics.median(bare), statistics.median(ours)
    print(f"tiny OpenVINO ReLU, medians of 5 interleaved runs of {chunk}: bare "
          f"request.infer() loop {bare_us:.2f} us/call, harness {ours_us:.2f} us/call: "
          f"overhead {ours_us - bare_us:.2f} us/call (target < 20 us), ratio {ours_us / bare_us:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    fast = artspeed.fast_mode()
    parser.add_argument("--seconds", type=int, default=2 if fast else 5)
    parser.add_argument("--repeats", type=int, default=1 if fast else 3)
    parser.add_argument("--iterations", type=int, default=20_000 if fast else 100_000)
    args = parser.parse_args()
    print(repr(artspeed.environment()))
    compare_with_benchmark_app(args.seconds, args.repeats)
    overhead(args.iterations)


if __name__ == "__main__":
    main()
