"""Settings read from the environment: fast mode, the data folder, the dataset.

Every notebook reads the same switches, so CI and a learner run one code path:

- ``ARTSPEED_FAST=1`` shrinks epochs and data (CI sets it);
- ``ARTSPEED_DATA_DIR`` names a folder of ``<name>.npz`` files for offline use;
- ``ARTSPEED_DATASET`` overrides the workbook's default dataset;
- ``ARTSPEED_OFFLINE=1`` forbids downloads: only local files are used.

Files the notebooks share (chapter 00's trained baseline) live in the
workbook's ``runs/`` folder, found the same way from any working folder.

>>> import os
>>> saved = os.environ.get("ARTSPEED_FAST", "")
>>> os.environ["ARTSPEED_FAST"] = "1"; fast_mode()
True
>>> os.environ["ARTSPEED_FAST"] = "0"; fast_mode()
False
>>> os.environ["ARTSPEED_FAST"] = saved
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fast_mode", "offline", "data_dir", "default_dataset", "dataset_chosen",
           "runs_dir", "baseline_path", "DEFAULT_DATASET", "DEFAULT_DATASET_HELP"]

DEFAULT_DATASET = "fashion_mnist"
DEFAULT_DATASET_HELP = ("default: $ARTSPEED_DATASET, else fashion_mnist, or the built-in "
                        "'shapes' when fashion_mnist cannot be loaded")
_TRUE = {"1", "true", "yes", "on"}


def fast_mode() -> bool:
    """True when ``ARTSPEED_FAST`` is set to 1/true/yes/on."""
    return os.environ.get("ARTSPEED_FAST", "").strip().lower() in _TRUE


def offline() -> bool:
    """True when ``ARTSPEED_OFFLINE`` is set to 1/true/yes/on: never download."""
    return os.environ.get("ARTSPEED_OFFLINE", "").strip().lower() in _TRUE


def data_dir() -> Path | None:
    """The offline data folder from ``ARTSPEED_DATA_DIR``, or None if unset."""
    value = os.environ.get("ARTSPEED_DATA_DIR", "").strip()
    return Path(value).expanduser() if value else None


def default_dataset() -> str:
    """``ARTSPEED_DATASET`` if set, else the workbook's default, fashion_mnist."""
    return os.environ.get("ARTSPEED_DATASET", "").strip() or DEFAULT_DATASET


def dataset_chosen() -> bool:
    """True when ``ARTSPEED_DATASET`` names a dataset (the user chose it)."""
    return bool(os.environ.get("ARTSPEED_DATASET", "").strip())


def runs_dir() -> Path:
    """The workbook's ``runs/`` folder: beside the nearest ``pyproject.toml`` from the
    current folder upwards (the repository's root, also from ``notebooks/``), else here.

    >>> runs_dir().name
    'runs'
    """
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder / "runs"
    return here / "runs"


def baseline_path(dataset: str | None = None) -> Path:
    """Where chapter 00 saves the trained baseline for the later chapters to reuse.

    ``runs/baseline/<dataset>.keras`` (default dataset: ``default_dataset()``),
    ``<dataset>-fast.keras`` in fast mode, so a quick run never replaces the full one.

    >>> baseline_path("mnist").relative_to(runs_dir()).parent.as_posix()
    'baseline'
    """
    name = f"{dataset or default_dataset()}{'-fast' if fast_mode() else ''}"
    return runs_dir() / "baseline" / f"{name}.keras"
