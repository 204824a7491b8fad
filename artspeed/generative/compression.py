"""Weight compression of the language model: NNCF's ``compress_weights`` on its OpenVINO IR.

Decoding one token at batch 1 reads every weight once and does little arithmetic with
each, so its speed follows the bytes the weights take. ``compress_lm`` stores them in
fewer bits (weight-only: activations stay float) with ``nncf.compress_weights``:

- ``"int8"``: ``CompressWeightsMode.INT8_ASYM``, 8-bit weights with a scale and a zero
  point per output channel, every weight matrix and embedding;
- ``"int4"``: ``CompressWeightsMode.INT4_SYM``, 4-bit weights with one scale per
  ``group_size`` input channels (128 by default). NNCF keeps the embeddings and the
  output layer at its INT8 backup unless ``all_layers=True``; ``ratio`` below 1 keeps
  that share of the other layers at INT8 as well.

The CPU plugin keeps the weights packed and widens them inside its matrix kernels.
``compare_compression`` puts the precisions side by side: weight bytes, held-out
bits per character, greedy tokens agreeing with float, and TPOT.

>>> from artspeed.generative.lm import LanguageModel, decoder_lm
>>> from artspeed.generative.text import CharTokenizer
>>> lm = LanguageModel(decoder_lm(97, layers=1, context=16, width=32, heads=2), CharTokenizer())
>>> int8 = compress_lm(lm, "int8")
>>> int8
<OpenVINOLanguageModel stateful, growing cache, batch 1, 1 layers, width 32, context 16, int8 weights>
>>> int8.weight_bytes < compile_lm(lm).weight_bytes / 3, "u8" in int8.weight_bytes_by_type
(True, True)
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from dataclasses import dataclass, field

import numpy as np

from artspeed.core import _checks
from artspeed.core._result import Result, html_table
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.core.frameworks import import_openvino, nncf, one_core
from artspeed.generative.costs import _cache_bytes
from artspeed.generative.generation import interleaved_generations, tpot_p50
from artspeed.generative.lm import LanguageModel, bits_per_char
from artspeed.generative.openvino_lm import (
    _RT,
    OpenVINOLanguageModel,
    _check_lm_model,
    _rt,
    compile_lm,
    convert_lm,
    make_stateful,
)
from artspeed.generative.text import CharTokenizer

__all__ = ["compress_lm", "WEIGHT_PRECISIONS", "INT4_MODE", "heldout_prompts",
           "CompressionComparison", "compare_compression"]

WEIGHT_PRECISIONS = ("int8", "int4")     # what compress_lm takes (compare_compression: "f32" too)
INT8_MODE = "INT8_ASYM"
# INT4_SYM held the held-out loss better than INT4_ASYM at groups of 128 on the quick model
# (+0.51% against +0.59% bits per character; benchmarks/bench_lm.py), with no zero points.
INT4_MODE = "INT4_SYM"
DEFAULT_GROUP_SIZE = 128


def _layer_channels(config: dict) -> list:
    """(layer, input channels) of the matrices compress_weights groups, widest reduction last."""
    width = config["width"]
    return [("block0_qkv", width), ("block0_mlp_out", config["mlp_ratio"] * width)]


def _divisors_hint(channels: int) -> str:
    shown = [d for d in range(8, channels + 1) if channels % d == 0][-3:] or [channels]
    listed = shown[0] if len(shown) == 1 else f"{', '.join(map(str, shown[:-1]))} or {shown[-1]}"
    return f"use a divisor of {channels} such as {listed}"


def _check_group_size(group_size: int, config: dict) -> None:
    """InvalidArgumentError, one line, when ``group_size`` does not divide a layer's channels."""
    for layer, channels in _layer_channels(config):
        if channels % group_size:
            common = math.gcd(*(c for _, c in _layer_channels(config)))
            raise InvalidArgumentError(f"group size {group_size} does not divide {layer}'s "
                                       f"{channels} input channels; {_divisors_hint(common)}")


def _group_size_error(exc, group_size: int) -> InvalidArgumentError:
    """nncf's InvalidGroupSizeError as one line naming the first failed layer."""
    found = re.search(r'"([^"]+)" \(channel size: (\d+)\)', str(exc))
    if not found:
        return InvalidArgumentError(f"NNCF refused group size {group_size}: "
                                    f"{str(exc).splitlines()[0]}")
    layer, channels = found.group(1).split("/")[0], int(found.group(2))
    return InvalidArgumentError(f"group size {group_size} does not divide {layer}'s {channels} "
                                f"input channels; {_divisors_hint(channels)}")


