"""What the subcommands share: argument types, the data and output options, and
the cheap checks that run before TensorFlow loads.

>>> _fraction("0.8"), _positive_int("3"), _seed("7")
(0.8, 3, 7)
"""

from __future__ import annotations

import argparse
import json

from artspeed.core import _checks, config
from artspeed.core._io import check_file_target, check_writable_dir
from artspeed.core.config import DEFAULT_DATASET_HELP
from artspeed.core.data import DATASETS, load_dataset
from artspeed.core.errors import InvalidArgumentError, ModelError


def _checked(convert, check, what: str):
    """An argparse type: ``convert`` the text, then apply the library's ``check``."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        try:
            return check(value)
        except InvalidArgumentError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


_positive_int = _checked(int, lambda v: _checks.whole_number("the value", v), "a whole number")
_seed = _checked(int, _checks.seed, "a whole number from 0 to 4294967295")
_threads = _checked(int, _checks.threads, "a whole number of threads")
_width = _checked(int, lambda v: _checks.whole_number("width", v, 1, _checks.MAX_WIDTH),
                  "a whole number of filters")
_positive_float = _checked(float, lambda v: _checks.positive_finite("the value", v), "a number")


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
                        f"({DEFAULT_DATASET_HELP})")
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
    """``--dataset``, or None when it was not given (so ``load_dataset`` may fall back
    from the default); an unknown name fails here, before TensorFlow loads."""
    name = args.dataset or config.default_dataset()
    if name not in DATASETS:
        load_dataset(name)  # raises the unknown-dataset error
    return args.dataset or None


def _load_data(args, name: str | None, epochs: int | None = None):
    """The dataset (2,000 training images in fast mode) and the epochs to run:
    ``--epochs``, else ``epochs`` (1 in fast mode)."""
    fast = config.fast_mode()
    dataset = load_dataset(name, limit_train=args.limit_train or (2000 if fast else None))
    chosen = getattr(args, "epochs", None) or (1 if fast or epochs is None else epochs)
    return dataset, chosen


def _check_out(out, suffixes=(".keras", ".h5")) -> None:
    """``out`` names a file (not a folder) ending in one of ``suffixes``, in a folder
    that can be written: checked before any work starts."""
    check_file_target(out, "--out needs", suffixes[0])
    if out.suffix not in suffixes:
        kinds = suffixes[0] + "".join(f" (or {x})" for x in suffixes[1:])
        raise InvalidArgumentError(f"--out must name a {kinds} file, got '{out}'")
    check_writable_dir(out.parent)


def _check_model_and_out(model_path, out, suffixes=(".keras", ".h5"), what="MODEL") -> None:
    """Cheap checks before TensorFlow loads: the Keras model exists, ``out`` ends in
    one of ``suffixes`` and its folder can be written."""
    if not model_path.exists():
        raise ModelError(f"no model at '{model_path}': the path does not exist")
    if model_path.suffix not in (".keras", ".h5") and not (model_path / "saved_model.pb").exists():
        raise ModelError(f"{what} '{model_path}' is not a Keras model; expected a .keras or .h5 "
                         "file or a SavedModel folder (train one with `artspeed train`)")
    _check_out(out, suffixes)
