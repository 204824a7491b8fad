"""Sparse inference in LiteRT: does XNNPACK run a pruned model's zeros faster?

The path has three steps (benchmarks/bench_sparse.py runs them on the vehicle):

1. prune the 1x1 convs with tfmot's XNNPACK policy:
   ``prune_low_magnitude(model, 0.8, pruning_policy="xnnpack")`` (it checks
   the model's structure first; ``pad_for_xnnpack`` fixes Keras's padding);
2. convert with the converter's sparsity optimization:
   ``convert_to_tflite(pruned, "sparse")`` stores each mostly-zero weight
   tensor sparse (the schema's ``SparsityParameters``) behind a ``DENSIFY`` op;
3. run it in LiteRT. Its XNNPACK delegate takes the ``DENSIFY`` ops and, having
   found sparse weights, asks XNNPACK for sparse inference
   (``XNN_FLAG_HINT_SPARSE_INFERENCE``): no flag to set from Python.

XNNPACK then runs the sparse part in CHW layout with sparse-matrix kernels,
but only if the structure fits, at least 2/3 of the 1x1 weights are zero, and
the CPU is one it has sparse kernels for: on x86 with AVX it turns the sparse
path off (its dense AVX kernels are expected to be faster; see
``xnn_is_chw_compatible_config`` in XNNPACK's ``src/xnnpack/hardware-config.h``),
densifies the weights once, and runs the dense kernels.

``inspect_sparse_tflite`` reads that evidence from a file and the interpreter;
``sparse_speedup`` times a sparse file against the dense one, interleaved, at
each thread count, and says why it is not faster.

>>> import artspeed
>>> r = inspect_sparse_tflite(artspeed.convert_to_tflite(artspeed.dense_example(), "sparse"))
>>> r.sparse_tensors, r.reasons[0]
(0, "the file stores no tensor sparse: convert a pruned model (most weights zero) in mode 'sparse'")
"""

from __future__ import annotations

import math
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from artspeed.compress.ptq import QuantizedModel
from artspeed.core import _checks
from artspeed.core._result import Result, html_table
from artspeed.core.env import Environment, _cpu, environment
from artspeed.core.errors import InvalidArgumentError, ModelError, first_line
from artspeed.measure.benchmarking import benchmark
from artspeed.runtimes.tflite import TFLitePredictor, tflite_interpreter

__all__ = ["XNNPACK_MIN_ZEROS", "SparseTFLite", "SparseSpeedup", "inspect_sparse_tflite",
           "sparse_speedup"]

XNNPACK_MIN_ZEROS = 2 / 3    # of the 1x1 conv weights, for XNNPACK to go sparse
_X86 = ("x86_64", "amd64", "i386", "i686", "x86")
_AVX_REASON = ("this x86 CPU has AVX, and XNNPACK turns its sparse (CHW) kernels off on "
               "such CPUs, expecting its dense kernels to be faster "
               "(xnn_is_chw_compatible_config, src/xnnpack/hardware-config.h): it densifies "
               "the weights when the model loads and runs them dense")


def _path(model) -> Path:
    path = Path(model.path if isinstance(model, QuantizedModel) else model)
    if path.suffix != ".tflite" or not path.is_file():
        raise ModelError(f"no TFLite model at '{path}': give a .tflite file or the "
                         "QuantizedModel artspeed.convert_to_tflite returned")
    return path


def _x86_with_avx() -> bool | None:
    """True on x86 with AVX, False elsewhere, None on x86 whose flags could not be read."""
    if platform.machine().lower() not in _X86:
        return False
    flags = _cpu()[1]
    return ("avx" in flags) if flags else None


def _stored_values(sparsity: dict) -> int:
    """How many values a sparse tensor stores, from its dimension metadata."""
    count = 1
    for dim in sparsity["dim_metadata"]:
        if dim["format"] == 0:        # DENSE: every index of this level
            count *= int(dim["dense_size"])
        else:                         # SPARSE_CSR: the indices kept at this level
            count = len(dim["array_indices"])
    return count


def _unallocated(interpreter, index: int) -> bool:
    """True for a tensor inside a delegate: the interpreter gives it no memory."""
    try:
        interpreter.get_tensor(index)
    except ValueError:
        return True
    return False