def _source(lm, stateful: bool, cache, batch_size, tokenizer):
    """(a fresh ov.Model to compress, its tokenizer, training record) from what was given."""
    ov = import_openvino()
    if isinstance(lm, LanguageModel):
        return convert_lm(lm, batch_size=batch_size, stateful=stateful, cache=cache), \
            lm.tokenizer, lm.training
    if isinstance(lm, OpenVINOLanguageModel):
        model, tokenizer, training = lm.model, lm.tokenizer, lm.training
    elif isinstance(lm, ov.Model):
        model, tokenizer, training = lm, tokenizer or CharTokenizer(), {}
    else:
        raise InvalidArgumentError(f"compress_lm needs a LanguageModel, an OpenVINOLanguageModel "
                                   f"or an ov.Model from artspeed.convert_lm, got "
                                   f"{type(lm).__name__}")
    _check_lm_model(model, "the model")
    if _rt(model, "weights", "f32") != "f32":
        raise ModelError(f"the model's weights are compressed already "
                         f"({_rt(model, 'weights')}); compress the float model")
    model = model.clone()                   # nncf rewrites the model it is given
    is_stateful = _rt(model, "stateful") == "true"
    if is_stateful and not stateful:
        raise InvalidArgumentError("the model is stateful and cannot be made stateless again; "
                                   "give the LanguageModel or a stateless convert_lm model")
    if stateful and not is_stateful:
        make_stateful(model)
    return model, tokenizer, training


def compress_lm(lm, precision: str = "int8", *, group_size: int | None = None,
                ratio: float = 1.0, all_layers: bool = False, stateful: bool = True,
                cache: str | None = None, batch_size: int = 1, tokenizer=None,
                inference_precision: str | None = "f32", hint: str = "latency",
                threads=None, streams=None, progress: bool = False) -> OpenVINOLanguageModel:
    """An ``OpenVINOLanguageModel`` whose weights went through ``nncf.compress_weights``.

    ``lm``: a ``LanguageModel`` (converted with ``convert_lm``: ``stateful``, ``cache``
    and ``batch_size`` as there), an ``OpenVINOLanguageModel`` or an ``ov.Model`` from
    ``convert_lm`` (its tokenizer: ``tokenizer``, by default ``CharTokenizer()``), with
    float weights. ``precision``: ``"int8"`` (``INT8_ASYM``, per output channel) or
    ``"int4"`` (``INT4_MODE``, ``INT4_SYM``: it held the loss better than ``INT4_ASYM``
    at groups of 128, measured; one scale per ``group_size`` input channels, default
    128; ``ratio``, the share of the layers at 4 bits, the rest at INT8; ``all_layers``
    also the embeddings and output layer). A group size that does not divide a layer's
    input channels raises ``InvalidArgumentError`` naming it.
    The model's rt_info records the precision and group size (``save``/``load_lm_ir``
    keep them; the repr shows them); ``weight_bytes_by_type`` counts the bytes.
    ``progress=True`` shows NNCF's progress bar.
    """
    precision = _checks.choice("precision", precision, WEIGHT_PRECISIONS)
    ratio = _checks.fraction("ratio", ratio, "1.0 compresses every layer", closed=True)
    if ratio == 0:
        raise InvalidArgumentError("ratio must be above 0 (the share of layers at 4 bits); "
                                   "use precision='int8' for none")
    if precision == "int8":
        if group_size is not None or ratio != 1.0 or all_layers:
            raise InvalidArgumentError("int8 compresses every layer per output channel; "
                                       "group_size, ratio and all_layers are for int4")
    else:
        group_size = DEFAULT_GROUP_SIZE if group_size is None else _checks.whole_number(
            "group_size", group_size, 2, 1 << 16, "128 is the usual choice")
    model, tokenizer, training = _source(lm, stateful, cache, batch_size, tokenizer)
    config = _check_lm_model(model, "the model")
    if precision == "int4":
        _check_group_size(group_size, config)
        options = {"mode": getattr(nncf.CompressWeightsMode, INT4_MODE),
                   "group_size": group_size, "ratio": ratio, "all_layers": bool(all_layers)}
    else:
        options = {"mode": getattr(nncf.CompressWeightsMode, INT8_MODE)}
    quiet = contextlib.nullcontext() if progress else contextlib.redirect_stdout(io.StringIO())
    try:
        with quiet, one_core():
            model = nncf.compress_weights(model, **options)
    except nncf.InvalidGroupSizeError as exc:
        raise _group_size_error(exc, group_size) from None
    model.set_rt_info(precision, [_RT, "weights"])
    model.set_rt_info(options["mode"].name, [_RT, "compression_mode"])
    if precision == "int4":
        model.set_rt_info(str(group_size), [_RT, "group_size"])
        model.set_rt_info(repr(ratio), [_RT, "ratio"])
        model.set_rt_info(str(bool(all_layers)).lower(), [_RT, "all_layers"])
    return OpenVINOLanguageModel(model, tokenizer, training=training,
                                 inference_precision=inference_precision, hint=hint,
                                 threads=threads, streams=streams)


