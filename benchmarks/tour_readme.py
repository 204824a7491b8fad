"""The README's "demo's output" section, from a finished tour: nothing typed by hand.

Reads ``OUT/results.json`` (``make demo`` writes ``runs/tour``), prints the
Markdown table and the targets, and writes the Pareto plot and a copy of the
JSON into ``benchmarks/results/``, which the README shows.

Run: .venv/bin/python benchmarks/tour_readme.py [runs/tour] [--name tour-quick-mnist]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import artspeed  # first: selects Keras 2 before TensorFlow loads

RESULTS = Path(__file__).parent / "results"


def markdown_table(tour) -> str:
    base = tour.baseline
    lines = ["| variant | accuracy | gzip KB | × smaller | p50 ms | p99 ms | inferences/s | frontier |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for v in tour.variants:
        name = f"{v.name} (`model.predict`)" if v is base else v.name
        frontier = " ".join(label for label, names in (("latency", tour.pareto_latency),
                                                       ("size", tour.pareto_size))
                            if v.name in names)
        frontier = "both" if frontier == "latency size" else frontier
        lines.append(f"| {name} | {v.accuracy:.2%} | {v.gzip_bytes / 1024:.1f} | "
                     f"{base.gzip_bytes / v.gzip_bytes:.2f} | {v.p50_ms:.3f} | "
                     f"{v.latency_ms['p99']:.3f} | {v.throughput_per_s:,.0f} | {frontier} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="runs/tour", help="the tour's --out folder")
    parser.add_argument("--name", default="tour-quick-mnist", help="the JSON's name in results/")
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
    for key, value in tour.targets.items():
        print(f"{key}: {value:.2f}")
    print(f"wrote {RESULTS / 'tour-pareto.png'} and {RESULTS / (args.name + '.json')}")


if __name__ == "__main__":
    main()
