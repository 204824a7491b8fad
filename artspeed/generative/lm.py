"""A tiny decoder-only transformer over characters, with an explicit KV cache.

``decoder_lm`` builds the Keras model: token and learned position embeddings
(the position table starts from the sine and cosine codes of "Attention is all
you need", which the quick training measured to learn faster than random ones),
``layers`` pre-LayerNorm blocks (causal multi-head self-attention written with
plain TensorFlow ops, then a GELU MLP, each added back to the residual), a
final LayerNorm and an **untied** output projection (its own ``Dense``, no
bias: a separate matrix that weight compression can treat like any other).

``LanguageModel`` holds the model, its ``CharTokenizer`` and its config, and
exposes ``tf.function``\\s with explicit tensors in and out (no state on
the Python side), so each can be converted on its own:

- ``logits(tokens [B, T]) -> [B, T, V]``: the full causal forward, no cache;
- ``prefill(tokens [B, T]) -> (logits_last [B, V], past)``: ``past`` holds one
  ``(k, v)`` pair per layer, each ``[B, heads, T, head_dim]``;
- ``decode(token [B, 1], past, position) -> (logits [B, V], present)``: one step;
  ``present`` is ``past`` with this token's keys and values appended (length
  T + 1: a cache that grows). ``position`` is the token's index in the text
  (the length of ``past``);
- ``step(tokens [B, T], past, position) -> (logits [B, V], present)``: the one
  graph behind both (T new tokens, causal among themselves, after ``past``),
  which ``artspeed.convert_lm`` converts to OpenVINO;
- ``next_logits(tokens) -> [B, V]``: ``logits``' last position (recomputing
  without a cache).

``cache="fixed"`` (or ``with_cache("fixed")``) swaps the growing cache for a
fixed-size one, ``[B, heads, context, head_dim]`` from the start, written at
``position`` and masked after it. ``CausalLM`` is what ``generate`` needs of a
model, in Keras or OpenVINO (``artspeed.OpenVINOLanguageModel``).

``train_lm`` trains one on a ``TextCorpus`` (random windows of ``context + 1``
characters, Adam with a warm-up and a cosine decay); ``bits_per_char`` and
``bigram_bits_per_char`` say how well a model and a character bigram predict
held-out text. ``save``/``load_lm`` keep the weights (HDF5) and a JSON record.

>>> import numpy as np
>>> from artspeed.generative.text import CharTokenizer
>>> lm = LanguageModel(decoder_lm(97, layers=1, context=16, width=32, heads=2), CharTokenizer())
>>> tokens = lm.tokenizer.encode("import os")[None]
>>> full = lm.logits(tokens).numpy()
>>> last, past = lm.prefill(tokens[:, :-1])
>>> step, present = lm.decode(tokens[:, -1:], past, 8)
>>> full.shape, tuple(present[0][0].shape), bool(np.allclose(step, full[:, -1], atol=1e-5))
((1, 9, 97), (1, 2, 9, 16), True)
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from artspeed.core import _checks
from artspeed.core._io import (
    atomic_path,
    check_file_target,
    check_writable_dir,
    file_sha256,
    signals_deferred,
    write_text_atomic,
)
from artspeed.core._result import Result, html_table
from artspeed.core.config import fast_mode
from artspeed.core.env import _cpu, _version
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.core.frameworks import tf, tf_keras
from artspeed.generative.text import CharTokenizer, TextCorpus

__all__ = ["decoder_lm", "CausalLM", "LanguageModel", "CACHES", "load_lm", "TrainedLM", "train_lm", "lm_steps",
           "training_precision",
           "bits_per_char", "bigram_bits_per_char", "LM_FORMAT"]

LM_FORMAT = "artspeed-lm"        # the record's "format": what load_lm accepts
_FORMAT_VERSION = 1
_CONFIG_KEYS = ("vocab_size", "layers", "context", "width", "heads", "mlp_ratio", "seed")
_MASKED = -1e9                   # a score no softmax gives weight to (exp underflows to 0)
QUICK_STEPS = 1100               # train_lm's steps by default (lm_steps)
FAST_STEPS = 60                  # ... in fast mode: about 15 s, 4.5 bits/char (the bigram: 4.3)
EVAL_CHARS = 32_768              # held-out characters train_lm scores (4,096 in fast mode)


def training_precision(precision: str = "auto") -> str:
    """``"bf16"`` or ``"f32"``: ``"auto"`` is bf16 where the CPU multiplies bfloat16 natively
    (AVX-512 BF16 or AMX-BF16), since emulated bf16 is slower than float32.

    >>> training_precision("f32")
    'f32'
    """
    precision = _checks.choice("precision", precision, ("auto", "bf16", "f32"))
    if precision == "auto":
        return "bf16" if {"avx512_bf16", "amx_bf16"} & _cpu()[1] else "f32"
    return precision


def lm_steps() -> int:
    """``train_lm``'s steps when none are asked for: ``QUICK_STEPS``, or ``FAST_STEPS`` in fast mode."""
    return FAST_STEPS if fast_mode() else QUICK_STEPS


