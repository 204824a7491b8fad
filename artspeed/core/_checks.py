"""Argument checks shared by the library and the command line, with their bounds.

Each returns the value as a plain Python number or raises ``InvalidArgumentError``
with a message that says what to pass instead. The bounds keep a typo from
crashing the process or running for years: a thread count far beyond the
machine's cores, a batch that would not fit in memory, a seed NumPy refuses.

>>> whole_number("epochs", 3), seed(2**32 - 1), positive_finite("temperature", 4)
(3, 4294967295, 4.0)
>>> seed(-1)
Traceback (most recent call last):
...
artspeed.InvalidArgumentError: seed must be a whole number from 0 to 4294967295, got -1
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

from artspeed.core.errors import InvalidArgumentError

__all__ = ["choice", "whole_number", "seed", "positive_finite", "fraction", "sparsity", "m_by_n",
           "threads", "max_threads", "available_memory_bytes", "check_batch_memory",
           "MAX_SEED", "MAX_WIDTH"]

MAX_SEED = 2**32 - 1          # what NumPy and TensorFlow take as a seed
MAX_WIDTH = 1024              # filters in the baseline's first layer (32 by default)


def choice(what: str, value, choices, renamed=None):
    """``value`` if it is one of ``choices``; an old spelling in ``renamed`` gives its new one.

    An old spelling warns (DeprecationWarning) with the name to use instead.

    >>> choice("precision", "f16", ("f32", "f16", "int8"))
    'f16'
    >>> choice("precision", "fp8", ("f32", "f16", "int8"))
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: unknown precision 'fp8'; choose f32, f16 or int8
    """
    if renamed and isinstance(value, str) and value in renamed:
        new = renamed[value]
        warnings.warn(f"{what} {value!r} is now called {new!r}; pass {new!r}",
                      DeprecationWarning, stacklevel=3)
        return new
    if not isinstance(value, str) or value not in choices:
        names = [str(c) for c in choices]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise InvalidArgumentError(f"unknown {what} {value!r}; choose {listed}")
    return value


def whole_number(name: str, value, minimum: int = 1, maximum: int | None = None,
                 hint: str = "", *, optional: bool = False) -> int | None:
    """``value`` as an int in [minimum, maximum]; bools and floats are refused.

    NumPy integers are accepted (and returned as ``int``); ``optional`` lets
    ``None`` through; ``hint`` ends the error message.

    >>> import numpy as np
    >>> whole_number("batch_size", np.int64(3)), whole_number("steps", None, optional=True)
    (3, None)
    >>> whole_number("bits", 1, 2, 16, "8 bits is the usual choice")
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: bits must be a whole number from 2 to 16, got 1; 8 bits is the usual choice
    """
    if value is None and optional:
        return None
    span = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or value < minimum or (maximum is not None and value > maximum)):
        raise InvalidArgumentError(f"{name} must be a whole number {span}"
                                   f"{' or None' if optional else ''}, got {value!r}"
                                   + (f"; {hint}" if hint else ""))
    return int(value)


def seed(value) -> int:
    """A random seed: a whole number from 0 to 2**32 - 1."""
    return whole_number("seed", value, 0, MAX_SEED)


def positive_finite(name: str, value, hint: str = "") -> float:
    """A finite number above 0, as a float; ``hint`` ends the error message."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(f"{name} must be a finite number above 0, got {value!r}"
                                   + (f"; {hint}" if hint else ""))
    return float(value)


def fraction(name: str, value, hint: str = "", *, closed: bool = False) -> float:
    """A fraction in [0, 1) (or [0, 1] when ``closed``), as a float; ``hint`` ends the error.

    >>> fraction("alpha", 1, closed=True)
    1.0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not (0 <= value <= 1 if closed else 0 <= value < 1):
        span = "[0, 1]" if closed else "[0, 1)"
        raise InvalidArgumentError(f"{name} must be a fraction in {span}, got {value!r}"
                                   + (f"; {hint}" if hint else ""))
    return float(value)


def sparsity(value) -> float:
    """A pruning sparsity: a fraction in [0, 1).

    >>> sparsity(0.8)
    0.8
    """
    return fraction("sparsity", value, "0.8 prunes 80% of the weights")


def m_by_n(value) -> tuple[int, int]:
    """``(m, n)`` as two ints if it is a valid N:M pattern (m zeros in every n); else raise.

    Accepts a pair or text like ``"2,4"`` or ``"2:4"``.

    >>> m_by_n("2:4")
    (2, 4)
    >>> m_by_n((4, 4))
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: invalid N:M pattern (4, 4): it means m zeros in every block of n consecutive weights, so it needs whole numbers 1 <= m < n, such as (2, 4)
    """
    pair = value
    if isinstance(pair, str):
        try:
            pair = tuple(int(part) for part in pair.replace(":", ",").split(","))
        except ValueError:
            pair = value
    ok = (isinstance(pair, (tuple, list)) and len(pair) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
          and 1 <= pair[0] < pair[1])
    if not ok:
        raise InvalidArgumentError(
            f"invalid N:M pattern {value!r}: it means m zeros in every block of n consecutive "
            "weights, so it needs whole numbers 1 <= m < n, such as (2, 4)")
    return int(pair[0]), int(pair[1])


def max_threads() -> int:
    """The most runtime threads artspeed asks for: 4 per core, and at least 64."""
    return max(64, 4 * (os.cpu_count() or 1))


def threads(value, name: str = "threads") -> int | None:
    """A runtime thread count (None: the runtime's default), at most ``max_threads()``."""
    if value is None:
        return None
    return whole_number(name, value, 1, max_threads())


def available_memory_bytes() -> int | None:
    """Memory the machine can still give (Linux's MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_batch_memory(batch_size: int, sample_bytes: int, what: str = "the model") -> int:
    """Refuse a batch whose inputs alone would take more than half the free memory.

    >>> check_batch_memory(8, 28 * 28 * 4)
    8
    """
    batch_size = whole_number("batch_size", batch_size)
    sample_bytes = max(int(sample_bytes), 1)
    free = available_memory_bytes()
    need = batch_size * sample_bytes
    if free is not None and need > free // 2:
        most = max(free // 2 // sample_bytes, 1)
        raise InvalidArgumentError(
            f"a batch of {batch_size:,} for {what} needs {need / 2**30:.1f} GiB for its inputs "
            f"alone, more than half the {free / 2**30:.1f} GiB this machine has free; "
            f"use a batch size of at most {most:,}")
    return batch_size