@dataclass(frozen=True)
class SparseTFLite(Result):
    """What a ``.tflite`` file stores sparse, and what XNNPACK took of it on this machine."""

    path: str
    backend: str
    ops: int                        # the model's ops (delegate nodes not counted)
    densify_ops: int
    sparse_tensors: int             # tensors stored with SparsityParameters
    sparse_weights: int             # the values those tensors hold, zeros included
    stored_weights: int             # the values they store (the rest are zeros left out)
    xnnpack_ops: int                # ops the XNNPACK delegate took
    xnnpack_partitions: int         # delegate nodes (one per connected run of its ops)
    sparse_tensors_in_xnnpack: int  # sparse tensors XNNPACK read: then it hints sparse inference
    x86_avx: bool | None            # XNNPACK's sparse kernels are off on x86 with AVX
    reasons: tuple = ()             # why XNNPACK cannot run this file sparse here

    @property
    def zeros(self) -> float:
        """The fraction of the sparse-stored tensors' values that are zeros (left out)."""
        return 1 - self.stored_weights / self.sparse_weights if self.sparse_weights else 0.0

    @property
    def sparse_inference_possible(self) -> bool:
        """True when nothing found rules XNNPACK's sparse inference out."""
        return not self.reasons

    def __repr__(self) -> str:
        verdict = "possible" if self.sparse_inference_possible else (
            f"ruled out ({len(self.reasons)} reason{'s' if len(self.reasons) > 1 else ''})")
        return (f"<SparseTFLite {Path(self.path).name}: {self.sparse_tensors} sparse tensors "
                f"({self.zeros:.0%} zeros), XNNPACK took {self.xnnpack_ops}/{self.ops} ops; "
                f"sparse inference {verdict}>")

    def evidence(self) -> list[str]:
        """The facts, one line each: storage, delegation, CPU."""
        cpu = {True: "x86 with AVX", False: "not x86 with AVX", None: "x86, flags unread"}
        return [
            f"tensors stored sparse: {self.sparse_tensors} ({self.stored_weights:,} of "
            f"{self.sparse_weights:,} values kept, {self.zeros:.1%} zeros), behind "
            f"{self.densify_ops} DENSIFY ops",
            f"ops XNNPACK took: {self.xnnpack_ops} of {self.ops}, in "
            f"{self.xnnpack_partitions} partition(s); sparse tensors it read: "
            f"{self.sparse_tensors_in_xnnpack} of {self.sparse_tensors}"
            + (" (so the delegate asked XNNPACK for sparse inference, "
               "XNN_FLAG_HINT_SPARSE_INFERENCE)" if self.sparse_tensors_in_xnnpack else ""),
            f"CPU: {cpu[self.x86_avx]}",
        ]

    def _repr_html_(self) -> str:
        rows = [(line,) for line in self.evidence()]
        rows += [(f"why not sparse: {reason}",) for reason in self.reasons]
        return html_table(rows, caption=f"Sparse inference of {Path(self.path).name}")


def inspect_sparse_tflite(model, threads: int | None = None) -> SparseTFLite:
    """Read a ``.tflite`` file's sparse tensors, and what LiteRT's XNNPACK took of them.

    ``model`` is a path or a ``QuantizedModel``. The file is loaded as
    ``TFLitePredictor`` loads it (XNNPACK on, ``threads``): an op counts as
    XNNPACK's when the interpreter gave its output no memory (it lives inside
    the delegate) or the output is a delegate node's. ``reasons`` lists what
    rules sparse inference out: no sparse tensors, too few zeros (XNNPACK wants
    ``XNNPACK_MIN_ZEROS``), sparse weights XNNPACK did not take, or this CPU.
    The model's structure is checked on the Keras side
    (``artspeed.check_pruning_policy``).
    """
    path = _path(model)
    threads = _checks.threads(threads)
    Interpreter, backend = tflite_interpreter()
    try:
        interpreter = Interpreter(model_path=str(path),
                                  **({"num_threads": threads} if threads else {}))
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"'{path}' is not a TFLite model the interpreter can read: "
                         f"{first_line(exc)}") from None
    sparse = {d["index"]: d for d in interpreter.get_tensor_details()
              if d.get("sparsity_parameters")}
    every = interpreter._get_ops_details()
    delegates = [op for op in every if op["op_name"] == "DELEGATE"]
    ops = [op for op in every if op["op_name"] != "DELEGATE"]
    delegate_inputs = {int(i) for op in delegates for i in op["inputs"]}
    delegate_outputs = {int(i) for op in delegates for i in op["outputs"]}
    taken = sum(1 for op in ops if delegates and all(
        int(i) in delegate_outputs or _unallocated(interpreter, int(i))
        for i in op["outputs"] if i >= 0))
    weights = sum(int(np.prod(d["shape"])) for d in sparse.values())
    stored = sum(_stored_values(d["sparsity_parameters"]) for d in sparse.values())
    in_xnnpack = len(set(sparse) & delegate_inputs)
    avx = _x86_with_avx()
    reasons = []
    if not sparse:
        reasons.append("the file stores no tensor sparse: convert a pruned model (most "
                       "weights zero) in mode 'sparse'")
    else:
        if weights and 1 - stored / weights < XNNPACK_MIN_ZEROS:
            reasons.append(f"only {1 - stored / weights:.0%} of the sparse-stored weights are "
                           f"zero; XNNPACK needs {XNNPACK_MIN_ZEROS:.0%} of the 1x1 conv "
                           "weights to be")
        if in_xnnpack < len(sparse):
            reasons.append(f"{len(sparse) - in_xnnpack} of {len(sparse)} sparse tensors feed "
                           "ops XNNPACK did not take (it takes float32 and float16 weights of "
                           "ops it runs)")
    if not delegates:
        reasons.append("XNNPACK took no op of the model")
    if avx:
        reasons.append(_AVX_REASON)
    return SparseTFLite(str(path), backend, len(ops), sum(op["op_name"] == "DENSIFY" for op in ops),
                        len(sparse), weights, stored, taken, len(delegates), in_xnnpack, avx,
                        tuple(reasons))


