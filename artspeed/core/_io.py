"""Write files whole or not at all: to a temporary file, then rename it.

Nothing that exists is deleted: a folder where a file should go is refused.
Temporaries are named ``.{name}.artspeed-{pid}.{random}{suffix}``, so a later
run removes the ones a killed run left behind (and only those).

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
>>> with atomic_path(target) as tmp:
...     _ = tmp.write_text("hello")
>>> target.read_text()
'hello'
>>> with atomic_path(target.parent) as tmp:  # doctest: +ELLIPSIS
...     pass
Traceback (most recent call last):
...
artspeed.InvalidArgumentError: '...' is a folder; give a file path such as .../model.keras
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from artspeed.core.errors import InvalidArgumentError

__all__ = ["atomic_path", "write_text_atomic", "ensure_writable_dir", "check_writable_dir",
           "check_out_file", "check_file_target", "file_sha256",
           "temporary_path", "remove_stale_temporaries", "signals_deferred"]

# .{name}.artspeed-{pid}.{8 random characters from mkstemp}{suffix}
_TEMPORARY = re.compile(r"^\..*\.artspeed-(?P<pid>\d+)\.[a-z0-9_]{8}")


def check_file_target(path, what: str = "give", example_suffix: str | None = None) -> Path:
    """Raise unless ``path`` is free or a file (or a link to one) that may be replaced.

    ``what`` starts the advice (``"give"``: "give a file path such as ...").
    """
    path = Path(path)
    if path.is_file() or not (path.exists() or path.is_symlink()):
        return path
    if path.is_dir():
        example = path / f"model{example_suffix or path.suffix or '.keras'}"
        raise InvalidArgumentError(f"'{path}' is a folder; {what} a file path such as {example}")
    kind = "a broken symbolic link" if path.is_symlink() else "not a regular file"
    raise InvalidArgumentError(f"'{path}' is {kind}; artspeed replaces files only: remove it "
                               "or choose another path")


def check_out_file(out, suffixes=(".keras", ".h5")) -> Path:
    """``out`` names a file (not a folder) ending in one of ``suffixes``, in a folder
    that can be written: for checks before any work starts.

    >>> check_out_file("q.onnx", (".tflite",))
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: out must name a .tflite file, got 'q.onnx'
    """
    out = check_file_target(out, "give", suffixes[0])
    if out.suffix not in suffixes:
        kinds = suffixes[0] + "".join(f" (or {x})" for x in suffixes[1:])
        raise InvalidArgumentError(f"out must name a {kinds} file, got '{out}'")
    check_writable_dir(out.parent)
    return out


def file_sha256(path) -> str:
    """The SHA-256 of a file's bytes, as hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:   # PermissionError: another user's live process
        return True
    return True


def remove_stale_temporaries(folder) -> list[Path]:
    """Remove artspeed's temporaries in ``folder`` whose process is gone; return them.

    Only names of artspeed's pattern with a dead pid are touched. (Windows has
    no harmless ``os.kill(pid, 0)``, so nothing is removed there.)
    """
    removed: list[Path] = []
    if os.name == "nt":
        return removed
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if not match or int(match["pid"]) == os.getpid() or _pid_alive(int(match["pid"])):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue   # gone meanwhile, or not ours to remove: leave it
        removed.append(Path(entry.path))
    return removed


def temporary_path(path, suffix: str | None = None) -> Path:
    """A fresh, unused temporary name beside ``path`` (not created)."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.artspeed-{os.getpid()}.",
                                suffix=path.suffix if suffix is None else suffix,
                                dir=path.parent)
    os.close(fd)
    os.unlink(name)  # the writer creates it (some refuse to overwrite)
    return Path(name)


def remove_path(path) -> None:
    """Remove a file or folder if it is there."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    A folder at ``path`` is refused before anything is written; a file there
    is replaced by the rename (``os.replace``). On an exception (or Ctrl-C) the
    temporary is removed and ``path`` is left as it was. ``suffix`` defaults to
    the target's own, since some writers (Keras) pick the format from it.
    """
    path = check_file_target(path)
    ensure_writable_dir(path.parent)
    remove_stale_temporaries(path.parent)
    tmp = temporary_path(path, suffix)
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"nothing was written to {path}")
        os.replace(tmp, path)
    finally:
        remove_path(tmp)


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _probe(folder: Path, target: Path) -> None:
    """Write and remove a small file in ``folder``: ``os.access`` says yes to root
    everywhere, even in ``/proc``."""
    try:
        fd, probe = tempfile.mkstemp(prefix=f".probe.artspeed-{os.getpid()}.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        where = "write to" if folder == target else "create the folder"
        raise InvalidArgumentError(
            f"cannot {where} {target}: {exc.strerror or exc}; choose another output path"
        ) from None


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
    _probe(folder, folder)
    return folder


def check_writable_dir(folder) -> Path:
    """Raise now if ``folder`` could not be created or written; create nothing.

    For checks before any work starts: the folder itself is made when the
    first file is written into it.

    >>> check_writable_dir("/proc/artspeed/runs")
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: cannot create the folder /proc/artspeed/runs: No such file or directory; choose another output path
    """
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise InvalidArgumentError(f"cannot create the folder {folder}: {existing} is a file; "
                                   "choose another output path")
    _probe(existing, folder)
    return folder


@contextlib.contextmanager
def signals_deferred():
    """Hold Ctrl-C and SIGTERM during the block, then deliver the first one that came.

    For steps that must not be cut in two (renaming a pair of files). Only
    the main thread receives signals; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if received:
            signum = received[0]
            handler = previous[signum]
            if callable(handler):
                handler(signum, None)
            elif handler in (signal.SIG_DFL, None):
                signal.raise_signal(signum)   # the default action: stop the process
