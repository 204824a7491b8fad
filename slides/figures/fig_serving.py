"""Serving: the serving tax and dynamic batching, measured on a local Ray Serve server.

The vehicle (width 1.4) as an OpenVINO f32 IR (its replica starts without
TensorFlow), served by ``artspeed.serve`` behind Ray Serve's own proxy, one
replica on every core, as notebook 12 serves it:

- the serving tax: single-stream p50 served minus in-process, the same runtime
  and threads, in interleaved rounds (medians);
- dynamic batching: ``find_max_qps`` at a p99 bound of ``BOUND_X`` times the
  served p50, batching off, then on after one ``redeploy``, with the batch
  sizes the server formed.

Run alone: ``python slides/figures/fig_serving.py [OUT_DIR]``.
"""

from __future__ import annotations

import collections
import statistics
import sys
from pathlib import Path

from _models import VEHICLE_ALPHA, save, vehicle_ir

import artspeed

BOUND_X = 4          # the p99 bound: this many times the served p50 at low load
PROXY = "python"     # Ray Serve's own HTTP proxy, on 127.0.0.1 only


def _search_line(search) -> tuple[list, list]:
    trials = sorted(search.trials, key=lambda t: t.target_qps)
    return [t.target_qps for t in trials], [t.latency_ms["p99"] for t in trials]


def make(out_dir: Path) -> dict:
    """Draw ``serving.png`` into ``out_dir``; return the numbers the slides quote."""
    import matplotlib.pyplot as plt

    fast = artspeed.fast_mode()
    rounds, single_s, search_s, steps = (2, 0.3, 0.25, 3) if fast else (3, 1.0, 1.0, 6)
    threads = artspeed.environment().available_cores
    path = vehicle_ir(VEHICLE_ALPHA, "f32", out_dir)
    local = artspeed.load_predictor(path, threads=threads, name="in-process")
    with artspeed.serve(path, port=artspeed.free_port(), proxy=PROXY, batching=False) as served:
        client = served.predictor(name="served")
        runs = {"in-process": [], "served": []}
        for _ in range(rounds):   # interleaved: a burst of load hits both alike
            runs["in-process"].append(artspeed.single_stream(local, duration_s=single_s))
            runs["served"].append(artspeed.single_stream(client, duration_s=single_s))
        p50 = {key: statistics.median(r.latency_ms["p50"] for r in results)
               for key, results in runs.items()}
        bound_ms = BOUND_X * p50["served"]
        searches = {"batching off": artspeed.find_max_qps(client, bound_ms, duration_s=search_s,
                                                          steps=steps)}
        served.redeploy(batching=True)
        searches["batching on"] = artspeed.find_max_qps(served.predictor(name="batching on"),
                                                        bound_ms, duration_s=search_s,
                                                        steps=steps)
        s = served.settings
    local.close()
    formed = sum((collections.Counter(t.batch_sizes) for t in searches["batching on"].trials),
                 collections.Counter())
    mean_on = sum(k * v for k, v in formed.items()) / sum(formed.values())
    tax_ms = p50["served"] - p50["in-process"]

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.9), width_ratios=(1, 1.6))
    left.bar(["in-process", "served"], [p50["in-process"], p50["in-process"]], color="tab:blue",
             label="the model (in-process p50)")
    left.bar(["served"], [tax_ms], bottom=[p50["in-process"]], color="tab:orange",
             label=f"the serving tax, {tax_ms:.1f} ms")
    left.set(ylabel="p50 latency at low load (ms)",
             title=f"OpenVINO f32, {threads} threads: one request")
    left.legend(fontsize=8, loc="upper left")
    for (name, search), colour in zip(searches.items(), ("tab:grey", "tab:green")):
        qps, p99 = _search_line(search)
        right.plot(qps, [min(v, 10 * bound_ms) for v in p99], marker="o", color=colour,
                   label=f"{name}: max {search.max_qps:.0f} QPS")
    right.axhline(bound_ms, color="tab:red", ls="--", label=f"p99 bound, {bound_ms:.0f} ms")
    clients = searches["batching on"].trials[0].concurrency
    right.set(xlabel=f"offered load (QPS, Poisson arrivals, {clients} clients)", ylabel="p99 latency (ms)",
              yscale="log", title="Under load: batching off and on")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    save(fig, out_dir, "serving")

    off, on = searches["batching off"].max_qps, searches["batching on"].max_qps
    ratio = on / off if off else float("inf")
    if ratio > 1 + artspeed.NOISY_CV:
        note = f"batching raised the load sustained {ratio:.1f}×"
    elif ratio < 1 - artspeed.NOISY_CV:
        note = f"batching did not raise the load sustained ({ratio:.1f}×)"
    else:
        note = "batching left the load sustained within 10%"
    return {"serving": {
        "alpha": VEHICLE_ALPHA, "runtime": "OpenVINO f32", "proxy": "Ray Serve's own proxy",
        "threads": threads, "clients": clients,
        "inproc_p50_ms": p50["in-process"], "served_p50_ms": p50["served"], "tax_ms": tax_ms,
        "tax_share": tax_ms / p50["served"], "bound_x": BOUND_X, "bound_ms": bound_ms,
        "max_qps_off": off, "max_qps_on": on, "mean_batch_on": mean_on,
        "largest_batch_on": max(formed), "max_batch": s["max_batch_size"],
        "wait_ms": s["batch_wait_ms"], "steps": steps, "note": note}}


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "slides/build/figures")))
