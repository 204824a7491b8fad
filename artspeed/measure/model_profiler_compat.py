"""The lecture's model-profiler figures, set beside artspeed's, each difference explained.

Taught in notebooks/01-model-complexity. The lecture measures models with the
``model-profiler`` package (1.1.8). Its figures are reproducible, but four of
its conventions differ from artspeed's (``artspeed.profiler``):

1. **'BFLOPs' is scaled by 1e-11, not 1e-9** (its ``multiplier`` table), so
   0.3093 'BFLOPs' for VGG16 means 0.3093e11 = 30.93 G FLOPs: 100x the label.
2. **FLOPs ignore the batch size** (the batch argument never reaches its
   ``count_flops``), and cover only the conv and dense layers' 2 x MACs plus
   their bias adds: activations, pooling, BatchNormalization, Add are 0.
3. **Layers are matched by NAME**: a layer counts only if its name contains
   ``conv``, ``dense``, ``fc``, ``squeeze``, ``expand``, ``res`` or ``stage``,
   and is then costed as a dense or a full 2-D conv, whatever its type. A
   Dense layer named ``logits`` costs 0; a DepthwiseConv2D named ``*conv*`` is
   costed as a full convolution.
4. **Nested models are skipped**: it looks for nested models of the old
   ``tensorflow.python.keras`` class, so a tf_keras application used as a layer
   (its name has none of the words above) costs 0 FLOPs.

Its memory figures use binary units: 'MB' is MiB (2**20 bytes), 'GB' GiB
(2**30). 'Memory Required by Model Weights' is 4 bytes per parameter, whatever
the dtype. 'GPU Memory Requirement' adds every layer's output, as if none were
ever freed, times the batch size, plus the parameter COUNT (not bytes).

>>> import artspeed
>>> c = artspeed.compare_model_profiler(artspeed.dense_example(), batch_size=2)
>>> c.values["Model Parameters"]
(0.0004, 'Million')
"""

from __future__ import annotations

from dataclasses import dataclass, field

from artspeed.core import _checks
from artspeed.core._result import Result, html_table
from artspeed.core.frameworks import LazyModule, check_tf_keras_model
from artspeed.measure.profiler import check_built, profile

__all__ = ["ModelProfilerComparison", "compare_model_profiler"]
_model_profiler = LazyModule("model_profiler")   # it imports TensorFlow

_MIB, _GIB = 2**20, 2**30


@dataclass(frozen=True)
class ModelProfilerComparison(Result):
    """model_profiler's table, read literally, beside artspeed's figures."""

    name: str
    batch_size: int
    values: dict = field(default_factory=dict)   # model_profiler row -> (value, unit label)
    rows: tuple = ()    # (quantity, model_profiler says, what it really is, artspeed, why)
    true_flops: int = 0                          # artspeed's FLOPs at batch_size
    model_profiler_table: str = ""

    def __repr__(self) -> str:
        bflops = self.values.get("No. of FLOPs", ("?", ""))[0]
        return (f"<ModelProfilerComparison {self.name}, batch {self.batch_size}: "
                f"model_profiler {bflops} 'BFLOPs', artspeed {self.true_flops / 1e9:.4g} G FLOPs>")

    def _repr_html_(self) -> str:
        return html_table(self.rows, header=("quantity", "model_profiler says",
                                             "what that figure is", "artspeed",
                                             "why they differ"),
                          caption=f"model_profiler vs artspeed: {self.name}, "
                                  f"batch {self.batch_size}")


def _parse_table(table: str) -> dict:
    values = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("Model Profile", "") or set(cells[0]) <= {"-"}:
            continue
        try:
            values[cells[0]] = (float(cells[1]), cells[2])
        except ValueError:
            values[cells[0]] = (cells[1], cells[2])
    return values


def compare_model_profiler(model, batch_size: int = 1) -> ModelProfilerComparison:
    """Run model_profiler on ``model`` and set each figure beside artspeed's.

    Reproduces the lecture's table (VGG16 at batch 128: 138.3575 Million
    parameters, 527.7921 MB of weights, 0.3093 'BFLOPs', 7.4067 GB) and says
    what each figure is. See this module's docstring for the four conventions.
    """
    model = check_built(check_tf_keras_model(model, "artspeed.compare_model_profiler"))
    batch_size = _checks.whole_number("batch_size", batch_size)
    table = _model_profiler.model_profiler(model, batch_size)
    values = _parse_table(table)
    ours = profile(model, batch_size=batch_size)
    one = profile(model, batch_size=1) if batch_size != 1 else ours
    bflops = values["No. of FLOPs"][0]
    gb = values["GPU Memory Requirement"][0]
    # model_profiler's own memory formula, from artspeed's rows: every output, kept
    outputs_bytes = sum(r.output_bytes for r in ours.layers)
    mp_memory = outputs_bytes + ours.total_params
    linear_one = 2 * one.macs
    rows = (
        ("parameters", f"{values['Model Parameters'][0]} Million",
         "model.count_params() / 1e6", f"{ours.total_params:,} ({ours.total_params / 1e6:.4f} M)",
         "same count"),
        ("weights", f"{values['Memory Required by Model Weights'][0]} MB",
         "4 bytes x parameters / 2**20 (MiB)",
         f"{ours.weights_bytes:,} bytes = {ours.weights_bytes / _MIB:.4f} MiB = "
         f"{ours.weights_bytes / 1e6:.2f} MB",
         "same bytes for float32; its 'MB' is MiB, and it assumes 4 bytes whatever the dtype"),
        ("FLOPs", f"{bflops} BFLOPs",
         f"{bflops * 1e11 / 1e9:.4g} G FLOPs for ONE sample (scaled by 1e-11, batch ignored; "
         "conv and dense layers matched by name)",
         f"{ours.flops / 1e9:.4g} G FLOPs at batch {batch_size} "
         f"({one.flops / 1e9:.4g} G per sample; linear part 2 x MACs = {linear_one / 1e9:.4g} G)",
         "its 'BFLOPs' x 100 = G FLOPs; it also ignores the batch size, the element-wise "
         "layers, and any layer it cannot match by name"),
        ("memory", f"{gb} GB",
         f"(batch x every layer output x 4 bytes + parameter count) / 2**30 = "
         f"{mp_memory / _GIB:.4f} GiB",
         f"weights {ours.weights_bytes / _GIB:.4f} GiB + peak activations "
         f"{ours.peak_activation_bytes / _GIB:.4f} GiB = "
         f"{(ours.weights_bytes + ours.peak_activation_bytes) / _GIB:.4f} GiB",
         "it keeps every activation alive and adds a count to bytes; inference frees each "
         "tensor after its last reader (peak_activation_bytes)"),
    )
    return ModelProfilerComparison(name=model.name, batch_size=batch_size, values=values,
                                   rows=rows, true_flops=ours.flops,
                                   model_profiler_table=table)
