"""Pareto frontiers: the variants no other variant beats on every objective.

Taught in notebooks/02-inference-metrics. Among models of similar accuracy,
pick from the frontier: a variant is *dominated* when another is at least as
good on every objective and strictly better on one. Accuracy (and anything
named like ``accuracy``, ``agreement`` or ``throughput``) goes up; latency,
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

from .errors import InvalidArgumentError

__all__ = ["pareto_front", "plot_pareto", "dominates"]

_MAXIMIZED = ("accuracy", "agreement", "throughput", "top1", "top5", "f1", "qps")


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


def dominates(a, b) -> bool:
    """True if score tuple ``a`` is >= ``b`` everywhere and > somewhere (higher is better)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def pareto_front(points, objectives=("latency_ms", "accuracy")) -> list[int]:
    """Indices (in input order) of the points that no other point dominates.

    ``points`` are dicts or objects (results, dataclasses) holding each
    objective. Two identical points are both on the front.

    >>> pts = [{"acc": 0.9, "latency_ms": 2, "size_bytes": 9},
    ...        {"acc": 0.9, "latency_ms": 2, "size_bytes": 5}]
    >>> pareto_front(pts, ("latency_ms", ("acc", "max"), "size_bytes"))
    [1]
    """
    points = list(points.values()) if isinstance(points, Mapping) else list(points)
    _, scores = _scores(points, objectives)
    return [i for i, s in enumerate(scores)
            if not any(dominates(other, s) for j, other in enumerate(scores) if j != i)]


def _label(point, index: int, labels) -> str:
    if labels is not None and not isinstance(labels, str):
        return str(labels[index])
    key = labels or "name"
    if isinstance(point, Mapping):
        return str(point.get(key, index))
    return str(getattr(point, key, index))


def plot_pareto(points, x: str = "latency_ms", y: str = "accuracy", z: str | None = None,
                labels="name", ax=None, title: str | None = None):
    """Scatter the points, grey when dominated, and draw the frontier as a line.

    ``x`` and ``y`` are the axes; a third objective ``z`` (e.g. ``size_bytes``)
    sets the marker size and counts for dominance. ``labels`` is a key (default
    ``"name"``) or a list of labels; every point gets one. Returns the axes.
    """
    import matplotlib.pyplot as plt

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
    front = set(pareto_front(points, objectives))
    flat_front = pareto_front(points, objectives[:2])
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
    for i, point in enumerate(points):
        ax.annotate(_label(point, i, labels), (xs[i], ys[i]), textcoords="offset points",
                    xytext=(5, 5), fontsize=8)

    def arrow(name, way):
        return f"{name} ({'higher' if way > 0 else 'lower'} is better)"

    ax.set(xlabel=arrow(xname, xway), ylabel=arrow(yname, yway),
           title=title or "Pareto frontier" + (f" (marker size: {specs[2][0]})" if z else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return ax
