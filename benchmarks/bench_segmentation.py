"""Issue 18's figures: the seed's hands-on on the UNet (shapes_seg masks), all in one run.

Run: python benchmarks/bench_segmentation.py [--epochs N] [--retrain] [--prune-epochs N]
     [--calibration-samples N] [--rounds N] [--duration S] [--threads N] [--out DIR]
     [--json FILE] [--no-tour]
(ARTSPEED_FAST=1: the UNet trains 1 epoch on 1,000 scenes, 2 short rounds; a code-path
check, not the figures.)

1. The UNet (``artspeed.trained_unet``) on the whole ``shapes_seg`` (96x96 scenes,
   binary masks), reused from runs/baseline/shapes_seg.keras when it was trained the
   same way, else trained and saved there.
2. The seed's hands-on table: Keras float, TFLite fp32, fp16 and int8 with uint8 I/O,
   pruned 0.5 -> 0.8 (polynomial, the seed's schedule) as float TFLite and int8
   (``prune_then_quantize``), OpenVINO FP32 and NNCF INT8 (plus TFLite int8 with float
   I/O, to show what the uint8 I/O costs). Size raw and gzipped, mean IoU on the test
   masks and its drop against the Keras model in points, batch-1 p50 latency: every
   variant measured by ``artspeed.measure_variants`` in interleaved rounds (medians),
   all at the same number of threads.
3. The quick tour on ``shapes_seg`` (``artspeed.run_tour(quick=True)``) in a fresh
   folder, given the dataset itself so that it trains its own UNet (a dataset named
   by string would reuse the one of step 1): its wall time and step times.
4. Issue 18's four targets, each as measured figure, target, met or MISSED (and why).

Writes the figures and ``artspeed.environment()`` to --json (default
benchmarks/results/segmentation.json). Asserts nothing on time; other programs may
share the cores (the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import artspeed  # noqa: E402  (before TensorFlow: selects Keras 2)
from artspeed.tour.results import TourSettings  # noqa: E402

RESULTS = Path(__file__).parent / "results"
INT8_DROP_POINTS = 1.0       # target 1: int8 within 1 point of mean IoU ...
INT8_SIZE_RATIO = 0.3        # ... at most 0.3x the float .tflite
PRUNED_TIMES_SMALLER = 8.0   # target 2: pruned + int8 >= 8x smaller gzipped ...
PRUNED_DROP_POINTS = 2.0     # ... within 2 points
OPENVINO_SPEEDUP = 2.0       # target 3: OpenVINO INT8 >= 2x faster than TFLite fp32, batch 1
TOUR_MINUTES = 10.0          # target 4: the quick tour on the UNet under 10 minutes
KEEP_DENSE = ("down0_conv1", "mask")   # pruning leaves the first and the output layer dense
PRUNE_LEARNING_RATE = 1e-3   # Adam's default, as tfmot's pruning guide compiles

SEED_ROWS = {   # the seed's hands-on table, in its order
    "Keras float": "the trained UNet, tf.function",
    "TFLite fp32": "convert_to_tflite(m, 'float32')",
    "TFLite fp16": "convert_to_tflite(m, 'float16')",
    "TFLite int8 uint8-I/O": "convert_to_tflite(m, 'int8', ds, input_type/output_type='uint8')",
    "pruned 0.5->0.8 float": "magnitude_pruning(..., 0.8, 'polynomial', 0.5) -> TFLite fp32",
    "pruned 0.5->0.8 int8": "prune_then_quantize(pruned, ds)",
    "OpenVINO FP32": "convert_model + save_ir, f32 hint",
    "OpenVINO INT8": "quantize_openvino (NNCF) + save_ir",
}
EXTRA_ROWS = {"TFLite int8 float-I/O": "convert_to_tflite(m, 'int8', ds): float I/O"}


def load_line() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def check(label: str, ok: bool, detail: str) -> None:
    print(f"  [{'met' if ok else 'MISSED'}] {label}: {detail}")


def seed_table(table, names) -> str:
    """The seed's hands-on table, as Markdown: size, gzipped, mean IoU, drop, batch-1 p50."""
    lines = ["| variant | size KB | gzip KB | mean IoU | drop (points) | p50 ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in names:
        v = table[name]
        lines.append(f"| {name} | {v.size_bytes / 1024:.1f} | {v.gzip_bytes / 1024:.1f} | "
                     f"{100 * v.score:.2f}% | {v.drop:+.2f} | {v.latency_ms:.3f} |")
    return "\n".join(lines)


def build_variants(model, ds, folder: Path, args) -> tuple[dict, dict]:
    """name -> variant (a QuantizedModel, an IR path or the Keras model), and the pruning."""
    cal = args.calibration_samples
    variants, built = {"Keras float": model}, {}

    def timed(name, make):
        start = time.perf_counter()
        variants[name] = make()
        built[name] = time.perf_counter() - start
        print(f"built {name:<24} in {built[name]:6.1f} s")

    timed("TFLite fp32", lambda: artspeed.convert_to_tflite(
        model, "float32", path=folder / "unet-fp32.tflite"))
    timed("TFLite fp16", lambda: artspeed.convert_to_tflite(
        model, "float16", path=folder / "unet-fp16.tflite"))
    timed("TFLite int8 uint8-I/O", lambda: artspeed.convert_to_tflite(
        model, "int8", ds, calibration_samples=cal, input_type="uint8", output_type="uint8",
        path=folder / "unet-int8-uint8io.tflite"))
    timed("TFLite int8 float-I/O", lambda: artspeed.convert_to_tflite(
        model, "int8", ds, calibration_samples=cal, path=folder / "unet-int8.tflite"))

    start = time.perf_counter()
    # the first convolution and the 1x1 output layer (16 weights) stay dense, as tfmot's guide
    # advises; the fine-tune runs at Adam's default 1e-3, as the guide compiles it
    pruned = artspeed.magnitude_pruning(model, ds, 0.8, schedule="polynomial",
                                        initial_sparsity=0.5, epochs=args.prune_epochs,
                                        skip=KEEP_DENSE, learning_rate=PRUNE_LEARNING_RATE,
                                        progress=False)
    built["pruning"] = time.perf_counter() - start
    print(f"pruned 0.5 -> 0.8 (polynomial, {args.prune_epochs} epochs at learning rate "
          f"{PRUNE_LEARNING_RATE:g}, {', '.join(KEEP_DENSE)} kept dense) in "
          f"{built['pruning']:.0f} s: {pruned!r}")
    achieved = [row.achieved_sparsity for row in pruned.report.layers if row.target_sparsity]
    print(f"  {len(achieved)} pruned layers, achieved sparsity {min(achieved):.1%} to "
          f"{max(achieved):.1%}")
    timed("pruned 0.5->0.8 float", lambda: artspeed.convert_to_tflite(
        pruned.model, "float32", path=folder / "unet-pruned80-fp32.tflite"))
    timed("pruned 0.5->0.8 int8", lambda: artspeed.prune_then_quantize(
        pruned.model, ds, calibration_samples=cal, path=folder / "unet-pruned80-int8.tflite"))

    def openvino(precision):
        def make():
            ir = artspeed.convert_model(model)
            if precision == "int8":
                ir = artspeed.quantize_openvino(ir, ds, subset_size=cal, progress=False)
            return artspeed.save_ir(ir, folder / f"unet_{precision}.xml")
        return make

    timed("OpenVINO FP32", openvino("fp32"))
    timed("OpenVINO INT8", openvino("int8"))
    return variants, {"built_s": built, "pruning": pruned}


def run_quick_tour(args, threads: int) -> dict:
    """The quick tour on shapes_seg in a fresh folder, training its own UNet."""
    settings = TourSettings.for_run(True, fast=artspeed.fast_mode(), task="segmentation")
    # a Dataset object (not the name "shapes_seg"): the tour then trains the UNet itself
    # instead of reusing runs/baseline/shapes_seg.keras, the copy step 1 just saved
    ds = artspeed.load_dataset("shapes_seg", limit_train=settings.limit_train)
    out = Path(tempfile.mkdtemp(prefix="artspeed-bench-seg-tour-"))
    print(f"\nquick tour on {ds.name} ({len(ds.x_train)} train / {len(ds.x_test)} test) in "
          f"{out}, {threads} thread(s), {settings!r}; {load_line()}")
    started = time.perf_counter()
    tour = artspeed.run_tour(dataset=ds, quick=True, out=out, threads=threads, progress=False)
    wall = time.perf_counter() - started
    steps = json.loads((out / "state.json").read_text()).get("step_seconds", {})
    print(f"tour: {tour.seconds:.0f} s ({tour.seconds / 60:.1f} min; wall {wall:.0f} s); "
          f"baseline {tour.baseline_origin}{tour.time_note}; {load_line()}")
    for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        print(f"  {step:<28} {seconds:7.1f} s")
    print("  variants: " + ", ".join(f"{v.name} {v.measure.format(v.score)}"
                                      for v in tour.variants))
    if tour.skipped:
        print(f"  skipped: {tour.skipped}")
    return {"seconds": tour.seconds, "wall_s": wall, "baseline_origin": tour.baseline_origin,
            "settings": settings.to_dict(), "step_seconds": steps, "out": str(out),
            "threads": threads, "picks": tour.picks,
            "variants": {v.name: {"score": v.score, "p50_ms": v.latency_ms.get("p50"),
                                  "gzip_bytes": v.gzip_bytes} for v in tour.variants}}


def why_slow(model, table, ir_path) -> None:
    """What dominates the UNet's latency: its layers by MACs, and where OpenVINO INT8 spends."""
    p = artspeed.profile(model)
    print(f"  the UNet: {p.macs / 1e6:.1f} M MACs, {p.total_params:,} parameters; by MACs:")
    for row in sorted(p.layers, key=lambda r: -(r.macs or 0))[:6]:
        print(f"    {row.name:<24} {row.type:<18} {(row.macs or 0) / 1e6:7.1f} M MACs "
              f"({(row.macs or 0) / p.macs:.0%})")
    macs_per_ms = {n: p.macs / 1e6 / table[n].latency_ms
                   for n in ("TFLite fp32", "TFLite int8 uint8-I/O", "OpenVINO INT8")}
    print("  M MACs per ms: " + ", ".join(f"{n} {v:.0f}" for n, v in macs_per_ms.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int,
                        help="UNet training epochs (default unet_epochs(): 6; 1 in fast mode)")
    parser.add_argument("--retrain", action="store_true",
                        help="train the UNet even if runs/baseline/ holds a matching one")
    parser.add_argument("--prune-epochs", type=int, default=2,
                        help="fine-tuning epochs of the 0.5 -> 0.8 pruning")
    parser.add_argument("--calibration-samples", type=int, default=200,
                        help="int8 calibration images (TFLite and NNCF)")
    parser.add_argument("--rounds", type=int, help="interleaved latency rounds (default 5; 2 fast)")
    parser.add_argument("--duration", type=float, help="seconds per variant and round "
                        "(default 1.0; 0.3 fast)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of every runtime in the latency runs (default 1)")
    parser.add_argument("--out", help="folder for the model files (default: temporary)")
    parser.add_argument("--json", default=str(RESULTS / "segmentation.json"),
                        help="where the figures go (default benchmarks/results/segmentation.json)")
    parser.add_argument("--no-tour", action="store_true", help="skip the quick tour (target 4)")
    args = parser.parse_args()

    started = time.perf_counter()
    fast = artspeed.fast_mode()
    rounds = args.rounds or (2 if fast else 5)
    duration = args.duration or (0.3 if fast else 1.0)
    env = artspeed.environment()
    print(env)
    print(load_line())
    ds = artspeed.load_dataset("shapes_seg", limit_train=1000 if fast else None)
    print(f"dataset: {ds.name} ({ds.task}), {len(ds.x_train)} train / {len(ds.x_test)} test, "
          f"{ds.input_shape}, from {ds.source}")
    folder = Path(args.out or tempfile.mkdtemp(prefix="artspeed-bench-seg-"))
    folder.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    trained = artspeed.trained_unet(ds, epochs=args.epochs, path=artspeed.baseline_path(ds.name),
                                    retrain=args.retrain, progress=False)
    model = trained.model
    float_iou = artspeed.evaluate(model, ds)
    print(f"UNet: {trained.history.epochs} epochs, {model.count_params():,} parameters, "
          f"{'reused' if trained.reused else 'trained'} in {time.perf_counter() - start:.0f} s; "
          f"{float_iou!r}")

    variants, extra = build_variants(model, ds, folder, args)
    names = [*SEED_ROWS, *EXTRA_ROWS]
    print(f"\nmeasuring {len(names)} variants: {rounds} interleaved rounds of {duration:g} s, "
          f"batch 1, {args.threads} thread(s) each; {load_line()}")
    table = artspeed.measure_variants({n: variants[n] for n in names}, ds, model,
                                      rounds=rounds, duration_s=duration, threads=args.threads,
                                      # TensorFlow's threads are fixed once a process has run it (the
                                      # UNet trained or loaded): Keras runs at its default
                                      options={"Keras float": {"mode": "function",
                                                               "threads": None}},
                                      baseline="TFLite fp32")
    print(f"done; {load_line()}\n")
    print(table)
    print(f"\nthe seed's hands-on table: mean IoU on {len(ds.x_test)} test masks, drop against "
          f"Keras float, batch-1 p50 at {args.threads} thread(s) (median of {rounds} "
          f"interleaved rounds; Keras float at TensorFlow's default, "
          f"{table['Keras float'].threads or env.available_cores} threads)")
    print(seed_table(table, list(SEED_ROWS)))
    print("beside it, to show what uint8 I/O costs:")
    print("\n".join(seed_table(table, list(EXTRA_ROWS)).splitlines()[2:]))

    tour = None if args.no_tour else run_quick_tour(args, threads=env.available_cores)

    # -- the targets ----------------------------------------------------------------
    fp32 = table["TFLite fp32"]
    int8, int8f = table["TFLite int8 uint8-I/O"], table["TFLite int8 float-I/O"]
    pint8, ov8, ov32 = table["pruned 0.5->0.8 int8"], table["OpenVINO INT8"], table["OpenVINO FP32"]
    size_ratio = int8.size_bytes / fp32.size_bytes
    gzip_smaller = fp32.gzip_bytes / pint8.gzip_bytes
    speedup = fp32.latency_ms / ov8.latency_ms
    targets = {
        "int8_uint8io_drop_points": int8.drop, "int8_size_ratio": size_ratio,
        "pruned_int8_gzip_times_smaller": gzip_smaller, "pruned_int8_drop_points": pint8.drop,
        "openvino_int8_speedup_vs_tflite_fp32": speedup,
        "tour_minutes": tour["seconds"] / 60 if tour else None}
    print(f"\ntargets (figures from this run; drops against Keras float, mean IoU "
          f"{100 * table['Keras float'].score:.2f}%):")
    ok1 = int8.drop <= INT8_DROP_POINTS and size_ratio <= INT8_SIZE_RATIO
    check("1. int8 (uint8 I/O) within 1 point of mean IoU, <= 0.3x the float .tflite", ok1,
          f"{int8.drop:+.2f} points ({100 * int8.score:.2f}% vs {100 * int8.float_score:.2f}%), "
          f"{size_ratio:.3f}x ({fp32.size_bytes:,} -> {int8.size_bytes:,} bytes)")
    if int8.drop > INT8_DROP_POINTS:
        print(f"     why: int8 with float I/O drops {int8f.drop:+.2f} points (agreement "
              f"{int8f.agreement:.1%}); with uint8 I/O {int8.drop:+.2f} (agreement "
              f"{int8.agreement:.1%}): the uint8 output holds the sigmoid in steps of 1/256")
    ok2 = gzip_smaller >= PRUNED_TIMES_SMALLER and pint8.drop <= PRUNED_DROP_POINTS
    check("2. pruned 0.5->0.8 + int8: >= 8x smaller gzipped than the float .tflite gzipped, "
          "within 2 points", ok2,
          f"{gzip_smaller:.2f}x ({fp32.gzip_bytes:,} -> {pint8.gzip_bytes:,} gzipped bytes), "
          f"{pint8.drop:+.2f} points ({100 * pint8.score:.2f}%); the pruned float .tflite "
          f"gzips {fp32.gzip_bytes / table['pruned 0.5->0.8 float'].gzip_bytes:.2f}x smaller")
    if pint8.drop > PRUNED_DROP_POINTS:
        pfloat = table["pruned 0.5->0.8 float"]
        print(f"     why: pruning alone (float) drops {pfloat.drop:+.2f} points, int8 on top "
              f"{pint8.drop - pfloat.drop:+.2f}; the 0.5 -> 0.8 ramp fine-tunes "
              f"{args.prune_epochs} epochs at learning rate {PRUNE_LEARNING_RATE:g}")
    ok3 = speedup >= OPENVINO_SPEEDUP
    check(f"3. OpenVINO INT8 >= 2x faster than TFLite fp32, batch 1, {args.threads} thread(s)",
          ok3, f"{speedup:.2f}x (p50 {fp32.latency_ms:.3f} -> {ov8.latency_ms:.3f} ms; "
          f"OpenVINO FP32 {ov32.latency_ms:.3f} ms, TFLite int8 {int8.latency_ms:.3f} ms)")
    if not ok3:
        why_slow(model, table, variants["OpenVINO INT8"])
    if tour:
        ok4 = tour["seconds"] / 60 < TOUR_MINUTES
        steps = tour["step_seconds"]
        top = ", ".join(f"{k} {v:.0f} s" for k, v in
                        sorted(steps.items(), key=lambda kv: -kv[1])[:4])
        check(f"4. quick tour on the UNet (shapes_seg, {tour['threads']} cores) under 10 minutes",
              ok4, f"{tour['seconds'] / 60:.1f} min, the UNet {tour['baseline_origin']} in the "
              f"tour; longest steps: {top}")
    else:
        print("  [-] 4. quick tour: not run (--no-tour)")

    minutes = (time.perf_counter() - started) / 60
    print(f"\nthe whole run took {minutes:.1f} min; {load_line()}; files in {folder}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({
        "env": env.to_dict(), "dataset": {"name": ds.name, "train": len(ds.x_train),
                                          "test": len(ds.x_test)},
        "unet": {"epochs": trained.history.epochs, "params": model.count_params(),
                 "reused": trained.reused, "mean_iou": float_iou.value},
        "settings": {"rounds": rounds, "duration_s": duration, "threads": args.threads,
                     "calibration_samples": args.calibration_samples,
                     "prune_epochs": args.prune_epochs},
        "built_s": extra["built_s"], "table": table.to_dict(), "targets": targets,
        "met": {"int8": ok1, "pruned_int8": ok2, "openvino_int8": ok3,
                "tour": (tour["seconds"] / 60 < TOUR_MINUTES) if tour else None},
        "tour": tour, "minutes": minutes}, indent=1, default=str))
    print(f"figures in {args.json}")


if __name__ == "__main__":
    main()
