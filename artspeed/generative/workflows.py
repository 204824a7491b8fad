"""One call per ``artspeed lm`` job: train and save, open a saved model, generate, measure.

What the ``artspeed lm`` subcommands run. Paths and settings are checked before
TensorFlow or OpenVINO load; a file that is not an artspeed language model
raises ``ModelError`` in one line.

- ``open_lm(path, runtime=...)``: the one way from a file to a model: a Keras
  ``.h5`` (``load_lm``), compiled to a stateful OpenVINO model with
  ``runtime="openvino"`` (``compile_lm``), or an OpenVINO IR ``.xml``
  (``load_lm_ir``);
- ``train_and_save_lm``: ``train_lm`` on the standard library's sources, saved;
- ``compress_and_save_lm``: ``compress_lm`` (NNCF's ``compress_weights``) on a saved
  model, saved as an IR, with its weight bytes and held-out loss beside the float model's;
- ``bench_lm``: TTFT, TPOT (p50, p90) and tokens per second over repeated
  generations of a held-out prompt, with the environment.

>>> open_lm("model.keras")
Traceback (most recent call last):
...
artspeed.ModelError: 'model.keras' is not an artspeed language model: give the .h5 that artspeed lm train saved (with its .json record beside it) or an OpenVINO .xml that artspeed lm compress saved
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from artspeed.core import _checks
from artspeed.core._io import check_writable_dir
from artspeed.core._result import Result
from artspeed.core.config import fast_mode
from artspeed.core.env import environment
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.generative.compression import WEIGHT_PRECISIONS, compress_lm
from artspeed.generative.generation import Generation, generate
from artspeed.generative.lm import (
    CausalLM,
    TrainedLM,
    _lm_path,
    bits_per_char,
    lm_steps,
    load_lm,
    train_lm,
)
from artspeed.generative.openvino_lm import compile_lm, load_lm_ir
from artspeed.generative.text import text_corpus
from artspeed.measure.benchmarking import latency_stats

__all__ = ["LM_RUNTIMES", "FULL_STEPS", "open_lm", "train_and_save_lm", "generate_file",
           "CompressedLM", "compress_and_save_lm", "heldout_prompt", "LMBench", "bench_lm"]

LM_RUNTIMES = ("keras", "openvino")
FULL_STEPS = 4400                # train_and_save_lm(quick=False): four times the quick training
SAMPLE_PROMPT = "def "


def open_lm(path, *, runtime: str | None = None, batch_size: int = 1, hint: str = "latency",
            inference_precision: str | None = "f32") -> CausalLM:
    """The language model saved at ``path``, ready to generate.

    ``.h5`` (with its ``.json`` record): the Keras ``LanguageModel``, or with
    ``runtime="openvino"`` the same model compiled stateful for ``batch_size`` rows
    (``compile_lm``). ``.xml``: the OpenVINO IR (``load_lm_ir``), which runs in
    OpenVINO only, at the batch it was saved for. ``runtime=None`` is the file's own.
    """
    if runtime is not None:
        runtime = _checks.choice("runtime", runtime, LM_RUNTIMES)
    batch_size = _checks.whole_number("batch_size", batch_size, 1, 4096)
    path = Path(path)
    if path.suffix == ".xml":
        if runtime == "keras":
            raise InvalidArgumentError(f"'{path}' is an OpenVINO IR, which runs in OpenVINO: "
                                       "use --runtime openvino, or give the Keras .h5")
        model = load_lm_ir(path, hint=hint, inference_precision=inference_precision)
        if model.batch_size not in (None, batch_size):
            raise InvalidArgumentError(
                f"'{path}' was saved for batch {model.batch_size}, not {batch_size}; give the "
                "Keras .h5 (with --runtime openvino it is compiled for any batch)")
        return model
    if path.suffix not in (".h5", ".json"):
        raise ModelError(f"'{path}' is not an artspeed language model: give the .h5 that "
                         "artspeed lm train saved (with its .json record beside it) or an "
                         "OpenVINO .xml that artspeed lm compress saved")
    lm = load_lm(path)
    if runtime == "openvino":
        return compile_lm(lm, batch_size=batch_size, hint=hint,
                          inference_precision=inference_precision)
    return lm


def train_and_save_lm(out, *, quick: bool = True, layers: int = 4, context: int = 256,
                      width: int = 128, steps: int | None = None, seed: int = 0,
                      progress: bool = True) -> TrainedLM:
    """Train a language model on the standard library's sources (``train_lm``) and save it.

    ``quick`` trains ``lm_steps()`` steps (1,100; 60 in fast mode), else
    ``FULL_STEPS`` (still 60 in fast mode); ``steps`` overrides both. ``out``
    is checked before anything trains; the record gains ``model_path``,
    ``size_bytes`` and a greedy ``sample`` continuing ``"def "``.
    """
    out = _lm_path(out)
    check_writable_dir(out.parent)
    if steps is None:
        steps = lm_steps() if quick or fast_mode() else FULL_STEPS
    trained = train_lm(text_corpus(), layers=layers, context=context, width=width,
                       steps=steps, seed=seed, progress=progress)
    path = trained.lm.save(out)
    sample = generate(trained.lm, SAMPLE_PROMPT, max_new_tokens=min(120, context - 8))
    record = dict(trained.record, model_path=str(path), size_bytes=path.stat().st_size,
                  sample=str(sample))
    return dataclasses.replace(trained, record=record)


def generate_file(path, prompt: str, *, runtime: str | None = None, draft=None,
                  **options) -> Generation:
    """``generate`` on the model saved at ``path`` (``open_lm(path, runtime=runtime)``);
    ``draft``: a draft model's path for speculative decoding, opened the same way;
    ``options`` are ``generate``'s (``max_new_tokens``, ``kv_cache``, ``draft_tokens``, ...)."""
    lm = open_lm(path, runtime=runtime)
    if draft is not None:
        options["draft"] = open_lm(draft, runtime=runtime or lm.runtime)
    return generate(lm, prompt, **options)


