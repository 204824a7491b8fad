"""Knowledge distillation's soft targets: a trained teacher's softmax at two temperatures.

The teacher is the width-32 baseline CNN (see ``_models.py``). Its ``logits``
layer is read directly, and softmax(z / T) is computed with NumPy for T = 1
and a higher temperature, on a real test image: the one, among those the
teacher classifies correctly, whose runner-up class gets the most probability.

Run alone: ``python slides/figures/fig_distillation.py [OUT_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from _models import dataset, save, trained

import artspeed

WIDTH = 32
TEMPERATURES = (1.0, 4.0)


def softmax(z: np.ndarray, temperature: float) -> np.ndarray:
    z = z / temperature
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def make(out_dir: Path) -> dict:
    """Draw ``distillation.png`` into ``out_dir``; return the numbers the slides quote."""
    import matplotlib.pyplot as plt
    import tf_keras as keras

    model, _ = trained(WIDTH)
    ds = dataset()
    logits_model = keras.Model(model.inputs, model.get_layer("logits").output)
    logits = logits_model.predict(ds.x_test, batch_size=256, verbose=0)
    p1 = softmax(logits, 1.0)
    correct = np.flatnonzero(p1.argmax(axis=1) == ds.y_test)
    runner_up = np.sort(p1[correct], axis=1)[:, -2]
    index = int(correct[np.argmax(runner_up)])
    names = list(ds.class_names)
    fig, (ax_img, ax_bar) = plt.subplots(1, 2, figsize=(8, 4.8), layout="constrained",
                                         gridspec_kw={"width_ratios": [1, 3]})
    ax_img.imshow(ds.x_test[index].squeeze(), cmap="gray")
    ax_img.set_title(f"test image: {names[ds.y_test[index]]}", fontsize=10)
    ax_img.axis("off")
    width = 0.8 / len(TEMPERATURES)
    probs = {t: softmax(logits[index], t) for t in TEMPERATURES}
    for k, t in enumerate(TEMPERATURES):
        ax_bar.bar(np.arange(len(names)) + (k - (len(TEMPERATURES) - 1) / 2) * width,
                   probs[t], width, label=f"T = {t:g}")
    ax_bar.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax_bar.set_ylabel("teacher probability")
    ax_bar.set_title("softmax(z / T): a higher T shows\nhow alike the teacher finds the classes",
                     fontsize=10)
    ax_bar.legend(fontsize=9)
    ax_bar.grid(axis="y", alpha=0.3)
    save(fig, out_dir, "distillation")
    t_low, t_high = TEMPERATURES
    order = np.argsort(probs[t_low])[::-1]
    return {"distillation": {
        "t_low": t_low, "t_high": t_high, "true_class": names[ds.y_test[index]],
        "runner_up": names[order[1]],
        "top_low": float(probs[t_low][order[0]]), "top_high": float(probs[t_high][order[0]]),
        "second_low": float(probs[t_low][order[1]]),
        "second_high": float(probs[t_high][order[1]]),
        "accuracy": artspeed.accuracy(model, ds),
    }}


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "slides/build/figures")))
