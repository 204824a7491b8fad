"""Issue 15, part 4: is an 80% sparse model faster than the dense one through XNNPACK?

Run: python benchmarks/bench_sparse.py [--model PATH] [--sparsity 0.8] [--steps N]
     [--rounds N] [--duration S] [--threads N ...] [--out DIR]

The vehicle is a saved Keras model (--model), else a stand-in with its structure:
``tf_keras.applications.MobileNetV2(alpha=1.0, input_shape=(96, 96, 3), weights=None,
classes=10)``, whose BatchNormalization statistics are set from one batch of random
images (with random weights alone its activations vanish and every output is 0.1).
Then, all measured in this run:

1. tfmot's XNNPACK policy (``PruneForLatencyOnXNNPack``) on the vehicle as built and,
   if it refuses, on ``artspeed.pad_for_xnnpack(vehicle)``;
2. ``prune_low_magnitude(..., 0.8, pruning_policy="xnnpack")``, a short fit on random
   data with ``UpdatePruningStep``, ``strip_pruning``; the pruned kernels must be 80% zeros;
3. three files: the dense model ``"float32"``, the pruned one ``"float32"`` (its zeros
   stored dense) and ``"sparse"`` (the converter's ``EXPERIMENTAL_SPARSITY``);
4. their batch-1 latency in LiteRT with XNNPACK at 1 thread and at every core, the
   files taking turns in each round, medians over the rounds (and the same with the
   builtin kernels, without XNNPACK);
5. the ratio against the target (1.3x) and, if it is missed, the evidence why: the
   tensors stored sparse, the ops XNNPACK took, the outputs and the CPU.

Writes sparse.json (with the environment) to --out. Asserts nothing on time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import artspeed  # noqa: E402  (first: selects Keras 2 before TensorFlow loads)
from artspeed.core.frameworks import tf_keras, tfmot  # noqa: E402

TARGET = 1.3


def stand_in(seed: int = 0):
    """The vehicle's structure with random weights, and BatchNorm statistics that keep
    its activations alive (taken from one batch of random images)."""
    tf_keras.utils.set_random_seed(seed)
    model = tf_keras.applications.MobileNetV2(alpha=1.0, input_shape=(96, 96, 3),
                                              weights=None, classes=10)
    norms = [layer for layer in model.layers
             if isinstance(layer, tf_keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0       # the moving statistics become this batch's
    model(np.random.default_rng(seed).random((32, 96, 96, 3), np.float32), training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    return model


def prunable_for_xnnpack(model):
    """(the model to prune, None) if tfmot's policy takes it or its padded twin;
    else (the model, the policy's refusal)."""
    try:
        artspeed.check_pruning_policy(model, "xnnpack")
        print(f"tfmot's XNNPACK policy takes {model.name} as built")
        return model, None
    except artspeed.ModelError as exc:
        print(f"tfmot's XNNPACK policy refuses {model.name} as built:\n  {exc}")
    padded = artspeed.pad_for_xnnpack(model)
    try:
        artspeed.check_pruning_policy(padded, "xnnpack")
    except artspeed.ModelError as exc:
        print("... and after pad_for_xnnpack too; pruning its 1x1 convs without the policy")
        return model, str(exc)
    print("after artspeed.pad_for_xnnpack (ZeroPadding2D(1) + 'valid' before the stride-2 "
          "convs, same shapes and weights), the policy takes it")
    return padded, None


def prune(model, sparsity: float, steps: int, refusal, seed: int = 0):
    """tfmot's pruning (the XNNPACK policy unless it refused), a short fit, strip_pruning."""
    one_by_one = [layer.name for layer in model.layers
                  if isinstance(layer, tf_keras.layers.Conv2D) and layer.kernel_size == (1, 1)]
    if refusal is None:
        wrapped = artspeed.prune_low_magnitude(model, sparsity, pruning_policy="xnnpack",
                                               total_steps=steps)
    else:
        wrapped = artspeed.prune_low_magnitude(model, sparsity, layers=one_by_one,
                                               total_steps=steps)
    names = [layer.name[len("prune_low_magnitude_"):] for layer in wrapped.layers
             if layer.name.startswith("prune_low_magnitude_")]
    rng = np.random.default_rng(seed)
    batch = 8
    x = rng.random((steps * batch, *model.input_shape[1:]), np.float32)
    y = rng.integers(0, model.output_shape[-1], len(x))
    wrapped.compile(tf_keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy")
    wrapped.fit(x, y, batch_size=batch, epochs=1, verbose=0,
                callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = artspeed.strip_pruning(wrapped)
    report = artspeed.sparsity_report(stripped, {name: sparsity for name in names})
    print(f"pruned {len(names)} layers ({'the XNNPACK policy' if refusal is None else '1x1 convs'}"
          f"), {steps} steps of fit: {report.achieved_sparsity:.2%} of their weights are zero, "
          f"{report.model_sparsity:.2%} of the model's")
    low = [r.name for r in report.layers
           if r.target_sparsity and r.achieved_sparsity < sparsity - 0.01]
    if low:
        raise SystemExit(f"pruning fell short of {sparsity:.0%} in {', '.join(low)}")
    return stripped, report


def table(run) -> str:
    rows = [f"  {'threads':>7}  {'dense':>9}  {'pruned, dense-stored':>20}  {'sparse':>9}  "
            f"{'dense / sparse':>14}"]
    pruned = run.pruned_dense_latency_ms or (None,) * len(run.threads)
    for t, d, p, s, x in zip(run.threads, run.dense_latency_ms, pruned, run.sparse_latency_ms,
                             run.speedups):
        rows.append(f"  {t:>7}  {d:>6.3f} ms  {p:>17.3f} ms  {s:>6.3f} ms  {x:>13.2f}x")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="the vehicle, a saved Keras model (default: the "
                        "MobileNetV2 96x96 stand-in)")
    parser.add_argument("--sparsity", type=float, default=0.8)
    parser.add_argument("--steps", type=int, default=4, help="fit steps while pruning")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds (default 7; 2 with ARTSPEED_FAST=1)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per file per round (default 1; 0.3 with ARTSPEED_FAST=1)")
    parser.add_argument("--threads", type=int, nargs="+",
                        help="thread counts (default: 1 and every available core)")
    parser.add_argument("--out", default=None, help="folder for the files (default: temporary)")
    args = parser.parse_args()
    fast = artspeed.fast_mode()
    rounds = args.rounds or (2 if fast else 7)
    duration = args.duration or (0.3 if fast else 1.0)
    env = artspeed.environment()
    print(env)
    folder = Path(args.out or tempfile.mkdtemp(prefix="artspeed-bench-sparse-"))
    folder.mkdir(parents=True, exist_ok=True)

    vehicle = artspeed.load_model(args.model, compile=False) if args.model else stand_in()
    print(f"vehicle: {vehicle.name}, {vehicle.count_params():,} parameters, input "
          f"{vehicle.input_shape[1:]}{'' if args.model else ' (stand-in, random weights)'}")
    dense_model, refusal = prunable_for_xnnpack(vehicle)
    pruned, report = prune(dense_model, args.sparsity, args.steps, refusal)

    files = {"dense": artspeed.convert_to_tflite(dense_model, "float32",
                                                 path=folder / "dense.tflite"),
             "pruned_dense": artspeed.convert_to_tflite(pruned, "float32",
                                                        path=folder / "pruned-dense.tflite"),
             "sparse": artspeed.convert_to_tflite(pruned, "sparse",
                                                  path=folder / "sparse.tflite")}
    for name, q in files.items():
        print(f"  {name:<13} {q.size_bytes:>11,} bytes, {q.sparse_tensors} tensors stored sparse, "
              f"ops {q.op_kinds}")

    threads = tuple(args.threads) if args.threads else None
    runs = {}
    for xnnpack in (True, False):
        label = "XNNPACK" if xnnpack else "builtin kernels (no XNNPACK)"
        runs[label] = run = artspeed.sparse_speedup(
            files["dense"], files["sparse"], pruned_dense=files["pruned_dense"], threads=threads,
            xnnpack=xnnpack, rounds=rounds, duration_s=duration)
        print(f"\nLiteRT, {label}: batch-1 p50, median of {rounds} interleaved rounds of "
              f"{duration:g} s\n{table(run)}")

    run = runs["XNNPACK"]
    (folder / "sparse.json").write_text(
        json.dumps({
            "target": TARGET, "sparsity": report.to_dict(), "policy_refusal": refusal,
            "runs": {k: v.to_dict() for k, v in runs.items()}, "env": env.to_dict()}, indent=2))
    speedups = ", ".join(f"{t} thread{'s' if t > 1 else ''} {x:.2f}x"
                         for t, x in zip(run.threads, run.speedups))
    met = min(run.speedups) >= TARGET
    print(f"\ntarget (figures from this run):\n  [{'met' if met else 'MISSED'}] "
          f"{args.sparsity:.0%} sparse through XNNPACK >= {TARGET}x faster than dense: {speedups}")
    if not met:
        print("why the runtime could not use the sparsity:")
        if refusal is not None:
            print(f"  - the structure: {refusal}")
        for line in run.why(TARGET):
            print(f"  - {line}")
    print(f"\nfiles and sparse.json in {folder}")


if __name__ == "__main__":
    main()
