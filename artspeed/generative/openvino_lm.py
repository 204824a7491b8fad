"""The language model in OpenVINO: a stateless IR, a stateful one, and generation on either.

- ``convert_lm(lm)``: the model's ``step`` (one graph for prefill and decode) as an
  ``ov.Model`` with explicit inputs ``tokens [B, T]``, ``position`` (scalar) and
  ``past_key_i``/``past_value_i [B, heads, S, head_dim]``, and outputs ``logits [B, V]``
  (after the last token), ``all_logits [B, T, V]`` (after each new token) and
  ``present_key_i``/``present_value_i`` (**stateless**: the cache goes in and out on
  every step);
- ``make_stateful(model)`` (or ``convert_lm(lm, stateful=True)``): OpenVINO's
  ``MakeStateful`` pass pairs each ``past_*`` input with its ``present_*`` output, so the
  cache lives in the runtime as variables and the inputs are only ``tokens`` and
  ``position`` (``reset_state()`` between prompts). The batch is made static first:
  a variable starts empty in every dynamic dimension, so a stateful model serves one
  batch size;
- ``OpenVINOLanguageModel``: a compiled model with the ``CausalLM`` calls (``prefill``,
  ``decode``, ``next_logits``, ``extend``, ``rewind``, ``logits``), so ``artspeed.generate``,
  ``decode_against_recompute`` and ``bits_per_char`` run on it as on Keras;
  ``compile_lm`` makes one from a ``LanguageModel``; ``save``/``load_lm_ir`` keep it as
  an IR with the language model's JSON record beside it.

Either cache kind converts: ``"growing"`` (``past`` gains a position each step: new
shapes every step) or ``"fixed"`` (``[B, heads, context, head_dim]``, written at
``position``, the rest masked: the same shapes every step).

>>> from artspeed.generative.lm import LanguageModel, decoder_lm
>>> from artspeed.generative.text import CharTokenizer
>>> lm = LanguageModel(decoder_lm(97, layers=1, context=16, width=32, heads=2), CharTokenizer())
>>> ov_lm = compile_lm(lm)                    # stateful, growing cache, batch 1, f32
>>> ov_lm
<OpenVINOLanguageModel stateful, growing cache, batch 1, 1 layers, width 32, context 16>
>>> tokens = lm.tokenizer.encode("def f")[None]
>>> a, _ = lm.prefill(tokens)
>>> b, _ = ov_lm.prefill(tokens)
>>> bool(np.abs(a.numpy() - b).max() < 1e-5)
True
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np

from artspeed.core import _checks
from artspeed.core._io import file_sha256, signals_deferred, write_text_atomic
from artspeed.core.errors import InvalidArgumentError, ModelError, first_line
from artspeed.core.frameworks import import_openvino, openvino_core, tf
from artspeed.generative.lm import (
    CACHES,
    CausalLM,
    LanguageModel,
    _lm_record,
    _read_record,
)
from artspeed.generative.text import CharTokenizer
from artspeed.runtimes.ir import convert_model, read_ir, save_ir
from artspeed.runtimes.openvino import compile_config

__all__ = ["convert_lm", "make_stateful", "OpenVINOLanguageModel", "compile_lm", "load_lm_ir"]

_RT = "artspeed_lm"          # the ov.Model's rt_info section this module writes


def _names(layers: int, prefix: str) -> list:
    return [f"{prefix}_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]


def _rt(model, key: str, default=None):
    if not model.has_rt_info([_RT, key]):
        return default
    return model.get_rt_info([_RT, key]).astype(str)


def convert_lm(lm: LanguageModel, *, batch_size: int | None = 1, stateful: bool = False,
               cache: str | None = None):
    """``lm``'s ``step`` as an ``ov.Model`` (stateless unless ``stateful=True``).

    ``batch_size`` makes the batch static (``None`` keeps it dynamic, for a stateless
    model only); ``cache`` is ``"growing"`` or ``"fixed"`` (default: ``lm.cache``).
    The model's rt_info (section ``artspeed_lm``) records the cache kind and the config.

    >>> from artspeed.generative.lm import LanguageModel, decoder_lm
    >>> from artspeed.generative.text import CharTokenizer
    >>> lm = LanguageModel(decoder_lm(97, layers=1, context=16, width=32, heads=2), CharTokenizer())
    >>> m = convert_lm(lm)
    >>> [i.get_any_name() for i in m.inputs]
    ['tokens', 'position', 'past_key_0', 'past_value_0']
    >>> sorted(o.get_any_name() for o in m.outputs)
    ['all_logits', 'logits', 'present_key_0', 'present_value_0']
    >>> [i.get_any_name() for i in convert_lm(lm, stateful=True).inputs]
    ['tokens', 'position']
    """
    if not isinstance(lm, LanguageModel):
        raise InvalidArgumentError(f"convert_lm needs a LanguageModel (artspeed.load_lm or "
                                   f"train_lm(...).lm), got {type(lm).__name__}")
    cache = lm.cache if cache is None else _checks.choice("cache", cache, CACHES)
    batch_size = _checks.whole_number("batch_size", batch_size, 1, 4096, optional=True)
    if stateful and batch_size is None:
        raise InvalidArgumentError("a stateful model needs a static batch_size (such as 1): "
                                   "its cache variables start empty in any dynamic dimension")
    if lm.cache != cache:
        lm = lm.with_cache(cache)
    layers = lm.layers
    signature = [tf.TensorSpec([None, None], tf.int32, name="tokens"),
                 tf.TensorSpec([], tf.int32, name="position")]
    signature += [tf.TensorSpec(lm.past_shape(), tf.float32, name=n)
                  for n in _names(layers, "past")]

    def step(tokens, position, *flat):
        past = tuple((flat[2 * i], flat[2 * i + 1]) for i in range(layers))
        all_logits, present = lm._extend(tokens, past, position)
        named = {"logits": all_logits[:, -1], "all_logits": all_logits}
        for i, (k, v) in enumerate(present):
            named[f"present_key_{i}"], named[f"present_value_{i}"] = k, v
        return named

    model = convert_model(tf.function(step, input_signature=signature))
    model.set_rt_info(cache, [_RT, "cache"])
    model.set_rt_info("false", [_RT, "stateful"])
    model.set_rt_info(json.dumps(lm.config, sort_keys=True), [_RT, "config"])
    if batch_size is not None:
        _reshape(model, batch_size, layers)
    return make_stateful(model) if stateful else model


def _reshape(model, batch_size: int, layers: int) -> None:
    shapes = {"tokens": [batch_size, -1]}
    for name in _names(layers, "past"):
        dims = model.input(name).get_partial_shape()
        shapes[name] = [batch_size] + [d.get_length() if d.is_static else -1
                                       for d in list(dims)[1:]]
    model.reshape(shapes)


def _check_lm_model(model, what: str) -> dict:
    """The config an artspeed language model's ``ov.Model`` records; else ModelError."""
    names = {n for port in model.inputs for n in port.get_names()}
    config = _rt(model, "config")
    if config is None or not {"tokens", "position"} <= names:
        raise ModelError(f"{what} is not an artspeed language model's IR: it needs the inputs "
                         f"'tokens' and 'position' and an rt_info '{_RT}' section (it has the "
                         f"inputs {', '.join(sorted(names)) or 'none'}); convert one with "
                         "artspeed.convert_lm")
    return json.loads(config)


