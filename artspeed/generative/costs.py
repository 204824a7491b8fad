"""What generation costs: curves over prompt and output length, and prefill against decode
on the machine's measured roofline.

- ``generation_costs(lm)``: how cost grows with the text, measured with ``generate`` and
  ``decode_against_recompute`` in interleaved rounds (medians; the first round untimed):
  TTFT against the prompt's length (the prefill), one step's cost against the text's
  length (a ``decode`` on the cache against recomputing the whole text), and a whole
  generation's time against its output length, with and without the cache (linear
  against quadratic growth). ``.plot()`` draws both panels.
- ``forward_cost(lm, new_tokens, cached_tokens)``: the matmul FLOPs and the bytes moved
  by one forward call, counted from the config (the profiler cannot walk the subclassed
  decoder). FLOPs: 2 per parameter of the dense layers per token, plus attention's
  ``4 x layers x width x S`` per token attending to ``S`` positions (the scores ``q k^T``
  and the weighted sum of ``v``: the implementation computes the masked scores too).
  LayerNorm, GELU, softmax and the embedding look-ups are left out (not matmuls).
  Bytes (the best case: activations stay in cache): every weight once per **call**, so a
  prefill of T tokens reads them once and decode once per token, plus the KV cache of
  the ``S`` positions (read, or written by the new tokens), for each row of the batch.
- ``prefill_decode_roofline(lm)``: prefill (T tokens), decode at batch 1 and at batch B
  placed on the roofs of ``artspeed.measure_machine_peak`` (or ``measure_runtime_roofs``):
  each one's arithmetic intensity, the rate the roofs allow there, and the rate measured
  (FLOPs over the median time of the call); the bound is computed from the ridge.

>>> from artspeed.generative.lm import LanguageModel, decoder_lm
>>> from artspeed.generative.text import CharTokenizer
>>> lm = LanguageModel(decoder_lm(97, layers=1, context=32, width=32, heads=2), CharTokenizer())
>>> prefill, decode = forward_cost(lm, 31), forward_cost(lm, 1, cached_tokens=30)
>>> prefill.flops == 31 * decode.flops, prefill.flops_per_byte > 10 * decode.flops_per_byte
(True, True)
"""

from __future__ import annotations

import html
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artspeed.core import _checks
from artspeed.core._result import Result, html_table, text_table
from artspeed.core.config import fast_mode
from artspeed.core.errors import InvalidArgumentError
from artspeed.generative.generation import decode_against_recompute, generate
from artspeed.generative.lm import CausalLM
from artspeed.measure.roofline import MachinePeak, measure_machine_peak
from artspeed.measure.runtime_roofs import RuntimeRoofs

__all__ = ["GenerationCosts", "generation_costs", "ForwardCost", "forward_cost",
           "RooflinePoint", "PrefillDecodeRoofline", "prefill_decode_roofline"]

_NEAR_ROOF = 0.5          # at or above this share of its roof, the roof bounds a call
_OVERHEAD_BOUND = 0.1     # below this share, its fixed per-call cost does
_DECODE_STEPS = 4         # decode steps timed per round: a text's last tokens, in a row


def _check_lm(lm, what: str) -> CausalLM:
    if not isinstance(lm, CausalLM):
        raise InvalidArgumentError(f"{what} needs a LanguageModel (artspeed.load_lm or "
                                   f"train_lm(...).lm) or an OpenVINOLanguageModel, got "
                                   f"{type(lm).__name__}")
    return lm


def _describe(lm: CausalLM) -> str:
    return repr(lm).strip("<>")


# ---------------------------------------------------------------- how cost grows