SCORE_CHARS = 16_384             # held-out characters compress_and_save_lm scores (4,096 fast)


@dataclass(frozen=True, repr=False)
class CompressedLM(Result):
    """A language model's weights compressed and saved as an IR, against its float weights."""

    source: str
    xml: str
    precision: str                  # "int8" or "int4"
    group_size: int | None
    weight_bytes: int
    float_weight_bytes: int
    weight_bytes_by_type: dict
    heldout_bits_per_char: float
    float_heldout_bits_per_char: float
    heldout_chars: int

    @property
    def bytes_ratio(self) -> float:
        return self.weight_bytes / self.float_weight_bytes

    @property
    def loss_change(self) -> float:
        """The held-out loss's relative change against float (0.01 is 1% higher)."""
        return self.heldout_bits_per_char / self.float_heldout_bits_per_char - 1

    def __repr__(self) -> str:
        return (f"<CompressedLM {self.precision}: {self.bytes_ratio:.3f}x the float weight "
                f"bytes, held-out loss {self.loss_change:+.2%}>")

    def to_dict(self) -> dict:
        return {**super().to_dict(), "bytes_ratio": self.bytes_ratio,
                "loss_change": self.loss_change}

    def _html_rows(self):
        yield "IR", self.xml
        yield "weights", self.precision + (f", groups of {self.group_size}"
                                           if self.group_size else "")
        yield "weight bytes", f"{self.weight_bytes:,} ({self.bytes_ratio:.3f}x float)"
        yield "held-out bits/char", (f"{self.heldout_bits_per_char:.4f} (float "
                                     f"{self.float_heldout_bits_per_char:.4f})")


def compress_and_save_lm(model, precision: str, *, out, group_size: int | None = None,
                         progress: bool = False) -> CompressedLM:
    """``compress_lm`` on the Keras model saved at ``model`` (an ``.h5``), saved to
    ``out/<name>-<precision>.xml`` (a stateful IR, with its record), scored on held-out text
    beside the float model (both in OpenVINO, f32 inference).

    ``out`` is checked before anything loads; ``group_size`` is for int4 (default 128).
    """
    precision = _checks.choice("precision", precision, WEIGHT_PRECISIONS)
    check_writable_dir(out)
    path = Path(model)
    if path.suffix != ".h5":
        raise ModelError(f"'{path}' is not a Keras language model: compress the .h5 that "
                         "artspeed lm train saved (an IR's weights may be compressed already)")
    lm = load_lm(path)
    compressed = compress_lm(lm, precision, group_size=group_size, progress=progress)
    stem = path.name.removesuffix(".h5")
    xml = compressed.save(Path(out) / f"{stem}-{precision}.xml")
    floating = compile_lm(lm)
    text = text_corpus().heldout_text[:4096 if fast_mode() else SCORE_CHARS]
    return CompressedLM(
        str(path), str(xml), precision, compressed.group_size, compressed.weight_bytes,
        floating.weight_bytes, dict(compressed.weight_bytes_by_type),
        bits_per_char(compressed, text), bits_per_char(floating, text), len(text))


def heldout_prompt(tokens: int, *, offset: int = 0) -> str:
    """``tokens`` characters of the held-out text (the standard library's held-out files),
    from ``offset``: a prompt the model did not train on.

    >>> len(heldout_prompt(32))
    32
    """
    tokens = _checks.whole_number("prompt_tokens", tokens, 1, 1 << 16)
    text = text_corpus().heldout_text
    offset = _checks.whole_number("offset", offset, 0, max(len(text) - tokens, 0))
    return text[offset:offset + tokens]


