"""Issue 6's figures: pruning, channel pruning, pruned + int8 and distillation, on the baseline.

Run: python benchmarks/bench_pruning.py [--dataset NAME] [--epochs N] [--retrain]
     [--prune-epochs N] [--distill-epochs N] [--student-width W] [--rounds N] [--duration S]
     [--threads N]

Starts from the workbook's trained baseline on the dataset (default:
$ARTSPEED_DATASET or fashion_mnist): ``artspeed.trained_baseline`` reuses the
one saved in runs/baseline/ if it matches, else trains it. Then prints, all
measured in this run:

- 80% unstructured magnitude pruning: accuracy, and the gzipped .keras and
  float32 .tflite files against the baseline's;
- 2:4 sparsity, checked in every pruned kernel;
- 50% channel pruning: parameters, MACs, and batch-1 latency of the float32
  .tflite files at 1 thread (median over interleaved rounds);
- pruned + int8 PTQ: the gzipped file against the float32 baseline's;
- a distilled student against the same student trained alone, same budget;

then the issue's targets with the measured ratios. Asserts nothing on time.
"""

from __future__ import annotations

import argparse
import time

from _common import add_baseline_arguments, trained_baseline  # benchmarks/_common.py


def _check(label: str, ok: bool, detail: str) -> None:
    print(f"  [{'met' if ok else 'MISSED'}] {label}: {detail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_baseline_arguments(parser)
    parser.add_argument("--prune-epochs", type=int, default=2, help="fine-tuning epochs")
    parser.add_argument("--distill-epochs", type=int, default=8,
                        help="epochs for the distilled and the lone student")
    parser.add_argument("--distill-lr", type=float, default=3e-3,
                        help="learning rate of both students")
    parser.add_argument("--student-width", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved latency rounds")
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per round")
    parser.add_argument("--threads", type=int, default=1, help="TFLite threads (default 1)")
    parser.add_argument("--out", default=None, help="folder for the files (default: temporary)")
    args = parser.parse_args()

    artspeed, ds, folder, model, base_acc = trained_baseline(args, "artspeed-bench-prune-")

    start = time.perf_counter()
    sparse = artspeed.magnitude_pruning(model, ds, 0.8, epochs=args.prune_epochs,
                                        progress=False, baseline_accuracy=base_acc)
    print(f"\n80% magnitude pruning ({time.perf_counter() - start:.0f} s): {sparse!r}")
    for row in sparse.report.layers:
        print(f"  {row.name:<8} target {row.target_sparsity:.1%} achieved "
              f"{row.achieved_sparsity:.1%} of {row.weights:,} weights")

    two_four = artspeed.magnitude_pruning(model, ds, 0.5, m_by_n=(2, 4), epochs=args.prune_epochs,
                                          progress=False, baseline_accuracy=base_acc)
    pattern = artspeed.verify_m_by_n(two_four.model, (2, 4))
    print(f"\n2:4 sparsity: {two_four!r}\n  pattern holds in {pattern}")

    start = time.perf_counter()
    narrow = artspeed.channel_pruning(model, ds, 0.5, epochs=args.prune_epochs, progress=False,
                                      baseline_accuracy=base_acc)
    print(f"\n50% channel pruning ({time.perf_counter() - start:.0f} s): {narrow!r}")

    files = {
        "float32": artspeed.convert_to_tflite(model, "float32", path=folder / "base.tflite"),
        "sparse80": artspeed.convert_to_tflite(sparse.model, "float32",
                                               path=folder / "sparse80.tflite"),
        "2:4": artspeed.convert_to_tflite(two_four.model, "float32", path=folder / "2x4.tflite"),
        "channels50": artspeed.convert_to_tflite(narrow.model, "float32",
                                                 path=folder / "channels50.tflite"),
        "sparse80-int8": artspeed.prune_then_quantize(sparse.model, ds,
                                                      path=folder / "sparse80-int8.tflite",
                                                      calibration_samples=200),
    }
    table = artspeed.compare_variants(files, ds, model, rounds=args.rounds,
                                      duration_s=args.duration, threads=args.threads)
    print(f"\nTFLite files, batch-1 latency at {args.threads} thread(s), median of "
          f"{args.rounds} interleaved rounds:\n{table}")

    start = time.perf_counter()
    run = artspeed.distill(model, artspeed.baseline_cnn(ds.input_shape, ds.num_classes,
                                                        width=args.student_width, seed=1),
                           ds, epochs=args.distill_epochs, learning_rate=args.distill_lr,
                           compare=True, progress=False)
    print(f"\ndistillation ({time.perf_counter() - start:.0f} s): {run!r}")

    print("\ntargets (figures from this run):")
    keras_gzip = sparse.times_smaller
    tflite_gzip = table["float32"].gzip_bytes / table["sparse80"].gzip_bytes
    _check("80% sparsity loses <= 1 point", sparse.accuracy_drop_points <= 1,
           f"{sparse.accuracy_drop_points:+.2f} points ({sparse.accuracy:.2%})")
    _check("80% sparsity: gzipped file >= 3x smaller", min(keras_gzip, tflite_gzip) >= 3,
           f".keras {keras_gzip:.2f}x, float32 .tflite {tflite_gzip:.2f}x")
    speedup = table.speedup("channels50")
    _check("50% channels: >= 1.5x lower batch-1 latency", speedup >= 1.5,
           f"{speedup:.2f}x (p50 {table['float32'].latency_ms:.3f} -> "
           f"{table['channels50'].latency_ms:.3f} ms); MACs {narrow.macs_ratio:.2f}x fewer, "
           f"params {narrow.baseline_params / narrow.params:.2f}x fewer")
    _check("50% channels loses <= 1.5 points", narrow.accuracy_drop_points <= 1.5,
           f"{narrow.accuracy_drop_points:+.2f} points ({narrow.accuracy:.2%})")
    int8 = table["sparse80-int8"]
    ratio = table["float32"].gzip_bytes / int8.gzip_bytes
    _check("pruned + int8: >= 10x smaller gzipped than float32", ratio >= 10,
           f"{ratio:.2f}x ({table['float32'].gzip_bytes:,} -> {int8.gzip_bytes:,} bytes)")
    _check("pruned + int8 loses <= 1 point", int8.accuracy_drop_points <= 1,
           f"{int8.accuracy_drop_points:+.2f} points ({int8.accuracy:.2%})")
    _check("distilled student beats the student alone", run.gain_points > 0,
           f"{run.student_accuracy:.2%} against {run.alone_accuracy:.2%} "
           f"({run.gain_points:+.2f} points)")
    _check("2:4 pattern in every pruned kernel", all(pattern.values()), str(pattern))


if __name__ == "__main__":
    main()
