"""artspeed's exceptions: one small tree, each message says what to do.

``ArtspeedError`` is the root. Every error the package raises on bad input is
one of these, so a caller (or the ``artspeed`` command line) can catch them
all in one place:

- ``KerasVersionError``: Keras 3 where Keras 2 (tf_keras) is needed.
- ``DatasetError``: an unknown dataset, or one that cannot be had offline.
- ``ModelError``: a path that is not a model, or a model of the wrong kind.
- ``InvalidArgumentError``: a nonsense number, shape or dtype.

>>> from artspeed import ArtspeedError, InvalidArgumentError
>>> issubclass(InvalidArgumentError, (ArtspeedError, ValueError))
True
"""

from __future__ import annotations

__all__ = ["ArtspeedError", "KerasVersionError", "DatasetError", "ModelError", "InvalidArgumentError"]


class ArtspeedError(Exception):
    """Root of every error artspeed raises on bad input."""


class KerasVersionError(ArtspeedError, ImportError, TypeError):
    """Keras 3 was found where Keras 2 (``tf_keras``) is needed."""


class DatasetError(ArtspeedError, ValueError):
    """A dataset is unknown, malformed, or cannot be loaded from any source."""


class ModelError(ArtspeedError, ValueError):
    """A file is not a model artspeed can read, or a model is of the wrong kind."""


class InvalidArgumentError(ArtspeedError, ValueError):
    """An argument is out of range, or of the wrong shape or dtype."""


for _error in (ArtspeedError, KerasVersionError, DatasetError, ModelError, InvalidArgumentError):
    _error.__module__ = "artspeed"   # tracebacks say artspeed.ModelError, the name users import


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type's name if it has none).

    >>> first_line(ValueError("bad shape\\nmore detail"))
    'bad shape'
    """
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


def one_line(text: str) -> str:
    """``text`` with its lines joined by '; ', for a one-line error.

    >>> one_line("cannot load\\n  try again")
    'cannot load; try again'
    """
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())
