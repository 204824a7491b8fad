"""Latency against throughput over the batch size, measured with ``artspeed.batch_sweep``.

The model is the width-32 baseline CNN (see ``_models.py``), run two ways:
Keras through a ``tf.function`` (a framework with a fixed cost per call) and a
float32 ``.tflite`` file in the TFLite interpreter (a lean runtime). Each batch
size is timed for a fixed duration after a warm-up.

Run alone: ``python slides/figures/fig_batch.py [OUT_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from _models import save, settings, tflite_variant, trained

import artspeed

WIDTH = 32
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


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
    model, _ = trained(WIDTH)
    runtimes = {
        "keras": ("Keras, tf.function",
                  artspeed.KerasPredictor(model, mode="function", name="keras")),
        "tflite": ("TFLite float32",
                   tflite_variant(WIDTH, "float32", out_dir).predictor(name="tflite")),
    }
    sweeps = {key: artspeed.batch_sweep(predictor, BATCH_SIZES, duration_s=duration_s,
                                        warn=False)
              for key, (_, predictor) in runtimes.items()}
    for _, predictor in runtimes.values():
        predictor.close()

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9))
    for key, sweep in sweeps.items():
        sweep.plot(ax=axes[0], label=runtimes[key][0])
        axes[1].plot(BATCH_SIZES, [r.throughput_per_s for r in sweep.results], marker="o",
                     label=runtimes[key][0])
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=8, loc="upper left")
    axes[0].set_title(f"Baseline CNN (width {WIDTH}): each point is one batch size",
                      fontsize=10)
    axes[1].set(xscale="log", xlabel="batch size", ylabel="throughput (samples/s)")
    axes[1].set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
    axes[1].set_title("Throughput over batch size", fontsize=10)
    axes[1].grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="lower right")
    save(fig, out_dir, "batch_sweep")
    return {"batch": {"width": WIDTH, "sizes": ", ".join(map(str, BATCH_SIZES)),
                      "max_batch": BATCH_SIZES[-1], "duration_s": duration_s,
                      **{f"{key}_{name}": value for key, sweep in sweeps.items()
                         for name, value in _summary(sweep).items()}}}


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "slides/build/figures")))