def _sinusoids(context: int, width: int):
    """An initializer: the transformer's sine and cosine position codes, scaled to std 0.02."""
    positions = np.arange(context)[:, None]
    rates = 1.0 / 10_000 ** (np.arange(0, width, 2) / width)
    table = np.zeros((context, width))
    table[:, 0::2] = np.sin(positions * rates)
    table[:, 1::2] = np.cos(positions * rates)[:, :width // 2]
    table *= 0.02 / table.std()
    return tf_keras.initializers.Constant(table.astype(np.float32))


@functools.cache
def _decoder_class():
    """The Keras model class, defined on first use (it subclasses tf_keras.Model)."""

    class DecoderLM(tf_keras.Model):
        """Decoder-only transformer; ``run`` is the one forward pass behind all three entry points."""

        def __init__(self, vocab_size, layers, context, width, heads, mlp_ratio, seed,
                     policy=None):
            super().__init__(name="decoder_lm", dtype=policy)
            self.config = {"vocab_size": vocab_size, "layers": layers, "context": context,
                           "width": width, "heads": heads, "mlp_ratio": mlp_ratio, "seed": seed}
            self.heads, self.head_dim = heads, width // heads
            seeds = iter(range(seed * 1000, seed * 1000 + 1000))

            def normal(std=0.02):
                return tf_keras.initializers.RandomNormal(stddev=std, seed=next(seeds))

            def dense(units, name, std=0.02, **kwargs):
                return tf_keras.layers.Dense(units, kernel_initializer=normal(std), name=name,
                                             dtype=policy, **kwargs)

            def norm(name):
                return tf_keras.layers.LayerNormalization(epsilon=1e-5, name=name, dtype=policy)

            residual_std = 0.02 / math.sqrt(2 * layers)   # GPT-2's scaling of the residual writes
            self.token_embedding = tf_keras.layers.Embedding(
                vocab_size, width, embeddings_initializer=normal(), name="token_embedding",
                dtype=policy)
            self.position_embedding = tf_keras.layers.Embedding(
                context, width, name="position_embedding", dtype=policy,
                embeddings_initializer=_sinusoids(context, width))
            self.attention_norm = [norm(f"block{i}_attention_norm") for i in range(layers)]
            self.qkv = [dense(3 * width, f"block{i}_qkv") for i in range(layers)]
            self.attention_out = [dense(width, f"block{i}_attention_out", residual_std)
                                  for i in range(layers)]
            self.mlp_norm = [norm(f"block{i}_mlp_norm") for i in range(layers)]
            self.mlp_in = [dense(mlp_ratio * width, f"block{i}_mlp_in", activation="gelu")
                           for i in range(layers)]
            self.mlp_out = [dense(width, f"block{i}_mlp_out", residual_std)
                            for i in range(layers)]
            self.final_norm = norm("final_norm")
            self.head = dense(vocab_size, "head", use_bias=False)

        def _split_heads(self, x):      # [B, T, width] -> [B, heads, T, head_dim]
            x = tf.reshape(x, [tf.shape(x)[0], -1, self.heads, self.head_dim])
            return tf.transpose(x, [0, 2, 1, 3])

        def _attend(self, q, k, v, first=None):
            """Causal attention of T queries on S keys: query t is at position ``first + t``
            and sees keys 0 .. first + t (``first``: by default S - T, the last T positions)."""
            scores = tf.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(self.head_dim))
            queries, keys = tf.shape(q)[2], tf.shape(k)[2]
            first = keys - queries if first is None else first
            visible = tf.range(keys)[None, :] <= (tf.range(queries) + first)[:, None]
            weights = tf.nn.softmax(tf.where(visible, scores, tf.cast(_MASKED, scores.dtype)),
                                    axis=-1)
            out = tf.transpose(tf.matmul(weights, v), [0, 2, 1, 3])     # [B, T, heads, head_dim]
            return tf.reshape(out, [tf.shape(out)[0], -1, self.heads * self.head_dim])

        @staticmethod
        def _write(cache, new, position):
            """``cache`` [B, H, C, D] with ``new`` [B, H, T, D] written at ``position`` onwards
            (a one-hot product: static shapes, no scatter)."""
            write = tf.one_hot(position + tf.range(tf.shape(new)[2]), tf.shape(cache)[2],
                               dtype=cache.dtype)                               # [T, C]
            keep = 1.0 - tf.reduce_sum(write, axis=0)[:, None]                  # [C, 1]
            return cache * keep + tf.einsum("tc,bhtd->bhcd", write, new)

        def run(self, tokens, past=None, position=0, fixed=False):
            """``(logits [B, T, V], present)`` for ``tokens`` at ``position`` onwards, after ``past``.

            ``fixed=True``: ``past`` is a fixed-size cache ``[B, heads, context, head_dim]``
            (filled up to ``position``); the new keys and values are written into it
            at ``position`` onwards and the positions after them are masked.
            """
            positions = position + tf.range(tf.shape(tokens)[1])
            x = self.token_embedding(tokens) + self.position_embedding(positions)[None]
            present = []
            for i in range(len(self.qkv)):
                q, k, v = tf.split(self.qkv[i](self.attention_norm[i](x)), 3, axis=-1)
                q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
                if fixed:
                    k = self._write(past[i][0], k, position)
                    v = self._write(past[i][1], v, position)
                elif past is not None:
                    k = tf.concat([past[i][0], k], axis=2)
                    v = tf.concat([past[i][1], v], axis=2)
                present.append((k, v))
                x = x + self.attention_out[i](self._attend(q, k, v, position if fixed else None))
                x = x + self.mlp_out[i](self.mlp_in[i](self.mlp_norm[i](x)))
            return self.head(self.final_norm(x)), tuple(present)

        def call(self, tokens):
            return self.run(tokens)[0]

    return DecoderLM


