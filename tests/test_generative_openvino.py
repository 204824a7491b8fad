"""The language model in OpenVINO: one step graph, stateless and stateful IRs, fixed-size cache."""

import gc
import json

import numpy as np
import pytest
from conftest import tiny_lm

import artspeed
from artspeed import (
    VOCABULARY,
    CharTokenizer,
    InvalidArgumentError,
    ModelError,
    OpenVINOLanguageModel,
    compile_lm,
    convert_lm,
    generate,
    load_lm_ir,
    make_stateful,
)

CONTEXT = 32
ATOL = 1e-5
FORMS = [(stateful, cache) for cache in ("growing", "fixed") for stateful in (False, True)]
PROMPTS = ("def ", "import os\n", "    return self.")


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(layers=2, context=CONTEXT, seed=5)


@pytest.fixture(scope="module")
def tokens():
    return np.random.default_rng(0).integers(0, len(VOCABULARY), (1, 20)).astype(np.int32)


@pytest.fixture(scope="module")
def compiled(lm):
    return {form: compile_lm(lm, stateful=form[0], cache=form[1]) for form in FORMS}


def _prefill_then_decode(model, tokens, prefill_len):
    logits, past = model.prefill(tokens[:, :prefill_len])
    rows = [np.asarray(logits)]
    for t in range(prefill_len, tokens.shape[1]):
        logits, past = model.decode(tokens[:, t:t + 1], past, t)
        rows.append(np.asarray(logits))
    return np.stack(rows, axis=1)


# the step function and the fixed-size cache in Keras

def test_step_is_prefill_and_decode_in_one_graph(lm, tokens):
    full = lm.logits(tokens).numpy()
    empty = tuple((np.zeros((1, lm.heads, 0, lm.head_dim), np.float32),) * 2
                  for _ in range(lm.layers))
    first, past = lm.step(tokens[:, :7], empty, 0)
    more, present = lm.step(tokens[:, 7:12], past, 7)      # five tokens at once after a cache
    np.testing.assert_allclose(first, full[:, 6], atol=ATOL, rtol=0)
    np.testing.assert_allclose(more, full[:, 11], atol=ATOL, rtol=0)
    assert tuple(present[1][0].shape) == (1, lm.heads, 12, lm.head_dim)
    one, _ = lm.decode(tokens[:, 12:13], present, 12)
    np.testing.assert_allclose(one, full[:, 12], atol=ATOL, rtol=0)


def test_the_fixed_size_cache_keeps_its_shape_and_the_logits(lm, tokens):
    fixed = lm.with_cache("fixed")
    assert fixed.model is lm.model and fixed.cache == "fixed" and "fixed" in repr(fixed)
    full = lm.logits(tokens).numpy()
    np.testing.assert_allclose(_prefill_then_decode(fixed, tokens, 4), full[:, 3:],
                               atol=ATOL, rtol=0)
    _, cache = fixed.prefill(tokens[:, :4])
    assert tuple(cache[0][0].shape) == (1, lm.heads, CONTEXT, lm.head_dim)
    assert not np.any(cache[0][0].numpy()[:, :, 4:])       # nothing written past the text
    for prompt in PROMPTS:
        assert generate(fixed, prompt, max_new_tokens=12).token_ids == \
            generate(lm, prompt, max_new_tokens=12).token_ids
    with pytest.raises(InvalidArgumentError, match="unknown cache .paged.; choose growing or fixed"):
        lm.with_cache("paged")


# the IRs

def test_the_stateless_ir_has_named_past_and_present(lm):
    model = convert_lm(lm, batch_size=None)
    inputs = [i.get_any_name() for i in model.inputs]
    assert inputs == ["tokens", "position", "past_key_0", "past_value_0", "past_key_1",
                      "past_value_1"]
    assert sorted(o.get_any_name() for o in model.outputs) == sorted(
        ["logits", "all_logits"] + [f"present_{k}_{i}" for i in range(2) for k in ("key", "value")])
    assert model.output("all_logits").get_partial_shape().to_string() == f"[?,?,{len(VOCABULARY)}]"
    assert model.input("past_key_0").get_partial_shape().to_string() == "[?,2,?,16]"
    fixed = convert_lm(lm, cache="fixed", batch_size=3)
    assert fixed.input("past_key_0").get_partial_shape().to_string() == f"[3,2,{CONTEXT},16]"


