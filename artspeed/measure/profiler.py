"""How heavy is a model? Parameters, MACs, FLOPs and memory, per layer, counted by type.

Taught in notebooks/01-model-complexity. This docstring is the one place the
counting conventions are written down; the rest of artspeed refers to it.

Conventions
-----------
- **MAC**: one multiply-accumulate (``acc += w * x``). MACs are counted only for
  the layers that take dot products of weights (or of two activations) with a
  reduction: Dense, Conv1D/2D/3D, the transposed convolutions, DepthwiseConv,
  SeparableConv and MultiHeadAttention (its four projections and its two
  attention matmuls).
- **FLOPs** = 2 x MACs for those linear layers (a multiply and an add), plus
  the element-wise operations below, per output element unless said otherwise:

  ===============================  ==========================================
  bias add (``use_bias=True``)     1
  BatchNormalization (inference)   2 (statistics folded into one scale, one shift)
  LayerNormalization               7 (mean 1, variance 2, normalize 2, scale and shift 2)
  Rescaling, Normalization         2 (a multiply and an add)
  activations                      linear 0, relu 1, relu6 2, leaky_relu 2,
                                   prelu 2, elu 3, selu 4, sigmoid 3,
                                   hard_sigmoid 3, tanh 1, swish/silu 4,
                                   gelu 5, softplus 3, softsign 3,
                                   exponential 1, softmax 5 (as TensorFlow)
  Max/AveragePooling               pool area per output (as TensorFlow)
  GlobalMax/AveragePooling         1 per *input* element (as TensorFlow's Mean)
  Add, Subtract, Multiply,         (inputs - 1)
  Maximum, Minimum
  Average                          inputs
  MultiHeadAttention               + scaling the query (1 per element) and a
                                   softmax (5) on the T x S scores of each head
  ===============================  ==========================================

  An exp, tanh or erf counts as one FLOP. Layers that only move data cost 0:
  InputLayer, Flatten, Reshape, Permute, the paddings and croppings,
  Concatenate, RepeatVector, nearest-neighbour UpSampling, the Dropout and
  noise layers (identity at inference) and Embedding (a table look-up).
- **G** means 1e9 (and M 1e6): ``15.47 G MACs`` is 15.47e9 MACs.
- **Unknown cost**: a layer whose cost cannot be derived from its type (a
  custom layer, Lambda, a TensorFlow op used as a layer, an RNN) gets
  ``macs=None, flops=None``; it is named in ``warnings``, and the totals are
  then lower bounds. Nothing is silently counted as 0.
- **Batch**: every count is for ``batch_size`` samples, and exactly linear in it.
  The first dimension of every tensor is the batch.
- **Parameters**: scalars in the weights, as ``model.summary()`` counts them;
  a layer used twice is counted once (its MACs, twice).
- **Bytes**: weights by their dtype (float32: 4 bytes); an activation is a
  layer's output tensor at its dtype. ``peak_activation_bytes`` is the most
  activation memory alive at once when the layers run one at a time in
  order, each tensor freed after its last reader.
- **Arithmetic intensity** of a layer: FLOPs per byte moved, where bytes
  moved = its input activations + its output activations + its weights, each
  read or written once (the best case of a perfect cache).

Nested models (a Keras application used as a layer) are walked: their inner
layers get rows named ``outer/inner``.

>>> from artspeed import dense_example, profile
>>> p = profile(dense_example())
>>> p.total_params, p.trainable_params, p.non_trainable_params
(387, 249, 138)
>>> p.macs, p.flops, profile(dense_example(), batch_size=8).flops == 8 * p.flops
(345, 757, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import matplotlib.pyplot as plt

from artspeed.core import _checks
from artspeed.core._result import Result, html_table
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.core.frameworks import check_tf_keras_model, tf, tf_keras

__all__ = ["LayerProfile", "ModelProfile", "profile", "check_built", "ACTIVATION_FLOPS"]

# FLOPs per element of each activation function (see the module docstring).
ACTIVATION_FLOPS = {
    "linear": 0, "relu": 1, "relu6": 2, "leaky_relu": 2, "prelu": 2, "elu": 3, "selu": 4,
    "sigmoid": 3, "hard_sigmoid": 3, "tanh": 1, "swish": 4, "silu": 4, "gelu": 5,
    "softplus": 3, "softsign": 3, "exponential": 1, "softmax": 5,
}


@dataclass(frozen=True)
class LayerProfile(Result):
    """One layer call's cost: a row of the per-layer table."""

    name: str
    type: str
    output_shape: tuple
    params: int
    macs: int | None
    flops: int | None
    trainable_params: int = 0
    weights_bytes: int = 0
    input_bytes: int = 0
    output_bytes: int = 0
    arithmetic_intensity: float | None = None   # FLOPs per byte moved

    def __repr__(self) -> str:
        flops = "unknown" if self.flops is None else f"{self.flops:,}"
        return f"<LayerProfile {self.name} ({self.type}): {self.params:,} params, {flops} FLOPs>"


