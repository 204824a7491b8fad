"""Pareto frontiers: the variants no other variant beats on every objective.

Taught in notebooks/02-inference-metrics. Among models of similar accuracy,
pick from the frontier: a variant is *dominated* when another is at least as
good on every objective and strictly better on one. Accuracy (and anything
named like ``accuracy``, ``agreement``, ``throughput``, ``iou`` or ``dice``) goes up; latency,
size and everything else goes down. Give ``(name, "max")`` or
``(name, "min")`` to say it explicitly.

>>> variants = [
...     {"name": "float", "latency_ms": 4.0, "accuracy": 0.91},
...     {"name": "int8", "latency_ms": 1.5, "accuracy": 0.90},
...     {"name": "pruned", "latency_ms": 4.5, "accuracy": 0.89},
... ]
>>> [variants[i]["name"] for i in pareto_front(variants)]
['float', 'int8']
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib.pyplot as plt

from artspeed.core import _checks
from artspeed.core.errors import InvalidArgumentError

__all__ = ["pareto_front", "plot_pareto", "dominates"]

_MAXIMIZED = ("accuracy", "agreement", "throughput", "top1", "top5", "f1", "qps", "iou", "dice")
_SHARES = ("accuracy", "iou", "dice")   # scores in [0, 1] (or percent): their axes are widened


def _objective(spec) -> tuple[str, int]:
    """(name, +1 to maximize or -1 to minimize)."""
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        name, way = spec
        if way not in ("max", "min"):
            raise InvalidArgumentError(f"objective {name!r}: direction must be 'max' or "
                                       f"'min', got {way!r}")
        return str(name), 1 if way == "max" else -1
    if not isinstance(spec, str):
        raise InvalidArgumentError(f"an objective is a name or (name, 'max'|'min'), got {spec!r}")
    return spec, 1 if any(word in spec.lower() for word in _MAXIMIZED) else -1


def _value(point, name: str, index: int) -> float:
    try:
        value = point[name] if isinstance(point, Mapping) else getattr(point, name)
    except (KeyError, AttributeError):
        raise InvalidArgumentError(f"point {index} has no {name!r}; give every point each "
                                   "objective (a dict key or an attribute)") from None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"point {index}: {name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise InvalidArgumentError(f"point {index}: {name} is {value}; objectives must be finite")
    return value


def _scores(points, objectives) -> tuple[list[tuple[str, int]], list[tuple[float, ...]]]:
    specs = [_objective(o) for o in objectives]
    if len(specs) not in (2, 3):
        raise InvalidArgumentError(f"give 2 or 3 objectives, got {len(specs)}")
    if len({name for name, _ in specs}) != len(specs):
        raise InvalidArgumentError(f"objectives repeat a name: {[n for n, _ in specs]}")
    scores = [tuple(way * _value(p, name, i) for name, way in specs)
              for i, p in enumerate(points)]
    return specs, scores


def dominates(a, b, ties=None) -> bool:
    """True if score tuple ``a`` is >= ``b`` everywhere and > somewhere (higher is better).

    ``ties`` (one tolerance per score) makes differences up to it a tie: ``a``
    must then be better by more than the tolerance somewhere, and not worse by
    more than it anywhere.
    """
    ties = ties or (0.0,) * len(a)
    return (all(x >= y - t for x, y, t in zip(a, b, ties))
            and any(x > y + t for x, y, t in zip(a, b, ties)))


def pareto_front(points, objectives=("latency_ms", "accuracy"), ties=None,
                 relative_ties=None) -> list[int]:
    """Indices (in input order) of the points that no other point dominates.

    ``points`` are dicts or objects (results, dataclasses) holding each
    objective. Two identical points are both on the front. ``ties`` maps an
    objective's name to the difference that is within noise (e.g. the spread
    of a latency over repeated rounds): points closer than that on it are tied
    there, so noise alone never pushes a variant off the front. ``relative_ties``
    does the same with a fraction of the value (``{"latency_ms": 0.1}``: within
    10%), for objectives such as latencies that span orders of magnitude.

    >>> pts = [{"acc": 0.9, "latency_ms": 2, "size_bytes": 9},
    ...        {"acc": 0.9, "latency_ms": 2, "size_bytes": 5}]
    >>> pareto_front(pts, ("latency_ms", ("acc", "max"), "size_bytes"))
    [1]
    >>> close = [{"accuracy": 0.90, "latency_ms": 1.00}, {"accuracy": 0.91, "latency_ms": 1.02}]
    >>> pareto_front(close), pareto_front(close, ties={"latency_ms": 0.05})
    ([0, 1], [1])
    >>> pareto_front(close, relative_ties={"latency_ms": 0.05})
    [1]
    """
    points = list(points.values()) if isinstance(points, Mapping) else list(points)
    specs, scores = _scores(points, objectives)
    ties, relative = ties or {}, relative_ties or {}
    names = [name for name, _ in specs]
    unknown = (set(ties) | set(relative)) - set(names)
    if unknown or set(ties) & set(relative):
        raise InvalidArgumentError(f"ties name {sorted(unknown or set(ties) & set(relative))}, "
                                   "which are not objectives or are given twice "
                                   f"(objectives: {', '.join(names)})")
    for k, name in enumerate(names):   # a relative tie is an absolute one on the log scale
        if relative.get(name):
            if any(s[k] * specs[k][1] <= 0 for s in scores):
                raise InvalidArgumentError(f"relative_ties[{name!r}] needs values above 0")
            scores = [(*s[:k], specs[k][1] * math.log(s[k] * specs[k][1]), *s[k + 1:])
                      for s in scores]
            ties = {**ties, name: math.log1p(_checks.positive_finite(
                f"relative_ties[{name!r}]", relative[name], "a fraction within noise"))}
    tolerance = tuple(0.0 if not ties.get(name) else
                      _checks.positive_finite(f"ties[{name!r}]", ties[name],
                                              "a difference within noise, or 0 for none")
                      for name, _ in specs)
    return [i for i, s in enumerate(scores)
            if not any(dominates(other, s, tolerance) for j, other in enumerate(scores) if j != i)]


def _label(point, index: int, labels) -> str:
    if labels is not None and not isinstance(labels, str):
        return str(labels[index])
    key = labels or "name"
    if isinstance(point, Mapping):
        return str(point.get(key, index))
    return str(getattr(point, key, index))


def _overlap(a, b) -> float:
    """The area two boxes (x0, y0, x1, y1) share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