def test_make_stateful_leaves_tokens_and_position(lm):
    model = make_stateful(convert_lm(lm, batch_size=None))      # dynamic batch -> 1
    assert [i.get_any_name() for i in model.inputs] == ["tokens", "position"]
    assert sorted(o.get_any_name() for o in model.outputs) == ["all_logits", "logits"]
    assert model.input("tokens").get_partial_shape().to_string() == "[1,?]"
    assert len(model.get_sinks()) == 2 * lm.layers
    with pytest.raises(ModelError, match="stateful already"):
        make_stateful(model)
    assert [i.get_any_name() for i in convert_lm(lm, stateful=True, batch_size=2).inputs] == \
        ["tokens", "position"]
    with pytest.raises(InvalidArgumentError, match="needs a static batch_size"):
        convert_lm(lm, stateful=True, batch_size=None)


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f"{'stateful' if f[0] else 'stateless'}-{f[1]}")
def test_openvino_logits_equal_keras(form, compiled, lm, tokens):
    model = compiled[form]
    assert model.stateful == form[0] and model.cache == form[1] and model.runtime == "openvino"
    full = lm.logits(tokens).numpy()
    for prefill_len in (1, 6):
        np.testing.assert_allclose(_prefill_then_decode(model, tokens, prefill_len),
                                   full[:, prefill_len - 1:], atol=ATOL, rtol=0)
    np.testing.assert_allclose(model.next_logits(tokens), full[:, -1], atol=ATOL, rtol=0)
    for prompt in PROMPTS:
        assert generate(model, prompt, max_new_tokens=15).token_ids == \
            generate(lm, prompt, max_new_tokens=15).token_ids
    cached = generate(model, "def ", max_new_tokens=10)
    assert cached.token_ids == generate(model, "def ", max_new_tokens=10, kv_cache=False).token_ids
    assert cached.tpot_ms["p50"] > 0


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f"{'stateful' if f[0] else 'stateless'}-{f[1]}")
def test_extend_rewind_and_logits_equal_keras(form, compiled, lm, tokens):
    model = compiled[form]
    keras = lm.with_cache(form[1])
    full = lm.logits(tokens).numpy()
    np.testing.assert_allclose(model.logits(tokens), full, atol=ATOL, rtol=0)
    _, past = model.prefill(tokens[:, :5])
    _, keras_past = keras.prefill(tokens[:, :5])
    logits, past = model.extend(tokens[:, 5:12], past, 5)         # seven tokens at once
    keras_logits, keras_past = keras.extend(tokens[:, 5:12], keras_past, 5)
    assert logits.shape == (1, 7, len(VOCABULARY))
    np.testing.assert_allclose(logits, keras_logits.numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(logits, full[:, 5:12], atol=ATOL, rtol=0)
    if form[0]:
        assert past == 12 and model.logits(tokens[:, :3]).shape == (1, 3, len(VOCABULARY))
    past = model.rewind(past, 8)                                  # forget tokens 8 .. 11
    if not form[0] and form[1] == "growing":
        assert past[0][0].shape == (1, lm.heads, 8, lm.head_dim)
    # extend -> rewind -> extend and decode equal a fresh computation of the same text
    again = tokens.copy()
    again[:, 8:11] = (tokens[:, 8:11] + 1) % len(VOCABULARY)
    fresh = lm.logits(again).numpy()
    logits, past = model.extend(again[:, 8:11], past, 8)
    np.testing.assert_allclose(logits, fresh[:, 8:11], atol=ATOL, rtol=0)
    for t in range(11, 14):
        logits, past = model.decode(again[:, t:t + 1], past, t)
        np.testing.assert_allclose(logits, fresh[:, t], atol=ATOL, rtol=0)
    assert np.isclose(artspeed.bits_per_char(model, again[0]),
                      artspeed.bits_per_char(lm, again[0]), atol=1e-5)


def test_a_stateful_model_does_not_rewind_forward(compiled, tokens):
    model = compiled[(True, "growing")]
    _, length = model.prefill(tokens[:, :4])
    with pytest.raises(InvalidArgumentError, match="holds 4 tokens; it cannot rewind forward to 6"):
        model.rewind(length, 6)
    with pytest.raises(InvalidArgumentError, match="holds 4 tokens, so the next token is at "
                                                   "position 4, not 3"):
        model.extend(tokens[:, 3:6], length, 3)
    assert model.rewind(length, 0) == 0
    state = model._request.query_state()[0].state
    assert state.shape[2] == 0


def test_reset_state_starts_the_text_again(compiled, tokens):
    model = compiled[(True, "growing")]
    first, _ = model.prefill(tokens[:, :3])
    for t in range(3, 8):
        model.decode(tokens[:, t:t + 1], None, t)
    model.reset_state()
    again, length = model.prefill(tokens[:, :3])
    np.testing.assert_array_equal(first, again)
    assert length == 3
    before = model.next_logits(tokens[:, :9])     # a second request: the state stays
    step, length = model.decode(tokens[:, 3:4], length, 3)
    assert length == 4 and before.shape == step.shape
    with pytest.raises(InvalidArgumentError, match="holds 4 tokens, so the next token is at "
                                                   "position 4, not 9"):
        model.decode(tokens[:, :1], length, 9)


def test_the_stateful_model_times_decode_against_recompute(compiled):
    result = artspeed.decode_against_recompute(compiled[(True, "growing")], rounds=2)
    assert result.runtime == "openvino" and result.positions == CONTEXT - 1
    assert result.decode_ms > 0 and result.recompute_ms > 0


# saving and bad input

def test_the_ir_saves_and_loads_with_its_record(compiled, lm, tokens, tmp_path):
    model = compiled[(True, "fixed")]
    path = model.save(tmp_path / "lm.xml")
    assert path.with_suffix(".bin").is_file()
    record = json.loads((tmp_path / "lm.xml.json").read_text())
    assert record["format"] == "artspeed-lm" and record["config"] == lm.config
    assert record["openvino"] == {"stateful": True, "cache": "fixed", "batch_size": 1,
                                  "weights": "f32", "group_size": None}
    loaded = load_lm_ir(path)
    assert isinstance(loaded, OpenVINOLanguageModel) and loaded.stateful
    assert loaded.cache == "fixed" and loaded.tokenizer == lm.tokenizer
    np.testing.assert_array_equal(loaded.prefill(tokens)[0], model.prefill(tokens)[0])
    assert compile_lm(path).config == lm.config
    assert generate(loaded, "def ", max_new_tokens=8).token_ids == \
        generate(lm, "def ", max_new_tokens=8).token_ids
    with pytest.raises(ModelError, match="record of an OpenVINO IR; read it with"):
        artspeed.load_lm(tmp_path / "lm.xml.json")


def test_an_ir_that_is_not_a_language_model_is_refused(tmp_path):
    path = artspeed.save_ir(artspeed.convert_model(artspeed.dense_example()), tmp_path / "d.xml")
    with pytest.raises(ModelError, match="not an artspeed language model's IR: it has no record"):
        load_lm_ir(path)
    with pytest.raises(ModelError, match="needs the inputs 'tokens' and 'position'"):
        OpenVINOLanguageModel(artspeed.read_ir(path), CharTokenizer())
    with pytest.raises(ModelError, match="not an artspeed language model's IR"):
        make_stateful(artspeed.read_ir(path))
    with pytest.raises(ModelError, match="no OpenVINO IR"):
        load_lm_ir(tmp_path / "missing.xml")


def test_changed_ir_is_refused(compiled, tmp_path):
    path = compiled[(False, "growing")].save(tmp_path / "lm.xml")
    record = tmp_path / "lm.xml.json"
    data = json.loads(record.read_text())
    data["weights_sha256"] = "0" * 64
    record.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="not the file its record describes"):
        load_lm_ir(path)


