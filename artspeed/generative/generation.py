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
``next_logits`` without the cache; with a draft, both models' ``prefill`` and
``rewind``, the target's ``extend`` and the draft's ``propose``. Their input signatures let that one trace serve
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

**Speculative decoding** (``generate(target, prompt, draft=small_lm, draft_tokens=4)``,
greedy): each *round*, the draft proposes ``draft_tokens`` tokens greedily on its
own cache (``propose``: one ``decode`` per token, or in Keras one ``tf.function``
that loops, which saves a call's overhead per token); the target runs the last accepted token
and the proposals through **one** ``extend`` call, keeps the longest prefix of
proposals that match its own greedy picks, plus its own next token (1 to
``draft_tokens + 1`` new tokens a round), and both caches ``rewind`` to the
text kept. The tokens are the target's own greedy ones; ``acceptance_rate`` is
the proposals kept over those made. TTFT is the target's prefill, as without a
draft (the draft's prefill is part of the first round). **TPOT with a draft**:
each round's time spread evenly over the tokens it produced (``decode_ms`` holds
each token's share), so ``tokens_per_s`` (new tokens over TTFT plus all rounds)
compares directly with a plain run's.

**Static batching** (``generate(lm, ["def a", "def b"])``): equally long prompts
(the model has no padding mask) run as one batch, each step a ``[B, 1]`` decode;
a ``BatchGeneration`` has each row's tokens, the batch's TTFT and TPOT, and
tokens per second over all rows. ``static_batching`` times batch sizes 1, 2, 4, 8.

>>> draft = LanguageModel(decoder_lm(97, layers=1, context=32, width=32, heads=2, seed=1),
...                       CharTokenizer())
>>> fast = generate(lm, "def ", max_new_tokens=8, draft=draft, draft_tokens=3)
>>> fast.token_ids == cached.token_ids, 0 <= fast.acceptance_rate <= 1
(True, True)
>>> batch = generate(lm, ["def ", "for "], max_new_tokens=8)
>>> batch.token_ids[0] == cached.token_ids, batch.batch_size
(True, 2)

``decode_against_recompute`` times what the cache saves at one text length: one
``decode`` step on a cache of ``positions`` tokens against recomputing all of
them with ``logits``, in interleaved rounds.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import numpy as np

from artspeed.core import _checks
from artspeed.core._result import Result, html_table
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.generative.lm import CausalLM
from artspeed.measure.benchmarking import latency_stats

__all__ = ["Generation", "BatchGeneration", "generate", "check_prompt", "StaticBatching",
           "static_batching", "interleaved_generations", "tpot_p50", "CacheSpeedup",
           "decode_against_recompute"]

MAX_NEW_TOKENS = 1 << 20
MAX_DRAFT_TOKENS = 64


def _tpot(decode_ms) -> dict:
    if not decode_ms:
        return {"p50": math.nan, "p90": math.nan}
    stats = latency_stats(decode_ms)
    return {"p50": stats["p50"], "p90": stats["p90"]}


@dataclass(frozen=True, repr=False)
class Generation(Result):
    """One generation: the new text, its token ids and what each step took.

    With a draft model (speculative decoding), ``draft_tokens`` is the draft's
    proposals per round, ``rounds`` the rounds (one target ``extend`` each),
    ``proposed_tokens``/``accepted_tokens`` the draft's tokens offered and kept, and
    ``decode_ms`` each later token's share of its round's time.
    """

    prompt: str
    text: str                      # the new text only (the prompt is not repeated)
    token_ids: tuple               # the new tokens' ids
    prompt_tokens: int
    ttft_ms: float                 # prefill of the prompt + the first token
    decode_ms: tuple               # each later token's step (speculative: its share of a round)
    tpot_ms: dict                  # {"p50", "p90"} of decode_ms (NaN with no later token)
    tokens_per_s: float            # new tokens / (TTFT + all decode steps)
    kv_cache: bool
    stopped_at_context: bool       # fewer than max_new_tokens: the context was full
    temperature: float = 0.0
    top_k: int | None = None
    seed: int = 0
    draft_tokens: int = 0          # proposals per round (0: no draft model)
    rounds: int = 0                # speculative rounds: one target extend each
    proposed_tokens: int = 0       # draft tokens the target verified
    accepted_tokens: int = 0       # ... and kept
    acceptance_rate: float = math.nan   # accepted / proposed

    @property
    def new_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def total_ms(self) -> float:
        return self.ttft_ms + float(sum(self.decode_ms))

    @property
    def speculative(self) -> bool:
        return self.draft_tokens > 0

    def __repr__(self) -> str:
        how = "KV cache" if self.kv_cache else "no cache"
        if self.speculative:
            how += (f", draft of {self.draft_tokens} tokens a round accepted "
                    f"{self.acceptance_rate:.0%} over {self.rounds} rounds")
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
        if self.speculative:
            yield "draft tokens a round", self.draft_tokens
            yield "rounds", self.rounds
            yield "acceptance rate", self.acceptance_rate
        yield "stopped at the context", self.stopped_at_context


@dataclass(frozen=True, repr=False)
class BatchGeneration(Result):
    """Several prompts of one length generated together (static batching): a row each.

    Every step runs the whole batch, so TTFT and ``decode_ms`` are the batch's;
    ``tokens_per_s`` counts the new tokens of all rows.
    """

    prompts: tuple
    texts: tuple                   # each row's new text
    token_ids: tuple               # each row's new tokens' ids
    prompt_tokens: int             # per row (all rows are this long)
    ttft_ms: float                 # the batch's prefill + its first tokens
    decode_ms: tuple               # each later step of the batch
    tpot_ms: dict                  # {"p50", "p90"} of decode_ms
    tokens_per_s: float            # all rows' new tokens / (TTFT + all decode steps)
    kv_cache: bool
    stopped_at_context: bool
    temperature: float = 0.0
    top_k: int | None = None
    seed: int = 0

    @property
    def batch_size(self) -> int:
        return len(self.prompts)

    @property
    def new_tokens(self) -> int:
        """New tokens per row."""
        return len(self.token_ids[0])

    @property
    def total_ms(self) -> float:
        return self.ttft_ms + float(sum(self.decode_ms))

    def __repr__(self) -> str:
        how = "KV cache" if self.kv_cache else "no cache"
        stop = ", stopped at the context" if self.stopped_at_context else ""
        return (f"<BatchGeneration {self.batch_size} rows x {self.new_tokens} tokens, {how}: "
                f"TTFT {self.ttft_ms:.2f} ms, TPOT p50 {self.tpot_ms['p50']:.2f} ms, "
                f"{self.tokens_per_s:.0f} tokens/s (all rows){stop}>")

    def __str__(self) -> str:
        return "\n".join(p + t for p, t in zip(self.prompts, self.texts))

    def _html_rows(self):
        yield "rows", self.batch_size
        yield from zip(self.prompts, self.texts)
        yield "new tokens per row", self.new_tokens
        yield "TTFT (ms)", self.ttft_ms
        yield "TPOT p50 (ms)", self.tpot_ms["p50"]
        yield "tokens/s (all rows)", self.tokens_per_s


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


def _check_prompts(lm: CausalLM, prompts) -> np.ndarray:
    """The prompts' token ids as one ``[B, T]`` array: a str, or a list of equally long ones."""
    if isinstance(prompts, str):
        return check_prompt(lm, prompts)[None]
    if not isinstance(prompts, (list, tuple)) or not prompts:
        raise InvalidArgumentError(f"the prompt must be a str, or a non-empty list of str to "
                                   f"generate together, got {type(prompts).__name__}"
                                   f"{' (empty)' if isinstance(prompts, (list, tuple)) else ''}")
    rows = [check_prompt(lm, p) for p in prompts]
    lengths = sorted({len(r) for r in rows})
    if len(lengths) > 1:
        raise InvalidArgumentError(
            f"prompts generated together must be equally long (the model has no padding "
            f"mask), got lengths {lengths[0]} to {lengths[-1]}; cut each to its last "
            f"{lengths[0]} characters (prompt[-{lengths[0]}:])")
    return np.stack(rows)


def _picker(vocab_size: int, temperature: float, top_k: int | None, seed: int):
    """``pick(logits [B, V]) -> ids [B]``: greedy, or sampled row by row from one generator."""
    rng = np.random.default_rng(seed)

    def sample(logits) -> int:
        z = np.asarray(logits, dtype=np.float64) / temperature
        if top_k is not None and top_k < vocab_size:
            z = np.where(z >= np.partition(z, -top_k)[-top_k], z, -np.inf)
        p = np.exp(z - z.max())
        return int(rng.choice(vocab_size, p=p / p.sum()))

    def pick(logits) -> np.ndarray:
        logits = np.asarray(logits)
        if temperature == 0:
            return np.argmax(logits, axis=-1).astype(np.int32)
        return np.array([sample(row) for row in logits], np.int32)

    return pick


def _check_draft(target: CausalLM, draft, draft_tokens, kv_cache: bool, temperature: float,
                 batch: int) -> int:
    """``draft_tokens`` checked, once ``draft`` is known to suit ``target``."""
    if not isinstance(draft, CausalLM):
        raise InvalidArgumentError(f"draft must be a language model (a LanguageModel or an "
                                   f"OpenVINOLanguageModel), got {type(draft).__name__}")
    if draft.tokenizer != target.tokenizer:
        raise ModelError("the draft and the target must share one tokenizer (the same "
                         "characters, in the same order); train the draft on the same corpus "
                         "with artspeed.train_lm")
    if draft.context < target.context:
        raise ModelError(f"the draft's context ({draft.context}) is shorter than the target's "
                         f"({target.context}); give a draft with a context of at least "
                         f"{target.context}")
    if draft is target and target.stateful:
        raise InvalidArgumentError("a stateful model cannot be its own draft: its one cache "
                                   "would serve both; compile a second model for the draft")
    if not kv_cache:
        raise InvalidArgumentError("speculative decoding needs the KV cache; drop "
                                   "kv_cache=False or the draft")
    if temperature != 0:
        raise InvalidArgumentError("speculative decoding here is greedy: use temperature=0 "
                                   "with a draft, or sample without one")
    if batch != 1:
        raise InvalidArgumentError("speculative decoding takes one prompt at a time, not a "
                                   "list")
    return _checks.whole_number("draft_tokens", draft_tokens, 1, MAX_DRAFT_TOKENS)


def generate(lm: CausalLM, prompt, *, max_new_tokens: int = 100,
             kv_cache: bool = True, temperature: float = 0.0, top_k: int | None = None,
             seed: int = 0, warmup: bool = True, draft: CausalLM | None = None,
             draft_tokens: int = 4):
    """Continue ``prompt`` with up to ``max_new_tokens`` characters from ``lm``; time every step.

    ``temperature=0`` is greedy (the most likely token each step); above 0 the
    token is sampled from softmax(logits / temperature), only among the ``top_k``
    most likely if given, with a seeded NumPy generator. With ``kv_cache=True``
    the prompt is prefilled once and each later token is one ``decode`` step on
    the cache; with ``False`` every step recomputes the whole text so far
    with ``next_logits``. ``lm`` is a ``LanguageModel`` (Keras) or an
    ``OpenVINOLanguageModel`` (any ``CausalLM``). Greedy tokens are the same either way. Generation stops when
    the text fills the context (``stopped_at_context``). ``warmup``: see the
    module's docstring. Returns a ``Generation``.

    ``prompt`` may be a list of equally long prompts, generated together as one
    batch (static batching): a ``BatchGeneration``, each row's greedy tokens those of
    its prompt alone.

    ``draft``: a smaller model with the same tokenizer and at least the same context;
    greedy speculative decoding, ``draft_tokens`` proposals a round (see the module's
    docstring). The tokens are ``lm``'s own greedy ones.
    """
    if not isinstance(lm, CausalLM):
        raise InvalidArgumentError(f"generate needs a LanguageModel (artspeed.load_lm or "
                                   f"train_lm(...).lm) or an OpenVINOLanguageModel, got "
                                   f"{type(lm).__name__}")
    tokens = _check_prompts(lm, prompt).astype(np.int32)
    max_new_tokens = _checks.whole_number("max_new_tokens", max_new_tokens, 1, MAX_NEW_TOKENS)
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool) \
            and temperature == 0:
        temperature = 0.0
    else:
        temperature = _checks.positive_finite("temperature", temperature,
                                              "0 is greedy, 0.8 samples a little")
    top_k = _checks.whole_number("top_k", top_k, 1, lm.vocab_size, optional=True)
    seed = _checks.seed(seed)
    if draft is not None:
        draft_tokens = _check_draft(lm, draft, draft_tokens, kv_cache, temperature,
                                    len(tokens) if not isinstance(prompt, str) else 1)
    batch, length = tokens.shape
    budget = min(max_new_tokens, lm.context - length)
    stopped = budget < max_new_tokens
    if draft is not None:
        if warmup:
            _warm_speculative(lm, draft, tokens, draft_tokens)
        out, steps_ms, counts = _speculate(lm, draft, tokens, budget, draft_tokens)
        rate = counts["accepted"] / counts["proposed"] if counts["proposed"] else math.nan
        return Generation(prompt, lm.tokenizer.decode(out), tuple(out), length, steps_ms[0],
                          tuple(steps_ms[1:]), _tpot(steps_ms[1:]),
                          len(out) / (sum(steps_ms) / 1e3), True, stopped, 0.0, None, seed,
                          draft_tokens, counts["rounds"], counts["proposed"],
                          counts["accepted"], rate)
    pick = _picker(lm.vocab_size, temperature, top_k, seed)
    if warmup:
        if kv_cache:
            _, past = lm.prefill(tokens)
            lm.decode(tokens[:, -1:], past, length)   # position < context: the prompt is shorter
        else:
            lm.next_logits(tokens)
    out, steps_ms = _run(lm, tokens, budget, pick, kv_cache)
    decode_ms = tuple(steps_ms[1:])
    tokens_per_s = out.size / (sum(steps_ms) / 1e3)
    if isinstance(prompt, str):
        ids = tuple(int(t) for t in out[0])
        return Generation(prompt, lm.tokenizer.decode(ids), ids, length, steps_ms[0],
                          decode_ms, _tpot(decode_ms), tokens_per_s, bool(kv_cache), stopped,
                          temperature, top_k, seed)
    rows = tuple(tuple(int(t) for t in row) for row in out)
    return BatchGeneration(tuple(prompt), tuple(lm.tokenizer.decode(r) for r in rows), rows,
                           length, steps_ms[0], decode_ms, _tpot(decode_ms), tokens_per_s,
                           bool(kv_cache), stopped, temperature, top_k, seed)


def _run(lm: CausalLM, tokens: np.ndarray, budget: int, pick, kv_cache: bool):
    """Generate ``budget`` tokens after each row of ``tokens`` ``[B, T]``, one step at a time:
    the new ids ``[B, budget]`` and each step's milliseconds (the first is the TTFT)."""
    out: list = []
    steps_ns: list[int] = []
    clock = time.perf_counter_ns
    if kv_cache:
        start = clock()
        logits, past = lm.prefill(tokens)
        out.append(pick(logits))
        steps_ns.append(clock() - start)
        position = tokens.shape[1]
        while len(out) < budget:
            start = clock()
            logits, past = lm.decode(out[-1][:, None], past, position)
            out.append(pick(logits))
            steps_ns.append(clock() - start)
            position += 1
    else:
        while len(out) < budget:
            start = clock()
            text = np.concatenate([tokens, np.stack(out, axis=1)], axis=1) if out else tokens
            out.append(pick(lm.next_logits(text)))
            steps_ns.append(clock() - start)
    return np.stack(out, axis=1), [ns / 1e6 for ns in steps_ns]


def _warm_speculative(target: CausalLM, draft: CausalLM, tokens: np.ndarray, k: int) -> None:
    """Call each function speculative decoding uses once, untimed (tf.functions trace)."""
    length = tokens.shape[1]
    for model in (target, draft):
        _, past = model.prefill(tokens)
        past = model.rewind(past, 0)
        if model is target:
            np.asarray(model.extend(tokens[:, :min(k + 1, length)], past, 0)[0])
        else:
            model.propose(tokens[:, :1], past, 0, min(k, model.context - 1))


def _speculate(target: CausalLM, draft: CausalLM, tokens: np.ndarray, budget: int, k_max: int):
    """Greedy speculative decoding of ``budget`` tokens after ``tokens`` ``[1, T]``.

    Returns the new ids, the milliseconds of the first token (TTFT) and then each later
    token's share of its round, and counts (rounds, proposed, accepted).
    """
    clock = time.perf_counter_ns
    text = [int(t) for t in tokens[0]]            # every token so far, the new ones included
    start = clock()
    logits, past = target.prefill(tokens)
    text.append(int(np.argmax(np.asarray(logits)[0])))
    steps_ms = [(clock() - start) / 1e6]
    new = 1
    draft_past, draft_len = None, 0               # the draft's cache and its length
    counts = {"rounds": 0, "proposed": 0, "accepted": 0}
    while new < budget:
        start = clock()
        n = len(text)                             # the target's cache holds n - 1 of them
        k = min(k_max, budget - new - 1)          # the round's tokens, at most k + 1, fit
        proposals: list[int] = []
        if k:
            if draft_past is None:                # the first round: the draft's prefill
                _, draft_past = draft.prefill(np.array([text[:-1]], np.int32))
                draft_len = n - 1
            ids, draft_past = draft.propose(np.array([text[draft_len:]], np.int32),
                                            draft_past, draft_len, k)
            proposals = [int(t) for t in np.asarray(ids)[0]]
            draft_len = n + k - 1                 # the last proposal is not on its cache
        logits, past = target.extend(np.array([text[-1:] + proposals], np.int32), past, n - 1)
        picks = np.argmax(np.asarray(logits)[0], axis=-1)          # the target's own, k + 1
        accepted = 0
        while accepted < k and proposals[accepted] == picks[accepted]:
            accepted += 1
        text += proposals[:accepted] + [int(picks[accepted])]
        if accepted < k:                          # the target's cache holds n + k tokens
            past = target.rewind(past, n + accepted)
        if draft_len > n + accepted:
            draft_past = draft.rewind(draft_past, n + accepted)
            draft_len = n + accepted
        produced = accepted + 1
        new += produced
        steps_ms += [(clock() - start) / 1e6 / produced] * produced
        counts["rounds"] += 1
        counts["proposed"] += k
        counts["accepted"] += accepted
    return text[tokens.shape[1]:], steps_ms, counts


@dataclass(frozen=True, repr=False)
class StaticBatching(Result):
    """Static batching at each batch size: tokens per second (all rows) against TPOT.

    Each batch size's first generation is untimed; the later ``repeats`` alternate
    over the batch sizes. ``tokens_per_s`` is the median over repeats, TPOT the p50
    and p90 of all their decode steps. ``identical``: every row's greedy tokens
    equal its prompt's generated alone.
    """

    batch_sizes: tuple
    tokens_per_s: tuple            # all rows' new tokens per second, median of the repeats
    tpot_p50_ms: tuple             # one decode step of the whole batch
    tpot_p90_ms: tuple
    ttft_ms: tuple                 # the batch's prefill (median)
    prompt_tokens: int
    new_tokens: int
    repeats: int
    runtime: str = "keras"
    identical: bool | None = None  # None: not checked (sampling)

    def rows(self) -> list:
        return [(b, t, p50, p90, ttft) for b, t, p50, p90, ttft in zip(
            self.batch_sizes, self.tokens_per_s, self.tpot_p50_ms, self.tpot_p90_ms,
            self.ttft_ms)]

    def __repr__(self) -> str:
        cells = ", ".join(f"batch {b}: {t:.0f} tokens/s at TPOT {p:.2f} ms"
                          for b, t, p, _, _ in self.rows())
        return f"<StaticBatching {self.runtime}, {self.new_tokens} new tokens: {cells}>"

    def _repr_html_(self) -> str:
        rows = [(b, t, p50, p90, ttft) for b, t, p50, p90, ttft in self.rows()]
        return html_table(rows, header=("batch", "tokens/s (all rows)", "TPOT p50 (ms)",
                                        "TPOT p90 (ms)", "TTFT (ms)"),
                          caption=f"Static batching, {self.runtime}: {self.prompt_tokens}-token "
                                  f"prompts + {self.new_tokens} tokens"
                                  + ("" if self.identical is None else
                                     f"; rows identical to single prompts: {self.identical}"))

    def plot(self, ax=None):
        """Tokens per second (all rows) against TPOT p50, one point per batch size."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.tpot_p50_ms, self.tokens_per_s, marker="o", label=self.runtime)
        for b, t, p, _, _ in self.rows():
            ax.annotate(f"batch {b}", (p, t), textcoords="offset points", xytext=(4, 4),
                        fontsize=8)
        ax.set(xlabel="TPOT p50 (ms, one step of the batch)", ylabel="tokens/s (all rows)",
               title="Static batching: throughput against time per token")
        ax.grid(alpha=0.3)
        return ax


def static_batching(lm, prompts, *, batch_sizes=(1, 2, 4, 8), max_new_tokens: int = 64,
                    repeats: int = 3, check: bool = True) -> StaticBatching:
    """Generate ``prompts[:B]`` together for each batch size ``B`` (greedy, KV cache); time it.

    ``prompts``: at least ``max(batch_sizes)`` prompts of one length. ``lm``: a model
    whose batch is dynamic (a ``LanguageModel``, or ``compile_lm(lm, stateful=False,
    batch_size=None)``), or a function ``B -> model`` (such as
    ``lambda b: compile_lm(lm, batch_size=b)``, a stateful model per batch size).
    ``check``: also generate every prompt alone and compare (``identical``).

    >>> from artspeed.generative.lm import LanguageModel, decoder_lm
    >>> from artspeed.generative.text import CharTokenizer
    >>> lm = LanguageModel(decoder_lm(97, layers=1, context=32, width=32, heads=2), CharTokenizer())
    >>> r = static_batching(lm, ["def a", "def b"], batch_sizes=(1, 2), max_new_tokens=4, repeats=1)
    >>> r.batch_sizes, r.identical, len(r.tokens_per_s)
    ((1, 2), True, 2)
    """
    sizes = tuple(_checks.whole_number("each batch size", b, 1, 4096) for b in batch_sizes)
    if not sizes:
        raise InvalidArgumentError("batch_sizes is empty; give some, such as (1, 2, 4, 8)")
    repeats = _checks.whole_number("repeats", repeats, 1)
    max_new_tokens = _checks.whole_number("max_new_tokens", max_new_tokens, 2, MAX_NEW_TOKENS,
                                          "at least 2: TPOT times the steps after the first")
    if not isinstance(prompts, (list, tuple)) or len(prompts) < max(sizes):
        raise InvalidArgumentError(f"static_batching needs a list of at least {max(sizes)} "
                                   f"prompts (one per row of the largest batch)")
    models = {b: (lm(b) if callable(lm) and not isinstance(lm, CausalLM) else lm) for b in sizes}
    runs: dict = {b: [] for b in sizes}
    for round_ in range(repeats + 1):             # round 0: each batch size once, untimed
        for b in sizes:
            g = generate(models[b], list(prompts[:b]), max_new_tokens=max_new_tokens)
            if round_:
                runs[b].append(g)
    identical = None
    if check:
        single = models[1] if 1 in models else (lm(1) if callable(lm) and not isinstance(
            lm, CausalLM) else lm)
        alone = [generate(single, [p], max_new_tokens=max_new_tokens).token_ids[0]
                 for p in prompts[:max(sizes)]]
        identical = all(g.token_ids == tuple(alone[:b]) for b in sizes for g in runs[b])
    first = runs[sizes[0]][0]
    return StaticBatching(
        sizes, tuple(float(np.median([g.tokens_per_s for g in runs[b]])) for b in sizes),
        tuple(latency_stats([ms for g in runs[b] for ms in g.decode_ms])["p50"] for b in sizes),
        tuple(latency_stats([ms for g in runs[b] for ms in g.decode_ms])["p90"] for b in sizes),
        tuple(float(np.median([g.ttft_ms for g in runs[b]])) for b in sizes),
        first.prompt_tokens, first.new_tokens, repeats, models[sizes[0]].runtime, identical)


def interleaved_generations(models: dict, prompts, *, max_new_tokens: int = 64,
                            rounds: int = 3) -> dict:
    """Greedy ``generate`` of every prompt by every model, interleaved: round by round,
    prompt by prompt, model by model (so a drift in the machine's speed hits them all).

    Returns ``{name: [round][prompt] Generation}``. Round 0 is the warm-up (every shape
    met once): time from round 1 on, with ``tpot_p50``.
    """
    if not isinstance(models, dict) or not models:
        raise InvalidArgumentError("models must be a non-empty dict of name -> CausalLM")
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts:
        raise InvalidArgumentError("give at least one prompt")
    rounds = _checks.whole_number("rounds", rounds, 1, 1000)
    runs: dict = {name: [[] for _ in range(rounds)] for name in models}
    for round_ in range(rounds):
        for prompt in prompts:
            for name, model in models.items():
                runs[name][round_].append(generate(model, prompt, max_new_tokens=max_new_tokens))
    return runs


def tpot_p50(rounds) -> float:
    """The median decode step (ms) over ``interleaved_generations``' rounds after the first
    (all rounds when there is only one)."""
    rounds = list(rounds)
    timed = rounds[1:] or rounds
    steps = [ms for generations in timed for g in generations for ms in g.decode_ms]
    return statistics.median(steps) if steps else math.nan


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
