"""The ``artspeed`` command line: one subcommand per chapter's main job.

Every subcommand takes ``--json``. On bad input it prints one line to stderr
and exits with status 2, with no traceback (``ARTSPEED_DEBUG=1`` shows it).

>>> build_parser().parse_args(["train", "--epochs", "2"]).epochs
2
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback

from . import __version__
from ._cli_measure import _add_bench, _add_profile, _add_tour
from ._cli_models import _add_deploy, _add_distill, _add_prune, _add_quantize, _add_train
from .errors import ArtspeedError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Each chapter's subcommand: an _add_<name>(commands) that registers its parser and
# sets func=_cmd_<name> (in _cli_measure.py or _cli_models.py). Append new ones here,
# in chapter order.
_SUBCOMMANDS = [_add_train, _add_profile, _add_bench, _add_quantize, _add_prune, _add_distill,
                _add_tour, _add_deploy]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="artspeed", description="The art of speed: measure and "
                     "optimize deep-learning inference on the CPU.")
    parser.add_argument("--version", action="version", version=f"artspeed {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in _SUBCOMMANDS:
        add(commands)
    return parser


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every ``finally`` removes its temporaries."""


def _on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the cleanup short
    raise _Terminated()


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ logs quiet
    parser = build_parser()
    if argv is None:
        argv = sys.argv[1:]
    if not argv:
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        return args.func(args)
    except ArtspeedError as exc:
        print(f"artspeed {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except _Terminated:
        print(f"artspeed {args.command}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"artspeed {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: still one line unless debugging
        if os.environ.get("ARTSPEED_DEBUG"):
            traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"artspeed {args.command}: internal error: {type(exc).__name__}: {first} "
              "(set ARTSPEED_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