# Where a label may go, in points from its marker: beside it first, then further up or down.
_OFFSETS = [(dx, dy) for step in range(8) for dx in (5, -5)
            for dy in (5 + 12 * step, -13 - 12 * step)]


def _label_box(px, py, size, offset, pt) -> tuple:
    """The pixel box of a label of ``size`` placed at ``offset`` points from (px, py)."""
    (width, height), (dx, dy) = size, offset
    left = px + dx * pt - (width if dx < 0 else 0)
    return (left, py + dy * pt, left + width, py + dy * pt + height)


def _place_labels(ax, xs, ys, texts, order, fontsize: int = 8) -> None:
    """Label each point where its label overlaps the fewest earlier ones, in ``order``.

    Greedy, in display units at the current limits and scales: good enough for
    the dozen labels of a Pareto plot. Labels stay inside the axes; one moved
    away from its point gets a thin leader line.
    """
    ax.margins(x=0.06, y=0.12)
    ax.autoscale_view()
    to_pixels = ax.transData.transform
    pt = ax.figure.dpi / 72
    frame = ax.bbox.extents
    placed = []
    for i in order:
        px, py = to_pixels((xs[i], ys[i]))
        size = (len(texts[i]) * fontsize * 0.6 * pt, fontsize * 1.2 * pt)
        boxes = {offset: _label_box(px, py, size, offset, pt) for offset in _OFFSETS}

        def cost(offset, boxes=boxes, area=size[0] * size[1]):
            b = boxes[offset]
            outside = area - _overlap(b, frame)
            return round(2 * outside + sum(_overlap(b, other) for other in placed), 1)

        dx, dy = min(_OFFSETS, key=cost)   # the first of the cheapest: beside it if free
        placed.append(boxes[(dx, dy)])
        ax.annotate(texts[i], (xs[i], ys[i]), textcoords="offset points", xytext=(dx, dy),
                    ha="left" if dx > 0 else "right", fontsize=fontsize,
                    arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "grey"}
                    if abs(dy) > 13 else None)


MIN_ACCURACY_POINTS = 5   # an accuracy (or mean IoU, Dice) axis spans at least 5 points