@dataclass(frozen=True, repr=False)
class GenerationCosts(Result):
    """Measured costs over the text's length (medians of interleaved rounds, in ms).

    ``prompt_lengths[i]``: a text of that many tokens; ``ttft_ms[i]`` the TTFT of a prompt
    that long, ``decode_ms[i]`` one decode step with the cache on a text that long (its
    last ``step_rounds`` tokens), ``recompute_ms[i]`` the same step recomputing the text.
    ``output_lengths[j]``: new tokens after a prompt of ``prompt_tokens``;
    ``cached_total_ms[j]`` and ``recomputed_total_ms[j]`` the whole generation (TTFT and
    every step) with and without the cache.
    """

    runtime: str
    model: str
    prompt_lengths: tuple
    ttft_ms: tuple
    decode_ms: tuple
    recompute_ms: tuple
    prompt_tokens: int
    output_lengths: tuple
    cached_total_ms: tuple
    recomputed_total_ms: tuple
    repeats: int                  # timed rounds (after one untimed)
    step_rounds: int              # tokens each decode/recompute median covers

    def growth_exponents(self) -> dict:
        """The slope of log(total time) against log(output length), with and without the
        cache (least squares): about 1 is linear growth, towards 2 quadratic."""
        x = np.log(np.asarray(self.output_lengths, float))
        out = {}
        for name, totals in (("kv_cache", self.cached_total_ms),
                             ("no_cache", self.recomputed_total_ms)):
            out[name] = (float(np.polyfit(x, np.log(np.asarray(totals, float)), 1)[0])
                         if len(x) > 1 else math.nan)
        return out

    def __repr__(self) -> str:
        growth = self.growth_exponents()
        return (f"<GenerationCosts {self.runtime}, {len(self.prompt_lengths)} text lengths "
                f"{self.prompt_lengths[0]}-{self.prompt_lengths[-1]}, "
                f"{len(self.output_lengths)} output lengths {self.output_lengths[0]}-"
                f"{self.output_lengths[-1]}: total time grows as length^"
                f"{growth['kv_cache']:.2f} with the cache, ^{growth['no_cache']:.2f} without>")

    def _length_rows(self):
        return [(n, f"{t:.2f}", f"{d:.2f}", f"{r:.2f}", f"{r / d:.1f}")
                for n, t, d, r in zip(self.prompt_lengths, self.ttft_ms, self.decode_ms,
                                      self.recompute_ms)]

    def _output_rows(self):
        return [(n, f"{c:.1f}", f"{r:.1f}", f"{r / c:.1f}")
                for n, c, r in zip(self.output_lengths, self.cached_total_ms,
                                   self.recomputed_total_ms)]

    _LENGTH_HEADER = ("text tokens", "TTFT ms", "decode step ms", "recompute step ms",
                      "recompute/decode")
    _OUTPUT_HEADER = ("new tokens", "total ms, cache", "total ms, no cache", "no cache/cache")

    def __str__(self) -> str:
        growth = self.growth_exponents()
        return (f"{self.runtime}: {self.model} (medians of {self.repeats} interleaved rounds)\n"
                + text_table(self._length_rows(), self._LENGTH_HEADER)
                + f"\nafter a prompt of {self.prompt_tokens} tokens:\n"
                + text_table(self._output_rows(), self._OUTPUT_HEADER)
                + f"\ntotal time grows as (new tokens)^{growth['kv_cache']:.2f} with the cache, "
                  f"^{growth['no_cache']:.2f} without")

    def _html_rows(self):
        growth = self.growth_exponents()
        yield "runtime", self.runtime
        yield "model", self.model
        yield "prompt before the generations (tokens)", self.prompt_tokens
        yield "growth exponent of the total, with the cache", growth["kv_cache"]
        yield "growth exponent of the total, without the cache", growth["no_cache"]
        yield "timed rounds (interleaved, medians)", self.repeats

    def _repr_html_(self) -> str:
        return (html_table(list(self._html_rows()), header=("", "value"),
                           caption="GenerationCosts")
                + html_table(self._length_rows(), header=self._LENGTH_HEADER,
                             caption="One call against the text's length (ms)")
                + html_table(self._output_rows(), header=self._OUTPUT_HEADER,
                             caption=f"Whole generations after a prompt of "
                                     f"{self.prompt_tokens} tokens (ms)"))

    def plot(self, axes=None):
        """Two panels: the cost of one call against the text's length (TTFT, a decode step,
        a recompute step), and a whole generation's time against its output length.
        Returns the two Axes."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4))
        left, right = axes
        left.plot(self.prompt_lengths, self.ttft_ms, "o-", label="TTFT (prefill of the prompt)")
        left.plot(self.prompt_lengths, self.recompute_ms, "s--",
                  label="a step without the cache (recompute the text)")
        left.plot(self.prompt_lengths, self.decode_ms, "^-", label="a decode step with the cache")
        left.set(xlabel="tokens in the text", ylabel="ms (median)",
                 title=f"One call against the text's length ({self.runtime})")
        right.plot(self.output_lengths, self.recomputed_total_ms, "s--",
                   label="without the cache")
        right.plot(self.output_lengths, self.cached_total_ms, "^-", label="with the KV cache")
        growth = self.growth_exponents()
        right.set(xlabel="new tokens", ylabel="ms for the whole generation (median)",
                  title=f"Generation time against output length (prompt {self.prompt_tokens} "
                        f"tokens): ~n^{growth['kv_cache']:.1f} against ~n^"
                        f"{growth['no_cache']:.1f}")
        right.title.set_fontsize(9)
        for ax in axes:
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        return axes


def _grid(fractions, top: int, low: int) -> tuple:
    return tuple(sorted({min(top, max(low, round(top * f))) for f in fractions}))


def _lengths(name: str, values, low: int, high: int) -> tuple:
    if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
        values = [values]
    try:
        values = list(values)
    except TypeError:
        raise InvalidArgumentError(f"{name} must be a list of whole numbers, got "
                                   f"{type(values).__name__}") from None
    if not values:
        raise InvalidArgumentError(f"{name} is empty; give at least one length")
    return tuple(sorted({_checks.whole_number(name, v, low, high) for v in values}))


def generation_costs(lm: CausalLM, prompt_lengths=None, output_lengths=None, *,
                     prompt_tokens: int | None = None, repeats: int | None = None,
                     step_rounds: int | None = None, seed: int = 0) -> GenerationCosts:
    """Measure how generation's cost grows with the prompt and with the output, with and
    without the KV cache, on any ``CausalLM`` (Keras or OpenVINO).

    For each of ``prompt_lengths`` (texts of 3 to ``context - 1`` tokens; default six from
    a 16th of the context to all of it): the TTFT of a prompt that long
    (``generate(..., max_new_tokens=1)``) and ``decode_against_recompute`` on a text that
    long (its last ``step_rounds`` tokens). For each of ``output_lengths`` (default five,
    up to filling the context): a greedy ``generate`` of that many tokens after a prompt
    of ``prompt_tokens`` (default 8), with and without the cache (its ``total_ms``).
    Every measurement runs once per round, in ``repeats + 1`` interleaved rounds: the
    first is untimed (a growing cache meets new shapes), the rest give medians.
    Prompts are random tokens (``seed``). Fast mode shrinks the grid and the rounds.
    """
    lm = _check_lm(lm, "generation_costs")
    fast = fast_mode()
    context = lm.context
    if context < 8:
        raise InvalidArgumentError(f"the model's context is {context}; generation_costs needs "
                                   "at least 8 tokens")
    if prompt_lengths is None:
        fractions = (1 / 8, 1 / 2, 1) if fast else (1 / 16, 1 / 8, 1 / 4, 1 / 2, 3 / 4, 1)
        prompt_lengths = _grid(fractions, context - 1, 3)
    prompt_lengths = _lengths("prompt_lengths", prompt_lengths, 3, context - 1)
    prompt_tokens = (max(1, min(8, context // 4)) if prompt_tokens is None
                     else _checks.whole_number("prompt_tokens", prompt_tokens, 1, context - 2))
    room = context - prompt_tokens
    if output_lengths is None:
        fractions = (1 / 4, 1 / 2, 1) if fast else (1 / 8, 1 / 4, 1 / 2, 3 / 4, 1)
        output_lengths = _grid(fractions, room, 2)
    output_lengths = _lengths("output_lengths", output_lengths, 2, room)
    repeats = _checks.whole_number("repeats", repeats or (1 if fast else 3), 1, 1000)
    step_rounds = _checks.whole_number("step_rounds", step_rounds or (2 if fast else 4), 1,
                                       context)
    rng = np.random.default_rng(_checks.seed(seed))
    text = lm.tokenizer.decode(rng.integers(0, lm.vocab_size, context))

    ttft: dict = {n: [] for n in prompt_lengths}
    steps: dict = {n: ([], []) for n in prompt_lengths}
    totals: dict = {(n, cache): [] for n in output_lengths for cache in (True, False)}
    for round_ in range(repeats + 1):
        for n in prompt_lengths:
            speedup = decode_against_recompute(lm, n - 1, rounds=step_rounds, repeats=1,
                                               seed=seed + round_)
            first = generate(lm, text[:n], max_new_tokens=1)
            if round_:
                steps[n][0].append(speedup.decode_ms)
                steps[n][1].append(speedup.recompute_ms)
                ttft[n].append(first.ttft_ms)
        for n in output_lengths:
            for cache in (True, False):
                g = generate(lm, text[:prompt_tokens], max_new_tokens=n, kv_cache=cache)
                if round_:
                    totals[(n, cache)].append(g.total_ms)

    def median(values):
        return float(statistics.median(values))

    return GenerationCosts(
        runtime=lm.runtime, model=_describe(lm), prompt_lengths=prompt_lengths,
        ttft_ms=tuple(median(ttft[n]) for n in prompt_lengths),
        decode_ms=tuple(median(steps[n][0]) for n in prompt_lengths),
        recompute_ms=tuple(median(steps[n][1]) for n in prompt_lengths),
        prompt_tokens=prompt_tokens, output_lengths=output_lengths,
        cached_total_ms=tuple(median(totals[(n, True)]) for n in output_lengths),
        recomputed_total_ms=tuple(median(totals[(n, False)]) for n in output_lengths),
        repeats=repeats, step_rounds=step_rounds)


# ---------------------------------------------------------------- counting a forward call


def _dense_params(config: dict) -> int:
    """Parameters of the decoder's Dense layers (kernels and biases), from its config."""
    w, r = config["width"], config["mlp_ratio"]
    per_layer = (3 * w * w + 3 * w) + (w * w + w) + (w * r * w + r * w) + (r * w * w + w)
    return config["layers"] * per_layer + w * config["vocab_size"]     # head: no bias


