"""The models the deck's measured figures share: width variants of the baseline CNN.

Each is trained briefly on the built-in ``shapes`` dataset (no download, so the
build works offline). ``ARTSPEED_FAST=1`` trains on fewer images for fewer
epochs and measures for less time; the code path is the same.
"""

from __future__ import annotations

import functools
from pathlib import Path

import artspeed  # first: selects Keras 2 before TensorFlow loads

WIDTHS = (4, 8, 16, 32)
DATASET = "shapes"


def settings() -> dict:
    """Training and timing budgets; smaller in fast mode (CI)."""
    if artspeed.fast_mode():
        return {"limit_train": 3000, "limit_test": 1000, "epochs": 2, "duration_s": 0.15,
                "rounds": 3}
    return {"limit_train": 6000, "limit_test": 1000, "epochs": 4, "duration_s": 0.4,
            "rounds": 5}


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
def _converted(width: int, mode: str, folder: str):
    model, _ = trained(width)
    path = Path(folder) / f"baseline-w{width}-{mode}.tflite"
    data = dataset() if mode == "int8" else None
    return artspeed.convert_to_tflite(model, mode, data, path=path)


def tflite_variant(width: int, mode: str, out_dir: Path):
    """The trained width-``width`` model converted to TFLite in ``mode`` (a QuantizedModel)."""
    return _converted(width, mode, str(models_dir(out_dir)))
