"""The README's "demo's output" section, from a finished tour: nothing typed by hand.

Reads ``OUT/results.json`` (``make demo`` writes ``runs/tour``), prints the
Markdown table and the targets, and writes the Pareto plot and a copy of the
JSON into ``benchmarks/results/``, which the README shows.

Run: .venv/bin/python benchmarks/tour_readme.py [runs/tour] [--name tour-quick-scenes]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import artspeed  # first: selects Keras 2 before TensorFlow loads

RESULTS = Path(__file__).parent / "results"


def markdown_table(tour) -> str:
    base = tour.baseline
    lines = ["| variant | accuracy | gzip KB | × smaller | p50 ms | p99 ms | × faster | "
             "inferences/s | mJ / inference | frontier |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    mode = {"keras": " (`tf.function`)", "keras-predict": " (`model.predict`)"}
    for v in tour.variants:
        name = v.name + mode.get(v.name, "")
        cost = tour.costs.get(v.name)
        energy = f"{cost['joules_per_inference'] * 1e3:.2f}" if cost else "-"
        frontier = " ".join(label for label, names in (("latency", tour.pareto_latency),
                                                       ("size", tour.pareto_size))
                            if v.name in names)
        frontier = "both" if frontier == "latency size" else frontier
        lines.append(f"| {name} | {v.accuracy:.2%} | {v.gzip_bytes / 1024:.1f} | "
                     f"{base.gzip_bytes / v.gzip_bytes:.2f} | {v.p50_ms:.3f} | "
                     f"{v.latency_ms['p99']:.3f} | {base.p50_ms / v.p50_ms:.2f} | "
                     f"{v.throughput_per_s:,.0f} | {energy} | {frontier} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="runs/tour", help="the tour's --out folder")
    parser.add_argument("--name", default="tour-quick-scenes", help="the JSON's name in results/")
    args = parser.parse_args()
    tour = artspeed.load_tour(args.out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    artspeed.plot_tour_pareto(tour, "latency_ms", ax=left)
    artspeed.plot_tour_pareto(tour, "gzip_kb", ax=right)
    fig.tight_layout()
    RESULTS.mkdir(exist_ok=True)
    fig.savefig(RESULTS / "tour-pareto.png", dpi=90)
    shutil.copyfile(Path(args.out) / "results.json", RESULTS / f"{args.name}.json")

    env = tour.env
    print(f"{tour.model} on {tour.dataset}, {tour.seconds / 60:.1f} minutes, "
          f"{env.get('cpu_model')}, {env.get('available_cores')} cores, {env.get('timestamp', '')}")
    print(markdown_table(tour))
    print(f"\npicks: {tour.picks}")
    first = next(iter(tour.costs.values()), None)
    if first:
        print(f"energy: {first['source']}" + (f" at {first['watts_per_core']} W per busy core "
                                              f"({first['rapl_unavailable']})"
                                              if first["source"] == "estimate" else "")
              + f"; cost at {first['price_per_core_hour']} {first['currency']} per core-hour")
    if tour.skipped:
        print(f"skipped: {tour.skipped}")
    for key, value in tour.targets.items():
        print(f"{key}: {value:.2f}")
    print(f"wrote {RESULTS / 'tour-pareto.png'} and {RESULTS / (args.name + '.json')}")


if __name__ == "__main__":
    main()
