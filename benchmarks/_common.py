"""What the benchmark scripts share: the dataset, an output folder, the trained baseline."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from artspeed.core.config import DEFAULT_DATASET_HELP


def add_baseline_arguments(parser) -> None:
    """--dataset, --epochs and --retrain: which baseline the script starts from."""
    parser.add_argument("--dataset", help=DEFAULT_DATASET_HELP)
    parser.add_argument("--epochs", type=int,
                        help="baseline training epochs (default 5; 1 with ARTSPEED_FAST=1)")
    parser.add_argument("--retrain", action="store_true",
                        help="train the baseline even if runs/baseline/ holds a matching one")


def trained_baseline(args, prefix: str, limit_train: int | None = None):
    """(artspeed, dataset, folder, model, accuracy): the workbook's trained baseline.

    artspeed.trained_baseline reuses the one chapter 00 saved in runs/baseline/
    when it was trained on the same data with the same settings, else trains it
    (and saves it there). Prints the environment, the dataset and the baseline.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import artspeed

    print(artspeed.environment())
    ds = artspeed.load_dataset(args.dataset, limit_train=limit_train)
    print(f"dataset: {ds.name}, {len(ds.x_train)} train / {len(ds.x_test)} test, "
          f"from {ds.source}")
    folder = Path(args.out or tempfile.mkdtemp(prefix=prefix))
    baseline = artspeed.trained_baseline(ds, epochs=args.epochs, progress=False,
                                         path=artspeed.baseline_path(ds.name),
                                         retrain=args.retrain)
    model = baseline.model
    accuracy = artspeed.accuracy(model, ds)
    print(f"baseline: {baseline.history.epochs} epochs, {model.count_params():,} parameters, "
          f"accuracy {accuracy:.2%}")
    return artspeed, ds, folder, model, accuracy
