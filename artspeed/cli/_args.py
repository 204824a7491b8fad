"""What the subcommands share: argument types, the data and output options, and
the cheap checks that run before TensorFlow loads.

>>> _fraction("0.8"), _positive_int("3"), _seed("7")
(0.8, 3, 7)
"""

from __future__ import annotations

import argparse
import json

from artspeed.core import _checks
from artspeed.core.config import DEFAULT_DATASET_HELP
from artspeed.core.data import DatasetChoice
from artspeed.core.errors import InvalidArgumentError
from artspeed.core.tasks import TASKS


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
                        help=f"{data_help}: fashion_mnist, mnist, cifar10, shapes, scenes, "
                        "shapes_seg (masks), shapes_seg_multi, oxford_pets (masks of photos) or "
                        "scenes_size (a regression) "
                        f"({DEFAULT_DATASET_HELP})")
    if epochs_help is not None:
        parser.add_argument("--epochs", type=_positive_int, metavar="N", help=epochs_help)
    parser.add_argument("--limit-train", type=_positive_int, metavar="N",
                        help="use the first N training images only (2000 with ARTSPEED_FAST=1)")


def _add_task_argument(parser) -> None:
    """--task: what the model does, scored by its metric (default: the dataset's)."""
    parser.add_argument("--task", choices=TASKS,
                        help="what the model does, and so its score: classification (top-1 "
                        "accuracy), segmentation (mean IoU and Dice) or regression (MAE); "
                        "default: the dataset's (shapes_seg: segmentation)")


def _add_out_arguments(parser, out_help: str, default: str | None = None) -> None:
    """--out (required unless it has a default) and --json."""
    parser.add_argument("--out", required=default is None, default=default, help=out_help)
    parser.add_argument("--json", action="store_true", help="print JSON only")


def _add_unsafe_argument(parser) -> None:
    """--unsafe: load Keras files whose loading runs code (passed on as safe_mode=False)."""
    parser.add_argument("--unsafe", action="store_true",
                        help="load models whose files hold code (Lambda layers, custom "
                        "objects); runs that code: only for files you trust")


def _dataset_choice(args) -> DatasetChoice:
    """--dataset and --limit-train as a plain value (checked now, loaded when needed)."""
    return DatasetChoice(args.dataset or None, args.limit_train)