def make_stateful(model, batch_size: int | None = None):
    """Make a stateless ``convert_lm`` model stateful, in place (and return it).

    The batch becomes static first (``batch_size``, else the model's own, else 1);
    then ``openvino.passes.MakeStateful`` turns each ``past_*`` input and its
    ``present_*`` output into one variable: the inputs left are ``tokens`` and
    ``position``, the outputs ``logits`` and ``all_logits``.
    """
    ov = import_openvino()
    if not isinstance(model, ov.Model):
        raise ModelError(f"make_stateful needs an ov.Model from artspeed.convert_lm, got "
                         f"{type(model).__name__}")
    config = _check_lm_model(model, "the model")
    if _rt(model, "stateful") == "true":
        raise ModelError("the model is stateful already: its cache lives in the runtime")
    batch_size = _checks.whole_number("batch_size", batch_size, 1, 4096, optional=True)
    batch = model.input("tokens").get_partial_shape()[0]
    if batch_size is None:
        batch_size = batch.get_length() if batch.is_static else 1
    layers = config["layers"]
    _reshape(model, batch_size, layers)
    passes = importlib.import_module("openvino.passes")
    manager = passes.Manager()
    manager.register_pass(passes.MakeStateful(
        dict(zip(_names(layers, "past"), _names(layers, "present")))))
    manager.run_passes(model)
    model.set_rt_info("true", [_RT, "stateful"])
    return model


