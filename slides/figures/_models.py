"""The models the deck's measured figures share.

- The baseline CNN (width 32), trained briefly on the built-in ``shapes``
  dataset: the quantization, pruning and distillation figures look inside it.
- The speed lessons' vehicle (``artspeed.vehicle``, MobileNetV2-style, fused first stages, 96x96
  colour) at the widths ``settings()["alphas"]`` on the built-in ``scenes``: the speed
  figures (batch size, Pareto) time it. Trained once and reused through
  ``artspeed.trained_vehicle`` (the width-1.4 one at ``artspeed.baseline_path("scenes")``,
  the file the notebooks share); in fast mode it keeps its random initial
  weights, since speed does not depend on them (accuracy does: the slides say so).

Everything is built in (no download, so the build works offline).
``ARTSPEED_FAST=1`` trains on fewer images for fewer epochs and measures for
less time.
"""

from __future__ import annotations

import functools
from pathlib import Path

import artspeed  # first: selects Keras 2 before TensorFlow loads

DATASET = "shapes"
VEHICLE_ALPHA = 1.4   # the vehicle's own width multiplier


def settings() -> dict:
    """Training and timing budgets; smaller in fast mode (CI)."""
    if artspeed.fast_mode():
        return {"limit_train": 3000, "limit_test": 1000, "epochs": 2, "duration_s": 0.15,
                "rounds": 3, "vehicle_train": 256, "vehicle_test": 200, "calibration": 32,
                "alphas": (0.5, VEHICLE_ALPHA), "max_batch": 64}
    return {"limit_train": 6000, "limit_test": 1000, "epochs": 4, "duration_s": 0.4,
            "rounds": 5, "vehicle_train": None, "vehicle_test": None, "calibration": 300,
            "alphas": (0.5, 1.0, VEHICLE_ALPHA), "max_batch": 128}


@functools.lru_cache(maxsize=1)
def dataset():
    s = settings()
    return artspeed.load_dataset(DATASET, limit_train=s["limit_train"],
                                 limit_test=s["limit_test"])


@functools.cache
def trained(width: int):
    """(model, history) for the baseline CNN of ``width``, trained with a fixed seed."""
    baseline = artspeed.trained_baseline(dataset(), width=width, epochs=settings()["epochs"],
                                         seed=0, progress=False)
    return baseline.model, baseline.history


@functools.lru_cache(maxsize=1)
def vehicle_dataset():
    """``scenes``: all of it to train the vehicle; a few images in fast mode (calibration, scoring)."""
    s = settings()
    return artspeed.load_dataset(artspeed.SPEED_DATASET, limit_train=s["vehicle_train"],
                                 limit_test=s["vehicle_test"])


def vehicle_path(alpha: float) -> Path:
    """Where the trained vehicle of width ``alpha`` is kept: the notebooks' file for 1.4."""
    path = artspeed.baseline_path(artspeed.SPEED_DATASET)
    return path if alpha == VEHICLE_ALPHA else path.with_name(f"{path.stem}-alpha{alpha:g}.keras")


@functools.cache
def vehicle(alpha: float):
    """(model, how its weights came about, in words) for the vehicle of width ``alpha``.

    Trained (or reused) with ``artspeed.trained_vehicle``'s defaults; in fast
    mode the random initial weights of ``artspeed.vehicle``.
    """
    ds = vehicle_dataset()
    if artspeed.fast_mode():
        return (artspeed.vehicle(ds.input_shape, ds.num_classes, alpha=alpha),
                "untrained in fast mode: speed does not depend on the weights")
    trained = artspeed.trained_vehicle(ds, alpha=alpha, path=vehicle_path(alpha), progress=False)
    return trained.model, (f"trained {trained.history.epochs} epochs on "
                           f"{len(ds.x_train):,} scenes")


def models_dir(out_dir: Path) -> Path:
    """Where converted variants are written (inside the gitignored build folder)."""
    path = Path(out_dir).parent / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save(fig, out_dir: Path, name: str) -> Path:
    """Save a matplotlib figure as ``out_dir/name.png`` and close it."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return path


@functools.cache
def _vehicle_ir(alpha: float, precision: str, folder: str) -> Path:
    model, _ = vehicle(alpha)
    path = Path(folder) / f"vehicle-a{alpha:g}-{precision}.xml"
    if precision == "int8":
        ov_model = artspeed.quantize_openvino(model, vehicle_dataset(),
                                              subset_size=settings()["calibration"],
                                              progress=False)
    else:
        ov_model = artspeed.convert_model(model)
    return artspeed.save_ir(ov_model, path)


def vehicle_ir(alpha: float, precision: str, out_dir: Path) -> Path:
    """The vehicle of width ``alpha`` as OpenVINO IR: ``"f32"`` weights, or ``"int8"`` (NNCF)."""
    return _vehicle_ir(alpha, precision, str(models_dir(out_dir)))


@functools.cache
def _vehicle_tflite(alpha: float, folder: str):
    model, _ = vehicle(alpha)
    return artspeed.convert_to_tflite(model, "float32",
                                      path=Path(folder) / f"vehicle-a{alpha:g}-float32.tflite")


def vehicle_tflite(alpha: float, out_dir: Path):
    """The vehicle of width ``alpha`` as a float32 ``.tflite`` (a QuantizedModel)."""
    return _vehicle_tflite(alpha, str(models_dir(out_dir)))
