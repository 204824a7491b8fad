"""Energy and cost per inference: the CPU's RAPL counters, or CPU time times stated watts.

``measure_energy(predictor)`` warms the predictor up, then runs it for a time
budget (or a number of runs) and reads, around that span:

- the process's CPU time (all its threads, user and system:
  ``time.process_time``), so ``cpu_s_per_inference`` is what one inference
  costs in CPU-seconds, however many cores it spreads over;
- the CPU's energy counters, where Linux exposes them (powercap RAPL:
  ``/sys/class/powercap/intel-rapl:N/energy_uj``, on Intel and on recent
  kernels AMD Zen too). They count the whole CPU package: other programs
  and idle power are in the figure too. They are often readable by root
  only (Linux 5.10 and later), and virtual machines usually have none.

Without readable counters (or with ``source="estimate"``) the energy is an
estimate: CPU-seconds x ``watts_per_core`` (``DEFAULT_WATTS_PER_CORE``,
10 W per busy CPU: a deliberately rough round figure; a busy server core
with its share of the package draws roughly 5 to 10 W at full load, e.g. a
64-core EPYC 9554 at its 360 W TDP is 5.6 W per core, a 32-core Xeon 8462Y+
at 300 W is 9.4 W). The result says which (``source``) and why the counters
were not used (``rapl_unavailable``).

The cost per million inferences prices the CPU-seconds at
``price_per_core_hour`` (``DEFAULT_PRICE_PER_CORE_HOUR``, 0.05 USD per
CPU-hour: about an on-demand compute-optimized cloud vCPU, e.g. AWS
c7i.large or c7a.large in us-east-1, 0.045 to 0.051 USD per vCPU-hour in
2025). It is a lower bound: cores you rent but leave idle cost too.
One inference is one sample (a batch of 8 is 8 inferences).

>>> from artspeed import FunctionPredictor
>>> cost = measure_energy(FunctionPredictor(None), iterations=200, warmup=5, source="estimate")
>>> cost.source, cost.watts_per_core, cost.inferences
('estimate', 10.0, 201)
>>> cost.joules_per_inference == cost.cpu_s_per_inference * 10.0
True
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from artspeed.core import _checks
from artspeed.core._result import Result
from artspeed.core.env import Environment, environment
from artspeed.core.errors import ArtspeedError, InvalidArgumentError
from artspeed.measure.benchmarking import check_budget, run_timed
from artspeed.runtimes.base import FunctionPredictor, Predictor
from artspeed.runtimes.factory import as_predictor

__all__ = ["EnergyCost", "RaplDomain", "measure_energy", "rapl_domains", "ENERGY_SOURCES",
           "POWERCAP_ROOT", "DEFAULT_WATTS_PER_CORE", "DEFAULT_PRICE_PER_CORE_HOUR"]

POWERCAP_ROOT = "/sys/class/powercap"
DEFAULT_WATTS_PER_CORE = 10.0        # W per busy CPU: a rough figure (see the module's docstring)
DEFAULT_PRICE_PER_CORE_HOUR = 0.05   # USD per CPU-hour: an on-demand cloud vCPU, 2025
DEFAULT_DURATION_S = 2.0
ENERGY_SOURCES = ("auto", "rapl", "estimate")
_TOP_DOMAIN = re.compile(r"intel-rapl:\d+$")   # intel-rapl:0; not its parts (intel-rapl:0:0)


class RaplDomain(NamedTuple):
    """One RAPL energy counter: a CPU package (``package-0``), in microjoules."""

    name: str
    path: str
    energy_uj: int
    max_energy_range_uj: int


def rapl_domains(root=POWERCAP_ROOT) -> tuple[RaplDomain, ...]:
    """The CPU packages' RAPL counters, read now; an ``ArtspeedError`` says why there are none.

    Only the top-level ``package-N`` domains are read: their parts (core,
    uncore, dram) are inside them, and ``psys`` covers the whole platform.
    """
    root = Path(root)
    if not root.is_dir():
        raise ArtspeedError(f"no {root} here: this kernel exposes no powercap energy counters "
                            "(virtual machines and containers usually have none)")
    tops = sorted(p for p in root.iterdir() if _TOP_DOMAIN.match(p.name))
    if not tops:
        raise ArtspeedError(f"{root} has no intel-rapl:N domain (no RAPL driver for this CPU, "
                            "or it is not loaded: modprobe intel_rapl_common)")
    domains = []
    for top in tops:
        try:
            name = (top / "name").read_text().strip()
            if not name.startswith("package"):
                continue
            domains.append(RaplDomain(name, str(top), int((top / "energy_uj").read_text()),
                                      int((top / "max_energy_range_uj").read_text())))
        except PermissionError:
            raise ArtspeedError(f"{top}/energy_uj is readable by root only (Linux 5.10 and "
                                "later); run as root, or let users read it (chmod o+r)") from None
        except (OSError, ValueError) as exc:
            raise ArtspeedError(f"cannot read the RAPL counter in {top}: {exc}") from None
    if not domains:
        raise ArtspeedError(f"{root} has RAPL domains but no CPU package among them")
    return tuple(domains)


def _used_uj(start: RaplDomain, end: RaplDomain) -> int:
    """Microjoules used between two readings of one counter, across one wraparound.

    >>> _used_uj(RaplDomain("package-0", "", 900, 1000), RaplDomain("package-0", "", 100, 1000))
    200
    """
    used = end.energy_uj - start.energy_uj
    return used if used >= 0 else used + end.max_energy_range_uj


@dataclass(frozen=True)
class EnergyCost(Result):
    """Energy (J) and CPU time (s) per inference, and the cost of a million inferences."""

    name: str
    runtime: str
    batch_size: int
    inferences: int               # samples run in the measured span
    wall_s: float
    cpu_s: float                  # the process's CPU time in the span (all threads)
    cpu_s_per_inference: float
    joules_per_inference: float
    source: str                   # "rapl" (measured) or "estimate" (CPU-seconds x watts)
    watts_per_core: float | None  # the estimate's figure; None when RAPL measured
    price_per_core_hour: float
    currency: str
    cost_per_million: float       # in currency: a million inferences' CPU-seconds, priced
    rapl_unavailable: str | None = None   # why RAPL was not used; None when it was
    rapl_domains: tuple = ()      # the packages RAPL summed
    predictor: dict = field(default_factory=dict)
    env: Environment | None = None

    @property
    def busy_cores(self) -> float:
        """CPUs kept busy on average (CPU-seconds per wall-clock second)."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def average_watts(self) -> float:
        """The power the energy figure implies over the run."""
        return self.joules_per_inference * self.inferences / self.wall_s if self.wall_s else 0.0

    @property
    def note(self) -> str:
        """Where the energy figure comes from, in words."""
        if self.source == "rapl":
            return (f"measured by RAPL over the whole CPU package ({', '.join(self.rapl_domains)}):"
                    " other programs and idle power count too")
        return (f"an estimate, not a measurement: CPU-seconds x {self.watts_per_core:g} W per busy "
                f"core; {self.rapl_unavailable}")

    def __repr__(self) -> str:
        what = "RAPL" if self.source == "rapl" else f"estimate at {self.watts_per_core:g} W/core"
        return (f"<EnergyCost {self.name}: {self.joules_per_inference * 1e3:.4g} mJ per inference "
                f"({what}), {self.cpu_s_per_inference * 1e3:.4g} ms CPU per inference, "
                f"{self.cost_per_million:.4g} {self.currency} per million at "
                f"{self.price_per_core_hour:g} {self.currency}/core-hour>")

    @classmethod
    def from_dict(cls, data: dict) -> EnergyCost:
        data = dict(data)
        data["rapl_domains"] = tuple(data.get("rapl_domains") or ())
        if isinstance(data.get("env"), dict):
            data["env"] = Environment.from_dict(data["env"])
        return super().from_dict(data)

    def _html_rows(self):
        yield "predictor", f"{self.name} ({self.runtime}), batch {self.batch_size}"
        yield "inferences (wall s)", f"{self.inferences:,} ({self.wall_s:.2f} s)"
        yield "CPU per inference (ms)", self.cpu_s_per_inference * 1e3
        yield "busy cores", self.busy_cores
        yield "energy per inference (mJ)", self.joules_per_inference * 1e3
        yield "energy source", self.note
        yield f"cost per million ({self.currency})", self.cost_per_million
        yield f"price per core-hour ({self.currency})", self.price_per_core_hour


