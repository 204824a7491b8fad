"""Write files whole or not at all: to a temporary file, then rename it.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
>>> with atomic_path(target) as tmp:
...     _ = tmp.write_text("hello")
>>> target.read_text()
'hello'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from .errors import InvalidArgumentError

__all__ = ["atomic_path", "write_text_atomic", "ensure_writable_dir"]


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On an exception the temporary file (or folder) is removed and ``path`` is
    left as it was. ``suffix`` defaults to the target's own, since some writers
    (Keras) pick the format from the extension.
    """
    path = Path(path)
    ensure_writable_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=(path.suffix if suffix is None else suffix),
        dir=path.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # the writer creates it (some refuse to overwrite)
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"nothing was written to {path}")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def ensure_writable_dir(folder) -> Path:
    """Create ``folder`` if needed; raise a clear error if it cannot be written."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArgumentError(
            f"cannot create the folder {folder}: {exc.strerror or exc}; "
            "choose another output path"
        ) from None
    if not os.access(folder, os.W_OK):
        raise InvalidArgumentError(
            f"cannot write to {folder}; choose another output path"
        )
    return folder
