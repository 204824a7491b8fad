"""OpenVINO's model cache (``CACHE_DIR``): what it saves at start-up, measured.

Taught in notebooks/08-openvino-deployment (section 9).

Compiling a model for the CPU (graph rewrites, kernel choice, weight
repacking) takes time at every start of an application. With ``CACHE_DIR``
set, the first compile also writes the compiled model to a blob in that
folder, and later compiles of the same model with the same settings import
the blob instead; a compile from an ``.xml`` path then does not even read the
IR. ``compile_times`` measures the three cases, one after another in each of
``repeats`` rounds, and reports the medians:

- ``no_cache_ms``: a compile without a cache;
- ``cache_write_ms``: the first compile with an empty cache folder (it
  compiles, then writes the blob);
- ``cache_read_ms``: a compile that finds the blob and imports it.

The CPU plugin is loaded and one untimed compile runs first, so one-time
costs of the process are not charged to the first case.

>>> import artspeed
>>> times = compile_times(artspeed.dense_example(), repeats=1)
>>> times.cache_size_bytes > 0, times.cache_dir is None, len(times.cache_files)
(True, True, 1)
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from artspeed.core import _checks
from artspeed.core._io import ensure_writable_dir, remove_path
from artspeed.core._result import Result
from artspeed.core.errors import InvalidArgumentError, ModelError, first_line
from artspeed.core.frameworks import openvino_core
from artspeed.runtimes.ir import convert_model, read_ir
from artspeed.runtimes.openvino import HINTS, INFERENCE_PRECISIONS, compiled_precision

__all__ = ["CompileTimes", "compile_times"]


@dataclass(frozen=True)
class CompileTimes(Result):
    """Compile times (median ms) without a cache, writing it and reading it; the blob's size."""

    model: str
    source: str                   # "ir file" (compiled from its path) or "ov.Model"
    device: str
    inference_precision: str      # read back from the compiled model
    no_cache_ms: float
    cache_write_ms: float
    cache_read_ms: float
    cache_size_bytes: int         # all files the cache folder holds after the write
    cache_files: tuple            # their names
    cache_dir: str | None         # where the blob stays; None: a temporary folder, removed
    repeats: int

    @property
    def read_speedup(self) -> float:
        """How many times faster a compile that reads the cache is than one without a cache."""
        return self.no_cache_ms / self.cache_read_ms if self.cache_read_ms > 0 else float("inf")

    def __repr__(self) -> str:
        return (f"<CompileTimes {self.model}: {self.no_cache_ms:.1f} ms without a cache, "
                f"{self.cache_write_ms:.1f} ms writing it, {self.cache_read_ms:.1f} ms reading "
                f"it ({self.read_speedup:.1f}x), cache {self.cache_size_bytes:,} bytes>")

    def to_dict(self) -> dict:
        return {**super().to_dict(), "read_speedup": self.read_speedup}

    @classmethod
    def from_dict(cls, data: dict) -> CompileTimes:
        return super().from_dict({**data, "cache_files": tuple(data.get("cache_files", ()))})


def _source(model):
    """(what OpenVINO compiles, its label, its kind): an .xml stays a path, the rest an ov.Model."""
    if isinstance(model, (str, Path)) and Path(model).suffix == ".xml":
        read_ir(model)   # the clear errors (no file, no .bin) before OpenVINO's own
        return str(model), Path(model).stem, "ir file"
    converted = convert_model(model)
    label = Path(model).stem if isinstance(model, (str, Path)) else \
        getattr(model, "name", None) or converted.get_friendly_name()
    return converted, label, "ov.Model"


def _user_cache_dir(cache_dir) -> tuple[Path, bool]:
    """The folder the user gave, created if absent; (folder, whether it existed before)."""
    folder = Path(cache_dir)
    existed = folder.exists()
    if existed and not folder.is_dir():
        raise InvalidArgumentError(f"cache_dir {folder} is a file; give a folder (empty or new)")
    if existed and any(folder.iterdir()):
        raise InvalidArgumentError(f"cache_dir {folder} is not empty; give an empty or new "
                                   "folder, so that the first compile writes the blob")
    return ensure_writable_dir(folder), existed


def _entries(folder: Path) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def compile_times(model, *, cache_dir=None, repeats: int = 3, device: str = "CPU",
                  hint: str = "latency", inference_precision: str | None = "f32") -> CompileTimes:
    """Time compiling ``model`` without a cache, writing the cache, and reading it.

    ``model`` is an IR ``.xml`` path (compiled from the path, as an application
    would), an ``ov.Model``, a tf_keras model or another model file
    (converted with ``convert_model`` first, not timed). ``hint`` and
    ``inference_precision`` are ``compile_model``'s (``None``: OpenVINO's
    default precision); the blob holds the model compiled with them.
    ``cache_dir=None`` uses a temporary folder, removed at the end; a folder
    you give must be empty or new, and keeps the blob (nothing there is
    removed but the blobs this call wrote between its rounds).
    """
    repeats = _checks.whole_number("repeats", repeats, 1, 100)
    _checks.choice("hint", hint, HINTS)
    if inference_precision is not None:
        _checks.choice("inference_precision", inference_precision, INFERENCE_PRECISIONS)
    source, label, kind = _source(model)
    config = {"PERFORMANCE_HINT": hint.upper()}
    if inference_precision is not None:
        config["INFERENCE_PRECISION_HINT"] = inference_precision

    core = openvino_core()
    core.get_property(device, "FULL_DEVICE_NAME")   # loads the device's plugin, untimed

    def compile_once(extra=None) -> tuple[float, object]:
        start = time.perf_counter()
        try:
            compiled = core.compile_model(source, device, {**config, **(extra or {})})
        except RuntimeError as exc:
            raise ModelError(f"OpenVINO could not compile {label} for {device}: "
                             f"{first_line(exc)}") from None
        return (time.perf_counter() - start) * 1e3, compiled

    if cache_dir is None:
        folder, existed = Path(tempfile.mkdtemp(prefix="artspeed-ov-cache-")), False
    else:
        folder, existed = _user_cache_dir(cache_dir)
    cache = {"CACHE_DIR": str(folder)}
    try:
        _, compiled = compile_once()   # one untimed compile: the process's one-time costs
        precision = compiled_precision(compiled)
        del compiled
        no_cache, write, read = [], [], []
        for _ in range(repeats):
            no_cache.append(compile_once()[0])
            for name in _entries(folder):   # the folder was empty: these are our blobs
                remove_path(folder / name)
            write.append(compile_once(cache)[0])
            written = _entries(folder)
            if not written:
                raise ModelError(f"OpenVINO wrote no cache for {label} on {device}: the "
                                 "device cannot export compiled models")
            read.append(compile_once(cache)[0])
            if _entries(folder) != written:
                raise ModelError(f"OpenVINO did not read back the cache it wrote for {label} "
                                 f"in {folder}")
        files = sorted(written)
        size = sum((folder / name).stat().st_size for name in files)
    except BaseException:
        if not existed:
            remove_path(folder)
        raise
    if cache_dir is None:
        remove_path(folder)
    return CompileTimes(
        model=label, source=kind, device=device, inference_precision=precision,
        no_cache_ms=statistics.median(no_cache), cache_write_ms=statistics.median(write),
        cache_read_ms=statistics.median(read), cache_size_bytes=int(size),
        cache_files=tuple(files), cache_dir=None if cache_dir is None else str(folder),
        repeats=repeats)
