"""Generative inference on a tiny character-level language model, trained here, offline.

``artspeed.train_lm`` trains the 4-layer decoder on the standard library's sources
(the quick training; ``lm_steps()``: 60 steps in fast mode) and a 1-layer draft beside it. Then,
each with the function notebook 11 uses:

- ``generation_costs``: a call's cost against the text's length, and a whole
  generation's time against its output length, with and without the KV cache;
- ``prefill_decode_roofline``: prefill and decode on the roofs measured now;
- ``compare_compression``: f32, int8 and int4 weights (``nncf.compress_weights``):
  bytes, held-out bits per character, greedy agreement and TPOT;
- speculative decoding with the draft against the target alone, greedy, in
  rounds that take turns over held-out prompts (medians).

Run alone: ``python slides/figures/fig_generative.py [OUT_DIR]``.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from _models import save

import artspeed

SPEC_PROMPTS = 6
DRAFT_TOKENS = 4


def _speculative(lm, draft, prompts, new_tokens: int, rounds: int) -> dict:
    """Tokens per second alone and with the draft, alternating (the first round untimed)."""
    alone, drafted, accepted, identical = [], [], [], True
    for round_ in range(rounds):
        for prompt in prompts:
            a = artspeed.generate(lm, prompt, max_new_tokens=new_tokens)
            b = artspeed.generate(lm, prompt, max_new_tokens=new_tokens, draft=draft,
                                  draft_tokens=DRAFT_TOKENS)
            identical &= a.token_ids == b.token_ids
            if round_:
                alone.append(a.tokens_per_s)
                drafted.append(b.tokens_per_s)
                accepted.append(b.acceptance_rate)
    alone_rate, drafted_rate = statistics.median(alone), statistics.median(drafted)
    return {"alone_tokens_per_s": alone_rate, "draft_tokens_per_s": drafted_rate,
            "speedup": drafted_rate / alone_rate, "acceptance": statistics.median(accepted),
            "identical": "identical" if identical else "NOT identical",
            "draft_tokens": DRAFT_TOKENS, "prompts": len(prompts)}


def make(out_dir: Path) -> dict:
    """Draw ``generation_costs``, ``lm_roofline`` and ``weight_compression``; return the numbers."""
    import matplotlib.pyplot as plt

    fast = artspeed.fast_mode()
    corpus = artspeed.text_corpus()
    trained = artspeed.train_lm(corpus, progress=False)   # fast mode (CI): 60 steps
    lm = trained.lm
    new_tokens = 32 if fast else 120

    costs = artspeed.generation_costs(lm)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    costs.plot(axes)
    save(fig, out_dir, "generation_costs")
    growth = costs.growth_exponents()
    full = artspeed.decode_against_recompute(lm, rounds=8 if fast else 30)

    roofline = artspeed.prefill_decode_roofline(lm)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    roofline.plot(ax)
    save(fig, out_dir, "lm_roofline")
    prefill, decode = roofline.point("prefill"), roofline.point("decode")

    comparison = artspeed.compare_compression(lm, corpus.heldout_text,
                                              max_chars=2048 if fast else 16_384,
                                              max_new_tokens=new_tokens // 2,
                                              rounds=2 if fast else 3)
    fig, axes = plt.subplots(1, 4, figsize=(12, 3))
    comparison.plot(axes)
    save(fig, out_dir, "weight_compression")
    fits = comparison.weights_fit_in_cache

    draft = artspeed.train_lm(corpus, layers=1, progress=False)
    prompts = artspeed.heldout_prompts(corpus.heldout_text, SPEC_PROMPTS, chars=24)
    speculative = _speculative(lm, draft.lm, prompts, new_tokens, 2 if fast else 3)

    return {"lm": {
        "params": lm.params, "layers": lm.layers, "width": lm.width, "context": lm.context,
        "steps": trained.steps, "train_seconds": trained.train_seconds,
        "bits_per_char": trained.heldout_bits_per_char,
        "bigram_bits_per_char": trained.bigram_bits_per_char,
        "draft_bits_per_char": draft.heldout_bits_per_char,
        "cache_speedup": full.speedup, "cache_positions": full.positions,
        "decode_ms": full.decode_ms, "recompute_ms": full.recompute_ms,
        "growth_cache": growth["kv_cache"], "growth_no_cache": growth["no_cache"],
        "prefill_intensity": prefill.flops_per_byte, "decode_intensity": decode.flops_per_byte,
        "ridge": roofline.ridge_flops_per_byte, "prefill_bound": prefill.bound,
        "decode_bound": decode.bound, "prefill_percent": prefill.percent_of_attainable,
        "decode_percent": decode.percent_of_attainable,
        "decode_note": ("far below it: each call's fixed cost, not its bytes, dominates a model "
                        "this small" if decode.percent_of_attainable < 10 else
                        "the bytes it moves set its pace"),
        "group_size": comparison.group_size,
        "int8_bytes": comparison.bytes_ratio("int8"), "int4_bytes": comparison.bytes_ratio("int4"),
        "int8_loss": 100 * (comparison.loss_ratio("int8") - 1),
        "int4_loss": 100 * (comparison.loss_ratio("int4") - 1),
        "int8_agreement": comparison.agreement["int8"],
        "int4_agreement": comparison.agreement["int4"],
        "int8_tpot": comparison.tpot_ratio("int8"), "int4_tpot": comparison.tpot_ratio("int4"),
        "weights_mib": comparison.weight_bytes["f32"] / 2**20,
        "cache_note": ("the float weights fit in the CPU's last-level cache, so a decode "
                       "step reads them from cache: fewer bytes save little" if fits else
                       "the float weights do not fit in the last-level cache: each decode "
                       "step reads them from memory" if fits is False else
                       "the last-level cache's size is unknown here"),
        "spec": speculative,
    }}


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "slides/build/figures")))
