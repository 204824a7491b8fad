"""Profile ResNet50 and EfficientNetB0 with artspeed and with TensorFlow's graph
profiler, in the same run, and print the times and their ratio (target: artspeed
is the faster). Prints figures; asserts nothing about time.

    .venv/bin/python benchmarks/bench_profile.py [--repeats N]
"""

import artspeed  # noqa: I001  (before TensorFlow: selects Keras 2)

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3 if artspeed.fast_mode() else 5)
    args = parser.parse_args()
    import tf_keras as keras

    print(artspeed.environment())
    print(f"{'model':<16}{'artspeed s':>12}{'TF graph s':>12}{'ratio':>8}"
          f"{'G MACs':>9}{'G FLOPs':>10}{'TF G FLOPs':>12}")
    for name in ("ResNet50", "EfficientNetB0"):
        model = getattr(keras.applications, name)(weights=None)
        ours_s, ours = median_seconds(lambda m=model: artspeed.profile(m), args.repeats)
        tf_s, theirs = median_seconds(lambda m=model: artspeed.tf_graph_flops(m), args.repeats)
        print(f"{name:<16}{ours_s:>12.4f}{tf_s:>12.3f}{tf_s / ours_s:>7.0f}x"
              f"{ours.macs / 1e9:>9.3f}{ours.flops / 1e9:>10.3f}{theirs.flops / 1e9:>12.3f}")
        print(f"{'':<16}TF counts 0 for: {', '.join(theirs.uncounted_ops) or 'nothing'}")
    print(f"(median of {args.repeats} runs each; ratio = TF graph profiler time / artspeed time)")


if __name__ == "__main__":
    main()