@dataclass(frozen=True, repr=False)
class ForwardCost(Result):
    """The matmul FLOPs and the bytes moved by one forward call of a language model
    (counted from its config; see the module's docstring)."""

    new_tokens: int            # tokens per row the call computes
    attended_tokens: int       # positions each new token attends to (cache + new, or context)
    batch_size: int
    flops: int                 # 2 x dense params + 4 x layers x width x attended, per token
    weight_bytes: int          # every weight, once per call
    kv_bytes: int              # the KV cache of the attended positions, per row
    dense_params: int

    @property
    def bytes_moved(self) -> int:
        return self.weight_bytes + self.kv_bytes

    @property
    def flops_per_byte(self) -> float:
        """Arithmetic intensity: FLOPs per byte moved."""
        return self.flops / self.bytes_moved

    def __repr__(self) -> str:
        return (f"<ForwardCost {self.new_tokens} new tokens x batch {self.batch_size} on "
                f"{self.attended_tokens} positions: {self.flops / 1e6:.1f} M FLOPs, "
                f"{self.bytes_moved / 1e6:.2f} MB, {self.flops_per_byte:.2f} FLOPs/byte>")


def _weight_bytes(lm: CausalLM) -> int:
    size = getattr(lm, "weight_bytes", None)
    if size is not None:
        return int(size)
    c = lm.config     # float32: every parameter but the norms' few, 4 bytes each
    return 4 * (_dense_params(c) + (c["vocab_size"] + c["context"]) * c["width"])


