"""A built-in colour dataset for the speed lessons: the ten shapes in cluttered scenes.

``shapes`` grown up: 96x96 RGB images, each holding one of the ten shapes of
``artspeed.SHAPE_NAMES`` (its label) at a random place, size, rotation and
colour, filled with a texture (flat, stripes or checks), over a background of
a colour gradient, noise and clutter: line segments and small shapes of other
classes. Deterministic by seed, generated in seconds, no network. A model
needs real work to read it, so accuracy is not saturated and what compression
costs shows.

>>> x, y = make_scenes(20, seed=1)
>>> x.shape, x.dtype, sorted(set(y.tolist())) == list(range(10))
((20, 96, 96, 3), dtype('uint8'), True)
>>> bool((make_scenes(3, seed=4)[0] == make_scenes(5, seed=4)[0][:3]).all())
True
"""

from __future__ import annotations

import numpy as np

from artspeed.core import _checks
from artspeed.core.shapes import SHAPE_NAMES, shape_mask

__all__ = ["SCENE_SIZE", "make_scenes", "make_scene_targets"]

SCENE_SIZE = 96
_YY, _XX = np.mgrid[0:SCENE_SIZE, 0:SCENE_SIZE].astype(np.float32)


def _colour(rng: np.random.Generator, away_from=None) -> np.ndarray:
    """A random RGB colour in [0, 1], at least 0.45 away from ``away_from``."""
    while True:
        colour = rng.uniform(0.0, 1.0, 3).astype(np.float32)
        if away_from is None or np.linalg.norm(colour - away_from) >= 0.45:
            return colour


def _shape(label: int, rng: np.random.Generator, half_width, centre, angle_deg, stroke_px):
    """Shape ``label``'s mask (H, W) bool and its unit coordinates (u, v)."""
    cy, cx = centre
    angle = np.deg2rad(angle_deg)
    dy, dx = (_YY - cy) / half_width, (_XX - cx) / half_width
    u = np.cos(angle) * dx + np.sin(angle) * dy
    v = -np.sin(angle) * dx + np.cos(angle) * dy
    return shape_mask(label, u, v, stroke_px / half_width), u, v


def _texture(rng: np.random.Generator, u, v) -> np.ndarray:
    """A fill pattern in [0, 1] over the shape's own coordinates."""
    kind = rng.integers(3)
    if kind == 0:
        return np.ones_like(u)
    period = rng.uniform(0.25, 0.5)
    if kind == 1:
        return 0.5 + 0.5 * np.sign(np.sin(np.pi * (u + rng.uniform(-1, 1) * v) / period))
    return 0.5 + 0.5 * np.sign(np.sin(np.pi * u / period) * np.sin(np.pi * v / period))


def _background(rng: np.random.Generator) -> np.ndarray:
    start, end = _colour(rng), _colour(rng)
    direction = rng.uniform(0, 2 * np.pi)
    t = (np.cos(direction) * _XX + np.sin(direction) * _YY) / SCENE_SIZE
    t = (t - t.min()) / (t.max() - t.min())
    image = (1 - t)[..., None] * start + t[..., None] * end
    for _ in range(rng.integers(2, 5)):                       # clutter: line segments
        y0, x0, y1, x1 = rng.uniform(0, SCENE_SIZE, 4)
        length = max(np.hypot(y1 - y0, x1 - x0), 1.0)
        distance = np.abs((x1 - x0) * (y0 - _YY) - (x0 - _XX) * (y1 - y0)) / length
        along = ((_XX - x0) * (x1 - x0) + (_YY - y0) * (y1 - y0)) / length ** 2
        line = (distance <= rng.uniform(0.6, 1.6)) & (along >= 0) & (along <= 1)
        image[line] = _colour(rng)
    return image


def _draw(label: int, rng: np.random.Generator):
    """(the scene uint8, each pixel's class: 0 background or 1 + the shape's label, the
    main shape's half-width in pixels)."""
    image = _background(rng)
    classes = np.zeros((SCENE_SIZE, SCENE_SIZE), np.uint8)
    for _ in range(rng.integers(1, 4)):                       # clutter: small other shapes
        other = int((label + rng.integers(1, len(SHAPE_NAMES))) % len(SHAPE_NAMES))
        mask, _, _ = _shape(other, rng, rng.uniform(4.0, 8.0), rng.uniform(6, 90, 2),
                            rng.uniform(-180, 180), rng.uniform(1.0, 1.8))
        image[mask] = _colour(rng)
        classes[mask] = other + 1
    half_width = rng.uniform(16.0, 30.0)
    centre = rng.uniform(48 - 16, 48 + 16, 2)
    mask, u, v = _shape(label, rng, half_width, centre, rng.uniform(-15, 15),
                        rng.uniform(2.5, 5.0))
    behind = image[mask].mean(axis=0) if mask.any() else None
    fill, second = _colour(rng, behind), _colour(rng, behind)
    pattern = _texture(rng, u, v)[mask][:, None]
    image[mask] = pattern * fill + (1 - pattern) * (0.6 * fill + 0.4 * second)
    classes[mask] = label + 1
    image = image * rng.uniform(0.7, 1.1) + rng.normal(0.0, 0.06, image.shape)
    return np.clip(image * 255, 0, 255).astype(np.uint8), classes, half_width


def make_scenes(num_samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``num_samples`` images (N, 96, 96, 3) uint8 and labels (N,) uint8.

    Each run of ten images holds each class once, and the first ``n`` images of
    a seed are the same whatever ``num_samples`` is, so a smaller set is a prefix.
    """
    images, labels, _, _ = make_scene_targets(num_samples, seed)
    return images, labels


def make_scene_targets(num_samples: int, seed: int = 0):
    """``make_scenes``' images and labels, with what else each scene holds: each pixel's
    class (N, 96, 96) uint8 (0 for the background, 1 + the shape's label for a shape's
    pixels, the small clutter shapes too) and the main shape's size, its half-width in
    pixels (N,) float32 (16 to 30): targets for segmentation and regression.

    >>> x, y, masks, sizes = make_scene_targets(4, seed=2)
    >>> masks.shape, bool((masks == y[:, None, None] + 1).any(axis=(1, 2)).all())
    ((4, 96, 96), True)
    >>> bool((x == make_scenes(4, seed=2)[0]).all()), bool((16 <= sizes).all() and (sizes <= 30).all())
    (True, True)
    """
    num_samples = _checks.whole_number("num_samples", num_samples, 0)
    seed = _checks.seed(seed)
    classes = len(SHAPE_NAMES)
    order = np.random.default_rng([seed, 1])
    labels = np.concatenate([order.permutation(classes) for _ in range(-(-num_samples // classes))]
                            or [np.zeros(0, np.int64)])[:num_samples].astype(np.uint8)
    images = np.zeros((num_samples, SCENE_SIZE, SCENE_SIZE, 3), np.uint8)
    masks = np.zeros((num_samples, SCENE_SIZE, SCENE_SIZE), np.uint8)
    sizes = np.zeros(num_samples, np.float32)
    for i, label in enumerate(labels):
        images[i], masks[i], sizes[i] = _draw(int(label), np.random.default_rng([seed, 2, i]))
    return images, labels, masks, sizes