def _untruncated(ax, name: str, values) -> None:
    """Widen an accuracy, IoU or Dice axis (fractions, or percent when a value is above 1) to
    ``MIN_ACCURACY_POINTS``: a difference of a fraction of a point must not fill the plot."""
    full = 100.0 if max(values) > 1.0 else 1.0
    if (not any(word in name.lower() for word in _SHARES)
            or not all(0.0 <= v <= full for v in values)):
        return
    span = MIN_ACCURACY_POINTS * full / 100
    low, high = ax.get_ylim()
    if high - low >= span:
        return
    middle = (min(values) + max(values)) / 2
    low = min(max(0.0, middle - span / 2), full - span)
    ax.set_ylim(low, low + span)


def plot_pareto(points, x: str = "latency_ms", y: str = "accuracy", z: str | None = None,
                labels="name", ax=None, title: str | None = None, xscale: str = "linear",
                ties=None, relative_ties=None):
    """Scatter the points, grey when dominated, and draw the frontier as a line.

    ``x`` and ``y`` are the axes; a third objective ``z`` (e.g. ``size_bytes``)
    sets the marker size and counts for dominance. ``labels`` is a key (default
    ``"name"``) or a list of labels; every point gets one, placed so that labels
    do not overlap (frontier points first). ``xscale="log"`` suits latencies
    that span orders of magnitude; ``ties`` and ``relative_ties`` as in ``pareto_front``. An
    accuracy (mean IoU, Dice) axis spans at least ``MIN_ACCURACY_POINTS`` points. Returns the axes.
    """
    if isinstance(points, Mapping):
        labels = list(points) if labels == "name" else labels
        points = list(points.values())
    points = list(points)
    if not points:
        raise InvalidArgumentError("plot_pareto needs at least one point")
    if labels is not None and not isinstance(labels, str) and len(labels) != len(points):
        raise InvalidArgumentError(f"got {len(labels)} labels for {len(points)} points")
    objectives = [x, y] + ([z] if z else [])
    specs, _ = _scores(points, objectives)
    (xname, xway), (yname, yway) = specs[0], specs[1]
    front = set(pareto_front(points, objectives, ties=ties, relative_ties=relative_ties))
    flat_front = pareto_front(
        points, objectives[:2],
        ties={k: v for k, v in (ties or {}).items() if k in (xname, yname)},
        relative_ties={k: v for k, v in (relative_ties or {}).items() if k in (xname, yname)})
    xs = [_value(p, xname, i) for i, p in enumerate(points)]
    ys = [_value(p, yname, i) for i, p in enumerate(points)]
    if z:
        zs = [_value(p, specs[2][0], i) for i, p in enumerate(points)]
        top = max(abs(v) for v in zs) or 1.0
        sizes = [30 + 270 * abs(v) / top for v in zs]
    else:
        sizes = [60] * len(points)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5))
    dominated = [i for i in range(len(points)) if i not in front]
    ax.scatter([xs[i] for i in dominated], [ys[i] for i in dominated],
               s=[sizes[i] for i in dominated], color="lightgrey", edgecolor="grey",
               label="dominated", zorder=2)
    ax.scatter([xs[i] for i in sorted(front)], [ys[i] for i in sorted(front)],
               s=[sizes[i] for i in sorted(front)], color="tab:blue", edgecolor="black",
               label="Pareto-optimal" + (f" (with {specs[2][0]})" if z else ""), zorder=3)
    line = sorted(flat_front, key=lambda i: (xs[i], ys[i]))
    ax.plot([xs[i] for i in line], [ys[i] for i in line], color="tab:blue",
            drawstyle="steps-post" if xway != yway else "default",
            lw=1.5, zorder=1, label=f"frontier ({xname} vs {yname})")
    ax.set_xscale(xscale)
    _untruncated(ax, yname, ys)   # before the labels are placed in display coordinates
    order = sorted(range(len(points)), key=lambda i: (i not in front, -yway * ys[i], xway * xs[i]))
    _place_labels(ax, xs, ys, [_label(p, i, labels) for i, p in enumerate(points)], order)

    def arrow(name, way):
        return f"{name} ({'higher' if way > 0 else 'lower'} is better)"

    ax.set(xlabel=arrow(xname, xway), ylabel=arrow(yname, yway),
           title=title or "Pareto frontier" + (f" (marker size: {specs[2][0]})" if z else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return ax
