"""Is the harness trustworthy? It prints figures and ratios; it asserts nothing.

1. ``artspeed bench`` against OpenVINO's own ``benchmark_app``: both run as fresh
   processes on the same IR, with the same hint, API and precision (f32),
   in pairs run back to back; the median over the pairs of each pair's ratio of
   median latency and of throughput (target: within 5%). Two models: MobileNetV2 at 224x224
   (a deployment-sized model, milliseconds per inference) and a small CNN at
   64x64 (under a millisecond), where fixed per-call costs show.
2. Where a gap on the small model comes from: OpenVINO's own timer
   (``InferRequest.latency``, what benchmark_app reports) against the wall time
   of ``request.infer()`` seen from Python, in one loop.
3. The per-call overhead of the harness: a no-op predictor (target < 20 us),
   and the harness against a bare ``request.infer()`` loop on a tiny IR.

Run: .venv/bin/python benchmarks/bench_harness.py [--seconds 3] [--repeats 11]
(ARTSPEED_FAST=1 shortens it.)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import artspeed  # first: selects Keras 2 before TensorFlow loads
from artspeed.core.frameworks import import_openvino  # TensorFlow, then OpenVINO

CONFIGS = [  # (label, hint, benchmark_app api = artspeed mode)
    ("latency / sync", "latency", "sync"),
    ("throughput / async", "throughput", "async"),
]


def build_irs(folder: Path) -> dict:
    """Static batch-1 f32 IRs: {label: path}."""
    import tf_keras

    ov = import_openvino()
    irs = {}
    tf_keras.utils.set_random_seed(0)
    models = {
        "MobileNetV2 224x224": tf_keras.applications.MobileNetV2(weights=None,
                                                                 input_shape=(224, 224, 3)),
        "small CNN 64x64": artspeed.baseline_cnn((64, 64, 3), width=32),
    }
    for label, model in models.items():
        ir = ov.convert_model(model)
        ir.reshape([1, *model.input_shape[1:]])
        path = folder / f"{model.name}.xml"
        ov.save_model(ir, path, compress_to_fp16=False)
        irs[label] = path
    return irs


def benchmark_app(xml: Path, hint: str, api: str, seconds: float) -> dict:
    """OpenVINO's benchmark_app (through artspeed.benchmark_app): median latency, throughput."""
    try:
        return artspeed.benchmark_app(xml, hint=hint, api=api, seconds=seconds)
    except artspeed.ArtspeedError as exc:
        raise SystemExit(str(exc)) from None


