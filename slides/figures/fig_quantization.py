"""Weight quantization on real weights: the mapping from a float range to int8, and the grid.

The weights are the dense layer's kernel of the width-32 baseline CNN, briefly
trained on ``shapes`` (see ``_models.py``). ``artspeed.calibrate`` picks the
scale and zero point (min-max, asymmetric), ``artspeed.quantize`` and
``artspeed.dequantize`` apply x_q = round(x/s) + z and x_hat = s(x_q - z).

Run alone: ``python slides/figures/fig_quantization.py [OUT_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from _models import save, trained

import artspeed

LAYER = "dense"
WIDTH = 32


def weights() -> np.ndarray:
    model, _ = trained(WIDTH)
    return model.get_layer(LAYER).get_weights()[0]


def _mapping_figure(x: np.ndarray, params, example: float, out_dir: Path) -> None:
    """Two number lines: the calibrated float range above, the int8 grid below."""
    import matplotlib.pyplot as plt

    lo, hi = float(params.range_min), float(params.range_max)
    q_min, q_max, z = params.q_min, params.q_max, int(params.zero_point)
    x_q = int(artspeed.quantize(np.array([example]), params)[0])
    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.set_xlim(-0.08, 1.08)
    ax.set_ylim(-0.35, 1.35)
    ax.axis("off")
    top, bottom = 1.0, 0.0

    def f(value):  # float value -> position on the top line
        return (value - lo) / (hi - lo)

    def g(q):  # integer -> position on the bottom line
        return (q - q_min) / (q_max - q_min)

    ax.hlines([top, bottom], 0, 1, color="black", lw=1.5)
    ax.text(-0.07, top, "float32", ha="right", va="center", fontsize=10)
    ax.text(-0.07, bottom, params.dtype_name, ha="right", va="center", fontsize=10)
    links = [(lo, q_min, f"min {lo:.3f}", str(q_min)), (0.0, z, "0.0", f"z = {z}"),
             (hi, q_max, f"max {hi:.3f}", str(q_max))]
    for value, q, top_label, bottom_label in links:
        ax.plot([f(value), g(q)], [top, bottom], color="tab:gray", lw=0.8, ls="--")
        ax.plot([f(value)], [top], "o", color="black", ms=4)
        ax.plot([g(q)], [bottom], "o", color="black", ms=4)
        ax.text(f(value), top + 0.12, top_label, ha="center", fontsize=9)
        ax.text(g(q), bottom - 0.25, bottom_label, ha="center", fontsize=9)
    ax.annotate("", xy=(g(x_q), bottom + 0.03), xytext=(f(example), top - 0.03),
                arrowprops={"arrowstyle": "->", "color": "tab:red", "lw": 1.6})
    ax.text(f(example), top + 0.12, f"x = {example:.4f}", ha="center", fontsize=9,
            color="tab:red")
    ax.text(g(x_q), bottom - 0.25, f"x_q = {x_q}", ha="center", fontsize=9, color="tab:red")
    ax.set_title(f"x_q = round(x / s) + z with s = {float(params.scale):.3g}, z = {z} "
                 f"(calibrated on {x.size:,} real weights)", fontsize=10)
    save(fig, out_dir, "quantization_mapping")


def make(out_dir: Path) -> dict:
    """Draw the mapping and grid figures into ``out_dir``; return the numbers quoted."""
    import matplotlib.pyplot as plt

    x = weights()
    p8 = artspeed.calibrate(x, bits=8)
    p4 = artspeed.calibrate(x, bits=4)
    # the example: the layer's largest weight that is not the maximum itself
    example = float(np.sort(x.ravel())[-len(x.ravel()) // 100])
    x_q = artspeed.quantize(np.array([example]), p8)
    x_hat = float(artspeed.dequantize(x_q, p8)[0])
    e8 = artspeed.error_metrics(x, artspeed.dequantize(artspeed.quantize(x, p8), p8))
    e4 = artspeed.error_metrics(x, artspeed.dequantize(artspeed.quantize(x, p4), p4))

    _mapping_figure(x, p8, example, out_dir)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    artspeed.plot_quantization_grid(x, p8, ax=axes[0])
    artspeed.plot_quantization_grid(x, p4, ax=axes[1])
    axes[0].set_title(f"int8: {p8.q_max - p8.q_min + 1} levels, SQNR {e8.sqnr_db:.1f} dB",
                      fontsize=10)
    axes[1].set_title(f"int4: {p4.q_max - p4.q_min + 1} levels, SQNR {e4.sqnr_db:.1f} dB",
                      fontsize=10)
    for ax in axes:
        ax.set_xlabel(f"weight value ({LAYER} layer, {x.size:,} weights)")
        ax.set_yscale("log")
    save(fig, out_dir, "quantization_grid")
    return {"quantization": {
        "layer": LAYER, "width": WIDTH, "weights": int(x.size),
        "min": float(p8.range_min), "max": float(p8.range_max),
        "scale": float(p8.scale), "zero_point": int(p8.zero_point),
        "q_min": p8.q_min, "q_max": p8.q_max, "levels": p8.q_max - p8.q_min + 1,
        "example": example, "example_q": int(x_q[0]), "example_hat": x_hat,
        "example_error": abs(example - x_hat), "half_step": float(p8.scale) / 2,
        "sqnr8_db": e8.sqnr_db, "sqnr4_db": e4.sqnr_db, "levels4": p4.q_max - p4.q_min + 1,
        "size_ratio": 32 // p8.bits,
    }}


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "slides/build/figures")))