def forward_cost(lm: CausalLM, new_tokens: int, cached_tokens: int = 0,
                 batch_size: int = 1) -> ForwardCost:
    """FLOPs and bytes of one call computing ``new_tokens`` per row after ``cached_tokens``
    in the cache, for ``batch_size`` rows: a prefill is ``forward_cost(lm, T)``, a decode
    step ``forward_cost(lm, 1, T - 1)``.

    A fixed-size cache attends to (and reads) the whole context whatever the position.
    The weights are counted at their stored size (``lm.weight_bytes``: a compressed
    OpenVINO model moves fewer); the KV cache in float32.
    """
    lm = _check_lm(lm, "forward_cost")
    new_tokens = _checks.whole_number("new_tokens", new_tokens, 1, lm.context)
    cached_tokens = _checks.whole_number("cached_tokens", cached_tokens, 0,
                                         lm.context - new_tokens)
    batch_size = _checks.whole_number("batch_size", batch_size, 1, 1 << 16)
    attended = lm.context if lm.cache == "fixed" else cached_tokens + new_tokens
    dense = _dense_params(lm.config)
    per_token = 2 * dense + 4 * lm.layers * lm.width * attended
    return ForwardCost(new_tokens=new_tokens, attended_tokens=attended, batch_size=batch_size,
                       flops=batch_size * new_tokens * per_token, weight_bytes=_weight_bytes(lm),
                       kv_bytes=lm.kv_cache_bytes(attended, batch_size), dense_params=dense)