def decoder_lm(vocab_size: int, *, layers: int = 4, context: int = 256, width: int = 256,
               heads: int = 4, mlp_ratio: int = 4, seed: int = 0, _policy=None):
    """A built, untrained decoder-only transformer (a tf_keras model): tokens ``[B, T]`` to logits.

    ``width`` must divide by ``heads``; the output projection is untied from the
    token embedding. The same ``seed`` gives the same weights.

    >>> decoder_lm(97, layers=1, context=16, width=32, heads=2).count_params()
    19488
    """
    vocab_size = _checks.whole_number("vocab_size", vocab_size, 2, 1 << 20)
    layers = _checks.whole_number("layers", layers, 1, 64)
    context = _checks.whole_number("context", context, 2, 1 << 16)
    heads = _checks.whole_number("heads", heads, 1, 256)
    width = _checks.whole_number("width", width, 1, 1 << 14)
    mlp_ratio = _checks.whole_number("mlp_ratio", mlp_ratio, 1, 16)
    seed = _checks.whole_number("seed", seed, 0, 1 << 20)
    if width % heads:
        raise InvalidArgumentError(f"width {width} does not divide into {heads} heads; "
                                   f"choose a width that is a multiple of {heads}")
    model = _decoder_class()(vocab_size, layers, context, width, heads, mlp_ratio, seed, _policy)
    model(np.zeros((1, 1), np.int32))      # build the weights
    return model


CACHES = ("growing", "fixed")     # the KV cache's kinds (see LanguageModel)


class CausalLM:
    """What ``generate`` and ``decode_against_recompute`` run: a causal language model with
    ``tokenizer``, ``config``, ``cache`` (``"growing"`` or ``"fixed"``) and four calls,

    - ``prefill(tokens [B, T]) -> (logits [B, V], past)``: the logits after the last token;
    - ``decode(token [B, 1], past, position) -> (logits [B, V], present)``: one step;
    - ``next_logits(tokens [B, T]) -> [B, V]``: the same logits, recomputed without a cache;
    - ``logits(tokens [B, T]) -> [B, T, V]``: the logits after each token, without a cache
      (what ``bits_per_char`` scores);
    - ``extend(tokens [B, T], past, position) -> (logits [B, T, V], present)``: T new tokens
      on the cache, with the logits after **each** (what speculative decoding verifies with);
    - ``rewind(past, length) -> past``: the cache cut back to its first ``length``
      positions (the tokens after are forgotten; a fixed-size cache only masks them);
    - ``propose(tokens [B, T], past, position, count) -> (ids [B, count], present)``:
      ``count`` greedy tokens after ``tokens`` (how a draft model proposes; one ``extend``
      then a ``decode`` per token by default, one graph in ``LanguageModel``);
    - ``stateful``: True when the cache lives in the runtime, so ``past`` is only a marker
      and a ``decode`` continues from the state's end.

    Arrays come back as NumPy arrays or tensors (``np.asarray`` takes either).
    ``LanguageModel`` (Keras) and ``OpenVINOLanguageModel`` are the two.
    """

    runtime = "keras"
    stateful = False
    batch_size: int | None = None      # the one batch size the model takes, if it is static
    tokenizer: CharTokenizer
    config: dict
    cache: str = "growing"

    @property
    def vocab_size(self) -> int:
        return self.config["vocab_size"]

    @property
    def context(self) -> int:
        return self.config["context"]

    @property
    def layers(self) -> int:
        return self.config["layers"]

    @property
    def width(self) -> int:
        return self.config["width"]

    @property
    def heads(self) -> int:
        return self.config["heads"]

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    def kv_cache_bytes(self, tokens: int, batch_size: int = 1) -> int:
        """Bytes of the float32 KV cache for ``tokens`` positions: 2 x layers x width x 4 each."""
        return 2 * self.layers * self.width * 4 * int(tokens) * int(batch_size)

    def propose(self, tokens, past, position: int, count: int):
        """``tokens`` ``[B, T]`` onto the cache at ``position``, then ``count`` greedy tokens:
        ``(ids [B, count], present)``, each id fed back but the last (``present`` holds
        ``position + T + count - 1`` positions)."""
        logits, past = self.extend(tokens, past, position)
        ids = [np.argmax(np.asarray(logits)[:, -1], axis=-1).astype(np.int32)]
        position += np.shape(tokens)[1]
        while len(ids) < count:
            logits, past = self.decode(ids[-1][:, None], past, position)
            ids.append(np.argmax(np.asarray(logits), axis=-1).astype(np.int32))
            position += 1
        return np.stack(ids, axis=1), past

    def past_shape(self, batch_size=None) -> list:
        """One cache tensor's shape, ``[B, heads, T, head_dim]``: ``T`` is ``None`` (growing)
        or the context (fixed)."""
        length = self.context if self.cache == "fixed" else None
        return [batch_size, self.heads, length, self.head_dim]


