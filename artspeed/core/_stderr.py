"""Keep native libraries' log lines off the learner's stderr.

TensorFlow, absl, XNNPACK, protobuf and OpenVINO write notes from C++ straight
to file descriptor 2, out of reach of Python and of ``TF_CPP_MIN_LOG_LEVEL``.
``native_stderr_dropped()`` sends descriptor 2 to a scratch file for a block;
``cli_stderr()`` does it for a whole command while Python's ``sys.stderr`` (the
CLI's own messages and progress bars) still reaches the terminal.

>>> import os
>>> with native_stderr_dropped():
...     _ = os.write(2, b"a native note nobody sees\\n")
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings

__all__ = ["native_stderr_dropped", "cli_stderr"]


def _stderr_is_descriptor_2() -> bool:
    try:
        return sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a notebook's or pytest's stream
        return False


@contextlib.contextmanager
def native_stderr_dropped():
    """Send what C++ code writes to descriptor 2 to a scratch file for the block.

    Python's ``sys.stderr`` in a notebook is not descriptor 2, so progress bars
    there are unaffected; in a terminal, use ``cli_stderr`` instead.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no descriptor 2 to borrow: do nothing
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def cli_stderr(debug: bool = False):
    """For one command: native notes, Python warnings and library logs go nowhere.

    ``sys.stderr`` is re-opened on a copy of the terminal's descriptor, so what
    artspeed prints there (errors, progress bars) is still seen; descriptor 2
    itself points at a scratch file. With ``debug`` nothing is hidden.
    """
    if debug:
        yield
        return
    previous_stream = sys.stderr
    terminal = None
    if _stderr_is_descriptor_2():
        previous_stream.flush()
        terminal = open(os.dup(2), "w", buffering=1, closefd=True,  # noqa: SIM115
                        encoding=getattr(previous_stream, "encoding", None) or "utf-8",
                        errors="backslashreplace")
        sys.stderr = terminal
    logging.disable(logging.CRITICAL)      # absl, tensorflow, nncf: Python-side logs
    try:
        with warnings.catch_warnings(), native_stderr_dropped():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)
        if terminal is not None:
            terminal.flush()
            sys.stderr = previous_stream
            terminal.close()
