"""Issue 16's targets so far, on the tiny character-level language model, measured in one run.

Run: ``python benchmarks/bench_lm.py [--out runs/lm]`` (about 4 minutes on 2 cores).

1. The quick training (``artspeed.train_lm`` on the standard library's sources):
   its time (target under 3 minutes on 2 cores) and its held-out bits per
   character against a character bigram's on the same text (target: clearly below).
2. What the KV cache saves at a full context of 256 tokens, in Keras
   (``tf.function``): one decode step on the cache against recomputing the text
   (``artspeed.decode_against_recompute``, p50 of interleaved rounds). The
   OpenVINO figures (the 3x target, the stateful model's TPOT) come with the
   OpenVINO part of the chapter.
3. ``artspeed.generate`` with and without the cache: TTFT, TPOT (p50, p90) and
   tokens per second, on the second of two passes (the first meets every shape
   for the first time), and whether the greedy tokens agree.

The environment is printed first; the model is saved to ``OUT/quick.lm.h5``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import artspeed  # noqa: E402

PROMPT = "    def __init__(self"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="where to save the model (default: a temporary folder)")
    parser.add_argument("--rounds", type=int, default=40, help="decode/recompute rounds")
    parser.add_argument("--new-tokens", type=int, default=120, help="tokens per generation")
    args = parser.parse_args()
    print(artspeed.environment())
    print(f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    out = Path(args.out or tempfile.mkdtemp(prefix="artspeed-lm-"))

    corpus = artspeed.text_corpus()
    print(corpus)
    trained = artspeed.train_lm(corpus, progress=False)
    lm = trained.lm
    lm.save(out / "quick.lm.h5")
    print(trained, f"({trained.record['precision']} training, {lm!r})")

    cache = artspeed.decode_against_recompute(lm, rounds=args.rounds)
    print(cache)

    runs = {}
    for kv_cache in (True, False):
        for _ in range(2):      # the second pass is the one reported
            runs[kv_cache] = artspeed.generate(lm, PROMPT, max_new_tokens=args.new_tokens,
                                               kv_cache=kv_cache)
    print(f"\ngenerate, prompt {PROMPT!r} + {args.new_tokens} tokens (second pass):")
    for kv_cache, g in runs.items():
        print(f"  {'KV cache' if kv_cache else 'no cache'}: TTFT {g.ttft_ms:.2f} ms, TPOT p50 "
              f"{g.tpot_ms['p50']:.2f} ms, p90 {g.tpot_ms['p90']:.2f} ms, "
              f"{g.tokens_per_s:.0f} tokens/s")
    same = runs[True].token_ids == runs[False].token_ids
    print(f"  greedy tokens the same both ways: {same}")
    print(f"  greedy: {str(runs[True])!r}")
    sampled = artspeed.generate(lm, PROMPT, max_new_tokens=args.new_tokens, temperature=0.8,
                                top_k=20, seed=1)
    print(f"  sampled (temperature 0.8, top-k 20): {str(sampled)!r}")

    ratio = trained.heldout_bits_per_char / trained.bigram_bits_per_char
    print(f"\n== targets (this run; model in {out})")
    for line in (
        f"[{'met' if trained.train_seconds < 180 else 'MISSED'}] the quick training took "
        f"{trained.train_seconds:.0f} s (target under 180 s on 2 cores)",
        f"[{'met' if ratio < 0.95 else 'MISSED'}] held-out {trained.heldout_bits_per_char:.3f} "
        f"bits/char against the bigram's {trained.bigram_bits_per_char:.3f} ({ratio:.2f}x; "
        f"untrained {trained.initial_heldout_bits_per_char:.3f})",
        f"[Keras] at {cache.positions} cached tokens, a decode step with the KV cache "
        f"({cache.decode_ms:.2f} ms) is {cache.speedup:.2f}x faster than recomputing the text "
        f"({cache.recompute_ms:.2f} ms); the OpenVINO target (3x) comes with the OpenVINO part",
        f"[{'met' if same else 'MISSED'}] greedy tokens identical with and without the cache",
    ):
        print(f"  {line}")


if __name__ == "__main__":
    main()
