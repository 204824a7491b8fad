"""Issue 2's figures: `import artspeed` time, and the baseline's epoch time and accuracy.

Run: python benchmarks/bench_foundation.py [--dataset NAME] [--epochs N] [--skip-train]
Prints medians measured in this run, with the environment. Asserts nothing on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from artspeed.core.config import DEFAULT_DATASET_HELP


def import_seconds(code: str, repeats: int) -> float:
    """Median wall-clock seconds of a fresh interpreter running ``code``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help=DEFAULT_DATASET_HELP)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--time-epoch-on", type=int, metavar="N",
                        help="also time one epoch on N generated 28x28 images (60000 = "
                             "Fashion-MNIST's size), for when that dataset is not at hand")
    args = parser.parse_args()

    bare = import_seconds("pass", args.repeats)
    light = import_seconds(
        "import sys, artspeed; assert 'tensorflow' not in sys.modules "
        "and 'openvino' not in sys.modules", args.repeats)
    with_tf = import_seconds("import artspeed, tensorflow", args.repeats)
    print(f"python startup                 {bare:6.2f} s  (median of {args.repeats})")
    print(f"import artspeed                {light:6.2f} s  (target < 3 s; "
          f"{light - bare:.2f} s above startup)")
    print(f"import artspeed, tensorflow    {with_tf:6.2f} s  (TensorFlow loads on first use)")
    if args.skip_train:
        return

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import artspeed

    print(artspeed.environment())
    ds = artspeed.load_dataset(args.dataset)
    baseline = artspeed.trained_baseline(ds, epochs=args.epochs, progress=False)  # timed: no path
    history, acc = baseline.history, artspeed.accuracy(baseline.model, ds)
    print(f"baseline on {ds.name} ({len(ds.x_train)} train / {len(ds.x_test)} test, "
          f"from {ds.source})")
    print(f"  epoch time  median {history.median_epoch_s:.1f} s "
          f"(all: {', '.join(f'{s:.1f}' for s in history.epoch_seconds)})")
    print(f"  test accuracy after {args.epochs} epochs: {acc:.2%}")
    if args.time_epoch_on:
        x, y = artspeed.make_shapes(args.time_epoch_on, seed=5)
        big = artspeed.Dataset("generated", x[..., None] / 255.0, y.astype("int64"),
                                    ds.x_test[:1000], ds.y_test[:1000], ds.class_names,
                                    "make_shapes")
        timing = artspeed.train(artspeed.baseline_cnn(), big, epochs=2, progress=False)
        print(f"  epoch time on {args.time_epoch_on} images: "
              f"{', '.join(f'{s:.1f}' for s in timing.epoch_seconds)} s "
              "(epoch 1 includes tracing)")


if __name__ == "__main__":
    main()