@dataclass(frozen=True)
class ModelProfile(Result):
    """A model's parameters, MACs, FLOPs and memory, in total and per layer."""

    name: str
    batch_size: int
    total_params: int
    trainable_params: int
    non_trainable_params: int
    macs: int
    flops: int
    weights_bytes: int
    weights_bytes_by_dtype: dict = field(default_factory=dict)
    peak_activation_bytes: int = 0
    warnings: tuple = ()
    layers: tuple = ()

    def __repr__(self) -> str:
        bound = " (lower bound)" if self.warnings else ""
        return (f"<ModelProfile {self.name}: {self.total_params:,} params, "
                f"{_si(self.macs)}MACs, {_si(self.flops)}FLOPs{bound}, batch {self.batch_size}>")

    @property
    def unknown_layers(self) -> list[str]:
        """Names of the layers whose cost could not be determined."""
        return [row.name for row in self.layers if row.flops is None]

    def layer(self, name: str) -> LayerProfile:
        """The row of the layer called ``name`` (``outer/inner`` in nested models)."""
        for row in self.layers:
            if row.name == name:
                return row
        raise InvalidArgumentError(f"no layer named {name!r}; names are: "
                                   + ", ".join(r.name for r in self.layers[:20]))

    def by_type(self) -> dict:
        """{layer type: {"layers", "params", "macs", "flops"}}, summed over the rows."""
        out: dict = {}
        for row in self.layers:
            agg = out.setdefault(row.type, {"layers": 0, "params": 0, "macs": 0, "flops": 0})
            agg["layers"] += 1
            agg["params"] += row.params
            agg["macs"] += row.macs or 0
            agg["flops"] += row.flops or 0
        return out

    @classmethod
    def from_dict(cls, data: dict) -> ModelProfile:
        data = dict(data)
        data["warnings"] = tuple(data.get("warnings", ()))
        data["layers"] = tuple(
            LayerProfile.from_dict({**row, "output_shape": _tuple_shape(row["output_shape"])})
            for row in data.get("layers", ()))
        return super().from_dict(data)

    def _repr_html_(self) -> str:
        summary = [("parameters (trainable / non-trainable)",
                    f"{self.total_params:,} ({self.trainable_params:,} / "
                    f"{self.non_trainable_params:,})"),
                   ("MACs", f"{self.macs:,} ({self.macs / 1e9:.4g} G)"),
                   ("FLOPs", f"{self.flops:,} ({self.flops / 1e9:.4g} G)"),
                   ("weights", f"{self.weights_bytes:,} bytes "
                    + str({k: f"{v:,}" for k, v in self.weights_bytes_by_dtype.items()})),
                   ("peak activations", f"{self.peak_activation_bytes:,} bytes"),
                   ("batch size", self.batch_size)]
        summary += [("warning", w) for w in self.warnings]
        rows = [(r.name, r.type, str(r.output_shape), f"{r.params:,}",
                 "unknown" if r.macs is None else f"{r.macs:,}",
                 "unknown" if r.flops is None else f"{r.flops:,}",
                 "" if r.arithmetic_intensity is None else round(r.arithmetic_intensity, 2))
                for r in self.layers]
        return (html_table(summary, caption=f"ModelProfile: {self.name}")
                + html_table(rows, header=("name", "type", "output shape", "params", "MACs",
                                           "FLOPs", "FLOPs/byte")))

    def plot(self, ax=None, top: int | None = None):
        """Bar chart of FLOPs and parameters per layer (the ``top`` costliest, if given)."""
        rows = [r for r in self.layers if r.params or r.flops]
        if top:
            rows = sorted(rows, key=lambda r: -(r.flops or 0))[:top]
        if ax is None:
            _, ax = plt.subplots(figsize=(max(6, 0.3 * len(rows)), 4))
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [(r.flops or 0) / 1e9 for r in rows], 0.4,
               label="G FLOPs", color="tab:blue")
        twin = ax.twinx()
        twin.bar([x + 0.2 for x in xs], [r.params / 1e6 for r in rows], 0.4,
                 label="M params", color="tab:orange")
        ax.set_xticks(list(xs), [r.name for r in rows], rotation=90, fontsize=7)
        ax.set_ylabel("G FLOPs (blue)")
        twin.set_ylabel("M parameters (orange)")
        ax.set_title(f"{self.name}: FLOPs and parameters per layer (batch {self.batch_size})")
        return ax


