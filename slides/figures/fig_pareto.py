"""A Pareto frontier from real measurements: width variants of the baseline, float32 and int8.

Each width of the baseline CNN (see ``_models.py``) is converted to TFLite in
float32 and in int8 (calibrated on training images); ``artspeed.compare_variants``
scores each variant's test accuracy and size and times its batch-1 latency in
interleaved rounds; ``artspeed.pareto_front`` and ``plot_pareto`` pick the frontier.

Run alone: ``python slides/figures/fig_pareto.py [OUT_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from _models import WIDTHS, dataset, save, settings, tflite_variant, trained

import artspeed

MODES = ("float32", "int8")


def make(out_dir: Path) -> dict:
    """Draw ``pareto.png`` into ``out_dir``; return the numbers the slides quote."""
    import matplotlib.pyplot as plt

    variants = {f"w{w} {mode}": tflite_variant(w, mode, out_dir)
                for w in WIDTHS for mode in MODES}
    s = settings()
    table = artspeed.compare_variants(variants, dataset(), trained(max(WIDTHS))[0],
                                      rounds=s["rounds"], duration_s=s["duration_s"])
    points = [{"name": v.name, "latency_ms": v.latency_ms, "accuracy": v.accuracy,
               "size_bytes": v.size_bytes} for v in table.variants]
    front = artspeed.pareto_front(points, ("latency_ms", "accuracy"))
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    artspeed.plot_pareto(points, x="latency_ms", y="accuracy", ax=ax,
                         title="Baseline CNN widths, TFLite float32 and int8\n"
                               "batch-1 p50 latency against test accuracy")
    save(fig, out_dir, "pareto")
    best = max(points, key=lambda p: p["accuracy"])
    fastest = min(points, key=lambda p: p["latency_ms"])
    return {"pareto": {
        "variants": len(points), "front": len(front),
        "widths": ", ".join(str(w) for w in WIDTHS), "width_count": len(WIDTHS),
        "front_names": ", ".join(points[i]["name"] for i in sorted(
            front, key=lambda i: points[i]["latency_ms"])),
        "dominated": len(points) - len(front),
        "best_name": best["name"], "best_accuracy": best["accuracy"],
        "best_latency_ms": best["latency_ms"],
        "fastest_name": fastest["name"], "fastest_accuracy": fastest["accuracy"],
        "fastest_latency_ms": fastest["latency_ms"],
        "int8_size_ratio": table.times_smaller(f"w{max(WIDTHS)} float32")
        / table.times_smaller(f"w{max(WIDTHS)} int8"),
        "rounds": s["rounds"], "duration_s": s["duration_s"],
        "test_images": len(dataset().x_test), "train_images": len(dataset().x_train),
        "epochs": s["epochs"],
    }}


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "slides/build/figures")))
