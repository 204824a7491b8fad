"""Issue 5's figures: every quantization mode on the trained baseline, side by side.

Run: python benchmarks/bench_quantization.py [--dataset NAME] [--epochs N] [--retrain]
     [--qat-epochs N] [--rounds N] [--duration S] [--threads N]

Starts from the workbook's trained baseline on the dataset (default:
$ARTSPEED_DATASET or fashion_mnist; ``artspeed.trained_baseline`` reuses the
one saved in runs/baseline/ if it matches, else trains it), converts it in
every PTQ mode and with QAT, and prints
size, accuracy, agreement and batch-1 latency (the median over interleaved
rounds, all measured in this run), then the issue's targets with the measured
ratios. Asserts nothing on time.
"""

from __future__ import annotations

import argparse
import time

from _common import add_baseline_arguments, trained_baseline  # benchmarks/_common.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_baseline_arguments(parser)
    parser.add_argument("--qat-epochs", type=int, default=2, help="QAT fine-tuning epochs")
    parser.add_argument("--calibration-samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved latency rounds")
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per round")
    parser.add_argument("--threads", type=int, default=1,
                        help="TFLite threads for the latency runs (default 1)")
    parser.add_argument("--out", default=None, help="folder for the .tflite files "
                        "(default: a temporary folder)")
    args = parser.parse_args()

    artspeed, ds, folder, model, _ = trained_baseline(args, "artspeed-bench-q-")

    variants = {}
    for label, mode, io in (("float32", "float32", None), ("dynamic", "dynamic", None),
                            ("float16", "float16", None), ("int8", "int8", None),
                            ("int8-uint8io", "int8", "uint8"), ("int16x8", "int16x8", None)):
        start = time.perf_counter()
        data = ds if mode in ("int8", "int16x8") else None
        variants[label] = artspeed.convert_to_tflite(
            model, mode, data, calibration_samples=args.calibration_samples,
            input_type=io, output_type=io, path=folder / f"baseline-{label}.tflite")
        print(f"converted {label:<13} in {time.perf_counter() - start:5.1f} s: {variants[label]!r}")

    start = time.perf_counter()
    qat = artspeed.quantization_aware_training(model, ds, epochs=args.qat_epochs,
                                               path=folder / "baseline-qat.tflite",
                                               progress=False)
    variants["qat"] = qat.quantized
    print(f"QAT: {args.qat_epochs} epochs + conversion in {time.perf_counter() - start:.0f} s; "
          f"fake-quantized Keras accuracy {qat.qat_accuracy:.2%}")

    table = artspeed.compare_variants(variants, ds, model, baseline="float32",
                                      rounds=args.rounds, duration_s=args.duration,
                                      threads=args.threads)
    print()
    print(f"batch 1, {args.threads} thread(s), median of {args.rounds} interleaved rounds "
          f"of {args.duration:g} s; accuracy on {len(ds.x_test)} test images")
    print(table)

    keras_accuracy = artspeed.accuracy(model, ds)
    int8, fp, q = table["int8"], table["float32"], table["qat"]
    print()
    print("targets")
    drop = int8.accuracy_drop_points
    print(f"  int8 PTQ accuracy loss      {drop:+.2f} points (target <= 1)       "
          f"{'met' if drop <= 1 else 'MISSED'}")
    ratio = 1 / table.times_smaller("int8")
    print(f"  int8 size / float TFLite    {ratio:.3f}x (target <= 0.3)          "
          f"{'met' if ratio <= 0.3 else 'MISSED'}")
    speed = table.speedup("int8")
    print(f"  int8 speed-up at batch 1    {speed:.2f}x ({fp.latency_ms:.3f} ms -> "
          f"{int8.latency_ms:.3f} ms; target > 1)  {'met' if speed > 1 else 'MISSED'}")
    gap = 100 * (keras_accuracy - q.accuracy)
    print(f"  QAT int8 vs float accuracy  {-gap:+.2f} points ({q.accuracy:.2%} vs "
          f"{keras_accuracy:.2%}; target within 0.5)  {'met' if abs(gap) <= 0.5 else 'MISSED'}")
    print(f"files in {folder}")


if __name__ == "__main__":
    main()