def artspeed_bench(xml: Path, hint: str, mode: str, seconds: float) -> dict:
    """``artspeed bench XML --json`` in a fresh process, as a user runs it."""
    exe = shutil.which("artspeed", path=str(Path(sys.executable).parent)) or "artspeed"
    cmd = [exe, "bench", str(xml), "--runtime", "openvino", "--mode", mode, "--hint", hint,
           "--precision", "f32", "--duration", str(seconds), "--warmup", "20", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 4 + 120)
    if done.returncode:
        raise SystemExit(f"artspeed bench failed: {done.stderr.strip()[-300:]}")
    data = json.loads(done.stdout)
    return {"p50_ms": data["runtime_latency_ms"]["p50"], "wall_p50_ms": data["latency_ms"]["p50"],
            "throughput_per_s": data["throughput_per_s"],
            "streams": data["predictor"].get("compiled_streams"),
            "requests": data["predictor"].get("compiled_requests")}


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def compare_with_benchmark_app(irs: dict, seconds: float, repeats: int) -> None:
    print("== artspeed bench against OpenVINO benchmark_app (same IR, hint, api, f32; "
          "fresh processes)")
    print(f"{seconds:g} s per run, {repeats} pairs run back to back; a shared VM drifts by "
          "10% and more between runs, so each pair gives a ratio and the median ratio counts")
    print("p50 ms: OpenVINO's own timer, for both; wall p50: artspeed's default figure, the "
          "time of the call seen from Python")
    print(f"{'model':<20} {'config':<19} {'tool':<14} {'p50 ms':>8} {'wall p50':>8} "
          f"{'samples/s':>10} {'streams':>7} {'requests':>8}")
    ratios = []
    for model, xml in irs.items():
        for label, hint, api in CONFIGS:
            ours, theirs = [], []
            for _ in range(repeats):
                theirs.append(benchmark_app(xml, hint, api, seconds))
                ours.append(artspeed_bench(xml, hint, api, seconds))
            for tool, runs in (("benchmark_app", theirs), ("artspeed bench", ours)):
                wall = f"{median_of(runs, 'wall_p50_ms'):8.3f}" if "wall_p50_ms" in runs[0] \
                    else f"{'-':>8}"
                print(f"{model:<20} {label:<19} {tool:<14} {median_of(runs, 'p50_ms'):8.3f} "
                      f"{wall} {median_of(runs, 'throughput_per_s'):10.1f} "
                      f"{str(runs[-1]['streams']):>7} {str(runs[-1]['requests']):>8}")
            pairs = {key: sorted(o[key] / t["p50_ms" if key == "wall_p50_ms" else key]
                                 for o, t in zip(ours, theirs))
                     for key in ("p50_ms", "wall_p50_ms", "throughput_per_s")}
            ratios.append((model, label, pairs))
    print("ratios artspeed / benchmark_app, median of the pairs [lowest-highest pair] "
          "(1.00 = identical; target within 0.95-1.05):")
    for model, label, pairs in ratios:
        lat, wall, thr = pairs["p50_ms"], pairs["wall_p50_ms"], pairs["throughput_per_s"]
        print(f"  {model:<20} {label:<19} median latency {statistics.median(lat):.3f} "
              f"[{lat[0]:.2f}-{lat[-1]:.2f}]   throughput {statistics.median(thr):.3f} "
              f"[{thr[0]:.2f}-{thr[-1]:.2f}]   (wall p50 against benchmark_app's: "
              f"{statistics.median(wall):.3f})")
    print("  (benchmark_app prints latency in ms with 2 decimals: at 0.7 ms that alone is "
          "up to +-0.7%. The wall p50 adds the cost of calling OpenVINO from Python, "
          "measured in the next section.)")


def per_call_cost(xml: Path, seconds: float) -> None:
    """OpenVINO's own latency against the wall time of request.infer() from Python."""
    import numpy as np

    ov = import_openvino()
    core = ov.Core()
    compiled = core.compile_model(core.read_model(xml), "CPU", {
        "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    shape = list(compiled.input(0).shape)
    request.set_input_tensor(ov.Tensor(np.random.default_rng(0).random(shape, np.float32)))
    for _ in range(50):
        request.infer()
    wall, own = [], []
    end = time.perf_counter_ns() + int(seconds * 1e9)
    while (t0 := time.perf_counter_ns()) < end:
        request.infer()
        wall.append((time.perf_counter_ns() - t0) / 1e6)
        own.append(request.latency)
    w, o = statistics.median(wall), statistics.median(own)
    print(f"\n== the small model's fixed per-call cost ({len(wall)} sync inferences, one loop)")
    print(f"request.infer() seen from Python: p50 {w:.4f} ms; OpenVINO's own timer "
          f"(InferRequest.latency, what benchmark_app reports): p50 {o:.4f} ms; difference "
          f"{(w - o) * 1000:.1f} us per call, ratio {w / o:.3f}")


def overhead(iterations: int) -> None:
    import numpy as np

    ov = import_openvino()
    ops = ov.opset13

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
    parser.add_argument("--seconds", type=float, default=2 if fast else 3)
    parser.add_argument("--repeats", type=int, default=1 if fast else 11)
    parser.add_argument("--iterations", type=int, default=20_000 if fast else 100_000)
    args = parser.parse_args()
    print(repr(artspeed.environment()))
    with tempfile.TemporaryDirectory() as folder:
        irs = build_irs(Path(folder))
        compare_with_benchmark_app(irs, args.seconds, args.repeats)
        per_call_cost(irs["small CNN 64x64"], args.seconds)
    overhead(args.iterations)


if __name__ == "__main__":
    main()