def _si(count: float) -> str:
    """'15.47 G ' for 15.47e9: G is 1e9, M 1e6, k 1e3."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(count) >= scale:
            return f"{count / scale:.4g} {prefix} "
    return f"{count:g} "


def _tuple_shape(shape):
    if shape and isinstance(shape[0], (list, tuple)):
        return tuple(tuple(s) for s in shape)
    return tuple(shape)


def _shape(tensor, batch_size: int, where: str) -> tuple:
    dims = list(tensor.shape)
    if not dims:
        return ()
    dims[0] = batch_size
    if any(d is None for d in dims):
        raise InvalidArgumentError(
            f"layer {where!r} has an unknown dimension in its shape {tuple(tensor.shape)}; "
            "build the model with a concrete input shape, for example "
            "keras.Input((224, 224, 3)) or input_shape=(224, 224, 3)")
    return tuple(int(d) for d in dims)


def _activation_flops(fn) -> int | None:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return ACTIVATION_FLOPS.get(name.lower())


class _Walker:
    """Walks a functional graph in execution order, nested models included."""

    def __init__(self, batch_size: int):
        self.keras = tf_keras
        self.batch_size = batch_size
        self.rows: list[LayerProfile] = []
        self.warnings: list[str] = []
        self.seen_layers: set[int] = set()
        self.alias: dict[int, int] = {}     # inner model tensor -> outer tensor
        self.tensor_bytes: dict[int, int] = {}
        self.steps: list[tuple[list[int], list[int]]] = []  # (inputs, outputs) per row

    def tid(self, tensor) -> int:
        key = id(tensor)
        while key in self.alias:
            key = self.alias[key]
        return key

    def walk(self, model, prefix: str = "", outer_node=None) -> None:
        nodes = model._nodes_by_depth
        if outer_node is not None:   # wire the inner inputs and outputs to the outer tensors

            for inner, outer in zip(model.inputs, tf.nest.flatten(outer_node.call_args[0])):
                self.alias[id(inner)] = self.tid(outer)
        for depth in sorted(nodes, reverse=True):
            for node in nodes[depth]:
                layer = node.layer
                if node.is_input:
                    if outer_node is None:
                        for t in _flat(node.outputs):
                            self.tensor_bytes[self.tid(t)] = self.nbytes(t, layer.name)
                            self.rows.append(self.row(layer, node, prefix, 0, 0, (), [t]))
                            self.steps.append(([], [self.tid(t)]))
                    continue
                if isinstance(layer, self.keras.Model) and getattr(layer, "_is_graph_network", False):
                    self.walk(layer, f"{prefix}{layer.name}/", node)
                    for inner, outer in zip(_flat(layer.outputs), _flat(node.outputs)):
                        self.alias[id(outer)] = self.tid(inner)
                    continue
                self.visit(layer, node, prefix)

    def nbytes(self, tensor, where: str) -> int:
        return math.prod(_shape(tensor, self.batch_size, where)) * tensor.dtype.size

    def visit(self, layer, node, prefix: str) -> None:
        where = prefix + layer.name
        inputs = list(node.keras_inputs)
        outputs = _flat(node.outputs)
        for t in outputs:
            self.tensor_bytes[self.tid(t)] = self.nbytes(t, where)
        try:
            macs, flops = _cost(self.keras, layer, node, self.batch_size, where)
        except _Unknown as why:
            macs = flops = None
            self.warnings.append(f"{where} ({type(layer).__name__}): cost unknown, {why}; "
                                 "the totals leave it out")
        self.rows.append(self.row(layer, node, prefix, macs, flops, inputs, outputs))
        self.steps.append(([self.tid(t) for t in inputs], [self.tid(t) for t in outputs]))

    def row(self, layer, node, prefix, macs, flops, inputs, outputs) -> LayerProfile:
        first = id(layer) not in self.seen_layers
        self.seen_layers.add(id(layer))
        params = layer.count_params() if first and layer.built else 0
        trainable = sum(w.shape.num_elements() for w in layer.trainable_weights) if first else 0
        wbytes = sum(w.shape.num_elements() * w.dtype.size for w in layer.weights)
        in_bytes = sum(self.tensor_bytes.get(self.tid(t), 0) for t in inputs)
        out_bytes = sum(self.tensor_bytes[self.tid(t)] for t in outputs)
        shapes = [_shape(t, self.batch_size, prefix + layer.name) for t in outputs]
        moved = in_bytes + out_bytes + wbytes
        intensity = flops / moved if flops is not None and moved else None
        return LayerProfile(
            name=prefix + layer.name, type=type(layer).__name__,
            output_shape=shapes[0] if len(shapes) == 1 else tuple(shapes),
            params=int(params), macs=macs, flops=flops, trainable_params=int(trainable),
            weights_bytes=int(wbytes) if first else 0, input_bytes=int(in_bytes),
            output_bytes=int(out_bytes), arithmetic_intensity=intensity)

    def peak_activation_bytes(self, model_outputs) -> int:
        last_use: dict[int, int] = {}
        for i, (ins, outs) in enumerate(self.steps):
            for t in ins + outs:
                last_use[t] = i
        for t in model_outputs:
            last_use[self.tid(t)] = len(self.steps)
        live, peak, alive = 0, 0, set()
        for i, (ins, outs) in enumerate(self.steps):
            for t in outs:
                if t not in alive:
                    alive.add(t)
                    live += self.tensor_bytes.get(t, 0)
            peak = max(peak, live)
            for t in set(ins + outs):
                if last_use.get(t) == i and t in alive:
                    alive.discard(t)
                    live -= self.tensor_bytes.get(t, 0)
        return peak


def _flat(structure) -> list:
    return tf.nest.flatten(structure)


class _Unknown(Exception):
    """Raised inside _cost when a layer's cost cannot be determined."""


