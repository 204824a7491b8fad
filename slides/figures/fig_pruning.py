"""Magnitude pruning on a real layer: unstructured, 2:4 and channel masks at 50% sparsity.

The layer is the dense layer (``dense``) of the width-32 baseline CNN, briefly
trained on ``shapes`` (see ``_models.py``). Each mask is computed with NumPy
from the trained weights, then applied to a copy of the model, which is scored
on the test set without fine-tuning.

Run alone: ``python slides/figures/fig_pruning.py [OUT_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from _models import dataset, save, settings, trained

import artspeed

LAYER = "dense"
NEXT_LAYER = "logits"
WIDTH = 32
SPARSITY = 0.5
CROP = (24, 48)   # the corner of the kernel drawn: input rows x output units


def unstructured_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Keep the largest |w| in the whole layer."""
    k = int(round(sparsity * w.size))
    threshold = np.sort(np.abs(w).ravel())[k - 1] if k else -np.inf
    return np.abs(w) > threshold


def two_four_mask(w: np.ndarray) -> np.ndarray:
    """In every group of 4 consecutive inputs of each output unit, keep the 2 largest |w|."""
    rows, cols = w.shape
    groups = np.abs(w).T.reshape(cols, rows // 4, 4)
    order = np.argsort(groups, axis=-1)
    mask = np.ones_like(groups, dtype=bool)
    np.put_along_axis(mask, order[..., :2], False, axis=-1)
    return mask.reshape(cols, rows).T


def channel_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Drop whole output units: the ones whose weights have the smallest L2 norm."""
    norms = np.linalg.norm(w, axis=0)
    drop = np.argsort(norms)[: int(round(sparsity * w.shape[1]))]
    mask = np.ones_like(w, dtype=bool)
    mask[:, drop] = False
    return mask


def _accuracy_with(model, mask: np.ndarray, ds) -> float:
    import tf_keras as keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    layer = copy.get_layer(LAYER)
    kernel, bias = layer.get_weights()
    dropped_units = ~mask.any(axis=0)
    bias = np.where(dropped_units, 0.0, bias)   # a removed unit outputs nothing at all
    layer.set_weights([kernel * mask, bias])
    return artspeed.accuracy(copy, ds)


def make(out_dir: Path) -> dict:
    """Draw ``pruning_masks.png`` into ``out_dir``; return the numbers the slides quote."""
    import matplotlib.pyplot as plt

    model, _ = trained(WIDTH)
    ds = dataset()
    w = model.get_layer(LAYER).get_weights()[0]
    masks = {"unstructured": unstructured_mask(w, SPARSITY), "2:4": two_four_mask(w),
             "channel": channel_mask(w, SPARSITY)}
    energy = float(np.sum(w**2))
    numbers = {"layer": LAYER, "width": WIDTH, "shape": "x".join(map(str, w.shape)),
               "weights": int(w.size), "sparsity": SPARSITY,
               "dense_accuracy": artspeed.accuracy(model, ds)}
    for name, mask in masks.items():
        key = name.replace(":", "_")
        numbers[f"{key}_sparsity"] = float(1 - mask.mean())
        numbers[f"{key}_kept_energy"] = float(np.sum((w * mask) ** 2) / energy)
        numbers[f"{key}_accuracy"] = _accuracy_with(model, mask, ds)
    # channel pruning really shrinks the model: the dropped units' kernel columns,
    # biases and the next layer's rows go away
    dropped = int((~masks["channel"].any(axis=0)).sum())
    next_units = model.get_layer(NEXT_LAYER).get_weights()[0].shape[1]
    numbers["channel_units_dropped"] = dropped
    numbers["channel_units"] = int(w.shape[1])
    numbers["params_before"] = int(model.count_params())
    numbers["params_after_channel"] = int(model.count_params()
                                          - dropped * (w.shape[0] + 1 + next_units))

    rows, cols = CROP
    crop = np.abs(w[:rows, :cols])
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.0), layout="constrained")
    panels = [("trained weights |w|", np.ones_like(crop, dtype=bool))] + [
        (f"{name}: {1 - m.mean():.0%} zero, accuracy {numbers[name.replace(':', '_') + '_accuracy']:.1%}",
         m[:rows, :cols]) for name, m in masks.items()]
    for ax, (title, mask) in zip(axes, panels):
        ax.imshow(np.where(mask, crop, np.nan), cmap="viridis", vmin=0, vmax=crop.max(),
                  interpolation="nearest")
        ax.set_facecolor("white")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("output units", fontsize=8)
        ax.set_ylabel("inputs", fontsize=8)
    fig.suptitle(f"Magnitude pruning of the '{LAYER}' layer ({w.shape[0]:,} x {w.shape[1]} "
                 f"weights; a {rows} x {cols} corner shown, white = pruned; accuracy without "
                 "fine-tuning)", fontsize=10)
    save(fig, out_dir, "pruning_masks")
    return {"pruning": numbers, "cnn": {"width": WIDTH, "epochs": settings()["epochs"],
                                        "train_images": len(ds.x_train),
                                        "test_images": len(ds.x_test)}}


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "slides/build/figures")))
