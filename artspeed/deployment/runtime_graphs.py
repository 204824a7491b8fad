"""What the OpenVINO runtime did with a model: fusion, kernels, precision, time per layer.

Taught in notebooks/08-openvino-deployment. ``compile_model`` does not run
the graph you converted. The CPU plugin rewrites it first: it *fuses*
operations into one layer (a Convolution absorbs the ReLU after it, a MatMul
its bias and activation, an INT8 layer the FakeQuantize ops around it),
inserts *Reorder* layers where the memory layout changes (NHWC to a blocked
layout such as nChw16c), picks a *kernel* for each layer (``brgconv_avx512``,
``brgemm_avx512_amx_bf16``, ``jit_avx512_I8``: the primitive type names the
instruction set and the precision) and the precision it runs in.

``compiled_model.get_runtime_model()`` is that executed graph; each node's
runtime info holds ``layerType``, ``primitiveType``, ``runtimePrecision``,
``originalLayersNames`` (the operations fused into it) and, with
``PERF_COUNT`` on, ``execTimeMcs``. ``runtime_graph`` reads them into a
table; ``count_ops`` counts the operations before compilation.

>>> import artspeed
>>> graph = runtime_graph(artspeed.baseline_cnn(width=2))
>>> graph.ops_before > graph.layers_after   # Convolution+Relu fused, and more
True
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import matplotlib.pyplot as plt

from artspeed.core import _checks
from artspeed.core._result import Result, html_table
from artspeed.core.errors import InvalidArgumentError
from artspeed.core.frameworks import ov
from artspeed.runtimes.ir import convert_model
from artspeed.runtimes.openvino import OpenVINOPredictor, compile_model

__all__ = ["count_ops", "RuntimeLayer", "RuntimeGraph", "runtime_graph"]

_NOT_COMPUTE = ("Parameter", "Result", "Constant")
_RUNTIME_NOT_COMPUTE = ("Input", "Output", "Const")


def count_ops(model) -> dict:
    """Operation types in an ``ov.Model`` (or anything ``convert_model`` takes), with counts.

    >>> import artspeed
    >>> count_ops(artspeed.dense_example())["MatMul"]
    5
    """
    if not isinstance(model, ov.Model):
        model = convert_model(model)
    return dict(Counter(op.get_type_name() for op in model.get_ordered_ops()))


@dataclass(frozen=True)
class RuntimeLayer(Result):
    """One layer the CPU plugin executes, and the original operations fused into it."""

    name: str
    layer_type: str             # layerType: Convolution, FullyConnected, Reorder, ...
    primitive: str              # primitiveType: the kernel, e.g. brgconv_avx512_amx_I8
    precision: str              # runtimePrecision: f32, bf16, u8, i8, ...
    output_precision: str
    fused: tuple = ()           # the original operation types it stands for, e.g. (Convolution, Relu)
    original_names: tuple = ()
    exec_time_us: float | None = None

    def __repr__(self) -> str:
        return (f"<RuntimeLayer {self.layer_type} {self.primitive} {self.precision}: "
                f"{' + '.join(self.fused) or 'inserted'}>")


@dataclass(frozen=True)
class RuntimeGraph(Result):
    """The executed graph of a compiled model, against the graph that was converted."""

    name: str
    inference_precision: str
    ops_before: int             # computing operations of the ov.Model (no constants, inputs, outputs)
    layers_after: int           # layers the plugin executes (no constants, inputs, outputs)
    op_counts: dict
    layers: tuple

    @property
    def fusions(self) -> list:
        """(layer type, the original operation types fused into it) for each fused layer."""
        return [(layer.layer_type, layer.fused) for layer in self.layers if len(layer.fused) > 1]

    @property
    def precisions(self) -> dict:
        """How many executed layers run in each precision."""
        return dict(Counter(layer.precision for layer in self.layers))

    @property
    def kernels(self) -> dict:
        """How many executed layers use each kernel (primitive type)."""
        return dict(Counter(layer.primitive for layer in self.layers))

    @property
    def reorders(self) -> int:
        """Layout conversions the plugin inserted (they appear in no original operation)."""
        return sum(1 for layer in self.layers if layer.layer_type == "Reorder")

    @property
    def total_time_us(self) -> float | None:
        times = [layer.exec_time_us for layer in self.layers if layer.exec_time_us is not None]
        return float(sum(times)) if times else None

    def __repr__(self) -> str:
        return (f"<RuntimeGraph {self.name}: {self.ops_before} operations -> "
                f"{self.layers_after} executed layers ({len(self.fusions)} fused, "
                f"{self.reorders} reorders), {self.inference_precision}>")

    def __str__(self) -> str:
        lines = [repr(self), f"{'layer type':<16} {'kernel':<28} {'prec':<5} {'us':>7}  fused"]
        for layer in self.layers:
            time = f"{layer.exec_time_us:7.0f}" if layer.exec_time_us is not None else f"{'-':>7}"
            lines.append(f"{layer.layer_type:<16} {layer.primitive:<28} {layer.precision:<5} "
                         f"{time}  {' + '.join(layer.fused) or '(inserted)'}")
        return "\n".join(lines)

    @classmethod
    def from_dict(cls, data: dict) -> RuntimeGraph:
        data = dict(data)
        data["layers"] = tuple(RuntimeLayer.from_dict({**row, "fused": tuple(row["fused"]),
                                                       "original_names": tuple(row["original_names"])})
                               for row in data["layers"])
        return super().from_dict(data)

    def _repr_html_(self) -> str:
        rows = [(layer.name, layer.layer_type, layer.primitive, layer.precision,
                 layer.exec_time_us if layer.exec_time_us is not None else "-",
                 " + ".join(layer.fused) or "(inserted)") for layer in self.layers]
        return html_table(rows, header=("layer", "type", "kernel", "precision", "time (us)",
                                        "original operations"),
                          caption=f"{self.name}: {self.ops_before} operations -> "
                                  f"{self.layers_after} executed layers, "
                                  f"{self.inference_precision}")

    def plot(self, ax=None, top: int = 15):
        """A bar chart of the ``top`` slowest layers (needs per-layer times)."""
        timed = [layer for layer in self.layers if layer.exec_time_us]
        if not timed:
            raise InvalidArgumentError("this graph has no per-layer times; build it with "
                                       "artspeed.runtime_graph(model) (PERF_COUNT on)")
        timed = sorted(timed, key=lambda layer: -layer.exec_time_us)[:top]
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.3 * len(timed) + 1))
        labels = [f"{layer.layer_type} {layer.primitive} ({layer.precision})" for layer in timed]
        ax.barh(labels[::-1], [layer.exec_time_us for layer in timed][::-1])
        ax.set_xlabel("time per inference (us)")
        ax.set_title(f"{self.name}: slowest layers")
        return ax


def _value(info, key: str) -> str:
    return info[key].astype(str) if key in info else ""


def runtime_graph(model, *, inference_precision: str | None = "f32", batch_size: int = 1,
                  runs: int = 10, name: str | None = None) -> RuntimeGraph:
    """Compile ``model`` (PERF_COUNT on), run it ``runs`` times, and read its runtime graph.

    ``model`` is anything ``artspeed.compile_model`` takes, or an
    ``OpenVINOPredictor`` (its own settings are used; per-layer times only
    if it was made with ``perf_count=True``). ``inference_precision`` is the
    precision hint for a model compiled here (``None``: OpenVINO's default).
    """
    runs = _checks.whole_number("runs", runs, 0)
    if isinstance(model, OpenVINOPredictor):
        predictor = model
    else:
        predictor = compile_model(model, inference_precision=inference_precision,
                                  perf_count=True)
    batch = predictor.fixed_batch or batch_size
    x = predictor.sample_input(batch) if all(d is not None for d in predictor.input_shape[1:]) \
        else None
    if x is None:
        raise InvalidArgumentError("the model's input shape is dynamic; reshape it first "
                                   "(artspeed.convert_model(model, batch_size=1))")
    for _ in range(runs):
        predictor(x)
    compiled = predictor.compiled_model(batch)
    source = predictor._model
    types = {op.get_friendly_name(): op.get_type_name() for op in source.get_ops()}
    layers = []
    for node in compiled.get_runtime_model().get_ordered_ops():
        info = node.get_rt_info()
        layer_type = _value(info, "layerType")
        if layer_type in _RUNTIME_NOT_COMPUTE:
            continue
        names = tuple(n for n in _value(info, "originalLayersNames").split(",") if n)
        fused = tuple(types.get(n, "?") for n in names)
        time = _value(info, "execTimeMcs")
        layers.append(RuntimeLayer(
            name=node.get_friendly_name(), layer_type=layer_type,
            primitive=_value(info, "primitiveType"), precision=_value(info, "runtimePrecision"),
            output_precision=_value(info, "outputPrecisions"), fused=fused,
            original_names=names, exec_time_us=float(time) if time.isdigit() else None))
    before = sum(1 for op in source.get_ordered_ops() if op.get_type_name() not in _NOT_COMPUTE)
    precision = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
    return RuntimeGraph(name=name or source.get_friendly_name() or predictor.name,
                        inference_precision=precision, ops_before=before,
                        layers_after=len(layers), op_counts=count_ops(source),
                        layers=tuple(layers))
