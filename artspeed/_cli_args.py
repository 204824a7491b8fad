"""What the subcommands share: argument types, the data and output options, and
the cheap checks that run before TensorFlow loads.

>>> _fraction("0.8"), _positive_int("3")
(0.8, 3)
"""

from __future__ import annotations

import argparse
import json


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text}")
    return value


def _fraction(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.8, got {text!r}") from None


def _input_shape(text: str) -> tuple:
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 224,224,3, got {text!r}") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected sizes >= 1 like 224,224,3, got {text!r}")
    return shape


def _emit(args, payload, lines) -> None:
    """The JSON of ``payload`` with --json, else the lines for people."""
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        for line in lines:
            print(line)


def _add_data_arguments(parser, data_help: str, epochs_help: str | None = None) -> None:
    """--dataset, --limit-train and, given ``epochs_help``, --epochs."""
    parser.add_argument("--dataset", metavar="NAME",
                        help=f"{data_help}: fashion_mnist, mnist, cifar10 or shapes "
                        "(default: $ARTSPEED_DATASET or fashion_mnist)")
    if epochs_help is not None:
        parser.add_argument("--epochs", type=_positive_int, metavar="N", help=epochs_help)
    parser.add_argument("--limit-train", type=_positive_int, metavar="N",
                        help="use the first N training images only (2000 with ARTSPEED_FAST=1)")


def _add_out_arguments(parser, out_help: str, default: str | None = None) -> None:
    """--out (required unless it has a default) and --json."""
    parser.add_argument("--out", required=default is None, default=default, help=out_help)
    parser.add_argument("--json", action="store_true", help="print JSON only")


def _add_unsafe_argument(parser) -> None:
    """--unsafe: load Keras files whose loading runs code (passed on as safe_mode=False)."""
    parser.add_argument("--unsafe", action="store_true",
                        help="load models whose files hold code (Lambda layers, custom "
                        "objects); runs that code: only for files you trust")


def _dataset_for(args):
    """The dataset's name; an unknown one fails here, before TensorFlow loads."""
    from . import config
    from .data import DATASETS, load_dataset

    name = args.dataset or config.default_dataset()
    if name not in DATASETS:
        load_dataset(name)  # raises the unknown-dataset error
    return name


def _load_data(args, name: str, epochs: int | None = None):
    """The dataset (2,000 training images in fast mode) and the epochs to run:
    ``--epochs``, else ``epochs`` (1 in fast mode)."""
    from . import config
    from .data import load_dataset

    fast = config.fast_mode()
    dataset = load_dataset(name, limit_train=args.limit_train or (2000 if fast else None))
    chosen = getattr(args, "epochs", None) or (1 if fast or epochs is None else epochs)
    return dataset, chosen


def _check_model_and_out(model_path, out, suffixes=(".keras", ".h5"), what="MODEL") -> None:
    """Cheap checks before TensorFlow loads: the Keras model exists, ``out`` ends in
    one of ``suffixes`` and its folder can be written."""
    from ._io import ensure_writable_dir
    from .errors import InvalidArgumentError, ModelError

    if not model_path.exists():
        raise ModelError(f"no model at '{model_path}': the path does not exist")
    if model_path.suffix not in (".keras", ".h5") and not (model_path / "saved_model.pb").exists():
        raise ModelError(f"{what} '{model_path}' is not a Keras model; expected a .keras or .h5 "
                         "file or a SavedModel folder (train one with `artspeed train`)")
    if out.suffix not in suffixes:
        kinds = suffixes[0] + "".join(f" (or {x})" for x in suffixes[1:])
        raise InvalidArgumentError(f"--out must name a {kinds} file, got '{out}'")
    ensure_writable_dir(out.parent)
