"""A built-in dataset made by the package: ten classes of drawn shapes.

It needs no network and no file, so offline workshops and fast tests always
have data. Images are 28x28 uint8 like MNIST, deterministic by seed, and not
trivial: each shape is drawn at a random position, size, rotation, stroke and
brightness, over noise.

>>> x, y = make_shapes(20, seed=1)
>>> x.shape, x.dtype, sorted(set(y.tolist())) == list(range(10))
((20, 28, 28), dtype('uint8'), True)
>>> bool((make_shapes(5, seed=3)[0] == make_shapes(5, seed=3)[0]).all())
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["SHAPE_NAMES", "make_shapes"]

SHAPE_NAMES = ("disk", "ring", "square", "square outline", "triangle",
               "plus", "cross", "horizontal bar", "vertical bar", "two dots")

_SIZE = 28
_YY, _XX = np.mgrid[0:_SIZE, 0:_SIZE].astype(np.float32)


def shape_mask(label: int, u, v, t):
    """Pixels inside shape ``label`` in unit coordinates (u right, v down)."""
    au, av = np.abs(u), np.abs(v)
    radius = np.sqrt(u * u + v * v)
    if label == 0:
        return radius <= 1
    if label == 1:
        return np.abs(radius - 0.8) <= t
    if label == 2:
        return np.maximum(au, av) <= 0.85
    if label == 3:
        return np.abs(np.maximum(au, av) - 0.85) <= t
    if label == 4:
        return (v <= 0.7) & (v >= -1 + 1.7 * au)
    if label in (5, 6):
        if label == 6:  # the plus turned by 45 degrees
            u, v = (u + v) / np.sqrt(2), (v - u) / np.sqrt(2)
            au, av = np.abs(u), np.abs(v)
        return ((au <= t) & (av <= 1)) | ((av <= t) & (au <= 1))
    if label == 7:
        return (av <= t) & (au <= 1)
    if label == 8:
        return (au <= t) & (av <= 1)
    return ((u - 0.55) ** 2 + av ** 2 <= 0.12) | ((u + 0.55) ** 2 + av ** 2 <= 0.12)


def _draw(label: int, rng: np.random.Generator) -> np.ndarray:
    size = rng.uniform(5.0, 10.0)                    # half-width in pixels
    cy, cx = rng.uniform(14 - 4, 14 + 4, size=2)
    angle = np.deg2rad(rng.uniform(-15, 15))
    stroke = rng.uniform(1.0, 2.0) / size            # half-thickness, unit coords
    dy, dx = (_YY - cy) / size, (_XX - cx) / size
    u = np.cos(angle) * dx + np.sin(angle) * dy
    v = -np.sin(angle) * dx + np.cos(angle) * dy
    image = shape_mask(label, u, v, stroke) * rng.uniform(0.55, 1.0)
    image = image + rng.normal(0.0, 0.12, image.shape) + rng.uniform(0, 0.15)
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def make_shapes(num_samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``num_samples`` images (N, 28, 28) uint8 and balanced labels (N,) uint8."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_samples) % len(SHAPE_NAMES)).astype(np.uint8)
    images = np.stack([_draw(int(k), rng) for k in labels]) if num_samples else \
        np.zeros((0, _SIZE, _SIZE), np.uint8)
    return images, labels