# ---------------------------------------------------------------- the roofline


@dataclass(frozen=True, repr=False)
class RooflinePoint(Result):
    """One call on the roofline: its intensity, what the roofs allow there, what it ran at."""

    name: str
    new_tokens: int
    cached_tokens: int
    batch_size: int
    flops: int
    bytes_moved: int
    flops_per_byte: float
    attainable_flops_per_s: float
    measured_ms: float            # median
    bound: str                    # "compute" or "memory": which side of the ridge

    @property
    def measured_flops_per_s(self) -> float:
        return self.flops / (self.measured_ms / 1e3)

    @property
    def percent_of_attainable(self) -> float:
        return 100 * self.measured_flops_per_s / self.attainable_flops_per_s

    @property
    def roof_ms(self) -> float:
        """The time the roofs allow: FLOPs over the attainable rate."""
        return 1e3 * self.flops / self.attainable_flops_per_s

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens * self.batch_size / (self.measured_ms / 1e3)

    def __repr__(self) -> str:
        return (f"<RooflinePoint {self.name}: {self.flops_per_byte:.2f} FLOPs/byte, "
                f"{self.bound}-bound, attainable {self.attainable_flops_per_s / 1e9:.1f} "
                f"GFLOP/s, measured {self.measured_flops_per_s / 1e9:.2f} "
                f"({self.percent_of_attainable:.0f}%)>")


