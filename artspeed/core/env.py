"""What machine a figure was measured on: CPU, cores, ISA features, versions.

Taught in notebooks/00-setup-and-baseline. Every benchmark result carries one.

>>> env = environment()
>>> env.logical_cores >= 1 and bool(env.cpu_model)
True
>>> "tensorflow" in env.versions
True
"""

from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata

from artspeed.core._result import Result, html_table

__all__ = ["Environment", "environment", "ISA_FEATURES", "PACKAGES"]

# cpu flag -> (label, what it means for inference)
ISA_FEATURES: dict[str, tuple[str, str]] = {
    "avx2": ("AVX2", "256-bit SIMD: the baseline for fast float32 kernels in "
             "TensorFlow, TFLite (XNNPACK) and OpenVINO."),
    "fma": ("FMA", "fused multiply-add: one instruction per MAC."),
    "avx512f": ("AVX-512", "512-bit SIMD: twice the float32 lanes of AVX2."),
    "avx512_vnni": ("AVX-512 VNNI", "int8 dot products in one instruction: the "
                    "main source of int8 speed-ups on server CPUs."),
    "avx_vnni": ("AVX-VNNI", "int8 dot products on 256-bit registers "
                 "(client CPUs without AVX-512)."),
    "avx512_bf16": ("AVX-512 BF16", "bfloat16 dot products: OpenVINO then runs "
                    "float models in bf16 by default."),
    "avx512_fp16": ("AVX-512 FP16", "native float16 arithmetic."),
    "amx_tile": ("AMX", "matrix tile units next to each core."),
    "amx_int8": ("AMX-INT8", "int8 matrix multiply on AMX tiles: large int8 "
                 "speed-ups for compute-bound layers."),
    "amx_bf16": ("AMX-BF16", "bf16 matrix multiply on AMX tiles; OpenVINO uses "
                 "bf16 by default here."),
    "asimd": ("NEON", "128-bit SIMD on Arm: the baseline for Arm kernels."),
    "asimddp": ("Arm dot product", "int8 dot products on Arm (like VNNI)."),
    "i8mm": ("Arm I8MM", "int8 matrix multiply on Arm."),
    "bf16": ("Arm BF16", "bfloat16 arithmetic on Arm."),
    "sve": ("SVE", "scalable vectors on Arm."),
}

PACKAGES = ("tensorflow", "tf_keras", "tensorflow-model-optimization", "openvino",
            "nncf", "ai-edge-litert", "numpy", "model-profiler")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


@functools.lru_cache(maxsize=1)
def _cpu() -> tuple[str, frozenset, int | None]:
    """(model name, lower-case feature flags, physical cores) for this CPU."""
    text = _read("/proc/cpuinfo")
    if text:
        model = re.search(r"^(model name|Hardware|Processor)\s*:\s*(.+)$", text, re.M)
        flags = re.search(r"^(flags|Features)\s*:\s*(.+)$", text, re.M)
        cores = set(re.findall(r"^physical id\s*:\s*(\d+)\s*\n(?:.*\n)*?core id\s*:\s*(\d+)",
                               text, re.M))
        return (model.group(2).strip() if model else platform.processor() or "unknown",
                frozenset(flags.group(2).lower().split()) if flags else frozenset(),
                len(cores) or None)
    if sys.platform == "darwin":
        def sysctl(key):
            try:
                return subprocess.run(["sysctl", "-n", key], capture_output=True,
                                      text=True, timeout=5).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                return ""
        feats = (sysctl("machdep.cpu.features") + " " + sysctl("machdep.cpu.leaf7_features"))
        phys = sysctl("hw.physicalcpu")
        return (sysctl("machdep.cpu.brand_string") or platform.processor() or "unknown",
                frozenset(f.lower().replace(".", "_") for f in feats.split()),
                int(phys) if phys.isdigit() else None)
    return platform.processor() or "unknown", frozenset(), None


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Environment(Result):
    """The machine and software a measurement ran on."""

    cpu_model: str
    machine: str
    logical_cores: int
    physical_cores: int | None
    available_cores: int
    isa: tuple[str, ...]
    python: str
    os: str
    versions: dict = field(default_factory=dict)
    threads: int | None = None

    def __repr__(self) -> str:
        return (f"<Environment {self.cpu_model!r}, {self.available_cores} cores, "
                f"{' '.join(self.isa) or 'no ISA flags read'}>")

    @classmethod
    def from_dict(cls, data: dict) -> Environment:
        data = dict(data)
        data["isa"] = tuple(data.get("isa", ()))
        return super().from_dict(data)

    def isa_table(self) -> list[tuple[str, bool, str]]:
        """(feature, present, what it means for inference) for the x86 or Arm flags."""
        flags = _cpu()[1]
        arm = self.machine.lower() in ("aarch64", "arm64")
        keys = [k for k in ISA_FEATURES if (k in ("asimd", "asimddp", "i8mm", "bf16", "sve")) == arm]
        return [(ISA_FEATURES[k][0], k in flags, ISA_FEATURES[k][1]) for k in keys]

    def _repr_html_(self) -> str:
        rows = [("CPU", self.cpu_model), ("machine", self.machine),
                ("cores (logical / physical / available)",
                 f"{self.logical_cores} / {self.physical_cores or '?'} / {self.available_cores}"),
                ("threads", self.threads if self.threads is not None else "default"),
                ("Python", self.python), ("OS", self.os)]
        rows += [(name, version or "not installed") for name, version in self.versions.items()]
        isa = [(name, "yes" if present else "no", meaning)
               for name, present, meaning in self.isa_table()]
        return (html_table(rows, caption="Environment")
                + html_table(isa, header=("ISA feature", "present", "what it means for inference")))


def environment(threads: int | None = None) -> Environment:
    """Describe this machine: CPU model, cores, ISA features and library versions.

    ``threads`` records the thread count a measurement used, if one was set.
    """
    model, flags, physical = _cpu()
    isa = tuple(ISA_FEATURES[k][0] for k in ISA_FEATURES if k in flags)
    return Environment(
        cpu_model=model,
        machine=platform.machine(),
        logical_cores=os.cpu_count() or 1,
        physical_cores=physical,
        available_cores=_available_cores(),
        isa=isa,
        python=platform.python_version(),
        os=f"{platform.system()} {platform.release()}",
        versions={name: _version(name) for name in PACKAGES},
        threads=threads,
    )