class LanguageModel(CausalLM):
    """A decoder model with its tokenizer: ``logits``, ``prefill``, ``decode``, ``step`` and
    ``next_logits`` as tf.functions.

    Each ``tf.function`` has an input signature (batch and length are dynamic),
    so it is traced once, on its first call. ``step(tokens [B, T], past, position)
    -> (logits [B, V], present)`` is the one graph behind both prefill (an empty
    ``past``, position 0) and decode (T = 1): the T new tokens attend causally to
    each other and to ``past``. ``training`` is the record of how it was trained
    (empty for an untrained model).

    ``cache="fixed"`` keeps a **fixed-size cache**: ``past`` is ``[B, heads, context,
    head_dim]`` from the start (zeros), each step writes its keys and values at
    ``position`` and masks the positions not yet written: the same shapes every
    step. ``with_cache`` gives the other kind on the same weights.

    >>> from artspeed.generative.text import CharTokenizer
    >>> lm = LanguageModel(decoder_lm(97, layers=1, context=16, width=32, heads=2), CharTokenizer())
    >>> fixed = lm.with_cache("fixed")
    >>> tokens = lm.tokenizer.encode("def f")[None]
    >>> a, past = lm.prefill(tokens)
    >>> b, cache = fixed.prefill(tokens)
    >>> tuple(past[0][0].shape), tuple(cache[0][0].shape), bool(np.allclose(a, b, atol=1e-5))
    ((1, 2, 5, 16), (1, 2, 16, 16), True)
    """

    def __init__(self, model, tokenizer: CharTokenizer, training: dict | None = None,
                 cache: str = "growing"):
        if not isinstance(model, _decoder_class()):
            raise ModelError(f"LanguageModel needs a model from artspeed.decoder_lm, "
                             f"got {type(model).__name__}")
        if not isinstance(tokenizer, CharTokenizer):
            raise InvalidArgumentError(f"tokenizer must be a CharTokenizer, got "
                                       f"{type(tokenizer).__name__}")
        if tokenizer.vocab_size != model.config["vocab_size"]:
            raise ModelError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model "
                             f"{model.config['vocab_size']}; build the model with "
                             f"vocab_size={tokenizer.vocab_size}")
        self.model, self.tokenizer = model, tokenizer
        self.config = dict(model.config)
        self.training = dict(training or {})
        self.cache = _checks.choice("cache", cache, CACHES)
        tokens = tf.TensorSpec([None, None], tf.int32, name="tokens")
        position = tf.TensorSpec([], tf.int32, name="position")
        self.logits = tf.function(self._logits, input_signature=[tokens])
        self.next_logits = tf.function(self._next_logits, input_signature=[tokens])
        self.prefill = tf.function(self._prefill, input_signature=[tokens])
        self.step = tf.function(self._step, input_signature=[tokens, self.past_spec(), position])
        self.decode = tf.function(self._step, input_signature=[
            tf.TensorSpec([None, 1], tf.int32, name="token"), self.past_spec(), position])
        self.extend = tf.function(self._extend,
                                  input_signature=[tokens, self.past_spec(), position])
        self.propose = tf.function(self._propose, input_signature=[
            tokens, self.past_spec(), position, tf.TensorSpec([], tf.int32, name="count")])

    def with_cache(self, cache: str) -> LanguageModel:
        """This model (the same weights) with a ``"growing"`` or ``"fixed"`` KV cache."""
        return LanguageModel(self.model, self.tokenizer, self.training, cache)

    # the entry points (wrapped as tf.functions in __init__)
    def _logits(self, tokens):
        return self.model.run(tokens)[0]

    def _next_logits(self, tokens):
        return self.model.run(tokens)[0][:, -1]

    def _prefill(self, tokens):
        if self.cache == "fixed":
            empty = tf.zeros([tf.shape(tokens)[0], self.heads, self.context, self.head_dim])
            return self._step(tokens, tuple((empty, empty) for _ in range(self.layers)), 0)
        logits, past = self.model.run(tokens)
        return logits[:, -1], past

    def _step(self, tokens, past, position):
        logits, present = self._extend(tokens, past, position)
        return logits[:, -1], present

    def _extend(self, tokens, past, position):
        return self.model.run(tokens, past, position, fixed=self.cache == "fixed")

    def _propose(self, tokens, past, position, count):
        """``CausalLM.propose`` with the loop in the graph: one call, not one per token."""
        fixed = self.cache == "fixed"
        logits, past = self.model.run(tokens, past, position, fixed=fixed)
        ids = tf.argmax(logits[:, -1:], axis=-1, output_type=tf.int32)         # [B, 1]
        start = position + tf.shape(tokens)[1] - 1     # the position of ids[:, i] is start + i

        def step(i, ids, past):
            logits, past = self.model.run(ids[:, -1:], past, start + i, fixed=fixed)
            return i + 1, tf.concat([ids, tf.argmax(logits, -1, output_type=tf.int32)], 1), past

        invariants = tuple((tf.TensorShape(self.past_shape()),) * 2 for _ in past)
        _, ids, past = tf.while_loop(lambda i, ids, past: i < count, step, (1, ids, past),
                                     shape_invariants=(tf.TensorShape([]),
                                                       tf.TensorShape([None, None]), invariants))
        return ids, past

    def rewind(self, past, length: int):
        """``past`` cut back to its first ``length`` positions (a fixed-size cache as it is:
        a step at ``position=length`` masks and then overwrites the positions after).

        >>> from artspeed.generative.text import CharTokenizer
        >>> lm = LanguageModel(decoder_lm(97, layers=1, context=16, width=32, heads=2), CharTokenizer())
        >>> _, past = lm.prefill(lm.tokenizer.encode("import os")[None])
        >>> tuple(lm.rewind(past, 4)[0][0].shape)
        (1, 2, 4, 16)
        """
        length = _checks.whole_number("length", length, 0, self.context)
        if self.cache == "fixed":
            return past
        return tuple((k[:, :, :length], v[:, :, :length]) for k, v in past)

    def past_spec(self) -> tuple:
        """The ``TensorSpec``\\s of ``past``: per layer ``(k, v)``, each ``past_shape()``."""
        shape = self.past_shape()
        return tuple((tf.TensorSpec(shape, tf.float32, name=f"past_key_{i}"),
                      tf.TensorSpec(shape, tf.float32, name=f"past_value_{i}"))
                     for i in range(self.layers))

    @property
    def params(self) -> int:
        return int(self.model.count_params())

    @property
    def weight_bytes(self) -> int:
        """Bytes of all weights at their dtype (float32: 4 per parameter)."""
        return int(sum(w.numpy().nbytes for w in self.model.weights))

    def __repr__(self) -> str:
        c = self.config
        trained = (f", trained {self.training['steps']} steps" if self.training.get("steps")
                   else ", untrained")
        cache = ", fixed-size cache" if self.cache == "fixed" else ""
        return (f"<LanguageModel {c['layers']} layers, width {c['width']}, {c['heads']} heads, "
                f"context {c['context']}, {self.params:,} params{trained}{cache}>")

    def save(self, path) -> Path:
        """Save the weights to ``path`` (an ``.h5`` file) and the record beside it (``<path>.json``).

        Each is written whole (to a temporary, then renamed); the record holds the
        config, the tokenizer, the training record and the weights' SHA-256.
        """
        path = _lm_path(path)
        check_writable_dir(path.parent)
        record = _lm_record(self)
        with signals_deferred():     # Ctrl-C waits for the weights and their record
            with atomic_path(path) as tmp:
                self.model.save_weights(str(tmp), save_format="h5")
            record["weights_sha256"] = file_sha256(path)
            write_text_atomic(_record_path(path), json.dumps(record, indent=2) + "\n")
        return path


