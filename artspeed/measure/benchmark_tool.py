"""OpenVINO's own ``benchmark_app``, run on an IR, its report parsed.

Taught in notebooks/08-openvino-deployment (and used by
benchmarks/bench_harness.py): the reference an ``artspeed.benchmark`` of the
same IR, hint and API is checked against.

>>> benchmark_app("nowhere.xml")
Traceback (most recent call last):
...
artspeed.ModelError: no OpenVINO IR at 'nowhere.xml': the file does not exist
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from artspeed.core.errors import ArtspeedError, InvalidArgumentError
from artspeed.runtimes.ir import read_ir

__all__ = ["benchmark_app"]


def benchmark_app(xml, *, hint: str = "latency", api: str = "sync", seconds: float = 5,
                  inference_precision: str | None = "f32", streams: int | None = None) -> dict:
    """Run ``benchmark_app -m xml -d CPU -hint HINT -api API``; return its figures.

    Keys: ``p50_ms`` (its median latency), ``throughput_per_s`` (its FPS),
    ``streams`` and ``requests`` (what it ran with) and ``command``.
    ``inference_precision=None`` keeps OpenVINO's default (bf16 on AMX CPUs).
    """
    read_ir(xml)  # the clear errors: no file, no .bin
    if hint not in ("latency", "throughput") or api not in ("sync", "async"):
        raise InvalidArgumentError(f"hint is latency or throughput and api sync or async, got "
                                   f"{hint!r} and {api!r}")
    if not seconds > 0:
        raise InvalidArgumentError(f"seconds must be above 0, got {seconds!r}")
    exe = shutil.which("benchmark_app", path=str(Path(sys.executable).parent)) or \
        shutil.which("benchmark_app")
    if exe is None:
        raise ArtspeedError("benchmark_app was not found; it comes with the openvino package "
                            "(pip install openvino) in the same environment's bin folder")
    cmd = [exe, "-m", str(xml), "-d", "CPU", "-hint", hint, "-api", api,
           "-t", str(max(1, round(seconds)))]
    if inference_precision is not None:
        cmd += ["-infer_precision", inference_precision]
    if streams is not None:
        cmd += ["-nstreams", str(int(streams))]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 4 + 120)
    text = done.stdout + done.stderr
    median = re.search(r"Median:\s+([\d.]+)\s*ms", text)
    throughput = re.search(r"Throughput:\s+([\d.]+)\s*FPS", text)
    found_streams = re.search(r"NUM_STREAMS:\s+(\d+)", text)
    requests = re.search(r"Measuring performance.*?(\d+) inference requests", text)
    if done.returncode or not median or not throughput:
        raise ArtspeedError(f"benchmark_app failed (exit {done.returncode}): "
                            f"{(text.strip().splitlines() or [''])[-1][:300]}")
    return {"p50_ms": float(median.group(1)), "throughput_per_s": float(throughput.group(1)),
            "streams": int(found_streams.group(1)) if found_streams else None,
            "requests": int(requests.group(1)) if requests else None,
            "command": " ".join(cmd[1:])}
