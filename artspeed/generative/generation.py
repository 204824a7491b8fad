"""Generate text token by token, with or without the KV cache, and time each step.

The metrics generative serving uses, defined once here:

- **TTFT** (time to first token, ``ttft_ms``): from the start to the first new
  token, i.e. the prefill of the whole prompt and picking the token;
- **TPOT** (time per output token, ``tpot_ms``): each later token's step (one
  ``decode`` with the cache, or a full forward over the text so far without
  it, plus picking the token), as p50 and p90 of those steps;
- **tokens per second** (``tokens_per_s``): new tokens over the whole time, TTFT included.

Each step is timed with ``time.perf_counter_ns``. A ``tf.function`` is traced
on its first call; ``generate`` first calls the ones it will use once, untimed
(``warmup=True``): ``prefill`` and one ``decode`` step on the prompt, or
``next_logits`` without the cache. Their input signatures let that one trace serve
every prompt length, so TTFT is not tracing time. A growing cache still gives
each step new shapes, and TensorFlow's oneDNN kernels prepare for a shape the
first time they see it: a first generation's TPOT is higher than a repeat's,
so time a repeat (``benchmarks/bench_lm.py`` reports the second pass).

>>> from artspeed.generative.lm import LanguageModel, decoder_lm
>>> from artspeed.generative.text import CharTokenizer
>>> lm = LanguageModel(decoder_lm(97, layers=1, context=32, width=32, heads=2), CharTokenizer())
>>> cached = generate(lm, "def ", max_new_tokens=8)
>>> recomputed = generate(lm, "def ", max_new_tokens=8, kv_cache=False)
>>> cached.token_ids == recomputed.token_ids, len(cached.token_ids), len(cached.decode_ms)
(True, 8, 7)

``decode_against_recompute`` times what the cache saves at one text length: one
``decode`` step on a cache of ``positions`` tokens against recomputing all of
them with ``logits``, in interleaved rounds.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from artspeed.core import _checks
from artspeed.core._result import Result
from artspeed.core.errors import InvalidArgumentError
from artspeed.generative.lm import CausalLM
from artspeed.measure.benchmarking import latency_stats

__all__ = ["Generation", "generate", "check_prompt", "CacheSpeedup", "decode_against_recompute"]

MAX_NEW_TOKENS = 1 << 20


@dataclass(frozen=True, repr=False)
class Generation(Result):
    """One generation: the new text, its token ids and what each step took."""

    prompt: str
    text: str                      # the new text only (the prompt is not repeated)
    token_ids: tuple               # the new tokens' ids
    prompt_tokens: int
    ttft_ms: float                 # prefill of the prompt + the first token
    decode_ms: tuple               # each later token's step, in order
    tpot_ms: dict                  # {"p50", "p90"} of decode_ms (NaN with no later token)
    tokens_per_s: float            # new tokens / (TTFT + all decode steps)
    kv_cache: bool
    stopped_at_context: bool       # fewer than max_new_tokens: the context was full
    temperature: float = 0.0
    top_k: int | None = None
    seed: int = 0

    @property
    def new_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def total_ms(self) -> float:
        return self.ttft_ms + float(sum(self.decode_ms))

    def __repr__(self) -> str:
        how = "KV cache" if self.kv_cache else "no cache"
        stop = ", stopped at the context" if self.stopped_at_context else ""
        return (f"<Generation {self.new_tokens} tokens, {how}: TTFT {self.ttft_ms:.2f} ms, "
                f"TPOT p50 {self.tpot_ms['p50']:.2f} ms, {self.tokens_per_s:.0f} tokens/s{stop}>")

    def __str__(self) -> str:
        return self.prompt + self.text

    def _html_rows(self):
        yield "prompt", self.prompt
        yield "generated", self.text
        yield "new tokens", self.new_tokens
        yield "KV cache", self.kv_cache
        yield "TTFT (ms)", self.ttft_ms
        yield "TPOT p50 (ms)", self.tpot_ms["p50"]
        yield "TPOT p90 (ms)", self.tpot_ms["p90"]
        yield "tokens/s", self.tokens_per_s
        yield "stopped at the context", self.stopped_at_context


def check_prompt(lm: CausalLM, prompt) -> np.ndarray:
    """``prompt``'s token ids if ``lm`` can continue it; else ``InvalidArgumentError`` saying why.

    A prompt must be a non-empty str of characters in the vocabulary, at most
    ``context - 1`` long (leaving room for one new token).
    """
    if not isinstance(prompt, str):
        raise InvalidArgumentError(f"the prompt must be a str, got {type(prompt).__name__}")
    if not prompt:
        raise InvalidArgumentError("the prompt is empty; give at least one character to "
                                   "continue, such as 'def '")
    if len(prompt) >= lm.context:
        raise InvalidArgumentError(
            f"the prompt has {len(prompt)} characters, but the model's context is "
            f"{lm.context}: give at most {lm.context - 1}, leaving room for a new one "
            f"(keep the prompt's end: prompt[-{lm.context - 1}:])")
    return lm.tokenizer.encode(prompt, "the prompt")


def _picker(vocab_size: int, temperature: float, top_k: int | None, seed: int):
    rng = np.random.default_rng(seed)

    def pick(logits) -> int:
        if temperature == 0:
            return int(np.argmax(logits))
        z = np.asarray(logits, dtype=np.float64) / temperature
        if top_k is not None and top_k < vocab_size:
            z = np.where(z >= np.partition(z, -top_k)[-top_k], z, -np.inf)
        p = np.exp(z - z.max())
        return int(rng.choice(vocab_size, p=p / p.sum()))

    return pick


def generate(lm: CausalLM, prompt: str, *, max_new_tokens: int = 100,
             kv_cache: bool = True, temperature: float = 0.0, top_k: int | None = None,
             seed: int = 0, warmup: bool = True) -> Generation:
    """Continue ``prompt`` with up to ``max_new_tokens`` characters from ``lm``; time every step.

    ``temperature=0`` is greedy (the most likely token each step); above 0 the
    token is sampled from softmax(logits / temperature), only among the ``top_k``
    most likely if given, with a seeded NumPy generator. With ``kv_cache=True``
    the prompt is prefilled once and each later token is one ``decode`` step on
    the cache; with ``False`` every step recomputes the whole text so far
    with ``next_logits``. ``lm`` is a ``LanguageModel`` (Keras) or an
    ``OpenVINOLanguageModel`` (any ``CausalLM``). Greedy tokens are the same either way. Generation stops when
    the text fills the context (``stopped_at_context``). ``warmup``: see the
    module's docstring.
    """
    if not isinstance(lm, CausalLM):
        raise InvalidArgumentError(f"generate needs a LanguageModel (artspeed.load_lm or "
                                   f"train_lm(...).lm) or an OpenVINOLanguageModel, got "
                                   f"{type(lm).__name__}")
    ids = check_prompt(lm, prompt)
    max_new_tokens = _checks.whole_number("max_new_tokens", max_new_tokens, 1, MAX_NEW_TOKENS)
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool) \
            and temperature == 0:
        temperature = 0.0
    else:
        temperature = _checks.positive_finite("temperature", temperature,
                                              "0 is greedy, 0.8 samples a little")
    top_k = _checks.whole_number("top_k", top_k, 1, lm.vocab_size, optional=True)
    seed = _checks.seed(seed)
    budget = min(max_new_tokens, lm.context - len(ids))
    pick = _picker(lm.vocab_size, temperature, top_k, seed)
    tokens = ids[None].astype(np.int32)
    if warmup:
        if kv_cache:
            _, past = lm.prefill(tokens)
            lm.decode(tokens[:, -1:], past, len(ids))   # position < context: the prompt is shorter
        else:
            lm.next_logits(tokens)

    out: list[int] = []
    steps_ns: list[int] = []
    clock = time.perf_counter_ns
    if kv_cache:
        start = clock()
        logits, past = lm.prefill(tokens)
        out.append(pick(np.asarray(logits)[0]))
        steps_ns.append(clock() - start)
        position = len(ids)
        while len(out) < budget:
            start = clock()
            logits, past = lm.decode(np.array([[out[-1]]], np.int32), past, position)
            out.append(pick(np.asarray(logits)[0]))
            steps_ns.append(clock() - start)
            position += 1
    else:
        text = list(ids)
        while len(out) < budget:
            start = clock()
            logits = lm.next_logits(np.array([text + out], np.int32))
            out.append(pick(np.asarray(logits)[0]))
            steps_ns.append(clock() - start)

    steps_ms = [ns / 1e6 for ns in steps_ns]
    decode_ms = tuple(steps_ms[1:])
    if decode_ms:
        stats = latency_stats(decode_ms)
        tpot = {"p50": stats["p50"], "p90": stats["p90"]}
    else:
        tpot = {"p50": math.nan, "p90": math.nan}
    return Generation(prompt, lm.tokenizer.decode(out), tuple(out), len(ids), steps_ms[0],
                      decode_ms, tpot, len(out) / (sum(steps_ms) / 1e3),
                      bool(kv_cache), budget < max_new_tokens, temperature, top_k, seed)


@dataclass(frozen=True, repr=False)
class CacheSpeedup(Result):
    """The last ``rounds`` new tokens of a text of ``positions + 1`` tokens: a decode step with
    the KV cache against recomputing the whole text (p50s, the two timed in alternating blocks)."""

    positions: int                 # the longest cache timed (tokens before the last new one)
    decode_ms: float               # p50: one decode step on the cache
    recompute_ms: float            # p50: a full forward over the text so far
    rounds: int                    # new tokens timed: caches of positions - rounds + 1 .. positions
    runtime: str = "keras"

    @property
    def speedup(self) -> float:
        return self.recompute_ms / self.decode_ms

    def __repr__(self) -> str:
        return (f"<CacheSpeedup {self.runtime} at {self.positions - self.rounds + 1}-"
                f"{self.positions} tokens: decode "
                f"{self.decode_ms:.2f} ms, recompute {self.recompute_ms:.2f} ms, "
                f"{self.speedup:.1f}x>")

    def _html_rows(self):
        yield "runtime", self.runtime
        yield "cached tokens", f"{self.positions - self.rounds + 1}-{self.positions}"
        yield "decode step with the cache (ms, p50)", self.decode_ms
        yield "recomputing the text (ms, p50)", self.recompute_ms
        yield "speed-up", self.speedup


def decode_against_recompute(lm: CausalLM, positions: int | None = None, *,
                             rounds: int = 30, repeats: int = 3,
                             seed: int = 0) -> CacheSpeedup:
    """Time the new tokens of a text as it grows to ``positions + 1`` tokens (default: a full
    context) both ways, alternating: a ``decode`` step on the cache, and ``next_logits`` over
    the whole text so far.

    The text's first ``positions - rounds`` tokens are prefilled; then its last
    ``rounds`` tokens are decoded one after another, as generation does (a stateful
    model's cache moves on by itself); then the same texts are recomputed one after
    another. Each run's first step is untimed, and the two alternate ``repeats`` times
    (in blocks: alternating each call would make the runtime switch shapes every call,
    which generation never does). ``positions`` is the longest cache timed.

    >>> from artspeed.generative.lm import LanguageModel, decoder_lm
    >>> from artspeed.generative.text import CharTokenizer
    >>> lm = LanguageModel(decoder_lm(97, layers=1, context=32, width=32, heads=2), CharTokenizer())
    >>> r = decode_against_recompute(lm, rounds=3)
    >>> r.positions, r.rounds, r.decode_ms > 0 and r.recompute_ms > 0
    (31, 3, True)
    """
    if not isinstance(lm, CausalLM):
        raise InvalidArgumentError(f"decode_against_recompute needs a LanguageModel, got "
                                   f"{type(lm).__name__}")
    positions = lm.context - 1 if positions is None else _checks.whole_number(
        "positions", positions, 2, lm.context - 1)
    rounds = min(_checks.whole_number("rounds", rounds, 1), positions - 1)
    repeats = _checks.whole_number("repeats", repeats, 1)
    rng = np.random.default_rng(_checks.seed(seed))
    tokens = rng.integers(0, lm.vocab_size, (1, positions + 1)).astype(np.int32)
    start = positions - rounds                   # the first step (untimed) decodes this one
    times: dict = {"decode": [], "recompute": []}
    clock = time.perf_counter_ns

    def decode():
        _, past = lm.prefill(tokens[:, :start])
        for i in range(start, positions + 1):
            begin = clock()
            logits, past = lm.decode(tokens[:, i:i + 1], past, i)
            np.asarray(logits)
            yield i, clock() - begin

    def recompute():
        for i in range(start, positions + 1):
            begin = clock()
            np.asarray(lm.next_logits(tokens[:, :i + 1]))
            yield i, clock() - begin

    for _ in range(repeats):
        for name, steps in (("decode", decode), ("recompute", recompute)):
            times[name] += [ns / 1e6 for i, ns in steps() if i > start]
    return CacheSpeedup(positions, latency_stats(times["decode"])["p50"],
                        latency_stats(times["recompute"])["p50"], rounds, lm.runtime)
