"""Latency against throughput over the batch size: ``artspeed.benchmark`` at each batch size.

The model is the speed lessons' vehicle (``artspeed.vehicle`` at width 1.4, see
``_models.py``), run three ways: Keras through a ``tf.function`` (a framework
with a fixed cost per call), a float32 ``.tflite`` file in the TFLite
interpreter, and OpenVINO IR in OpenVINO's default inference precision for this
CPU (bf16 where the CPU has it, else f32; the figure says which). Each batch
size is timed for a fixed duration after a warm-up, the runtimes in turn at
each batch size (as ``artspeed.batch_sweep`` would one runtime, but
interleaved, so that a burst of load hits them alike). In fast mode the vehicle
keeps its random initial weights: speed does not depend on them.

Run alone: ``python slides/figures/fig_batch.py [OUT_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from _models import (
    VEHICLE_ALPHA,
    save,
    settings,
    vehicle,
    vehicle_dataset,
    vehicle_ir,
    vehicle_tflite,
)

import artspeed

WARMUP = 2   # untimed runs per batch size (Keras traces a new graph for each)


def _summary(sweep) -> dict:
    first = sweep.results[0]
    best = max(sweep.results, key=lambda r: r.throughput_per_s)
    return {"b1_p50_ms": first.latency_ms["p50"], "b1_throughput": first.throughput_per_s,
            "best_batch": best.batch_size, "best_throughput": best.throughput_per_s,
            "best_p50_ms": best.latency_ms["p50"],
            "throughput_gain": best.throughput_per_s / first.throughput_per_s,
            "latency_growth": best.latency_ms["p50"] / first.latency_ms["p50"]}


def make(out_dir: Path) -> dict:
    """Draw ``batch_sweep.png`` into ``out_dir``; return the numbers the slides quote."""
    import matplotlib.pyplot as plt

    duration_s = settings()["duration_s"]
    sizes = tuple(2**k for k in range(settings()["max_batch"].bit_length()))   # 1, 2, 4, ...
    model, weights = vehicle(VEHICLE_ALPHA)
    openvino = artspeed.load_predictor(vehicle_ir(VEHICLE_ALPHA, "f32", out_dir), precision=None,
                                       name="openvino")
    predictors = {
        "keras": artspeed.KerasPredictor(model, mode="function", name="keras"),
        "tflite": vehicle_tflite(VEHICLE_ALPHA, out_dir).predictor(name="tflite"),
        "openvino": openvino,
    }
    results = {key: [] for key in predictors}
    for batch_size in sizes:   # interleaved, so a burst of load hits every runtime alike
        for key, predictor in predictors.items():
            results[key].append(artspeed.benchmark(predictor, batch_size, duration_s=duration_s,
                                                   warmup=WARMUP, warn=False))
    sweeps = {key: artspeed.Sweep("batch_size", sizes, tuple(r))
              for key, r in results.items()}
    precision = openvino.describe().get("compiled_precision", "default")
    for predictor in predictors.values():
        predictor.close()
    labels = {"keras": "Keras, tf.function", "tflite": "TFLite float32",
              "openvino": f"OpenVINO, {precision} (its default here)"}

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9))
    for key, sweep in sweeps.items():
        sweep.plot(ax=axes[0], label=labels[key])
        axes[1].plot(sizes, [r.throughput_per_s for r in sweep.results], marker="o",
                     label=labels[key])
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=8, loc="best")
    trained = "untrained, fast mode" if artspeed.fast_mode() else "trained"
    axes[0].set_title(f"The vehicle (alpha {VEHICLE_ALPHA:g}; {trained}): "
                      "each point is one batch size", fontsize=10)
    axes[1].set(xscale="log", xlabel="batch size", ylabel="throughput (samples/s)")
    axes[1].set_xticks(sizes, [str(b) for b in sizes])
    axes[1].set_title("Throughput over batch size", fontsize=10)
    axes[1].grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="best")
    save(fig, out_dir, "batch_sweep")

    summaries = {key: _summary(sweep) for key, sweep in sweeps.items()}
    fastest = min(summaries, key=lambda k: summaries[k]["b1_p50_ms"])
    most = max(summaries, key=lambda k: summaries[k]["throughput_gain"])
    shape = vehicle_dataset().input_shape
    return {"batch": {
        "alpha": VEHICLE_ALPHA, "weights": weights,
        "macs_m": artspeed.profile(model).macs / 1e6,
        "image": f"{shape[0]} × {shape[1]} × {shape[2]}",
        "openvino_precision": precision,
        "sizes": ", ".join(map(str, sizes)), "max_batch": sizes[-1],
        "duration_s": duration_s,
        "fastest_b1": labels[fastest], "most_gain": labels[most],
        **{f"{key}_{name}": value for key, summary in summaries.items()
           for name, value in summary.items()}}}


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "slides/build/figures")))
