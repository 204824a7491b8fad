"""``artspeed lm``: the language model's jobs, ``train``, ``generate``, ``compress`` and ``bench``.

>>> from artspeed.cli.app import build_parser
>>> args = build_parser().parse_args(["lm", "generate", "m.lm.h5", "--prompt", "def "])
>>> args.command, args.max_new_tokens, args.kv_cache
('lm generate', 100, True)
"""

from __future__ import annotations

from artspeed.cli._args import _emit, _positive_int, _seed
from artspeed.generative.compression import WEIGHT_PRECISIONS
from artspeed.generative.workflows import (
    LM_RUNTIMES,
    bench_lm,
    compress_and_save_lm,
    generate_file,
    train_and_save_lm,
)


def _cmd_train(args) -> int:
    trained = train_and_save_lm(args.out, quick=args.quick, layers=args.layers,
                                context=args.context, width=args.width, steps=args.steps,
                                seed=args.seed, progress=not args.json)
    record = trained.to_dict()
    _emit(args, record, [
        f"model        {trained.lm!r}",
        f"training     {trained.steps} steps in {trained.train_seconds:.0f} s "
        f"({record['precision']}, {record['train_files']} standard-library files)",
        f"held out     {trained.heldout_bits_per_char:.3f} bits/char (a character bigram: "
        f"{trained.bigram_bits_per_char:.3f}; untrained: "
        f"{trained.initial_heldout_bits_per_char:.3f}) on {trained.eval_chars:,} characters",
        f"sample       {record['sample']!r}",
        f"saved        {record['model_path']} ({record['size_bytes']:,} bytes)",
    ])
    return 0


def _cmd_generate(args) -> int:
    options = {} if args.draft is None else {"draft_tokens": args.draft_tokens}
    result = generate_file(args.model, args.prompt, runtime=args.runtime, draft=args.draft,
                           max_new_tokens=args.max_new_tokens, kv_cache=args.kv_cache,
                           temperature=args.temperature, top_k=args.top_k, seed=args.seed,
                           **options)
    cache = "KV cache" if result.kv_cache else "no KV cache"
    if result.speculative:
        cache += (f", draft {args.draft}: {result.acceptance_rate:.0%} of "
                  f"{result.proposed_tokens} proposals accepted in {result.rounds} rounds")
    _emit(args, result.to_dict(), [
        str(result),
        f"-- {result.new_tokens} new tokens, {cache}: TTFT {result.ttft_ms:.2f} ms, TPOT p50 "
        f"{result.tpot_ms['p50']:.2f} ms, {result.tokens_per_s:.0f} tokens/s"
        + (" (stopped at the context)" if result.stopped_at_context else ""),
    ])
    return 0


def _cmd_compress(args) -> int:
    result = compress_and_save_lm(args.model, args.precision, out=args.out,
                                  group_size=args.group_size, progress=not args.json)
    groups = f", groups of {result.group_size}" if result.group_size else ""
    by_type = ", ".join(f"{kind} {size:,}" for kind, size in result.weight_bytes_by_type.items())
    _emit(args, result.to_dict(), [
        f"weights      {result.precision}{groups} (nncf.compress_weights)",
        f"bytes        {result.weight_bytes:,}, {result.bytes_ratio:.3f}x the float "
        f"{result.float_weight_bytes:,} ({by_type})",
        f"held out     {result.heldout_bits_per_char:.4f} bits/char against float "
        f"{result.float_heldout_bits_per_char:.4f} ({result.loss_change:+.2%}) on "
        f"{result.heldout_chars:,} characters",
        f"saved        {result.xml} (run it: artspeed lm generate {result.xml} --prompt ...)",
    ])
    return 0


def _cmd_bench(args) -> int:
    result = bench_lm(args.model, prompt_tokens=args.prompt_tokens, new_tokens=args.new_tokens,
                      batch_size=args.batch_size, runtime=args.runtime, kv_cache=args.kv_cache, runs=args.runs)
    env = result.env
    _emit(args, result.to_dict(), [
        f"model        {result.model} ({result.runtime}, "
        f"{'KV cache' if result.kv_cache else 'no KV cache'})",
        f"generation   {result.prompt_tokens} prompt tokens + {result.new_tokens} new, batch "
        f"{result.batch_size}, {result.runs} timed runs",
        f"TTFT         p50 {result.ttft_ms['p50']:.2f} ms, p90 {result.ttft_ms['p90']:.2f} ms",
        f"TPOT         p50 {result.tpot_ms['p50']:.3f} ms, p90 {result.tpot_ms['p90']:.3f} ms",
        f"tokens/s     {result.tokens_per_s:,.0f}",
        f"on {env['cpu_model']}, {env['available_cores']} cores available",
    ])
    return 0


