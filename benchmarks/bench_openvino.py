"""Issue 7's figures: OpenVINO FP32, bf16 and NNCF INT8 against Keras, all in one run.

Run: python benchmarks/bench_openvino.py [--dataset NAME] [--epochs N] [--retrain] [--rounds N]
     [--duration S] [--resolution PX] [--calibration-samples N]

1. The workbook's trained baseline on the dataset (default: $ARTSPEED_DATASET or
   fashion_mnist; reused from runs/baseline/ if it matches, else trained), deployed as an FP32 IR (outputs against Keras with the f32
   hint: max abs diff) and as an NNCF INT8 IR (test accuracy against Keras).
2. ResNet50 (weights=None) at 224x224, batch 1, sync, latency hint: Keras
   ``model.predict``, OpenVINO with the f32 hint, with OpenVINO's default
   precision (bf16 on AMX CPUs) and NNCF INT8 (calibrated on dataset images
   resized to 224x224x3). Latency is the median over ``--rounds``
   interleaved rounds of each predictor's p50, so load on a shared machine
   hits them alike.

Prints the figures and the issue's ratios; asserts nothing on time.
(ARTSPEED_FAST=1: a baseline of 1 epoch on 2,000 images, as the notebooks', 2 rounds.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from _common import add_baseline_arguments, trained_baseline  # benchmarks/_common.py


def _images_224(ds, count: int, size: int):
    """Dataset images as (count, size, size, 3) float32 in [0, 1], for calibrating ResNet50."""
    import tensorflow as tf

    x = ds.x_train[:count]
    if x.shape[-1] == 1:
        x = x.repeat(3, axis=-1)
    return tf.image.resize(x, (size, size)).numpy().astype("float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_baseline_arguments(parser)
    parser.add_argument("--calibration-samples", type=int, default=300)
    parser.add_argument("--resnet-calibration-samples", type=int, default=64)
    parser.add_argument("--resolution", type=int, default=224, help="ResNet50 input size")
    parser.add_argument("--rounds", type=int, help="interleaved latency rounds (default 5; 2 fast)")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per predictor per round")
    parser.add_argument("--out", help="folder for the IRs (default: a temporary folder)")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import artspeed

    fast = artspeed.fast_mode()
    rounds = args.rounds or (2 if fast else 5)

    # -- 1. the baseline CNN: FP32 outputs and INT8 accuracy ------------------------
    _, ds, out, model, _ = trained_baseline(args, "bench_openvino_",
                                            limit_train=2000 if fast else None)
    print("OpenVINO's default inference precision here:", artspeed.default_inference_precision())
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    fp32 = artspeed.deploy(model, out, "fp32", ds)
    int8 = artspeed.deploy(model, out, "int8", ds, calibration_samples=args.calibration_samples,
                           progress=False)
    print(f"\n== baseline CNN on {ds.name} ({len(ds.x_train)} train / {len(ds.x_test)} test)")
    for d in (fp32, int8):
        print(f"{d.precision:<5} {d.bin_bytes:>10,} bytes  accuracy {d.accuracy:.2%} "
              f"(Keras {d.reference_accuracy:.2%})  max |diff| {d.max_abs_diff:.2e}  "
              f"top-1 agreement {d.top1_agreement:.2%}")

    # -- 2. ResNet50 at batch 1 -------------------------------------------------------
    size = args.resolution
    tf_keras.utils.set_random_seed(0)
    resnet = tf_keras.applications.ResNet50(weights=None, input_shape=(size, size, 3))
    started = time.perf_counter()
    ir = artspeed.convert_model(resnet, batch_size=1)
    calibration = _images_224(ds, args.resnet_calibration_samples, size)
    ir8 = artspeed.quantize_openvino(ir, calibration, subset_size=len(calibration),
                                     progress=False)
    xml8 = artspeed.save_ir(ir8, out / f"resnet50_{size}_int8.xml")
    xml32 = artspeed.save_ir(ir, out / f"resnet50_{size}_fp32.xml")
    print(f"\n== ResNet50 at {size}x{size}, batch 1 (converted and quantized on "
          f"{len(calibration)} images in {time.perf_counter() - started:.0f} s)")
    predictors = {
        "keras predict": artspeed.KerasPredictor(resnet, mode="predict"),
        "openvino f32": artspeed.compile_model(xml32, inference_precision="f32"),
        "openvino default": artspeed.compile_model(xml32, inference_precision=None),
        "openvino int8": artspeed.compile_model(xml8, inference_precision="f32"),
    }
    x = calibration[:1]
    timings: dict = {name: [] for name in predictors}
    for _ in range(rounds):
        for name, predictor in predictors.items():
            result = artspeed.benchmark(predictor, inputs=x, duration_s=args.duration,
                                        warmup=3, warn=False)
            timings[name].append(result.latency_ms["p50"])
    p50 = {name: statistics.median(values) for name, values in timings.items()}
    for name, value in p50.items():
        spread = ", ".join(f"{v:.1f}" for v in timings[name])
        print(f"{name:<17} p50 {value:9.2f} ms   (rounds: {spread})")
    check = artspeed.validate(predictors["openvino f32"], resnet, calibration[:8])
    default = predictors["openvino default"].compiled_model(1).get_property(
        "INFERENCE_PRECISION_HINT").to_string()

    # -- the targets, as measured ratios ------------------------------------
    drop = 100 * (int8.reference_accuracy - int8.accuracy)
    print("\n== targets (ratios of medians measured in this run)")
    print(f"ResNet50 INT8 vs OpenVINO f32 hint:  {p50['openvino f32'] / p50['openvino int8']:.2f}x "
          "faster (target >= 1.5x)")
    print(f"ResNet50 INT8 vs Keras predict:      {p50['keras predict'] / p50['openvino int8']:.2f}x "
          "faster (target >= 10x)")
    print(f"ResNet50 default ({default}) vs f32: "
          f"{p50['openvino f32'] / p50['openvino default']:.2f}x faster")
    print(f"ResNet50 FP32 (f32 hint) vs Keras:   max |diff| {check.max_abs_diff:.2e} on 8 images")
    print(f"baseline CNN INT8 accuracy:          {drop:+.2f} points lost against Keras "
          f"({int8.accuracy:.2%} vs {int8.reference_accuracy:.2%}; target within 1 point)")
    print(f"baseline CNN FP32 outputs:           max |diff| {fp32.max_abs_diff:.2e} "
          "with the f32 hint (target <= 1e-4)")
    print(f"IRs in {out}")


if __name__ == "__main__":
    main()
