"""A Pareto frontier from real measurements: the vehicle at several widths, OpenVINO f32 and int8.

The vehicle (see ``_models.py``) at each width multiplier ``alpha`` in ``settings()["alphas"]``
is converted to OpenVINO IR with f32 weights, and quantized to INT8 by NNCF
(calibrated on training images). ``artspeed.measure_variants`` scores each
variant's test accuracy and size and times its batch-1 latency in interleaved
rounds; ``artspeed.pareto_front`` and ``plot_pareto`` pick the frontier, with
latencies closer than the run's noise (the median spread of the variants'
rounds) counted as a tie. OpenVINO builds each variant in seconds, where a
TFLite conversion of the vehicle takes tens of seconds, which keeps the build
short. In fast mode two widths keep their random initial weights, so every
variant scores about chance: the frontier then ranks speed alone, and the
slide says so.

Run alone: ``python slides/figures/fig_pareto.py [OUT_DIR]``.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from _models import save, settings, vehicle, vehicle_dataset, vehicle_ir

import artspeed

PRECISIONS = {"f32": "f32", "int8": None}   # IR -> the inference precision it runs in


def make(out_dir: Path) -> dict:
    """Draw ``pareto.png`` into ``out_dir``; return the numbers the slides quote."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    s, ds = settings(), vehicle_dataset()
    alphas = s["alphas"]
    names = {f"α{alpha:g} {ir}": (alpha, ir) for alpha in alphas for ir in PRECISIONS}
    table = artspeed.measure_variants(
        {name: vehicle_ir(alpha, ir, out_dir) for name, (alpha, ir) in names.items()}, ds,
        rounds=s["rounds"], duration_s=s["duration_s"],
        options={name: {"precision": PRECISIONS[ir]} for name, (_, ir) in names.items()})
    points = [{"name": v.name, "latency_ms": v.latency_ms, "accuracy": 100 * v.accuracy,
               "size_bytes": v.size_bytes} for v in table.variants]
    noise = statistics.median(v.latency_stats_ms.get("p50_spread", 0.0) / v.latency_ms
                              for v in table.variants)      # as a fraction of the p50
    ties = {"latency_ms": noise} if noise > 0 else None
    front = artspeed.pareto_front(points, ("latency_ms", "accuracy"), relative_ties=ties)
    _, weights = vehicle(max(alphas))
    chance = 100 / ds.num_classes
    at_chance = max(p["accuracy"] for p in points) < chance + 5

    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    artspeed.plot_pareto(points, x="latency_ms", y="accuracy", ax=ax, xscale="log", relative_ties=ties,
                         title="The vehicle at widths "
                               f"{', '.join(f'{a:g}' for a in alphas)}, OpenVINO f32 and "
                               f"int8{' (untrained: fast mode)' if artspeed.fast_mode() else ''}"
                               "\nbatch-1 p50 latency against test accuracy")
    ax.set(xlabel="p50 latency at batch 1, ms (log scale; lower is better)",
           ylabel="test accuracy, % (higher is better)")
    # plain numbers (2, not 2 x 10^0); between the decades, only 2 and 5 x 10^k
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(
        lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "25" else ""))
    save(fig, out_dir, "pareto")
    best = max(points, key=lambda p: p["accuracy"])
    fastest = min(points, key=lambda p: p["latency_ms"])
    widest = f"α{max(alphas):g}"
    return {"pareto": {
        "variants": len(points), "front": len(front), "dominated": len(points) - len(front),
        "alphas": ", ".join(f"{a:g}" for a in alphas), "alpha_count": len(alphas),
        "front_names": ", ".join(points[i]["name"] for i in sorted(
            front, key=lambda i: points[i]["latency_ms"])),
        "noise": noise,
        "best_name": best["name"], "best_accuracy": best["accuracy"],
        "best_latency_ms": best["latency_ms"],
        "fastest_name": fastest["name"], "fastest_accuracy": fastest["accuracy"],
        "fastest_latency_ms": fastest["latency_ms"],
        "int8_size_ratio": table.times_smaller(f"{widest} int8")
        / table.times_smaller(f"{widest} f32"),
        "weights": weights,
        "note": "" if not at_chance else (
            f"Every variant scores about chance ({chance:.0f}%): " + (
                "fast mode leaves the weights untrained, so this frontier ranks speed alone."
                if artspeed.fast_mode() else "the vehicles did not learn; retrain them before "
                "reading this frontier.")),
        "rounds": s["rounds"], "duration_s": s["duration_s"],
        "test_images": len(ds.x_test), "calibration_images": s["calibration"],
    }}


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "slides/build/figures")))