def _add_model_arguments(parser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="a language model: the .lm.h5 that 'artspeed lm train' saved, or "
                        "an OpenVINO .xml")
    parser.add_argument("--runtime", choices=LM_RUNTIMES,
                        help="keras, or openvino (a stateful model, f32; default: the "
                        "file's own)")
    parser.add_argument("--no-kv-cache", dest="kv_cache", action="store_false",
                        help="recompute the whole text for every token")


def _add_lm(commands) -> None:
    lm = commands.add_parser("lm", help="a small language model: train, generate, compress, bench")
    jobs = lm.add_subparsers(dest="job", metavar="JOB", required=True)

    train = jobs.add_parser("train", help="train a character-level language model on the "
                            "standard library's sources, offline")
    train.add_argument("--quick", action="store_true",
                       help="the quick training: 1,100 steps, about 2.5 min on 2 cores "
                       "(default: 4,400 steps; 60 either way with ARTSPEED_FAST=1)")
    train.add_argument("--layers", type=_positive_int, default=4, help="decoder blocks (4)")
    train.add_argument("--context", type=_positive_int, default=256,
                       help="the longest text it reads, in characters (256)")
    train.add_argument("--width", type=_positive_int, default=128, help="model width (128)")
    train.add_argument("--steps", type=_positive_int, help="training steps (overrides --quick)")
    train.add_argument("--seed", type=_seed, default=0)
    train.add_argument("--out", required=True, metavar="FILE",
                       help="where to save it: an .h5 file (its .json record goes beside it)")
    train.add_argument("--json", action="store_true", help="print JSON only")
    train.set_defaults(func=_cmd_train, command="lm train")

    gen = jobs.add_parser("generate", help="continue a prompt, timing every token")
    _add_model_arguments(gen)
    gen.add_argument("--prompt", required=True, help="the text to continue")
    gen.add_argument("--max-new-tokens", type=_positive_int, default=100, metavar="N")
    gen.add_argument("--temperature", type=float, default=0.0,
                     help="0 is greedy (default); above 0 samples")
    gen.add_argument("--top-k", type=_positive_int, metavar="K",
                     help="sample among the K most likely only")
    gen.add_argument("--seed", type=_seed, default=0)
    gen.add_argument("--draft", metavar="MODEL",
                     help="speculative decoding (greedy): a smaller model trained on the same "
                     "text proposes tokens, MODEL checks them in one step")
    gen.add_argument("--draft-tokens", type=_positive_int, default=4, metavar="N",
                     help="tokens the draft proposes a round (4)")
    gen.add_argument("--json", action="store_true", help="print JSON only")
    gen.set_defaults(func=_cmd_generate, command="lm generate")

    compress = jobs.add_parser("compress", help="compress the weights to int8 or int4 "
                               "(nncf.compress_weights) and save an OpenVINO IR")
    compress.add_argument("model", metavar="MODEL", help="the .lm.h5 that 'artspeed lm train' saved")
    compress.add_argument("--precision", choices=WEIGHT_PRECISIONS, required=True)
    compress.add_argument("--group-size", type=_positive_int, metavar="N",
                          help="int4: input channels per scale (default 128; must divide "
                          "every layer's)")
    compress.add_argument("--out", required=True, metavar="DIR",
                          help="the folder for the IR (NAME-PRECISION.xml, .bin and .json)")
    compress.add_argument("--json", action="store_true", help="print JSON only")
    compress.set_defaults(func=_cmd_compress, command="lm compress")

    bench = jobs.add_parser("bench", help="TTFT, TPOT and tokens/s over repeated generations")
    _add_model_arguments(bench)
    bench.add_argument("--prompt-tokens", type=_positive_int, default=64, metavar="N",
                       help="prompt length, cut from held-out text (64)")
    bench.add_argument("--new-tokens", type=_positive_int, default=64, metavar="N",
                       help="tokens to generate (64)")
    bench.add_argument("--batch-size", type=_positive_int, default=1, metavar="N",
                       help="prompts generated together as one static batch (1)")
    bench.add_argument("--runs", type=_positive_int, metavar="N",
                       help="timed generations after an untimed one (5; 2 with ARTSPEED_FAST=1)")
    bench.add_argument("--json", action="store_true", help="print JSON only")
    bench.set_defaults(func=_cmd_bench, command="lm bench")
