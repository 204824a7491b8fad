"""This machine's roof: matmul FLOP/s and memory bandwidth, and layers placed under it.

Taught in notebooks/01-model-complexity. The roofline model says a layer
runs at most at ``min(peak FLOP/s, bandwidth x arithmetic intensity)``. The
intensity where the two meet, the *ridge* (FLOPs per byte), splits layers into
**memory-bound** (left of the ridge: they wait for bytes) and
**compute-bound** (right of it: they wait for arithmetic).

Measured here, with NumPy, in float32:

- peak FLOP/s: the best of a few ``n x n`` matrix products, ``2 n**3`` FLOPs
  each (all cores NumPy's BLAS uses). Runtimes that use AMX, bf16 or int8
  (OpenVINO) reach higher roofs than this float32 one;
- bandwidth: the best of a few copies of an array larger than most caches,
  counted as 2 x its bytes (one read, one write).

A layer's intensity comes from ``artspeed.profile`` (FLOPs per byte moved,
best case), so a point's height is what it could reach, not what it measured.

>>> peak = measure_machine_peak(matmul_size=128, copy_bytes=2**20, repeats=2)
>>> peak.flops_per_s > 0 and peak.bytes_per_s > 0
True
>>> ridge = peak.ridge_flops_per_byte   # measured: whatever this machine gives
>>> peak.bound(ridge / 10), peak.bound(ridge * 10)
('memory', 'compute')
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from artspeed.core import _checks
from artspeed.core._result import Result, html_table
from artspeed.core.config import fast_mode
from artspeed.core.env import environment
from artspeed.core.errors import InvalidArgumentError

__all__ = ["MachinePeak", "measure_machine_peak", "plot_roofline"]


@dataclass(frozen=True)
class MachinePeak(Result):
    """Measured float32 matmul FLOP/s and memory bandwidth of this machine."""

    flops_per_s: float
    bytes_per_s: float
    matmul_size: int
    copy_bytes: int
    repeats: int
    cpu_model: str = ""

    def __repr__(self) -> str:
        return (f"<MachinePeak {self.flops_per_s / 1e9:.1f} GFLOP/s (float32 matmul), "
                f"{self.bytes_per_s / 1e9:.1f} GB/s, ridge {self.ridge_flops_per_byte:.1f} "
                "FLOPs/byte>")

    @property
    def ridge_flops_per_byte(self) -> float:
        """The arithmetic intensity where memory stops being the limit."""
        return self.flops_per_s / self.bytes_per_s

    def attainable_flops_per_s(self, flops_per_byte: float) -> float:
        """The roof at this intensity: min(peak, bandwidth x intensity)."""
        return min(self.flops_per_s, self.bytes_per_s * flops_per_byte)

    def bound(self, flops_per_byte: float) -> str:
        """'compute' at or right of the ridge, else 'memory'."""
        return "compute" if flops_per_byte >= self.ridge_flops_per_byte else "memory"

    def classify(self, profile) -> list[tuple[str, str, float, str]]:
        """(layer, type, FLOPs per byte, 'compute' or 'memory') for layers that compute."""
        return [(r.name, r.type, r.arithmetic_intensity, self.bound(r.arithmetic_intensity))
                for r in profile.layers if r.flops and r.arithmetic_intensity]

    def _html_rows(self):
        yield "peak (float32 matmul)", f"{self.flops_per_s / 1e9:.1f} GFLOP/s"
        yield "memory bandwidth", f"{self.bytes_per_s / 1e9:.1f} GB/s"
        yield "ridge", f"{self.ridge_flops_per_byte:.1f} FLOPs/byte"
        yield "measured with", (f"{self.matmul_size}x{self.matmul_size} matmul, "
                                f"{self.copy_bytes / 2**20:.0f} MiB copy, best of {self.repeats}")
        yield "CPU", self.cpu_model

    def _repr_html_(self) -> str:
        return html_table(list(self._html_rows()), caption="MachinePeak")


def _best_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: page faults, thread start-up, BLAS dispatch
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure_machine_peak(matmul_size: int | None = None, copy_bytes: int | None = None,
                         repeats: int | None = None) -> MachinePeak:
    """Measure float32 matmul FLOP/s and memory bandwidth (best of ``repeats``).

    Defaults: a 2048 x 2048 matmul and a 256 MiB copy, best of 5; in fast mode
    (``ARTSPEED_FAST=1``) 1024, 128 MiB and 3, well under a second.
    """
    fast = fast_mode()
    matmul_size = matmul_size or (1024 if fast else 2048)
    copy_bytes = copy_bytes or (128 if fast else 256) * 2**20
    repeats = repeats or (3 if fast else 5)
    matmul_size = _checks.whole_number("matmul_size", matmul_size)
    copy_bytes = _checks.whole_number("copy_bytes", copy_bytes)
    repeats = _checks.whole_number("repeats", repeats)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((matmul_size, matmul_size), dtype=np.float32)
    b = rng.standard_normal((matmul_size, matmul_size), dtype=np.float32)
    out = np.empty_like(a)
    matmul_s = _best_seconds(lambda: np.matmul(a, b, out=out), repeats)
    bytes_per_s, copied = _copy_bandwidth(copy_bytes, repeats)
    return MachinePeak(flops_per_s=2 * matmul_size**3 / matmul_s,
                       bytes_per_s=bytes_per_s, matmul_size=matmul_size,
                       copy_bytes=copied, repeats=repeats,
                       cpu_model=environment().cpu_model)


def _copy_bandwidth(copy_bytes: int, repeats: int) -> tuple[float, int]:
    """(bytes per second, bytes copied): the best of ``repeats`` copies of a float32
    array of ``copy_bytes``, counted as 2 x its bytes (one read, one write).

    The bandwidth ``measure_machine_peak`` and ``artspeed.measure_runtime_roofs`` report.
    """
    src = np.ones(max(1, copy_bytes // 4), dtype=np.float32)
    dst = np.empty_like(src)
    copy_s = _best_seconds(lambda: np.copyto(dst, src), repeats)
    return 2 * src.nbytes / copy_s, int(src.nbytes)


def plot_roofline(profile, peak: MachinePeak, ax=None, label_top: int = 5):
    """Draw this machine's roof and each layer at its arithmetic intensity.

    Points sit on the roof (what the layer could reach); colour says compute-
    or memory-bound; the ``label_top`` costliest layers are named.
    """
    if not isinstance(peak, MachinePeak):
        raise InvalidArgumentError("peak must be a MachinePeak from "
                                   "artspeed.measure_machine_peak()")
    points = [r for r in profile.layers if r.flops and r.arithmetic_intensity]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    lo = min([peak.ridge_flops_per_byte / 100] + [r.arithmetic_intensity / 2 for r in points])
    hi = max([peak.ridge_flops_per_byte * 100] + [r.arithmetic_intensity * 2 for r in points])
    xs = np.geomspace(lo, hi, 200)
    ax.loglog(xs, [peak.attainable_flops_per_s(x) / 1e9 for x in xs], "k-", lw=2,
              label=f"roof: {peak.flops_per_s / 1e9:.0f} GFLOP/s, "
                    f"{peak.bytes_per_s / 1e9:.0f} GB/s")
    ax.axvline(peak.ridge_flops_per_byte, color="grey", ls=":",
               label=f"ridge {peak.ridge_flops_per_byte:.1f} FLOPs/byte")
    for kind, colour in (("memory", "tab:red"), ("compute", "tab:green")):
        sel = [r for r in points if peak.bound(r.arithmetic_intensity) == kind]
        ax.scatter([r.arithmetic_intensity for r in sel],
                   [peak.attainable_flops_per_s(r.arithmetic_intensity) / 1e9 for r in sel],
                   s=[12 + 200 * r.flops / max(p.flops for p in points) for r in sel],
                   color=colour, alpha=0.6, label=f"{kind}-bound layers ({len(sel)})")
    for r in sorted(points, key=lambda r: -r.flops)[:label_top]:
        ax.annotate(r.name.split("/")[-1], (r.arithmetic_intensity,
                    peak.attainable_flops_per_s(r.arithmetic_intensity) / 1e9),
                    fontsize=7, xytext=(3, -10), textcoords="offset points")
    ax.set_xlabel("arithmetic intensity (FLOPs per byte moved)")
    ax.set_ylabel("attainable GFLOP/s")
    ax.set_title(f"Roofline: {profile.name}, batch {profile.batch_size}")
    ax.legend(fontsize=7, loc="lower right")
    return ax
