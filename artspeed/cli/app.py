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

from artspeed import __version__
from artspeed.cli.lm import _add_lm
from artspeed.cli.measure import _add_bench, _add_profile, _add_tour
from artspeed.cli.models import _add_deploy, _add_distill, _add_prune, _add_quantize, _add_train
from artspeed.cli.serving import _add_serve
from artspeed.core._stderr import cli_stderr
from artspeed.core.errors import ArtspeedError, first_line, one_line

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Each chapter's subcommand: an _add_<name>(commands) that registers its parser and
# sets func=_cmd_<name> (in _cli_measure.py or _cli_models.py). Append new ones here,
# in chapter order.
_SUBCOMMANDS = [_add_train, _add_profile, _add_bench, _add_quantize, _add_prune, _add_distill,
                _add_tour, _add_deploy, _add_lm, _add_serve]


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


def _close_progress_bars() -> None:
    """Close tqdm's open bars now, so that they do not redraw after the last line."""
    std = sys.modules.get("tqdm.std")
    for bar in list(getattr(getattr(std, "tqdm", None), "_instances", ())):
        try:
            bar.close()
        except Exception:
            pass


def _stopped(command: str, signal_exc: KeyboardInterrupt) -> int:
    """One line for Ctrl-C (130) or SIGTERM (143), after the progress bars."""
    _close_progress_bars()
    word, code = ("terminated", 143) if isinstance(signal_exc, _Terminated) else \
        ("interrupted", 130)
    print(f"artspeed {command}: {word}", file=sys.stderr)
    return code


def _interruption(exc: BaseException | None) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM behind ``exc``, if a cleanup step raised on top of one.

    >>> try:
    ...     try:
    ...         raise KeyboardInterrupt
    ...     finally:
    ...         raise RuntimeError("the cleanup failed too")
    ... except RuntimeError as exc:
    ...     type(_interruption(exc)).__name__
    'KeyboardInterrupt'
    """
    while exc is not None and not isinstance(exc, KeyboardInterrupt):
        exc = exc.__context__
    return exc


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ logs quiet
    parser = build_parser()
    if argv is None:
        argv = sys.argv[1:]
    if not argv:
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    debug = bool(os.environ.get("ARTSPEED_DEBUG"))
    with cli_stderr(debug):
        return _run(args, debug)


def _run(args, debug: bool) -> int:
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        return args.func(args)
    except ArtspeedError as exc:
        print(f"artspeed {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:   # Ctrl-C, or SIGTERM (_Terminated)
        return _stopped(args.command, exc)
    except Exception as exc:  # a bug, not bad input: still one line unless debugging
        if _interruption(exc) is not None:
            return _stopped(args.command, _interruption(exc))
        if debug:
            traceback.print_exc()
        print(f"artspeed {args.command}: internal error: {type(exc).__name__}: {first_line(exc)} "
              "(set ARTSPEED_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