@dataclass(frozen=True, repr=False)
class PrefillDecodeRoofline(Result):
    """Prefill and decode placed on the machine's measured roofs (see
    ``prefill_decode_roofline``); ``str()`` says which side of the ridge each is and what
    bounds the measured rate."""

    runtime: str
    model: str
    points: tuple                 # RooflinePoint: prefill, decode, decode batch B
    peak_flops_per_s: float
    bytes_per_s: float
    roofs: str                    # where the roofs come from
    weight_bytes: int
    cache_bytes: int | None       # the CPU's last-level cache, where the OS says
    repeats: int

    @property
    def ridge_flops_per_byte(self) -> float:
        return self.peak_flops_per_s / self.bytes_per_s

    def point(self, name: str) -> RooflinePoint:
        for p in self.points:
            if p.name == name:
                return p
        raise InvalidArgumentError(f"no point {name!r}; the points are "
                                   f"{', '.join(p.name for p in self.points)}")

    @classmethod
    def from_dict(cls, data: dict) -> PrefillDecodeRoofline:
        data = dict(data)
        data["points"] = tuple(RooflinePoint.from_dict(p) for p in data["points"])
        return super().from_dict(data)

    def __repr__(self) -> str:
        parts = ", ".join(f"{p.name} {p.flops_per_byte:.1f} FLOPs/byte {p.bound}-bound"
                          for p in self.points)
        return f"<PrefillDecodeRoofline ridge {self.ridge_flops_per_byte:.1f} FLOPs/byte: {parts}>"

    def _rows(self):
        return [(p.name, f"{p.flops_per_byte:.2f}", f"{p.attainable_flops_per_s / 1e9:.1f}",
                 f"{p.measured_flops_per_s / 1e9:.2f}", f"{p.percent_of_attainable:.0f}",
                 f"{p.roof_ms:.3f}", f"{p.measured_ms:.3f}", p.bound) for p in self.points]

    _HEADER = ("call", "FLOPs/byte", "attainable GFLOP/s", "measured GFLOP/s", "% of roof",
               "roof ms", "measured ms", "bound")

    def findings(self) -> list:
        """Sentences computed from the numbers: each call's side of the ridge, what bounds
        its measured rate, and whether the weights fit in cache."""
        ridge = self.ridge_flops_per_byte
        lines = []
        for p in self.points:
            side = "right" if p.bound == "compute" else "left"
            lines.append(f"{p.name}: {p.flops_per_byte:.2f} FLOPs/byte, {side} of the ridge "
                         f"({ridge:.1f}): {p.bound}-bound; the roofs allow "
                         f"{p.attainable_flops_per_s / 1e9:.1f} GFLOP/s, it ran at "
                         f"{p.measured_flops_per_s / 1e9:.2f} ({p.percent_of_attainable:.0f}%).")
            if p.measured_flops_per_s > p.attainable_flops_per_s:
                lines.append(f"  above its roof: its bytes came from cache, faster than the "
                             f"{self.bytes_per_s / 1e9:.1f} GB/s measured from memory.")
            elif p.percent_of_attainable < 100 * _OVERHEAD_BOUND:
                lines.append(f"  overhead-bound: the roofs allow {p.roof_ms:.3f} ms, it took "
                             f"{p.measured_ms:.3f} ms; the call's fixed cost (Python, the "
                             "runtime's dispatch, many small kernels) dominates, not its "
                             "FLOPs or bytes.")
            elif p.percent_of_attainable < 100 * _NEAR_ROOF:
                share = 1 - p.roof_ms / p.measured_ms
                lines.append(f"  below half its roof: {share:.0%} of its time goes to what "
                             "the count leaves out (the softmax, LayerNorm and GELU, kernels "
                             "short of peak, dispatch).")
            else:
                lines.append(f"  at {p.percent_of_attainable:.0f}% of its roof: "
                             f"{'arithmetic' if p.bound == 'compute' else 'memory traffic'} "
                             "bounds it.")
        if self.cache_bytes:
            fits = self.weight_bytes < self.cache_bytes
            lines.append(f"The weights ({self.weight_bytes / 1e6:.1f} MB) "
                         f"{'fit' if fits else 'do not fit'} in the last-level cache "
                         f"({self.cache_bytes / 2**20:.0f} MiB)"
                         + (": a decode step may read them from cache, not memory, so the "
                            "bandwidth slope is a floor for it, not a limit." if fits else "."))
        batched = [p for p in self.points if p.name.startswith("decode") and p.batch_size > 1]
        single = [p for p in self.points if p.name == "decode"]
        if batched and single:
            b, s = batched[0], single[0]
            lines.append(f"Batch {b.batch_size} raises decode's intensity "
                         f"{b.flops_per_byte / s.flops_per_byte:.1f}x (the weights are read "
                         f"once for all rows, but each row reads its own KV cache) and its "
                         f"tokens per second {b.tokens_per_s / s.tokens_per_s:.1f}x.")
        return lines

    def __str__(self) -> str:
        return (f"{self.runtime}: {self.model}\nroofs: {self.roofs}: "
                f"{self.peak_flops_per_s / 1e9:.1f} GFLOP/s, {self.bytes_per_s / 1e9:.1f} GB/s, "
                f"ridge {self.ridge_flops_per_byte:.1f} FLOPs/byte\n"
                + text_table(self._rows(), self._HEADER) + "\n" + "\n".join(self.findings()))

    def _html_rows(self):
        yield "model", f"{self.runtime}: {self.model}"
        yield "roofs", (f"{self.roofs}: {self.peak_flops_per_s / 1e9:.1f} GFLOP/s, "
                        f"{self.bytes_per_s / 1e9:.1f} GB/s, ridge "
                        f"{self.ridge_flops_per_byte:.1f} FLOPs/byte")
        for p in self.points:
            yield p.name, (f"{p.flops_per_byte:.2f} FLOPs/byte, {p.bound}-bound: attainable "
                           f"{p.attainable_flops_per_s / 1e9:.1f} GFLOP/s, measured "
                           f"{p.measured_flops_per_s / 1e9:.2f} ({p.percent_of_attainable:.0f}%)")
        yield "findings", " ".join(line.strip() for line in self.findings())

    def _repr_html_(self) -> str:
        findings = "".join(f"<li>{html.escape(line.strip())}</li>" for line in self.findings())
        return (html_table(self._rows(), header=self._HEADER,
                           caption=f"Prefill and decode on the roofline ({self.roofs}, ridge "
                                   f"{self.ridge_flops_per_byte:.1f} FLOPs/byte)")
                + f"<ul>{findings}</ul>")

    def plot(self, ax=None):
        """The roofs (the compute roof and the bandwidth slope) with each call at its
        intensity: a hollow marker where the roofs allow, a filled one where it ran."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        ridge = self.ridge_flops_per_byte
        xs_seen = [p.flops_per_byte for p in self.points] + [ridge]
        xs = np.geomspace(min(xs_seen) / 4, max(xs_seen) * 4, 200)
        ax.loglog(xs, np.minimum(self.peak_flops_per_s, self.bytes_per_s * xs) / 1e9, "k-", lw=2,
                  label=f"roofs: {self.peak_flops_per_s / 1e9:.0f} GFLOP/s, "
                        f"{self.bytes_per_s / 1e9:.1f} GB/s")
        ax.axvline(ridge, color="grey", ls=":", label=f"ridge {ridge:.1f} FLOPs/byte")
        for i, p in enumerate(self.points):
            colour = f"C{i}"
            x = p.flops_per_byte
            ax.plot([x, x], [p.measured_flops_per_s / 1e9, p.attainable_flops_per_s / 1e9],
                    color=colour, ls=":", lw=1)
            ax.scatter([x], [p.attainable_flops_per_s / 1e9], s=70, facecolors="none",
                       edgecolors=colour)
            ax.scatter([x], [p.measured_flops_per_s / 1e9], s=70, color=colour,
                       label=f"{p.name}: {p.bound}-bound, measured "
                             f"{p.percent_of_attainable:.0f}% of its roof")
            ax.annotate(p.name, (x, p.measured_flops_per_s / 1e9), fontsize=7,
                        xytext=(5, -3), textcoords="offset points")
        ax.set(xlabel="arithmetic intensity (FLOPs per byte moved)", ylabel="GFLOP/s",
               title=f"Prefill and decode on the roofline ({self.runtime})")
        ax.legend(fontsize=7, loc="upper left")
        return ax


def _cache_bytes() -> int | None:
    """The largest CPU cache the OS reports (Linux sysfs), in bytes; None elsewhere."""
    sizes = []
    for path in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        try:
            text = path.read_text().strip().upper()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes, default=None)


def _machine_peak(roofs, precision: str) -> tuple[MachinePeak, str]:
    """(the roofs as a ``MachinePeak``, where they come from): a MachinePeak as it is, or a
    RuntimeRoofs' ``precision`` roof with its bandwidth."""
    if isinstance(roofs, MachinePeak):
        return roofs, "NumPy float32 matmul (measure_machine_peak)"
    if isinstance(roofs, RuntimeRoofs):
        peak = roofs.ops_per_s(precision)
        if peak is None:
            raise InvalidArgumentError(f"the runtime roofs have no {precision} roof on this CPU "
                                       f"({roofs.roof(precision).absent})")
        return (MachinePeak(flops_per_s=peak, bytes_per_s=roofs.bytes_per_s,
                            matmul_size=roofs.size, copy_bytes=roofs.copy_bytes,
                            repeats=roofs.repeats, cpu_model=roofs.cpu_model),
                f"OpenVINO {precision} {roofs.roof(precision).operation} "
                "(measure_runtime_roofs)")
    raise InvalidArgumentError(f"roofs must be a MachinePeak (artspeed.measure_machine_peak()) "
                               f"or RuntimeRoofs (artspeed.measure_runtime_roofs()), got "
                               f"{type(roofs).__name__}")