class OpenVINOLanguageModel(CausalLM):
    """A ``convert_lm`` model compiled for the CPU, with the ``generate`` contract.

    ``prefill(tokens [B, T]) -> (logits [B, V], past)``,
    ``decode(token [B, 1], past, position) -> (logits, present)``,
    ``extend(tokens [B, T], past, position) -> (logits [B, T, V], present)``,
    ``rewind(past, length)``, and ``next_logits(tokens) -> logits [B, V]`` and
    ``logits(tokens) -> [B, T, V]`` (full forwards, no cache), on NumPy arrays.
    **Stateless**: ``past``/``present`` are the cache's arrays, passed in and out each
    step. **Stateful**: the cache is the infer request's state; ``prefill`` resets it
    (``reset_state()``) and runs the prompt in one infer, ``decode`` runs one token and
    must continue where the state ends (``past`` is the state's length, as a marker),
    as must ``extend``; ``rewind`` trims the state's variables; ``next_logits`` and
    ``logits`` use a second request, so they leave the state alone.

    ``inference_precision`` is the INFERENCE_PRECISION_HINT (``"f32"`` by default, so
    tokens match Keras; ``None`` is OpenVINO's choice); ``hint``, ``threads`` and
    ``streams`` as in ``artspeed.compile_model``.
    """

    runtime = "openvino"

    def __init__(self, model, tokenizer: CharTokenizer, *, training: dict | None = None,
                 inference_precision: str | None = "f32", hint: str = "latency",
                 threads=None, streams=None):
        ov = import_openvino()
        if not isinstance(model, ov.Model):
            raise ModelError(f"OpenVINOLanguageModel needs an ov.Model from artspeed.convert_lm "
                             f"(or use artspeed.load_lm_ir for a file), got {type(model).__name__}")
        if not isinstance(tokenizer, CharTokenizer):
            raise InvalidArgumentError(f"tokenizer must be a CharTokenizer, got "
                                       f"{type(tokenizer).__name__}")
        self.config = _check_lm_model(model, "the model")
        if tokenizer.vocab_size != self.config["vocab_size"]:
            raise ModelError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model "
                             f"{self.config['vocab_size']}")
        self.model, self.tokenizer, self.training = model, tokenizer, dict(training or {})
        self.cache = _rt(model, "cache", "growing")
        self.weights = _rt(model, "weights", "f32")      # "int8"/"int4" after compress_lm
        group = _rt(model, "group_size")
        self.group_size = int(group) if group else None
        self.stateful = _rt(model, "stateful") == "true"
        batch = model.input("tokens").get_partial_shape()[0]
        self.batch_size = batch.get_length() if batch.is_static else None
        self.inference_precision = inference_precision
        properties = compile_config(hint=hint, streams=streams, threads=threads,
                                    precision=inference_precision)
        try:
            self.compiled_model = openvino_core().compile_model(model, "CPU", properties)
        except RuntimeError as exc:
            raise ModelError(f"OpenVINO could not compile the language model: "
                             f"{first_line(exc)}") from None
        self._request = self.compiled_model.create_infer_request()
        self._scratch = self.compiled_model.create_infer_request() if self.stateful else None
        self._length = 0                  # a stateful request's cached tokens
        self._past_names = _names(self.layers, "past")
        self._present_names = _names(self.layers, "present")
        self._outputs = {n for port in model.outputs for n in port.get_names()}

    def __repr__(self) -> str:
        kind = "stateful" if self.stateful else "stateless"
        batch = "dynamic batch" if self.batch_size is None else f"batch {self.batch_size}"
        ratio = _rt(self.model, "ratio")
        detail = [f"groups of {self.group_size}"] if self.group_size else []
        detail += [f"ratio {ratio}"] if ratio not in (None, "1.0") else []
        weights = "" if self.weights == "f32" else f", {self.weights} weights" + (
            f" ({', '.join(detail)})" if detail else "")
        return (f"<OpenVINOLanguageModel {kind}, {self.cache} cache, {batch}, "
                f"{self.layers} layers, width {self.width}, context {self.context}{weights}>")

    @property
    def weight_bytes(self) -> int:
        """Bytes of the model's constants (its weights, at their stored element types)."""
        return int(sum(self.weight_bytes_by_type.values()))

    @property
    def weight_bytes_by_type(self) -> dict:
        """Bytes of the model's constants per element type (``"f32"``, ``"f16"``, ``"u8"``,
        ``"u4"``, ``"i4"``, ``"i32"``...): weights, their scales and zero points, and shapes."""
        sizes: dict = {}
        for op in self.model.get_ops():
            if op.get_type_name() == "Constant":
                kind = op.get_element_type().get_type_name()
                sizes[kind] = sizes.get(kind, 0) + int(op.get_byte_size())
        return dict(sorted(sizes.items(), key=lambda item: -item[1]))

    def reset_state(self) -> None:
        """Empty a stateful model's cache (a no-op when stateless)."""
        if self.stateful:
            self._request.reset_state()
        self._length = 0

    def _tokens(self, tokens, position: int, length: int = None) -> np.ndarray:
        tokens = np.asarray(tokens)
        if tokens.ndim != 2 or tokens.shape[1] < 1 or not np.issubdtype(tokens.dtype, np.integer):
            raise InvalidArgumentError(f"tokens must be integer ids of shape [batch, length >= 1], "
                                       f"got {tokens.dtype} {tokens.shape}")
        if length is not None and tokens.shape[1] != length:
            raise InvalidArgumentError(f"decode takes one token per row, [batch, 1]; got "
                                       f"{tokens.shape}")
        if self.batch_size is not None and tokens.shape[0] != self.batch_size:
            raise InvalidArgumentError(f"this model was converted for batch {self.batch_size}, "
                                       f"got {tokens.shape[0]} rows; convert_lm(lm, "
                                       f"batch_size={tokens.shape[0]})")
        if position + tokens.shape[1] > self.context:
            raise InvalidArgumentError(
                f"{tokens.shape[1]} tokens at position {position} pass the model's context of "
                f"{self.context}; keep the text to {self.context} tokens")
        return tokens.astype(np.int32, copy=False)

    def _empty_past(self, batch: int) -> list:
        length = self.context if self.cache == "fixed" else 0
        empty = np.zeros((batch, self.heads, length, self.head_dim), np.float32)
        return [empty] * (2 * self.layers)

    def _infer(self, request, tokens, position: int, flat_past=None):
        inputs = {"tokens": tokens, "position": np.array(position, np.int32)}
        if flat_past is not None:
            inputs.update(zip(self._past_names, flat_past))
        return request.infer(inputs, share_inputs=True)

    def _stateless(self, tokens, past, position, output="logits"):
        flat = [t for pair in past for t in pair]
        out = self._infer(self._request, tokens, position, flat)
        present = tuple((out[self._present_names[2 * i]], out[self._present_names[2 * i + 1]])
                        for i in range(self.layers))
        return (out["logits"] if output == "logits" else self._all_logits(out)), present

    def prefill(self, tokens):
        """The logits after ``tokens`` ``[B, T]``, and the cache (stateful: its length)."""
        tokens = self._tokens(tokens, 0)
        if not self.stateful:
            flat = self._empty_past(len(tokens))
            return self._stateless(tokens, list(zip(flat[0::2], flat[1::2])), 0)
        self._request.reset_state()
        logits = self._infer(self._request, tokens, 0)["logits"]
        self._length = tokens.shape[1]
        return logits, self._length

    def decode(self, token, past, position):
        """One step: the logits after ``token`` ``[B, 1]`` at ``position``, and the cache."""
        position = _checks.whole_number("position", int(position), 0, self.context - 1)
        token = self._tokens(token, position, length=1)
        if not self.stateful:
            return self._stateless(token, past, position)
        self._check_position(position)
        logits = self._infer(self._request, token, position)["logits"]
        self._length += 1
        return logits, self._length

    def next_logits(self, tokens):
        """The logits after ``tokens`` from a full forward (no cache kept; the state untouched)."""
        tokens = self._tokens(tokens, 0)
        if not self.stateful:
            return self.prefill(tokens)[0]
        self._scratch.reset_state()
        return self._infer(self._scratch, tokens, 0)["logits"]

    def _all_logits(self, out):
        if "all_logits" not in self._outputs:
            raise ModelError("this IR has no 'all_logits' output (it was converted by an older "
                             "artspeed); convert it again with artspeed.convert_lm")
        return out["all_logits"]

    def logits(self, tokens):
        """The logits after **each** of ``tokens`` ``[B, T]``, ``[B, T, V]``: a full forward
        with an empty cache (a stateful model's state untouched, as in ``next_logits``)."""
        tokens = self._tokens(tokens, 0)
        if not self.stateful:
            flat = self._empty_past(len(tokens))
            return self._all_logits(self._infer(self._request, tokens, 0, flat))
        self._scratch.reset_state()
        return self._all_logits(self._infer(self._scratch, tokens, 0))

    def extend(self, tokens, past, position):
        """``tokens`` ``[B, T]`` at ``position`` onwards on the cache: ``(logits [B, T, V],
        present)``, the logits after each new token. Stateful: the state must end at
        ``position`` (as for ``decode``), and moves on by T."""
        position = _checks.whole_number("position", int(position), 0, self.context - 1)
        tokens = self._tokens(tokens, position)
        if not self.stateful:
            return self._stateless(tokens, past, position, "all_logits")
        self._check_position(position)
        logits = self._all_logits(self._infer(self._request, tokens, position))
        self._length += tokens.shape[1]
        return logits, self._length

    def rewind(self, past, length: int):
        """The cache cut back to its first ``length`` positions (the tokens after forgotten).

        Stateless: the arrays sliced (a fixed-size cache as it is: the next step at
        ``position=length`` masks and overwrites the rest). Stateful: each state variable
        trimmed in the runtime (``query_state()``, ``state.state = ov.Tensor(...)``; a
        fixed-size one stays), and the length it tracks set; returns that length.
        """
        length = _checks.whole_number("length", length, 0, self.context)
        if not self.stateful:
            if self.cache == "fixed":
                return past
            return tuple((np.asarray(k)[:, :, :length], np.asarray(v)[:, :, :length])
                         for k, v in past)
        if length > self._length:
            raise InvalidArgumentError(f"the stateful model's cache holds {self._length} tokens; "
                                       f"it cannot rewind forward to {length}")
        if self.cache == "growing" and length < self._length:
            ov = import_openvino()
            for state in self._request.query_state():
                kept = np.ascontiguousarray(state.state.data[:, :, :length])
                state.state = ov.Tensor(kept)
        self._length = length
        return length

    def _check_position(self, position: int) -> None:
        if position != self._length:
            raise InvalidArgumentError(
                f"the stateful model's cache holds {self._length} tokens, so the next token is "
                f"at position {self._length}, not {position}; prefill the text again")

    def save(self, path) -> Path:
        """Save the IR (``.xml`` and ``.bin``, ``artspeed.save_ir``) and the language model's
        JSON record beside it (``<path>.json``: config, tokenizer, training, the IR's form)."""
        path = Path(path)
        record = _lm_record(self, "openvino")
        record["openvino"] = {"stateful": self.stateful, "cache": self.cache,
                              "batch_size": self.batch_size, "weights": self.weights,
                              "group_size": self.group_size}
        with signals_deferred():
            save_ir(self.model, path)
            record["weights_sha256"] = file_sha256(path)    # the .xml records its .bin
            write_text_atomic(path.with_name(path.name + ".json"),
                              json.dumps(record, indent=2) + "\n")
        return path