def _predictor(model, x) -> Predictor:
    if isinstance(model, Predictor) or hasattr(model, "get_weights") or not callable(model):
        return as_predictor(model)   # also models, paths and ov.Models; a clear error otherwise
    if x is None:
        raise InvalidArgumentError("measure_energy needs x, a batch of inputs, to run a plain "
                                   "callable")
    label = getattr(model, "__name__", "")
    return FunctionPredictor(model, input_shape=(None, *np.shape(x)[1:]),
                             name=label if label.isidentifier() else "python")


def measure_energy(predictor, x=None, *, batch_size: int = 1, iterations: int | None = None,
                   duration_s: float | None = None, warmup: int = 10, source: str = "auto",
                   watts_per_core: float = DEFAULT_WATTS_PER_CORE,
                   price_per_core_hour: float = DEFAULT_PRICE_PER_CORE_HOUR,
                   currency: str = "USD", powercap_root=POWERCAP_ROOT,
                   name: str | None = None) -> EnergyCost:
    """Run ``predictor`` and return its energy and cost per inference (an ``EnergyCost``).

    ``predictor`` is a Predictor, anything ``as_predictor`` takes, or a plain
    callable of a batch (then ``x`` is required). ``x`` is the batch to run
    (default: random data of ``batch_size``). After ``warmup`` runs it runs
    ``iterations`` times, or for ``duration_s`` seconds (default 2 s).
    ``source``: ``"auto"`` uses RAPL where readable, else the estimate;
    ``"rapl"`` fails if it cannot read RAPL; ``"estimate"`` never reads it.
    ``watts_per_core`` and ``price_per_core_hour`` (in ``currency``) are the
    stated figures the estimate and the cost use (see the module's docstring).
    """
    source = _checks.choice("source", source, ENERGY_SOURCES)
    watts_per_core = _checks.positive_finite("watts_per_core", watts_per_core)
    price_per_core_hour = _checks.positive_finite("price_per_core_hour", price_per_core_hour)
    if not isinstance(currency, str) or not currency.strip():
        raise InvalidArgumentError(f"currency must be a name such as 'USD', got {currency!r}")
    batch_size = _checks.whole_number("batch_size", batch_size)
    check_budget(iterations, duration_s, warmup)
    predictor = _predictor(predictor, x)
    inputs = predictor.sample_input(batch_size) if x is None else predictor.check_input(x)
    batch_size = int(inputs.shape[0])
    if iterations is None and duration_s is None:
        duration_s = DEFAULT_DURATION_S

    reason = "estimate asked for (source='estimate')" if source == "estimate" else None
    if reason is None:
        try:
            rapl_domains(powercap_root)
        except ArtspeedError as exc:
            if source == "rapl":
                raise ArtspeedError(f"RAPL energy counters cannot be read: {exc}; use "
                                    "source='estimate'") from None
            reason = f"RAPL unavailable: {exc}"

    # warm up; then run_timed (with no warm-up of its own) is the measured span: its
    # prepare, one first run and the timed runs
    predictor.prepare(inputs)
    for _ in range(warmup):
        predictor._run()
    before = None if reason else rapl_domains(powercap_root)
    cpu0, wall0 = time.process_time_ns(), time.perf_counter_ns()
    timed = run_timed(predictor, inputs, iterations, duration_s, warmup=0)
    cpu_ns, wall_ns = time.process_time_ns() - cpu0, time.perf_counter_ns() - wall0
    after = None if reason else rapl_domains(powercap_root)

    inferences = (len(timed.latencies) + 1) * batch_size
    cpu_s = cpu_ns / 1e9
    cpu_per = cpu_s / inferences
    if reason is None:
        joules = sum(_used_uj(b, a) for b, a in zip(before, after)) / 1e6
        joules_per, watts, domains = joules / inferences, None, tuple(d.name for d in after)
    else:
        joules_per, watts, domains = cpu_per * watts_per_core, watts_per_core, ()
    return EnergyCost(
        name=name or predictor.name, runtime=predictor.runtime, batch_size=batch_size,
        inferences=inferences, wall_s=wall_ns / 1e9, cpu_s=cpu_s, cpu_s_per_inference=cpu_per,
        joules_per_inference=joules_per, source="estimate" if reason else "rapl",
        watts_per_core=watts, price_per_core_hour=price_per_core_hour, currency=currency,
        cost_per_million=cpu_per * 1e6 / 3600 * price_per_core_hour,
        rapl_unavailable=reason, rapl_domains=domains, predictor=predictor.describe(),
        env=environment(threads=predictor.threads))

