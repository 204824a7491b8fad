"""Model complexity: the Dense example's parameters and VGG16's parameters and FLOPs.

Exact computations, no training: ``artspeed.profile`` on the lecture's Dense
example, and on VGG16 built with ``weights=None`` (nothing is downloaded), set
beside the model-profiler package's table by ``artspeed.compare_model_profiler``.

Run alone: ``python slides/figures/fig_complexity.py [OUT_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from _models import save

import artspeed

LECTURE_BATCH = 128   # the lecture's model-profiler table is for a batch of 128
MP_FLOPS_UNIT = 1e11  # model_profiler's 'BFLOPs' (artspeed/measure/model_profiler_compat.py, point 1)


def dense_numbers() -> dict:
    model = artspeed.dense_example()
    p = artspeed.profile(model)
    rows = ["| layer | output shape | parameters | trainable |", "| --- | --- | ---: | --- |"]
    for r in p.layers:
        if r.type == "InputLayer":
            continue
        shape = "(None, " + ", ".join(str(d) for d in r.output_shape[1:]) + ")"
        rows.append(f"| {r.name} (Dense) | {shape} | {r.params:,} | "
                    f"{'yes' if r.trainable_params else 'no (frozen)'} |")
    return {"total_params": p.total_params, "trainable_params": p.trainable_params,
            "non_trainable_params": p.non_trainable_params, "macs": p.macs, "flops": p.flops,
            "layers": len([r for r in p.layers if r.type == "Dense"]),
            "summary_table": "\n".join(rows)}


def vgg16_numbers(out_dir: Path) -> dict:
    import matplotlib.pyplot as plt
    import tf_keras as keras

    model = keras.applications.VGG16(weights=None)
    p = artspeed.profile(model)
    batch = artspeed.profile(model, batch_size=LECTURE_BATCH)
    c = artspeed.compare_model_profiler(model, batch_size=LECTURE_BATCH)
    types = p.by_type()
    conv, dense = types.get("Conv2D", {}), types.get("Dense", {})

    rows = [r for r in p.layers if r.params or r.flops]
    fig, ax = plt.subplots(figsize=(10, 3.4))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [(r.flops or 0) / 1e9 for r in rows], 0.4,
           color="tab:blue", label="G FLOPs")
    twin = ax.twinx()
    twin.bar([x + 0.2 for x in xs], [r.params / 1e6 for r in rows], 0.4,
             color="tab:orange", label="M parameters")
    ax.set_xticks(list(xs), [r.name for r in rows], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("G FLOPs per image", color="tab:blue")
    twin.set_ylabel("M parameters", color="tab:orange")
    ax.set_title("VGG16 per layer (artspeed.profile): the convolutions hold the FLOPs, "
                 "the dense layers the parameters", fontsize=10)
    save(fig, out_dir, "vgg16_layers")

    bflops = c.values["No. of FLOPs"][0]
    return {
        "total_params": p.total_params, "params_m": p.total_params / 1e6,
        "weights_bytes": p.weights_bytes, "weights_mib": p.weights_bytes / 2**20,
        "weights_mb": p.weights_bytes / 1e6,
        "macs_g": p.macs / 1e9, "flops_g": p.flops / 1e9,
        "linear_flops_g": 2 * p.macs / 1e9,
        "conv_flops_share": conv.get("flops", 0) / p.flops,
        "dense_params_share": dense.get("params", 0) / p.total_params,
        "batch": LECTURE_BATCH, "batch_flops_t": batch.flops / 1e12,
        "mp_params_m": c.values["Model Parameters"][0],
        "mp_weights_mb": c.values["Memory Required by Model Weights"][0],
        "mp_bflops": bflops, "mp_bflops_as_gflops": bflops * MP_FLOPS_UNIT / 1e9,
        "mp_to_gflops": MP_FLOPS_UNIT / 1e9,
        "mp_memory_gb": c.values["GPU Memory Requirement"][0],
        "inference_memory_gib": (p.weights_bytes + batch.peak_activation_bytes) / 2**30,
    }


def make(out_dir: Path) -> dict:
    """Draw ``vgg16_layers.png`` into ``out_dir``; return the numbers the slides quote."""
    return {"dense": dense_numbers(), "vgg16": vgg16_numbers(out_dir)}


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "slides/build/figures")))