@dataclass(frozen=True, repr=False)
class LMBench(Result):
    """Generation measured over repeated runs of one prompt: TTFT, TPOT and tokens per second."""

    model: str
    runtime: str
    prompt_tokens: int
    new_tokens: int
    batch_size: int
    kv_cache: bool
    runs: int                       # timed generations (after one untimed)
    ttft_ms: dict                   # {"p50", "p90"} over the runs
    tpot_ms: dict                   # {"p50", "p90"} over every decode step of every run
    tokens_per_s: float             # median over the runs, all rows of the batch
    env: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"<LMBench {self.runtime}, {self.prompt_tokens}+{self.new_tokens} tokens, "
                f"batch {self.batch_size}: TTFT {self.ttft_ms['p50']:.2f} ms, TPOT p50 "
                f"{self.tpot_ms['p50']:.2f} ms, {self.tokens_per_s:.0f} tokens/s>")

    def _html_rows(self):
        yield "model", self.model
        yield "runtime", self.runtime
        yield "prompt + new tokens", f"{self.prompt_tokens} + {self.new_tokens}"
        yield "batch size", self.batch_size
        yield "KV cache", self.kv_cache
        yield "TTFT p50 / p90 (ms)", f"{self.ttft_ms['p50']:.2f} / {self.ttft_ms['p90']:.2f}"
        yield "TPOT p50 / p90 (ms)", f"{self.tpot_ms['p50']:.3f} / {self.tpot_ms['p90']:.3f}"
        yield "tokens/s", self.tokens_per_s
        yield "runs", self.runs


def bench_lm(model, *, prompt_tokens: int = 64, new_tokens: int = 64, batch_size: int = 1,
             runtime: str | None = None, kv_cache: bool = True,
             runs: int | None = None) -> LMBench:
    """Generate ``new_tokens`` greedily after ``prompt_tokens`` held-out characters, ``runs``
    times after one untimed run (5, 2 in fast mode); TTFT and tokens per second over the runs,
    TPOT over all their decode steps. ``model``: a path (``open_lm``) or a ``CausalLM``.
    ``batch_size`` rows (each a different stretch of held-out text, equally long) run as one
    static batch: tokens per second counts every row's.

    >>> from artspeed.generative.lm import LanguageModel, decoder_lm
    >>> from artspeed.generative.text import CharTokenizer
    >>> lm = LanguageModel(decoder_lm(97, layers=1, context=32, width=32, heads=2), CharTokenizer())
    >>> r = bench_lm(lm, prompt_tokens=8, new_tokens=8, runs=2)
    >>> r.runs, r.tpot_ms["p50"] > 0, sorted(r.to_dict())[:3]
    (2, True, ['batch_size', 'env', 'kv_cache'])
    """
    runs = (2 if fast_mode() else 5) if runs is None else _checks.whole_number("runs", runs, 1,
                                                                                 1000)
    prompt_tokens = _checks.whole_number("prompt_tokens", prompt_tokens, 1, 1 << 16)
    new_tokens = _checks.whole_number("new_tokens", new_tokens, 1, 1 << 16)
    batch_size = _checks.whole_number("batch_size", batch_size, 1, 4096)
    name = str(model) if isinstance(model, (str, Path)) else type(model).__name__
    lm = (open_lm(model, runtime=runtime, batch_size=batch_size)
          if isinstance(model, (str, Path)) else model)
    if not isinstance(lm, CausalLM):
        raise InvalidArgumentError(f"bench_lm needs a language model or its path, got "
                                   f"{type(model).__name__}")
    if prompt_tokens + new_tokens > lm.context:
        raise InvalidArgumentError(
            f"{prompt_tokens} prompt tokens + {new_tokens} new ones pass the model's context of "
            f"{lm.context}; ask for at most {lm.context} in all")
    prompt = (heldout_prompt(prompt_tokens) if batch_size == 1 else
              [heldout_prompt(prompt_tokens, offset=row * prompt_tokens)
               for row in range(batch_size)])
    results = [generate(lm, prompt, max_new_tokens=new_tokens, kv_cache=kv_cache)
               for _ in range(runs + 1)][1:]
    ttft = latency_stats([g.ttft_ms for g in results])
    steps = [ms for g in results for ms in g.decode_ms]
    tpot = latency_stats(steps) if steps else {"p50": math.nan, "p90": math.nan}
    return LMBench(name, lm.runtime, prompt_tokens, new_tokens, batch_size, bool(kv_cache), runs,
                   {"p50": ttft["p50"], "p90": ttft["p90"]},
                   {"p50": tpot["p50"], "p90": tpot["p90"]},
                   statistics.median(g.tokens_per_s for g in results),
                   environment().to_dict())
