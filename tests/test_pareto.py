"""Pareto frontiers over 2 and 3 objectives, and their plot."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import artspeed  # noqa: E402
from artspeed.core.errors import InvalidArgumentError  # noqa: E402
from artspeed.measure.pareto import dominates  # noqa: E402

VARIANTS = [
    {"name": "float", "latency_ms": 4.0, "accuracy": 0.91, "size_bytes": 400},
    {"name": "int8", "latency_ms": 1.5, "accuracy": 0.90, "size_bytes": 100},
    {"name": "pruned", "latency_ms": 4.5, "accuracy": 0.89, "size_bytes": 90},
    {"name": "tiny", "latency_ms": 0.5, "accuracy": 0.70, "size_bytes": 50},
    {"name": "slow", "latency_ms": 9.0, "accuracy": 0.85, "size_bytes": 500},
]


def names(indices):
    return [VARIANTS[i]["name"] for i in indices]


def test_two_objectives():
    assert names(artspeed.pareto_front(VARIANTS)) == ["float", "int8", "tiny"]


def test_three_objectives_keep_the_small_one():
    front = artspeed.pareto_front(VARIANTS, ("latency_ms", "accuracy", "size_bytes"))
    assert names(front) == ["float", "int8", "pruned", "tiny"]


def test_explicit_directions_and_objects():
    class Point:
        def __init__(self, score, cost):
            self.score, self.cost = score, cost

    points = [Point(1, 1), Point(2, 2), Point(2, 1)]
    assert artspeed.pareto_front(points, (("score", "max"), "cost")) == [2]
    assert artspeed.pareto_front(points, (("score", "min"), ("cost", "max"))) == [0, 1]


def test_ties_are_both_kept_and_empty_is_empty():
    same = [{"latency_ms": 1, "accuracy": 0.5}] * 2
    assert artspeed.pareto_front(same) == [0, 1]
    assert artspeed.pareto_front([]) == []


@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 1)), min_size=1, max_size=25))
def test_front_is_exactly_the_non_dominated_set(raw):
    points = [{"latency_ms": lat, "accuracy": acc} for lat, acc in raw]
    front = set(artspeed.pareto_front(points))
    scores = [(-p["latency_ms"], p["accuracy"]) for p in points]
    assert front  # a non-empty set always has a frontier
    for i, s in enumerate(scores):
        dominated = any(dominates(o, s) for o in scores)
        assert (i in front) != dominated


@pytest.mark.parametrize("objectives, match", [
    (("latency_ms",), "2 or 3"), (("a", "b", "c", "d"), "2 or 3"),
    (("latency_ms", "latency_ms"), "repeat"), (("latency_ms", "speed"), "no 'speed'"),
    ((("accuracy", "up"), "latency_ms"), "direction")])
def test_bad_objectives(objectives, match):
    with pytest.raises(InvalidArgumentError, match=match):
        artspeed.pareto_front(VARIANTS, objectives)


def test_bad_values():
    with pytest.raises(InvalidArgumentError, match="must be a number"):
        artspeed.pareto_front([{"latency_ms": "fast", "accuracy": 1}])
    with pytest.raises(InvalidArgumentError, match="finite"):
        artspeed.pareto_front([{"latency_ms": float("nan"), "accuracy": 1}])


def test_plot_labels_every_point_and_draws_the_frontier():
    ax = artspeed.plot_pareto(VARIANTS, z="size_bytes")
    labels = {t.get_text() for t in ax.texts}
    assert labels == {v["name"] for v in VARIANTS}
    line = ax.get_lines()[0]
    assert line.get_drawstyle() == "steps-post"
    assert list(line.get_xdata()) == [0.5, 1.5, 4.0]  # the 2-D frontier, left to right
    assert "higher is better" in ax.get_ylabel() and "lower is better" in ax.get_xlabel()
    ax2 = artspeed.plot_pareto({"a": {"latency_ms": 1, "accuracy": 0.9},
                                "b": {"latency_ms": 2, "accuracy": 0.8}})
    assert {t.get_text() for t in ax2.texts} == {"a", "b"}
    with pytest.raises(InvalidArgumentError, match="at least one"):
        artspeed.plot_pareto([])
    with pytest.raises(InvalidArgumentError, match="labels"):
        artspeed.plot_pareto(VARIANTS, labels=["x"])


def test_labels_of_crowded_points_do_not_overlap():
    import matplotlib.pyplot as plt

    crowd = [{"name": f"variant-{i}", "latency_ms": 0.09 + 0.004 * i, "accuracy": 0.95 + 0.004 * i}
             for i in range(6)] + [{"name": "far", "latency_ms": 90.0, "accuracy": 0.98}]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    artspeed.plot_pareto(crowd, ax=ax, xscale="log")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == len(crowd)
    for i, a in enumerate(boxes):
        assert ax.bbox.x0 <= a.x0 and a.x1 <= ax.bbox.x1 + 1, ax.texts[i].get_text()
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    plt.close(fig)


def test_ties_within_noise_keep_both_and_the_accuracy_axis_is_not_truncated():
    import matplotlib.pyplot as plt

    close = [{"name": "a", "accuracy": 0.740, "latency_ms": 1.00},
             {"name": "b", "accuracy": 0.742, "latency_ms": 1.03},
             {"name": "slow", "accuracy": 0.741, "latency_ms": 3.0}]
    assert artspeed.pareto_front(close) == [0, 1]
    assert artspeed.pareto_front(close, ties={"latency_ms": 0.05}) == [1]  # a is b within noise
    with pytest.raises(InvalidArgumentError, match="not objectives"):
        artspeed.pareto_front(close, ties={"size_bytes": 1})
    fig, ax = plt.subplots()
    artspeed.plot_pareto(close, ax=ax, ties={"latency_ms": 0.05})
    low, high = ax.get_ylim()
    assert high - low >= 0.05 - 1e-9 and low <= 0.740 and high >= 0.742   # 5 points at least
    plt.close(fig)