def test_bad_input_is_refused_with_a_clear_message(compiled):
    model = compiled[(True, "growing")]
    with pytest.raises(InvalidArgumentError, match="give at most 31"):
        generate(model, "x" * CONTEXT)
    with pytest.raises(InvalidArgumentError, match="33 tokens at position 0 pass the model's "
                                                   "context of 32"):
        model.prefill(np.zeros((1, CONTEXT + 1), np.int32))
    with pytest.raises(InvalidArgumentError, match="converted for batch 1, got 2 rows"):
        model.prefill(np.zeros((2, 3), np.int32))
    with pytest.raises(InvalidArgumentError, match=r"shape \[batch, length >= 1\]"):
        model.prefill(np.zeros(3, np.int32))
    with pytest.raises(InvalidArgumentError, match="needs a LanguageModel"):
        convert_lm(model)
    with pytest.raises(InvalidArgumentError, match="needs a LanguageModel"):
        generate("model.xml", "def ")


def test_a_compiled_model_owns_its_weights_when_its_keras_model_is_gone(tmp_path):
    # convert_model copies the weights (share_weights=False): shared, the constants of a
    # model converted from a LanguageModel freed at once pointed into freed memory, and a
    # second such model computed garbage (NaN here, before the fix)
    lm = tiny_lm()
    path = lm.save(tmp_path / "tiny.lm.h5")
    tokens = np.arange(5, 13, dtype=np.int32)[None]
    reference = lm.logits(tokens).numpy()[:, 3]
    models = [artspeed.compile_lm(artspeed.load_lm(path)) for _ in range(3)]
    gc.collect()
    for model in models:
        logits, _ = model.prefill(tokens[:, :4])
        np.testing.assert_allclose(logits, reference, atol=1e-5, rtol=0)
