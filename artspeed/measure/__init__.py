"""Measuring: accuracy and size, profiles and FLOPs, the roofline and the runtime's roofs per
precision, latency benchmarks, energy and cost per inference, MLPerf-style scenarios, Pareto
fronts; depthwise-separable against standard convolution; one call per measuring job
(workflows)."""

from __future__ import annotations

from artspeed.core._exports import export
from artspeed.measure import (
    architecture,
    benchmark_tool,
    benchmarking,
    energy,
    evaluation,
    model_profiler_compat,
    pareto,
    profiler,
    roofline,
    runtime_roofs,
    scenarios,
    tf_flops,
    variants,
    workflows,
)

__all__ = export(globals(), architecture, benchmark_tool, benchmarking, energy, evaluation,
                 model_profiler_compat, pareto, profiler, roofline, runtime_roofs, scenarios,
                 tf_flops, variants, workflows)