def load_lm_ir(path, *, inference_precision: str | None = "f32", hint: str = "latency",
               threads=None, streams=None) -> OpenVINOLanguageModel:
    """The ``OpenVINOLanguageModel`` saved at ``path`` (its ``.xml``; the ``.bin`` and the
    ``.xml.json`` record beside it), compiled. A file that is not one raises ``ModelError``.

    >>> load_lm_ir("nowhere.xml")
    Traceback (most recent call last):
    ...
    artspeed.ModelError: no OpenVINO IR at 'nowhere.xml': the file does not exist
    """
    path = Path(path)
    model = read_ir(path)
    record_path = path.with_name(path.name + ".json")
    if not record_path.is_file():
        raise ModelError(f"'{path}' is not an artspeed language model's IR: it has no record "
                         f"{record_path.name} beside it; save one with "
                         "OpenVINOLanguageModel.save")
    record = _read_record(record_path)
    if "openvino" not in record:
        raise ModelError(f"'{record_path}' is the record of Keras weights, not of an IR; "
                         "load it with artspeed.load_lm")
    if record.get("weights_sha256") != file_sha256(path):
        raise ModelError(f"'{path}' is not the file its record describes (changed or "
                         "half-written); save the model again")
    return OpenVINOLanguageModel(model, CharTokenizer.from_dict(record.get("tokenizer")),
                                 training=record.get("training"),
                                 inference_precision=inference_precision, hint=hint,
                                 threads=threads, streams=streams)


def compile_lm(lm, *, stateful: bool = True, cache: str | None = None, batch_size: int | None = 1,
               inference_precision: str | None = "f32", hint: str = "latency", threads=None,
               streams=None) -> OpenVINOLanguageModel:
    """An ``OpenVINOLanguageModel`` from a ``LanguageModel`` (``convert_lm`` then compile),
    or from a saved IR's path (``load_lm_ir``). Stateful, batch 1 and f32 by default."""
    options = {"inference_precision": inference_precision, "hint": hint, "threads": threads,
               "streams": streams}
    if isinstance(lm, (str, Path)):
        return load_lm_ir(lm, **options)
    model = convert_lm(lm, batch_size=batch_size, stateful=stateful, cache=cache)
    return OpenVINOLanguageModel(model, lm.tokenizer, training=lm.training, **options)
