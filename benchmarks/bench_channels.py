"""Issue 15's figures: 50% channel pruning of the vehicle (MobileNetV2, alpha 1.4).

Run: python benchmarks/bench_channels.py [--alpha A] [--fraction F] [--rounds N]
     [--duration S] [--threads N] [--expand-only] [--out DIR]

Builds ``artspeed.vehicle`` (random weights: latency and MACs do not depend on
them), narrows it with ``artspeed.prune_channels`` (the expand convs, the stem
and the head, or with --expand-only the blocks' expand convs alone; the residual
Adds keep their width), and prints, all from this
run: which layers narrowed, MACs and parameters before and after
(``artspeed.profile``), and the batch-1 latency of both float32 .tflite files,
median over interleaved rounds (each round times both, one after the other).
Asserts nothing on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=1.4, help="the vehicle's width")
    parser.add_argument("--fraction", type=float, default=0.5, help="filters removed")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved latency rounds")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per round")
    parser.add_argument("--threads", type=int, default=1, help="TFLite threads (default 1)")
    parser.add_argument("--expand-only", action="store_true",
                        help="narrow only the blocks' expand convs (not the stem, head, block 0)")
    parser.add_argument("--out", default=None, help="folder for the files (default: temporary)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import artspeed

    print(artspeed.environment())
    folder = Path(args.out or tempfile.mkdtemp(prefix="artspeed-bench-channels-"))
    model = artspeed.vehicle(alpha=args.alpha)
    layers = artspeed.channel_prunable_layers(model)
    if args.expand_only:
        layers = [name for name in layers if name.endswith("_expand")]
    narrow = artspeed.prune_channels(model, args.fraction, layers=layers)
    print(f"\nvehicle alpha {args.alpha:g}: {len(layers)} layers narrowed by {args.fraction:.0%}: "
          f"{', '.join(layers)}")
    before, after = artspeed.profile(model, 1), artspeed.profile(narrow, 1)
    print(f"MACs   {before.macs:>12,} -> {after.macs:>12,}  ({before.macs / after.macs:.2f}x fewer)")
    print(f"params {before.total_params:>12,} -> {after.total_params:>12,}  "
          f"({before.total_params / after.total_params:.2f}x fewer)")

    files = {"vehicle": artspeed.convert_to_tflite(model, "float32", path=folder / "vehicle.tflite"),
             "channels": artspeed.convert_to_tflite(narrow, "float32",
                                                    path=folder / "channels.tflite")}
    predictors = {name: q.predictor(threads=args.threads) for name, q in files.items()}
    medians: dict = {name: [] for name in files}
    for _ in range(args.rounds):
        for name, predictor in predictors.items():
            result = artspeed.benchmark(predictor, 1, duration_s=args.duration, warn=False)
            medians[name].append(result.latency_ms["p50"])
    base, cut = (statistics.median(medians[n]) for n in ("vehicle", "channels"))
    print(f"\nfloat32 TFLite, batch 1, {args.threads} thread(s), median of {args.rounds} "
          f"interleaved rounds of {args.duration:g} s:")
    for name, q in files.items():
        rounds = ", ".join(f"{v:.3f}" for v in medians[name])
        print(f"  {name:<9} {statistics.median(medians[name]):.3f} ms  "
              f"({q.size_bytes:,} bytes; rounds: {rounds})")
    print(f"  speed-up {base / cut:.2f}x for {before.macs / after.macs:.2f}x fewer MACs")


if __name__ == "__main__":
    main()