def _per_thread(threads, ratios) -> str:
    """'0.97x at 1 thread, 0.93x at 2 threads'."""
    return ", ".join(f"{x:.2f}x at {t} thread{'s' if t > 1 else ''}"
                     for t, x in zip(threads, ratios))


@dataclass(frozen=True)
class SparseSpeedup(Result):
    """Batch-1 latency of a sparse ``.tflite`` file against the dense one, per thread count."""

    dense_path: str
    sparse_path: str
    pruned_dense_path: str | None
    xnnpack: bool
    threads: tuple
    dense_latency_ms: tuple         # median over rounds of each round's p50, per thread count
    sparse_latency_ms: tuple
    pruned_dense_latency_ms: tuple | None
    rounds: int
    duration_s: float
    outputs_max_difference: float | None   # sparse file against the pruned dense one
    outputs_vary: bool | None       # do the outputs depend on the input at all?
    inspection: SparseTFLite
    env: Environment | None = field(default=None, repr=False)

    @property
    def speedups(self) -> tuple:
        """Dense latency / sparse latency at each thread count (above 1: sparse is faster)."""
        return tuple(d / s for d, s in zip(self.dense_latency_ms, self.sparse_latency_ms))

    @classmethod
    def from_dict(cls, data: dict) -> SparseSpeedup:
        data = dict(data)
        for key in ("threads", "dense_latency_ms", "sparse_latency_ms", "pruned_dense_latency_ms"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        data["inspection"] = SparseTFLite.from_dict(
            {**data["inspection"], "reasons": tuple(data["inspection"].get("reasons", ()))})
        if isinstance(data.get("env"), dict):
            data["env"] = Environment.from_dict(data["env"])
        return super().from_dict(data)

    def __repr__(self) -> str:
        return f"<SparseSpeedup sparse against dense: {_per_thread(self.threads, self.speedups)}>"

    def why(self, target: float = 1.3) -> list[str]:
        """Why the sparse file is not ``target`` times faster at every thread count ([] if it is).

        The measured figures first, then the evidence of ``inspection``.
        """
        target = _checks.positive_finite("target", target)
        if min(self.speedups) >= target:
            return []
        runtime = "XNNPACK" if self.xnnpack else "the builtin kernels"
        lines = [f"measured with {runtime}, the sparse file's speed against the dense one's: "
                 + _per_thread(self.threads, self.speedups)]
        if self.pruned_dense_latency_ms is not None:
            ratios = [p / s for p, s in zip(self.pruned_dense_latency_ms, self.sparse_latency_ms)]
            lines.append("against the same pruned weights stored dense: "
                         + _per_thread(self.threads, ratios))
        if self.outputs_vary is False:
            lines.append("the outputs do not depend on the input (an untrained model's "
                         "activations can vanish), so comparing them shows nothing")
        elif self.outputs_max_difference is not None:
            if self.outputs_max_difference == 0:
                lines.append("its outputs equal the pruned dense file's bit for bit: the same "
                             "dense kernels ran on the densified weights")
            else:
                lines.append(f"its outputs differ from the pruned dense file's by up to "
                             f"{self.outputs_max_difference:.3g}: other kernels ran")
        lines.extend(self.inspection.evidence())
        lines.extend(f"why: {reason}" for reason in self.inspection.reasons)
        return lines

    def _repr_html_(self) -> str:
        rows = []
        for i, t in enumerate(self.threads):
            pruned = (self.pruned_dense_latency_ms[i] if self.pruned_dense_latency_ms
                      else math.nan)
            rows.append((t, self.dense_latency_ms[i], pruned, self.sparse_latency_ms[i],
                         self.speedups[i]))
        return (html_table(rows, header=("threads", "dense p50 (ms)", "pruned, stored dense "
                                         "p50 (ms)", "sparse p50 (ms)", "speedup"),
                           caption="Sparse against dense, batch 1")
                + self.inspection._repr_html_())


def sparse_speedup(dense, sparse, *, pruned_dense=None, threads=None, xnnpack: bool = True,
                   rounds: int = 5, duration_s: float = 1.0, seed: int = 0) -> SparseSpeedup:
    """Time a sparse ``.tflite`` file against the dense one at batch 1, interleaved.

    ``dense`` is the unpruned model's file (the baseline), ``sparse`` the pruned
    model converted in mode ``"sparse"``, and ``pruned_dense`` (optional) the
    same pruned model converted ``"float32"``: the same zeros, stored dense.
    Each is a path or a ``QuantizedModel``. At each thread count of ``threads``
    (default: 1 and every available core), every file runs for ``duration_s``
    in each of ``rounds`` rounds, taking turns; a latency is the median over the
    rounds of each round's p50. ``xnnpack=False`` runs the builtin kernels. The
    sparse file's outputs are compared with the pruned dense file's on one
    random inputs: bit-identical outputs at the same speed mean the runtime ran
    its dense kernels on densified weights (``outputs_vary`` says whether the
    outputs depend on the input at all, else they show nothing).
    """
    files = {"dense": _path(dense), "sparse": _path(sparse)}
    if pruned_dense is not None:
        files["pruned_dense"] = _path(pruned_dense)
    if threads is None:
        cores = environment().available_cores
        threads = (1, cores) if cores > 1 else (1,)
    threads = tuple(dict.fromkeys(_checks.threads(t) for t in (
        (threads,) if isinstance(threads, int) else threads)))
    if not threads or None in threads:
        raise InvalidArgumentError("threads must be thread counts, such as (1, 2)")
    rounds = _checks.whole_number("rounds", rounds)
    duration_s = _checks.positive_finite("duration_s", duration_s)
    medians: dict = {name: [] for name in files}
    difference = vary = None
    for count in threads:
        predictors = {name: TFLitePredictor(path, threads=count, name=name, xnnpack=xnnpack)
                      for name, path in files.items()}
        x = predictors["dense"].sample_input(1, seed=seed)
        if "pruned_dense" in predictors:
            other = predictors["dense"].sample_input(1, seed=seed + 1)
            reference = [predictors["pruned_dense"](batch) for batch in (x, other)]
            gap = max(float(np.max(np.abs(predictors["sparse"](batch) - ref)))
                      for batch, ref in zip((x, other), reference))
            difference = gap if difference is None else max(difference, gap)
            vary = bool(vary) or bool(np.any(reference[0] != reference[1]))
        p50s: dict = {name: [] for name in files}
        for _ in range(rounds):
            for name, predictor in predictors.items():
                result = benchmark(predictor, 1, duration_s=duration_s, inputs=x, warn=False)
                p50s[name].append(result.latency_ms["p50"])
        for name in files:
            medians[name].append(statistics.median(p50s[name]))
        for predictor in predictors.values():
            predictor.close()
    return SparseSpeedup(
        dense_path=str(files["dense"]), sparse_path=str(files["sparse"]),
        pruned_dense_path=str(files["pruned_dense"]) if "pruned_dense" in files else None,
        xnnpack=bool(xnnpack), threads=threads, dense_latency_ms=tuple(medians["dense"]),
        sparse_latency_ms=tuple(medians["sparse"]),
        pruned_dense_latency_ms=tuple(medians["pruned_dense"]) if "pruned_dense" in files
        else None, rounds=rounds, duration_s=duration_s, outputs_max_difference=difference,
        outputs_vary=vary,
        inspection=inspect_sparse_tflite(files["sparse"], threads[0]),
        env=environment(threads=threads[0]))