def heldout_prompts(text: str, count: int = 20, *, chars: int = 32, seed: int = 0) -> tuple:
    """``count`` prompts of ``chars`` characters cut from ``text`` at line starts, seeded.

    >>> heldout_prompts("import os\\nx = 1\\ndef f(): pass\\n", 2, chars=5)
    ('x = 1', 'def f')
    """
    if not isinstance(text, str):
        raise InvalidArgumentError(f"text must be a str, got {type(text).__name__}")
    count = _checks.whole_number("count", count, 1, 10_000)
    chars = _checks.whole_number("chars", chars, 1, 1 << 16)
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    starts = [s for s in starts if s + chars <= len(text) and not text[s:s + chars].isspace()]
    if not starts:
        raise InvalidArgumentError(f"the text has no line with {chars} characters after its "
                                   "start; give a longer text or fewer chars")
    rng = np.random.default_rng(_checks.seed(seed))
    picked = rng.choice(len(starts), size=count, replace=count > len(starts))
    return tuple(text[starts[i]:starts[i] + chars] for i in picked)


@dataclass(frozen=True, repr=False)
class CompressionComparison(Result):
    """Per weight precision: weight bytes, held-out bits per character, greedy tokens agreeing
    with float, and TPOT p50 (dicts keyed by precision, float ``"f32"`` first)."""

    precisions: tuple
    weight_bytes: dict                  # sum of the IR's constant bytes
    weight_bytes_by_type: dict          # {precision: {element type: bytes}}
    bits_per_char: dict                 # held-out, the first max_chars characters
    agreement: dict                     # fraction of generated positions equal to f32's
    identical_prompts: dict             # prompts whose generation equals f32's entirely
    tpot_ms: dict                       # p50 over the timed rounds
    prompts: int = 0
    max_new_tokens: int = 0
    max_chars: int = 0
    rounds: int = 0
    group_size: int = DEFAULT_GROUP_SIZE
    ratio: float = 1.0
    all_layers: bool = False
    int4_mode: str = INT4_MODE
    cache_bytes: int | None = None      # the CPU's last-level cache (sysfs), None if unknown
    settings: dict = field(default_factory=dict)

    @property
    def weights_fit_in_cache(self) -> bool | None:
        """Whether even the float weights fit in the last-level cache (None: size unknown):
        then a decode step need not read them from memory, and fewer bytes save little."""
        return None if self.cache_bytes is None else self.weight_bytes["f32"] <= self.cache_bytes

    def bytes_ratio(self, precision: str) -> float:
        """``precision``'s weight bytes over float's."""
        return self.weight_bytes[precision] / self.weight_bytes["f32"]

    def loss_ratio(self, precision: str) -> float:
        """``precision``'s held-out bits per character over float's (1.02: 2% worse)."""
        return self.bits_per_char[precision] / self.bits_per_char["f32"]

    def tpot_ratio(self, precision: str) -> float:
        """Float's TPOT over ``precision``'s (above 1: faster than float)."""
        return self.tpot_ms["f32"] / self.tpot_ms[precision]

    def rows(self) -> list:
        """(precision, weight bytes, x f32, bits/char, loss x f32, agreement, TPOT ms) rows."""
        return [(p, self.weight_bytes[p], self.bytes_ratio(p), self.bits_per_char[p],
                 self.loss_ratio(p), self.agreement[p], self.tpot_ms[p]) for p in self.precisions]

    def __repr__(self) -> str:
        parts = [f"{p} {self.bytes_ratio(p):.2f}x bytes, {self.bits_per_char[p]:.3f} bits/char, "
                 f"{self.agreement[p]:.0%} agree, TPOT {self.tpot_ms[p]:.2f} ms"
                 for p in self.precisions if p != "f32"]
        return (f"<CompressionComparison f32 {self.weight_bytes['f32'] / 1e6:.2f} MB, "
                f"{self.bits_per_char['f32']:.3f} bits/char, TPOT {self.tpot_ms['f32']:.2f} ms; "
                f"{'; '.join(parts)}>")

    def _html_rows(self):
        yield from self.rows()

    def _repr_html_(self) -> str:
        return html_table(list(self._html_rows()),
                          header=("weights", "bytes", "x f32", "bits/char", "loss x f32",
                                  "greedy agreement", "TPOT p50 (ms)"),
                          caption=f"Weight compression ({self.prompts} prompts x "
                                  f"{self.max_new_tokens} tokens, {self.max_chars:,} held-out "
                                  "characters)")

    def plot(self, axes=None):
        """Bars per precision: weight bytes (x f32), bits per character, agreement, TPOT."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(1, 4, figsize=(12, 3))
        names = list(self.precisions)
        panels = (([self.bytes_ratio(p) for p in names], "weight bytes (x f32)"),
                  ([self.bits_per_char[p] for p in names], "held-out bits/char"),
                  ([self.agreement[p] for p in names], "greedy agreement with f32"),
                  ([self.tpot_ms[p] for p in names], "TPOT p50 (ms)"))
        for ax, (values, title) in zip(axes, panels):
            ax.bar(names, values, color=[f"C{i}" for i in range(len(names))])
            ax.set_title(title, fontsize=10)
            ax.grid(axis="y", alpha=0.3)
        return axes


def compare_compression(lm: LanguageModel, heldout_text: str, prompts=None, *,
                        precisions=("f32", "int8", "int4"), group_size: int | None = None,
                        ratio: float = 1.0, all_layers: bool = False,
                        max_chars: int = 16_384, max_new_tokens: int = 64, rounds: int = 3,
                        seed: int = 0) -> CompressionComparison:
    """Compress ``lm`` to each precision (``compress_lm``, stateful) and compare them with float.

    Per precision: weight bytes; bits per character on the first ``max_chars``
    characters of ``heldout_text``; greedy-token agreement with f32 (the fraction of
    positions equal over ``prompts``' generations of ``max_new_tokens``, by default
    20 ``heldout_prompts`` of the text); and TPOT p50 from ``interleaved_generations``
    over the prompts (``rounds``, the first untimed).

    >>> from artspeed.generative.lm import LanguageModel, decoder_lm
    >>> from artspeed.generative.text import CharTokenizer
    >>> lm = LanguageModel(decoder_lm(97, layers=1, context=32, width=32, heads=2), CharTokenizer())
    >>> r = compare_compression(lm, "def f(x):\\n    return x\\n" * 8, ["def "], max_new_tokens=4,
    ...                         rounds=2, precisions=("f32", "int8"))
    >>> r.agreement["f32"], r.bytes_ratio("int8") < 0.35
    (1.0, True)
    """
    if not isinstance(lm, LanguageModel):
        raise InvalidArgumentError(f"compare_compression needs a LanguageModel, got "
                                   f"{type(lm).__name__}")
    precisions = tuple(_checks.choice("precision", p, ("f32", *WEIGHT_PRECISIONS))
                       for p in precisions)
    if "f32" not in precisions:
        precisions = ("f32", *precisions)
    precisions = ("f32", *dict.fromkeys(p for p in precisions if p != "f32"))
    max_chars = _checks.whole_number("max_chars", max_chars, 2)
    max_new_tokens = _checks.whole_number("max_new_tokens", max_new_tokens, 1, 1 << 16)
    prompts = heldout_prompts(heldout_text, 20, seed=seed) if prompts is None else (
        (prompts,) if isinstance(prompts, str) else tuple(prompts))
    int4 = {"group_size": group_size, "ratio": ratio, "all_layers": all_layers}
    models: dict = {}
    for p in precisions:
        models[p] = compile_lm(lm) if p == "f32" else compress_lm(
            lm, p, **(int4 if p == "int4" else {}))
    runs = interleaved_generations(models, prompts, max_new_tokens=max_new_tokens,
                                   rounds=rounds)
    reference = [g.token_ids for g in runs["f32"][0]]
    agreement, identical = {}, {}
    for p in precisions:
        ids = [g.token_ids for g in runs[p][0]]
        equal = sum(sum(a == b for a, b in zip(x, y)) for x, y in zip(ids, reference))
        agreement[p] = equal / max(sum(len(y) for y in reference), 1)
        identical[p] = sum(x == y for x, y in zip(ids, reference))
    bpc = {p: bits_per_char(m, heldout_text, max_chars=max_chars) for p, m in models.items()}
    used_group = models["int4"].group_size if "int4" in models else (
        group_size or DEFAULT_GROUP_SIZE)
    return CompressionComparison(
        precisions, {p: m.weight_bytes for p, m in models.items()},
        {p: m.weight_bytes_by_type for p, m in models.items()}, bpc, agreement, identical,
        {p: tpot_p50(runs[p]) for p in precisions}, len(prompts), max_new_tokens,
        min(max_chars, len(heldout_text)), rounds, used_group, float(ratio), bool(all_layers),
        INT4_MODE, _cache_bytes(),
        {"inference_precision": "f32", "stateful": True, "cache": lm.cache})
