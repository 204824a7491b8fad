"""Small plotting helpers the notebooks share (matplotlib, imported lazily).

Taught in notebooks/00-setup-and-baseline.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from artspeed import load_dataset
>>> ds = load_dataset("shapes", limit_train=8, limit_test=8)
>>> fig = show_images(ds.x_test[:4], ds.y_test[:4], ds.class_names)
>>> len(fig.axes)
4
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from artspeed.core.errors import InvalidArgumentError

__all__ = ["show_images"]


def show_images(images, labels=None, class_names=None, predictions=None, ncols: int = 8,
                size_in: float = 1.4):
    """A grid of images titled by label; with ``predictions``, wrong ones in red."""
    images = np.asarray(images)
    if images.ndim not in (3, 4) or not len(images):
        raise InvalidArgumentError(f"show_images needs a batch of images (N, H, W[, C]), "
                                   f"got shape {images.shape}")
    count = len(images)
    ncols = max(1, min(ncols, count))
    nrows = -(-count // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size_in, nrows * (size_in + 0.3)),
                             squeeze=False)

    def name(k):
        return class_names[int(k)] if class_names is not None else str(int(k))

    for i, ax in enumerate(axes.flat):
        if i >= count:
            fig.delaxes(ax)
            continue
        image = images[i]
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        ax.set_xticks([])
        ax.set_yticks([])
        if predictions is not None:
            right = labels is None or int(predictions[i]) == int(labels[i])
            ax.set_title(name(predictions[i]), fontsize=8, color="black" if right else "red")
        elif labels is not None:
            ax.set_title(name(labels[i]), fontsize=8)
    fig.tight_layout()
    return fig