def prefill_decode_roofline(lm: CausalLM, roofs=None, *, tokens: int | None = None,
                            batch_size: int = 8, batch_lm: CausalLM | None = None,
                            precision: str = "f32", repeats: int | None = None,
                            seed: int = 0) -> PrefillDecodeRoofline:
    """Prefill of ``tokens`` tokens (default: a full context), a decode step at batch 1 and
    one at ``batch_size``, each on a text of ``tokens`` tokens, placed on measured roofs.

    ``roofs``: a ``MachinePeak`` (default: ``measure_machine_peak()``, NumPy's float32
    matmul) or a ``RuntimeRoofs`` (its ``precision`` roof). FLOPs and bytes come from
    ``forward_cost``; the times are medians of ``repeats`` interleaved rounds (after one
    untimed): the prefill of the text, and its last 4 tokens decoded in a row after an
    untimed prefill of the rest (as ``generate`` decodes; the first step untimed), counted
    as the step on ``tokens - 1`` cached tokens. ``batch_lm`` runs
    the batched decode (default ``lm``; a stateful OpenVINO model serves one batch size,
    so pass ``compile_lm(keras_lm, batch_size=batch_size)``).
    """
    lm = _check_lm(lm, "prefill_decode_roofline")
    batch_lm = lm if batch_lm is None else _check_lm(batch_lm, "prefill_decode_roofline")
    if batch_lm.config != lm.config:
        raise InvalidArgumentError("batch_lm must be the same model as lm (its config differs)")
    tokens = lm.context if tokens is None else _checks.whole_number("tokens", tokens, 3,
                                                                    lm.context)
    batch_size = _checks.whole_number("batch_size", batch_size, 2, 4096)
    precision = _checks.choice("precision", precision, ("f32", "bf16", "int8"))
    for model, batch in ((lm, 1), (batch_lm, batch_size)):
        static = getattr(model, "batch_size", None)
        if static is not None and static != batch:
            raise InvalidArgumentError(
                f"the {model.runtime} model serves batch {static}, not {batch}; "
                + ("pass batch_lm=artspeed.compile_lm(keras_lm, "
                   f"batch_size={batch_size}) for the batched decode" if batch > 1 else
                   "pass a model of batch 1 as lm"))
    repeats = _checks.whole_number("repeats", repeats or (5 if fast_mode() else 20), 1, 10_000)
    peak, source = _machine_peak(measure_machine_peak() if roofs is None else roofs,
                                 precision)
    rng = np.random.default_rng(_checks.seed(seed))
    ids = rng.integers(0, lm.vocab_size, (batch_size, tokens)).astype(np.int32)
    clock = time.perf_counter_ns

    steps = min(_DECODE_STEPS, tokens - 2)     # the text's last tokens, decoded in a row

    def prefill():
        begin = clock()
        np.asarray(lm.prefill(ids[:1])[0])
        return [clock() - begin]

    def decode(model, rows):
        def run():
            first = tokens - steps - 1
            _, past = model.prefill(ids[:rows, :first])
            spent = []
            for i in range(first, tokens):     # as generation does; the first step untimed
                begin = clock()
                logits, past = model.decode(ids[:rows, i:i + 1], past, i)
                np.asarray(logits)
                spent.append(clock() - begin)
            return spent[1:]
        return run

    calls = {"prefill": (prefill, forward_cost(lm, tokens)),
             "decode": (decode(lm, 1), forward_cost(lm, 1, tokens - 1)),
             f"decode batch {batch_size}": (decode(batch_lm, batch_size),
                                            forward_cost(lm, 1, tokens - 1, batch_size))}
    times: dict = {name: [] for name in calls}
    for round_ in range(repeats + 1):        # interleaved; the first round is untimed
        for name, (run, _) in calls.items():
            spent = run()
            if round_:
                times[name] += [ns / 1e6 for ns in spent]
    points = []
    for name, (_, cost) in calls.items():
        intensity = cost.flops_per_byte
        points.append(RooflinePoint(
            name=name, new_tokens=cost.new_tokens, cached_tokens=tokens - cost.new_tokens,
            batch_size=cost.batch_size, flops=cost.flops, bytes_moved=cost.bytes_moved,
            flops_per_byte=intensity,
            attainable_flops_per_s=peak.attainable_flops_per_s(intensity),
            measured_ms=float(statistics.median(times[name])), bound=peak.bound(intensity)))
    return PrefillDecodeRoofline(runtime=lm.runtime, model=_describe(lm), points=tuple(points),
                                 peak_flops_per_s=peak.flops_per_s,
                                 bytes_per_s=peak.bytes_per_s, roofs=source,
                                 weight_bytes=_weight_bytes(lm), cache_bytes=_cache_bytes(),
                                 repeats=repeats)
