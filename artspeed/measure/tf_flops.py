"""Count a model's FLOPs with TensorFlow's own graph profiler, to cross-check artspeed.

Taught in notebooks/01-model-complexity. The model is traced at a fixed batch
size, its variables frozen into constants, and TensorFlow's profiler sums the
``float_operation`` statistic that each op type registers.

Where the two counts differ, one of these conventions explains it (the
artspeed side is written down in ``artspeed.profiler``):

- **Linear layers agree exactly.** Both count 2 FLOPs per MAC for Conv2D,
  Conv3D, DepthwiseConv2dNative, MatMul and BatchMatMul, and 1 per element
  for BiasAdd, Add, Mul, pooling windows, Mean and 5 for Softmax.
- **TensorFlow counts 0 for ops without a registered statistic**: Relu,
  Relu6, Sigmoid, Tanh, Elu, LeakyRelu, FusedBatchNormV3 (BatchNormalization),
  Max (GlobalMaxPooling) and Einsum (MultiHeadAttention's projections).
  artspeed counts them (BatchNormalization 2 per element, relu 1, ...), so
  its total is the higher one; ``GraphFlops.uncounted_ops`` lists them.
- **Function calls are not entered**: tf_keras runs a grouped convolution
  (``groups > 1``) inside a function call (``PartitionedCall``), and the
  profiler counts 0 for it and everything in it.
- **Transposed convolutions**: TensorFlow divides by the strides
  (``Conv2DBackpropInput``), which is exact only for ``padding="same"``;
  artspeed counts every input element against the whole kernel.

>>> import artspeed
>>> g = artspeed.tf_graph_flops(artspeed.dense_example())
>>> g.flops, g.flops_by_op["MatMul"]
(752, 690)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from artspeed.core import _checks
from artspeed.core._result import Result, html_table
from artspeed.core.errors import InvalidArgumentError
from artspeed.core.frameworks import LazyModule, check_tf_keras_model, tf
from artspeed.measure.profiler import check_built

__all__ = ["GraphFlops", "tf_graph_flops", "LINEAR_OPS"]
_convert_to_constants = LazyModule("tensorflow.python.framework.convert_to_constants")
_deprecation = LazyModule("tensorflow.python.util.deprecation")

# TensorFlow op types whose FLOPs are 2 x MACs: artspeed's linear layers.
LINEAR_OPS = ("Conv2D", "Conv3D", "DepthwiseConv2dNative", "MatMul", "BatchMatMul",
              "BatchMatMulV2", "BatchMatMulV3", "Conv2DBackpropInput")

# Op types that only move data or feed shapes: 0 FLOPs by every convention.
_DATA_OPS = {"Const", "Identity", "IdentityN", "Placeholder", "NoOp", "Reshape", "Pad",
             "PadV2", "ConcatV2", "Shape", "StridedSlice", "Pack", "Unpack", "Squeeze",
             "ExpandDims", "Transpose", "Cast", "Fill", "GatherV2", "ResourceGather",
             "Range", "Prod", "Slice", "Split", "SplitV", "Tile", "BroadcastTo", "ZerosLike",
             "OnesLike", "ReadVariableOp", "Tensordot", "_Arg", "_Retval"}


@dataclass(frozen=True)
class GraphFlops(Result):
    """TensorFlow's FLOP count of a frozen model graph, by op type."""

    name: str
    batch_size: int
    flops: int
    flops_by_op: dict = field(default_factory=dict)   # op type -> FLOPs
    uncounted_ops: dict = field(default_factory=dict)  # op type -> how many, counted as 0
    seconds: float = 0.0                               # time to trace, freeze and count

    def __repr__(self) -> str:
        return (f"<GraphFlops {self.name}: {self.flops / 1e9:.4g} G FLOPs by TensorFlow's "
                f"profiler, batch {self.batch_size}>")

    @property
    def linear_flops(self) -> int:
        """FLOPs of the ops that are 2 x MACs (convolutions and matmuls)."""
        return sum(v for k, v in self.flops_by_op.items() if k in LINEAR_OPS)

    def compare(self, profile) -> list[tuple[str, int, int, str]]:
        """Rows (quantity, TensorFlow, artspeed, why they differ) against a ModelProfile."""
        if profile.batch_size != self.batch_size:
            raise InvalidArgumentError(
                f"profile is for batch {profile.batch_size}, this count for batch "
                f"{self.batch_size}; count both at the same batch size")
        uncounted = ", ".join(f"{op} x{n}" for op, n in self.uncounted_ops.items()) or "none"
        return [
            ("linear layers (2 x MACs)", self.linear_flops, 2 * profile.macs,
             "same convention: 2 FLOPs per multiply-accumulate"),
            ("element-wise and other ops", self.flops - self.linear_flops,
             profile.flops - 2 * profile.macs,
             f"TensorFlow counts 0 for ops without a registered statistic: {uncounted}"),
            ("total FLOPs", self.flops, profile.flops,
             "artspeed is higher by the ops TensorFlow does not count"),
        ]

    def _repr_html_(self) -> str:
        rows = sorted(self.flops_by_op.items(), key=lambda kv: -kv[1])
        rows += [(f"{op} (x{n}, not counted)", 0) for op, n in self.uncounted_ops.items()]
        return html_table([(op, f"{v:,}") for op, v in rows], header=("op type", "FLOPs"),
                          caption=f"TensorFlow graph profiler: {self.name}, batch "
                          f"{self.batch_size}, {self.flops:,} FLOPs")


def tf_graph_flops(model, batch_size: int = 1) -> GraphFlops:
    """FLOPs of ``model`` at ``batch_size`` by TensorFlow's profiler (``float_operation``).

    Slower than ``artspeed.profile`` (it traces and freezes the whole graph);
    use it to cross-check. See this module's docstring for why the two differ.

    >>> import artspeed
    >>> artspeed.tf_graph_flops(artspeed.dense_example(), batch_size=4).flops
    3008
    """
    model = check_built(check_tf_keras_model(model, "artspeed.tf_graph_flops"))
    batch_size = _checks.whole_number("batch_size", batch_size)
    start = time.perf_counter()
    specs = [tf.TensorSpec((batch_size, *t.shape[1:]), t.dtype) for t in model.inputs]
    if len(specs) == 1:
        concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs[0])
    else:
        concrete = tf.function(lambda *xs: model(list(xs), training=False)).get_concrete_function(*specs)
    graph_def = _convert_to_constants.convert_variables_to_constants_v2(concrete).graph.as_graph_def()
    counts: dict[str, int] = {}
    for node in graph_def.node:
        counts[node.op] = counts.get(node.op, 0) + 1
    with _deprecation.silence(), tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        result = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(),
                                               cmd="op", options=options)
    by_op: dict[str, int] = {}
    stack = list(result.children)   # the op view nests each op type under the previous one
    while stack:
        node = stack.pop()
        by_op[node.name] = by_op.get(node.name, 0) + int(node.float_ops)
        stack.extend(node.children)
    by_op = dict(sorted(by_op.items(), key=lambda kv: -kv[1]))
    uncounted = {op: n for op, n in sorted(counts.items())
                 if op not in by_op and op not in _DATA_OPS}
    return GraphFlops(name=model.name, batch_size=batch_size, flops=int(result.total_float_ops),
                      flops_by_op=by_op, uncounted_ops=uncounted,
                      seconds=time.perf_counter() - start)