_FREE = ("InputLayer", "Flatten", "Reshape", "Permute", "ZeroPadding1D", "ZeroPadding2D",
         "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "Concatenate",
         "RepeatVector", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
         "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
         "Embedding", "Identity")


def _cost(keras, layer, node, batch: int, where: str) -> tuple[int, int]:
    """(MACs, FLOPs) of one call of ``layer``, by its type; raises _Unknown."""
    L = keras.layers
    outs = [_shape(t, batch, where) for t in _flat(node.outputs)]
    out = outs[0]
    n_out = math.prod(out)
    ins = [_shape(t, batch, where) for t in node.keras_inputs]

    def act(fn) -> int:
        per = _activation_flops(fn)
        if per is None:
            raise _Unknown(f"activation {getattr(fn, '__name__', fn)!r} is not in ACTIVATION_FLOPS")
        return per * n_out

    def bias() -> int:
        return n_out if getattr(layer, "use_bias", False) else 0

    if isinstance(layer, L.MultiHeadAttention):
        return _attention_cost(layer, node, batch, where, out)
    if isinstance(layer, L.Dense):
        macs = n_out * ins[0][-1]
        return macs, 2 * macs + bias() + act(layer.activation)
    conv_types = tuple(getattr(L, n) for n in ("Conv1DTranspose", "Conv2DTranspose",
                                                 "Conv3DTranspose") if hasattr(L, n))
    if isinstance(layer, (conv_types, L.SeparableConv1D, L.SeparableConv2D,
                          L.DepthwiseConv1D, L.DepthwiseConv2D, L.Conv1D, L.Conv2D, L.Conv3D)):
        channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
        x = ins[0]
        cin = x[1] if channels_first else x[-1]
        cout = out[1] if channels_first else out[-1]
        kernel = math.prod(layer.kernel_size)
        if isinstance(layer, conv_types):          # each input element meets the whole kernel
            macs = math.prod(x) * kernel * cout
        elif isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)):
            spatial = n_out // cout
            mid = cin * layer.depth_multiplier
            macs = spatial * mid * (kernel + cout)
        elif isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
            macs = n_out * kernel
        else:
            macs = n_out * kernel * (cin // getattr(layer, "groups", 1))
        return macs, 2 * macs + bias() + act(layer.activation)
    kind = type(layer).__name__
    if kind in _FREE or isinstance(layer, (L.Dropout, L.Reshape, L.Flatten, L.Concatenate)):
        return 0, 0
    if isinstance(layer, (L.UpSampling1D, L.UpSampling2D, L.UpSampling3D)):
        if getattr(layer, "interpolation", "nearest") != "nearest":
            raise _Unknown(f"{layer.interpolation} interpolation is not counted")
        return 0, 0
    if isinstance(layer, (L.BatchNormalization, L.Rescaling, L.Normalization)):
        return 0, 2 * n_out
    if isinstance(layer, L.LayerNormalization):
        return 0, 7 * n_out
    if isinstance(layer, (L.GlobalAveragePooling1D, L.GlobalAveragePooling2D,
                          L.GlobalAveragePooling3D, L.GlobalMaxPooling1D,
                          L.GlobalMaxPooling2D, L.GlobalMaxPooling3D)):
        return 0, math.prod(ins[0])
    if isinstance(layer, (L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D,
                          L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D)):
        return 0, math.prod(layer.pool_size) * n_out
    if isinstance(layer, L.Average):
        return 0, len(ins) * n_out
    if isinstance(layer, (L.Add, L.Subtract, L.Multiply, L.Maximum, L.Minimum)):
        return 0, (len(ins) - 1) * n_out
    if isinstance(layer, L.Activation):
        return 0, act(layer.activation)
    if isinstance(layer, L.Softmax):
        return 0, 5 * n_out
    if isinstance(layer, L.ReLU):
        per = 1 + (layer.max_value is not None) + bool(layer.negative_slope)
        return 0, per * n_out
    if isinstance(layer, (L.LeakyReLU, L.PReLU)):
        return 0, 2 * n_out
    if isinstance(layer, L.ELU):
        return 0, 3 * n_out
    if isinstance(layer, L.ThresholdedReLU):
        return 0, n_out
    if isinstance(layer, keras.Model):
        raise _Unknown("a subclassed model has no layer graph to walk")
    raise _Unknown("no counting rule for this layer type (custom or Lambda layers have none)")


def _attention_cost(layer, node, batch: int, where: str, out) -> tuple[int, int]:
    args = list(node.call_args)
    kwargs = dict(node.call_kwargs)
    query = args[0] if args else kwargs["query"]
    value = args[1] if len(args) > 1 else kwargs["value"]
    key = args[2] if len(args) > 2 else kwargs.get("key")
    key = value if key is None else key
    q, v, k = (_shape(t, batch, where) for t in (query, value, key))
    if tuple(layer._attention_axes or ()) != tuple(range(1, len(q) - 1)):
        raise _Unknown("attention_axes other than the default are not counted")
    heads, dk, dv = layer._num_heads, layer._key_dim, layer._value_dim
    b, t, s, dout = q[0], math.prod(q[1:-1]), math.prod(v[1:-1]), out[-1]
    projections = b * (t * q[-1] * heads * dk + s * k[-1] * heads * dk + s * v[-1] * heads * dv
                       + t * heads * dv * dout)
    attention = b * heads * t * s * (dk + dv)
    macs = projections + attention
    biases = b * (t * heads * dk + s * heads * dk + s * heads * dv + t * dout) if layer._use_bias else 0
    return macs, 2 * macs + biases + b * t * heads * dk + 5 * b * heads * t * s


def check_built(model):
    """Return ``model`` if it is a built Sequential or functional model; else a clear error."""
    graph = getattr(model, "_is_graph_network", False)
    if not model.built or not graph and isinstance(model, tf_keras.Sequential):
        raise ModelError(
            f"model {model.name!r} is not built, so its shapes are unknown: call "
            "model.build((None, *input_shape)) or give it an input shape "
            "(keras.Input(shape) as its first layer), then profile it")
    if not graph:
        raise ModelError(
            f"model {model.name!r} is a subclassed model: it has no layer graph to walk. "
            "Profile a Sequential or functional model (keras.Model(inputs, outputs))")
    return model


def profile(model, batch_size: int = 1) -> ModelProfile:
    """Count a model's parameters, MACs, FLOPs and memory, per layer and in total.

    Counts by layer type, with the conventions of this module's docstring;
    walks nested models. The model must be built with a concrete input shape.

    >>> import artspeed
    >>> p = artspeed.profile(artspeed.baseline_cnn(width=8))
    >>> p.total_params, p.layer("conv1").macs
    (26698, 56448)
    """
    model = check_built(check_tf_keras_model(model, "artspeed.profile"))
    batch_size = _checks.whole_number("batch_size", batch_size)
    walker = _Walker(batch_size)
    walker.walk(model)
    weights = {id(w): w for w in model.weights}
    by_dtype: dict[str, int] = {}
    for w in weights.values():
        by_dtype[w.dtype.name] = by_dtype.get(w.dtype.name, 0) + w.shape.num_elements() * w.dtype.size
    trainable = sum(w.shape.num_elements() for w in {id(w): w for w in model.trainable_weights}.values())
    total = sum(w.shape.num_elements() for w in weights.values())
    rows = tuple(walker.rows)
    return ModelProfile(
        name=model.name, batch_size=batch_size, total_params=int(total),
        trainable_params=int(trainable), non_trainable_params=int(total - trainable),
        macs=int(sum(r.macs or 0 for r in rows)), flops=int(sum(r.flops or 0 for r in rows)),
        weights_bytes=int(sum(by_dtype.values())), weights_bytes_by_dtype=by_dtype,
        peak_activation_bytes=int(walker.peak_activation_bytes(_flat(model.outputs))),
        warnings=tuple(walker.warnings), layers=rows)