def _lm_record(lm: CausalLM, *versions: str) -> dict:
    """The JSON record saved beside a model's weights (or its OpenVINO IR): the format,
    config, tokenizer, training record and versions (``weights_sha256`` is added after)."""
    return {"format": LM_FORMAT, "format_version": _FORMAT_VERSION, "config": dict(lm.config),
            "tokenizer": lm.tokenizer.to_dict(), "training": dict(lm.training),
            "versions": {name: _version(name) for name in ("artspeed", "tensorflow",
                                                           "tf_keras", *versions)},
            "saved_at": datetime.datetime.now().isoformat(timespec="seconds")}


def _lm_path(path) -> Path:
    path = check_file_target(path, "give", ".lm.h5")
    if path.suffix != ".h5":
        raise InvalidArgumentError(f"save a language model as an .h5 file (such as "
                                   f"model.lm.h5), got '{path}'")
    return path


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def load_lm(path) -> LanguageModel:
    """The ``LanguageModel`` saved at ``path`` (its ``.h5`` weights, or their ``.json`` record).

    Only data is read: the JSON record (config, tokenizer) rebuilds the model with
    ``decoder_lm``, and the weights are loaded into it; nothing in the files runs.
    A record that is not an artspeed language model's, or weights that do not
    match their record, raise ``ModelError``.
    """
    path = Path(path)
    weights, record_path = ((path.with_name(path.name[:-5]), path) if path.suffix == ".json"
                            else (path, _record_path(path)))
    if not weights.is_file():
        raise ModelError(f"no language model at '{weights}': the file does not exist")
    if not record_path.is_file():
        raise ModelError(f"'{weights}' is not an artspeed language model: it has no record "
                         f"{record_path.name} beside it; save one with LanguageModel.save")
    record = _read_record(record_path)
    config = record["config"]
    if "openvino" in record:
        raise ModelError(f"'{record_path}' is the record of an OpenVINO IR; read it with "
                         "artspeed.load_lm_ir")
    if record.get("weights_sha256") != file_sha256(weights):
        raise ModelError(f"'{weights}' is not the file its record describes (changed or "
                         "half-written); save or train the model again")
    tokenizer = CharTokenizer.from_dict(record.get("tokenizer"))
    try:
        model = decoder_lm(**config)
        model.load_weights(str(weights))
    except (InvalidArgumentError, ValueError, OSError) as exc:
        raise ModelError(f"could not load '{weights}' as the model its record describes: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return LanguageModel(model, tokenizer, training=record.get("training"))


def _read_record(record_path: Path) -> dict:
    """The JSON record at ``record_path``, checked: an artspeed language model's, this version."""
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        raise ModelError(f"'{record_path}' is not JSON; save the model again") from None
    if not isinstance(record, dict) or record.get("format") != LM_FORMAT:
        raise ModelError(f"'{record_path}' is not an artspeed language model's record (it has "
                         f"no \"format\": \"{LM_FORMAT}\"); give a model saved by "
                         "LanguageModel.save or artspeed.train_lm")
    if record.get("format_version") != _FORMAT_VERSION:
        raise ModelError(f"'{record_path}' has format version {record.get('format_version')!r}; "
                         f"this artspeed reads version {_FORMAT_VERSION}")
    config = record.get("config")
    if not isinstance(config, dict) or set(config) != set(_CONFIG_KEYS):
        raise ModelError(f"'{record_path}': its config must have exactly {', '.join(_CONFIG_KEYS)}")
    return record


def _ids(lm_or_tokenizer, text) -> np.ndarray:
    if isinstance(text, str):
        return lm_or_tokenizer.encode(text)
    return np.asarray(text, dtype=np.int32).reshape(-1)


def bits_per_char(lm: CausalLM, text, *, max_chars: int | None = None,
                  batch_size: int = 16) -> float:
    """The model's cross-entropy on ``text`` (str or token ids), in bits per character.

    The text is cut into windows of ``context + 1`` characters that overlap by one,
    so every character after the first is predicted exactly once, from the ones
    before it in its window (non-overlapping windows of predictions), with
    ``lm.logits``: ``lm`` is any ``CausalLM``, Keras or OpenVINO (a model converted
    for a static batch gets windows in groups of that size, the last one padded).
    ``max_chars`` scores only the start of the text.
    """
    if not isinstance(lm, CausalLM):
        raise InvalidArgumentError(f"bits_per_char needs a LanguageModel or an "
                                   f"OpenVINOLanguageModel, got {type(lm).__name__}")
    ids = _ids(lm.tokenizer, text)
    if max_chars is not None:
        ids = ids[:_checks.whole_number("max_chars", max_chars, 2)]
    if len(ids) < 2:
        raise InvalidArgumentError("bits_per_char needs a text of at least 2 characters")
    batch_size = lm.batch_size or _checks.whole_number("batch_size", batch_size)
    n = lm.context
    starts = range(0, len(ids) - 1, n)
    full = [s for s in starts if s + n + 1 <= len(ids)]
    total, count = 0.0, 0

    def score(windows):
        windows = np.asarray(windows, np.int32)
        rows = len(windows)
        if lm.batch_size and rows < lm.batch_size:      # pad to the model's static batch
            windows = np.concatenate([windows] + [windows[:1]] * (lm.batch_size - rows))
        logits = lm.logits(windows[:, :-1])[:rows]
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(windows[:rows, 1:], logits)
        return float(tf.reduce_sum(losses)), int(np.prod(windows[:rows, 1:].shape))

    for i in range(0, len(full), batch_size):
        s, c = score([ids[s:s + n + 1] for s in full[i:i + batch_size]])
        total, count = total + s, count + c
    tail = len(full) * n
    if tail < len(ids) - 1:
        s, c = score([ids[tail:]])
        total, count = total + s, count + c
    return total / count / math.log(2)


def bigram_bits_per_char(train_text, heldout_text, tokenizer: CharTokenizer, *,
                         k: float = 1.0) -> float:
    """A character bigram's cross-entropy on ``heldout_text``, in bits per character.

    P(b | a) = (count(a b) + k) / (count(a) + k V), counted on ``train_text``
    (add-k smoothing; add-one by default). NumPy only.

    >>> tok = CharTokenizer()
    >>> round(bigram_bits_per_char("abababab", "abab", tok), 3)
    4.439
    """
    k = _checks.positive_finite("k", k)
    train, heldout = _ids(tokenizer, train_text), _ids(tokenizer, heldout_text)
    if len(train) < 2 or len(heldout) < 2:
        raise InvalidArgumentError("the bigram needs train and held-out texts of at least "
                                   "2 characters each")
    v = tokenizer.vocab_size
    counts = np.bincount(train[:-1].astype(np.int64) * v + train[1:], minlength=v * v)
    counts = counts.reshape(v, v).astype(np.float64) + k
    log_p = np.log2(counts / counts.sum(axis=1, keepdims=True))
    return float(-log_p[heldout[:-1], heldout[1:]].mean())


@dataclass(frozen=True, repr=False)
class TrainedLM(Result):
    """A trained ``LanguageModel``, its losses, and held-out bits per character beside a bigram's."""

    lm: LanguageModel
    losses: tuple = ()                     # training loss (nats per char) at each step
    train_seconds: float = 0.0
    steps: int = 0
    batch_size: int = 0
    learning_rate: float = 0.0
    heldout_bits_per_char: float = math.nan
    initial_heldout_bits_per_char: float = math.nan   # before training
    bigram_bits_per_char: float = math.nan             # on the same held-out text
    eval_chars: int = 0
    seed: int = 0
    record: dict = field(default_factory=dict)

    @property
    def step_seconds(self) -> float:
        return self.train_seconds / max(self.steps, 1)

    def __repr__(self) -> str:
        return (f"<TrainedLM {self.steps} steps in {self.train_seconds:.0f} s: held-out "
                f"{self.heldout_bits_per_char:.3f} bits/char (bigram "
                f"{self.bigram_bits_per_char:.3f}, untrained "
                f"{self.initial_heldout_bits_per_char:.3f})>")

    def to_dict(self) -> dict:
        """The training record (no weights)."""
        return dict(self.record)

    def _repr_html_(self) -> str:
        rows = [("model", repr(self.lm)), ("steps", self.steps),
                ("train seconds", round(self.train_seconds, 1)),
                ("held-out bits/char", self.heldout_bits_per_char),
                ("bigram bits/char", self.bigram_bits_per_char),
                ("untrained bits/char", self.initial_heldout_bits_per_char)]
        return html_table(rows, header=("", "value"), caption="TrainedLM")

    def plot(self, ax=None):
        """The training loss per step, in bits per character, against the bigram's held-out line."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(np.arange(1, len(self.losses) + 1), np.asarray(self.losses) / math.log(2),
                label="training loss")
        ax.axhline(self.bigram_bits_per_char, color="gray", ls="--", label="bigram (held-out)")
        ax.axhline(self.heldout_bits_per_char, color="C1", ls=":", label="model (held-out)")
        ax.set(xlabel="step", ylabel="bits per character", title="Training the language model")
        ax.grid(alpha=0.3)
        ax.legend()
        return ax


def train_lm(corpus: TextCorpus, *, layers: int = 4, context: int = 256, width: int = 128,
             heads: int = 4, steps: int | None = None, batch_size: int = 8,
             learning_rate: float = 2e-3, warmup_steps: int | None = None, seed: int = 0,
             eval_chars: int | None = None, precision: str = "auto",
             progress: bool = True) -> TrainedLM:
    """Train ``decoder_lm`` on ``corpus``'s train text; score it and a bigram on its held-out text.

    Each step takes ``batch_size`` random windows of ``context + 1`` characters
    (inputs and next-character targets) and one Adam update (beta_2 0.99, gradients
    clipped to a global norm of 1; the learning rate warms up linearly over
    ``warmup_steps``, 10% of the steps by default, then decays along a cosine to a
    tenth). The defaults are the **quick training**: 4 layers, width 128, context
    256, ``lm_steps()`` steps of 8 windows (``benchmarks/bench_lm.py`` measures them: on
    2 cores with AVX-512 BF16, about 150 s and 2.81 bits per character held out against the
    bigram's 3.74; about 1.6x longer where bf16 is not native). The held-out score uses the
    first ``eval_chars`` held-out characters (``EVAL_CHARS``; 4,096 in fast mode),
    before and after training. A tqdm bar shows the loss.

    ``precision="bf16"`` trains with Keras' ``mixed_bfloat16`` policy (float32
    weights, bfloat16 matrix products: about 1.6x faster on a CPU with AVX-512
    BF16); ``"auto"`` picks it where the CPU has AVX-512 BF16 or AMX-BF16, else
    ``"f32"``. The model returned always computes in float32.
    """
    if not isinstance(corpus, TextCorpus):
        raise InvalidArgumentError(f"train_lm takes a TextCorpus (artspeed.text_corpus()), got "
                                   f"{type(corpus).__name__}")
    steps = lm_steps() if steps is None else _checks.whole_number("steps", steps)
    batch_size = _checks.whole_number("batch_size", batch_size, 1, 4096)
    learning_rate = _checks.positive_finite("learning_rate", learning_rate)
    warmup_steps = (max(steps // 10, 1) if warmup_steps is None
                    else _checks.whole_number("warmup_steps", warmup_steps, 0, steps))
    seed = _checks.seed(seed)
    if eval_chars is None:
        eval_chars = 4096 if fast_mode() else EVAL_CHARS
    eval_chars = _checks.whole_number("eval_chars", eval_chars, 2)
    precision = training_precision(precision)
    tokenizer = CharTokenizer()
    shape = {"layers": layers, "context": context, "width": width, "heads": heads,
             "seed": seed % (1 << 20)}
    model = decoder_lm(tokenizer.vocab_size, **shape)
    trainee = model if precision == "f32" else decoder_lm(tokenizer.vocab_size, **shape,
                                                          _policy="mixed_bfloat16")
    trainee.set_weights(model.get_weights())
    train_ids = tokenizer.encode(corpus.train_text)
    heldout_ids = tokenizer.encode(corpus.heldout_text)[:eval_chars]
    if len(train_ids) < context + 1:
        raise InvalidArgumentError(f"the corpus has {len(train_ids):,} train characters, fewer "
                                   f"than one window of context + 1 = {context + 1}; use a "
                                   "larger corpus or a shorter context")
    lm = LanguageModel(model, tokenizer)
    initial = bits_per_char(lm, heldout_ids)

    schedule = tf_keras.optimizers.schedules.CosineDecay(
        0.0 if warmup_steps else learning_rate, max(steps - warmup_steps, 1), alpha=0.1,
        warmup_target=learning_rate if warmup_steps else None, warmup_steps=warmup_steps)
    optimizer = tf_keras.optimizers.Adam(schedule, beta_2=0.99, global_clipnorm=1.0)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def train_step(windows):
        with tf.GradientTape() as tape:
            logits = tf.cast(trainee(windows[:, :-1], training=True), tf.float32)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                windows[:, 1:], logits))
        grads = tape.gradient(loss, trainee.trainable_variables)
        optimizer.apply_gradients(zip(grads, trainee.trainable_variables))
        return loss

    rng = np.random.default_rng(seed)
    offsets = np.arange(context + 1)
    losses = []
    start = time.perf_counter()
    with tqdm(total=steps, desc="training the LM", unit="step", disable=not progress) as bar:
        for step in range(steps):
            starts = rng.integers(0, len(train_ids) - context, size=batch_size)
            losses.append(float(train_step(train_ids[starts[:, None] + offsets])))
            bar.update(1)
            if step % 10 == 0 or step == steps - 1:
                bar.set_postfix({"bits/char": f"{losses[-1] / math.log(2):.3f}"}, refresh=False)
    train_seconds = time.perf_counter() - start
    model.set_weights(trainee.get_weights())
    final = bits_per_char(lm, heldout_ids)
    bigram = bigram_bits_per_char(train_ids, heldout_ids, tokenizer)
    record = {"steps": steps, "batch_size": batch_size, "learning_rate": learning_rate,
              "warmup_steps": warmup_steps, "seed": seed, "precision": precision, "train_seconds": round(train_seconds, 2),
              "train_chars": int(len(train_ids)), "train_files": len(corpus.train_files),
              "heldout_files": len(corpus.heldout_files), "eval_chars": int(len(heldout_ids)),
              "heldout_bits_per_char": round(final, 4),
              "initial_heldout_bits_per_char": round(initial, 4),
              "bigram_bits_per_char": round(bigram, 4), "fast_mode": fast_mode(),
              "losses": [round(v, 4) for v in losses],
              "trained_at": datetime.datetime.now().isoformat(timespec="seconds")}
    lm.training = record
    return TrainedLM(lm, tuple(losses), train_seconds, steps, batch_size, learning_rate, final,
                     initial, bigram, int(len(heldout_ids)), seed, record)
