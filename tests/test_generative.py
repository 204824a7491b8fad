"""The tiny character-level language model: corpus, tokenizer, KV cache, training, generation."""

import json
import math
import zlib

import numpy as np
import pytest
from conftest import run_python, tiny_lm

import artspeed
from artspeed import (
    VOCABULARY,
    CharTokenizer,
    InvalidArgumentError,
    LanguageModel,
    ModelError,
    bigram_bits_per_char,
    bits_per_char,
    decoder_lm,
    generate,
    load_lm,
    text_corpus,
    train_lm,
)

CONTEXT = 32


@pytest.fixture(scope="module")
def corpus():
    return text_corpus(limit_chars=60_000)


@pytest.fixture(scope="module")
def trained(corpus):
    return train_lm(corpus, layers=2, context=CONTEXT, width=32, heads=2, steps=60,
                    batch_size=16, learning_rate=3e-3, eval_chars=2048, progress=False)


@pytest.fixture(scope="module")
def untrained():
    return tiny_lm(layers=2, context=CONTEXT, seed=3)


# the corpus and the tokenizer

def test_the_corpus_is_split_by_file_deterministically(corpus):
    again = text_corpus(limit_chars=60_000)
    assert (again.train_text, again.heldout_text) == (corpus.train_text, corpus.heldout_text)
    assert not set(corpus.train_files) & set(corpus.heldout_files)
    assert all(zlib.crc32(n.encode()) % 10 == 0 for n in corpus.heldout_files)
    assert all(zlib.crc32(n.encode()) % 10 != 0 for n in corpus.train_files)
    assert corpus.train_chars + corpus.heldout_chars <= 60_000
    assert corpus.train_chars > 8 * corpus.heldout_chars > 0


def test_the_whole_corpus_is_the_stdlib_and_its_repr_hides_the_text(monkeypatch):
    monkeypatch.delenv("ARTSPEED_FAST", raising=False)   # all of it (fast mode takes a slice)
    corpus = text_corpus()
    assert corpus.train_chars > 1_000_000 and len(corpus.heldout_files) >= 5
    assert 0.05 < len(corpus.heldout_files) / (len(corpus.train_files) + len(corpus.heldout_files)) < 0.2
    assert len(repr(corpus)) < 200 and "import" not in repr(corpus)
    record = corpus.to_dict()
    assert "train_text" not in record and record["train_chars"] == corpus.train_chars
    assert "import" not in corpus._repr_html_()
    assert set(corpus.train_text + corpus.heldout_text) <= set(VOCABULARY)


def test_a_folder_of_files_is_cleaned_and_unreadable_ones_skipped(tmp_path):
    for i in range(40):
        (tmp_path / f"m{i:02d}.py").write_text(f"x = {i}  # café\n", encoding="utf-8")
    (tmp_path / "binary.py").write_bytes(b"\xff\xfe\x00 not utf-8")
    corpus = text_corpus(folder=tmp_path)
    files = corpus.train_files + corpus.heldout_files
    assert "binary.py" not in files and len(files) == 40
    assert corpus.replaced_chars == 40
    assert "caf?" in corpus.train_text and "é" not in corpus.train_text


def test_a_folder_too_small_to_split_is_refused(tmp_path):
    (tmp_path / "one.py").write_text("x = 1\n")
    with pytest.raises(InvalidArgumentError, match="too few to split"):
        text_corpus(folder=tmp_path)


def test_the_tokenizer_round_trips(corpus):
    tok = CharTokenizer()
    ids = tok.encode(corpus.heldout_text)
    assert ids.dtype == np.int32 and ids.max() < tok.vocab_size == 97
    assert tok.decode(ids) == corpus.heldout_text
    assert CharTokenizer.from_dict(json.loads(json.dumps(tok.to_dict()))) == tok


def test_encode_is_strict_and_names_the_characters():
    with pytest.raises(InvalidArgumentError, match=r"2 characters outside .*'é', '→'.*remove"):
        CharTokenizer().encode("café → tea")
    with pytest.raises(InvalidArgumentError, match="token ids must be from 0 to 96"):
        CharTokenizer().decode([97])
    with pytest.raises(ModelError, match="not a character tokenizer"):
        CharTokenizer.from_dict({"kind": "bpe"})


# the model and its KV cache

def _cached_logits(lm, tokens, prefill_len):
    """Logits at every position from prefill(tokens[:, :prefill_len]) then one decode per token."""
    last, past = lm.prefill(tokens[:, :prefill_len])
    rows = [last.numpy()]
    for t in range(prefill_len, tokens.shape[1]):
        step, past = lm.decode(tokens[:, t:t + 1], past, t)
        assert tuple(past[0][0].shape) == (tokens.shape[0], lm.heads, t + 1, lm.head_dim)
        rows.append(step.numpy())
    return np.stack(rows, axis=1)


@pytest.mark.parametrize("which", ["untrained", "trained"])
def test_prefill_and_decode_give_the_full_forwards_logits(which, untrained, trained):
    lm = untrained if which == "untrained" else trained.lm
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, lm.vocab_size, size=(2, CONTEXT)).astype(np.int32)
    full = lm.logits(tokens).numpy()
    assert full.shape == (2, CONTEXT, lm.vocab_size)
    for prefill_len in (1, 5):
        cached = _cached_logits(lm, tokens, prefill_len)
        np.testing.assert_allclose(cached, full[:, prefill_len - 1:], atol=1e-5, rtol=0)


@pytest.mark.parametrize("cache", ["growing", "fixed"])
def test_extend_gives_each_new_tokens_logits_and_rewind_forgets_the_rest(untrained, cache):
    lm = untrained.with_cache(cache)
    tokens = np.random.default_rng(1).integers(0, lm.vocab_size, size=(1, 20)).astype(np.int32)
    full = lm.logits(tokens).numpy()
    _, past = lm.prefill(tokens[:, :8])
    logits, present = lm.extend(tokens[:, 8:14], past, 8)       # six tokens at once
    np.testing.assert_allclose(logits.numpy(), full[:, 8:14], atol=1e-5, rtol=0)
    # keep the first two of the six; then the text goes on from position 10 with other tokens
    kept = lm.rewind(present, 10)
    if cache == "growing":
        assert tuple(kept[0][0].shape) == (1, lm.heads, 10, lm.head_dim)
    other = tokens.copy()
    other[0, 10:] = (other[0, 10:] + 7) % lm.vocab_size
    step, _ = lm.decode(other[:, 10:11], kept, 10)
    np.testing.assert_allclose(step.numpy(), lm.logits(other[:, :11]).numpy()[:, -1],
                               atol=1e-5, rtol=0)


def test_a_token_does_not_see_the_future(untrained):
    tokens = np.arange(10, dtype=np.int32)[None] + 30
    changed = tokens.copy()
    changed[0, 7:] = 5
    a, b = untrained.logits(tokens).numpy(), untrained.logits(changed).numpy()
    np.testing.assert_array_equal(a[0, :7], b[0, :7])
    assert not np.allclose(a[0, 7:], b[0, 7:])


def test_the_past_has_one_key_and_value_per_layer(untrained):
    _, past = untrained.prefill(np.zeros((3, 4), np.int32))
    assert len(past) == 2
    assert all(tuple(t.shape) == (3, 2, 4, 16) for kv in past for t in kv)
    assert untrained.kv_cache_bytes(4, 3) == sum(t.numpy().nbytes for kv in past for t in kv)
    assert untrained.weight_bytes == 4 * untrained.params


def test_the_same_seed_gives_the_same_weights():
    a, b = decoder_lm(97, layers=1, context=8, width=16, heads=2, seed=5), \
        decoder_lm(97, layers=1, context=8, width=16, heads=2, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


@pytest.mark.parametrize("kwargs, match", [
    ({"width": 30, "heads": 4}, "multiple of 4"),
    ({"layers": 0}, "layers must be"),
    ({"context": 1}, "context must be"),
])
def test_bad_model_settings_are_refused(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        decoder_lm(97, **kwargs)


# training and the bigram

def test_training_lowers_the_heldout_loss_and_beats_nothing_less_than_chance(trained):
    assert trained.steps == 60 and len(trained.losses) == 60
    assert trained.heldout_bits_per_char < trained.initial_heldout_bits_per_char
    assert trained.losses[-1] < trained.losses[0]
    assert trained.train_seconds > 0 and trained.eval_chars == 2048
    assert math.isclose(trained.heldout_bits_per_char,
                        bits_per_char(trained.lm, trained.lm.tokenizer.encode(
                            text_corpus(limit_chars=60_000).heldout_text)[:2048]), rel_tol=1e-5)
    assert "bits/char" in repr(trained) and trained.to_dict()["steps"] == 60
    assert trained.lm.training["heldout_bits_per_char"] == round(trained.heldout_bits_per_char, 4)


def test_the_bigram_is_finite_and_better_than_uniform(corpus):
    bpc = bigram_bits_per_char(corpus.train_text, corpus.heldout_text, CharTokenizer())
    assert math.isfinite(bpc) and 1.0 < bpc < math.log2(97)


def test_bits_per_char_scores_every_character_once(untrained):
    # a uniform model would score log2(V); an untrained one is near it
    text = "def f(x):\n    return x + 1\n" * 5
    bpc = bits_per_char(untrained, text)
    assert abs(bpc - math.log2(97)) < 0.5
    with pytest.raises(InvalidArgumentError, match="at least 2 characters"):
        bits_per_char(untrained, "a")


def test_train_lm_takes_a_corpus():
    with pytest.raises(InvalidArgumentError, match="takes a TextCorpus"):
        train_lm("some text")


# saving and loading

def test_save_and_load_give_identical_logits(trained, tmp_path):
    path = trained.lm.save(tmp_path / "tiny.lm.h5")
    record = json.loads((tmp_path / "tiny.lm.h5.json").read_text())
    assert record["format"] == "artspeed-lm" and record["config"]["context"] == CONTEXT
    tokens = trained.lm.tokenizer.encode("import sys\n")[None]
    for source in (path, tmp_path / "tiny.lm.h5.json"):
        loaded = load_lm(source)
        np.testing.assert_array_equal(loaded.logits(tokens).numpy(),
                                      trained.lm.logits(tokens).numpy())
        assert loaded.training["steps"] == 60 and loaded.tokenizer == trained.lm.tokenizer


def test_a_record_that_is_not_ours_is_a_clear_error(trained, tmp_path):
    path = trained.lm.save(tmp_path / "tiny.lm.h5")
    record_path = tmp_path / "tiny.lm.h5.json"
    record_path.write_text(json.dumps({"model": "baseline_cnn", "epochs": 5}))
    with pytest.raises(ModelError, match="not an artspeed language model's record"):
        load_lm(path)
    record_path.write_text("not json")
    with pytest.raises(ModelError, match="is not JSON"):
        load_lm(path)
    record_path.unlink()
    with pytest.raises(ModelError, match="has no record tiny.lm.h5.json"):
        load_lm(path)
    with pytest.raises(ModelError, match="does not exist"):
        load_lm(tmp_path / "nowhere.lm.h5")


def test_changed_weights_are_refused(trained, tmp_path):
    path = trained.lm.save(tmp_path / "tiny.lm.h5")
    with open(path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelError, match="not the file its record describes"):
        load_lm(path)


def test_saving_needs_an_h5_name(trained, tmp_path):
    with pytest.raises(InvalidArgumentError, match=r"\.h5 file"):
        trained.lm.save(tmp_path / "tiny.keras")
    with pytest.raises(InvalidArgumentError, match="is a folder"):
        trained.lm.save(tmp_path)


# generation

def test_greedy_tokens_are_the_same_with_and_without_the_cache(trained):
    cached = generate(trained.lm, "import ", max_new_tokens=20)
    recomputed = generate(trained.lm, "import ", max_new_tokens=20, kv_cache=False)
    assert cached.token_ids == recomputed.token_ids and len(cached.token_ids) == 20
    assert cached.kv_cache and not recomputed.kv_cache
    assert cached.text == trained.lm.tokenizer.decode(cached.token_ids)
    assert str(cached) == "import " + cached.text


def test_a_generation_carries_its_timings(trained):
    g = generate(trained.lm, "def ", max_new_tokens=10)
    assert g.prompt_tokens == 4 and len(g.decode_ms) == 9 and g.ttft_ms > 0
    assert set(g.tpot_ms) == {"p50", "p90"} and 0 < g.tpot_ms["p50"] <= g.tpot_ms["p90"]
    assert math.isclose(g.tokens_per_s, 10 / (g.total_ms / 1e3))
    assert not g.stopped_at_context
    assert "TTFT" in repr(g) and "generated" in g._repr_html_()
    assert json.loads(g.to_json())["tpot_ms"]["p50"] == g.tpot_ms["p50"]
    one = generate(trained.lm, "def ", max_new_tokens=1)
    assert one.decode_ms == () and math.isnan(one.tpot_ms["p50"])


@pytest.mark.parametrize("kv_cache", [True, False])
def test_generation_stops_at_the_context(trained, kv_cache):
    prompt = "x" * (CONTEXT - 3)
    g = generate(trained.lm, prompt, max_new_tokens=10, kv_cache=kv_cache)
    assert len(g.token_ids) == 3 and g.stopped_at_context


def test_sampling_is_seeded_and_top_k_1_is_greedy(trained):
    a = generate(trained.lm, "for ", max_new_tokens=15, temperature=1.0, seed=7)
    b = generate(trained.lm, "for ", max_new_tokens=15, temperature=1.0, seed=7)
    greedy = generate(trained.lm, "for ", max_new_tokens=15)
    top1 = generate(trained.lm, "for ", max_new_tokens=15, temperature=0.7, top_k=1, seed=3)
    assert a.token_ids == b.token_ids and top1.token_ids == greedy.token_ids


@pytest.mark.parametrize("prompt, kwargs, match", [
    ("", {}, "the prompt is empty"),
    ("x" * CONTEXT, {}, f"context is {CONTEXT}: give at most {CONTEXT - 1}"),
    ("print('héllo')", {}, "the prompt has 1 character outside .*'é'"),
    (42, {}, "the prompt must be a str"),
    ("def ", {"max_new_tokens": 0}, "max_new_tokens must be"),
    ("def ", {"temperature": -1}, "temperature must be"),
    ("def ", {"top_k": 0}, "top_k must be"),
])
def test_bad_prompts_and_settings_are_refused(untrained, prompt, kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        generate(untrained, prompt, **kwargs)


def test_generate_needs_a_language_model():
    with pytest.raises(InvalidArgumentError, match="needs a LanguageModel"):
        generate("model.lm.h5", "def ")


def test_importing_the_generative_layer_does_not_load_tensorflow():
    run = run_python("import sys, artspeed.generative\n"
                     "print('tensorflow' in sys.modules, artspeed.generate.__module__)")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "artspeed.generative.generation"]


def test_the_names_are_public():
    assert artspeed.generative.LanguageModel is LanguageModel


def test_float32_training_runs_and_says_its_precision(corpus):
    result = train_lm(corpus, layers=1, context=16, width=16, heads=2, steps=3, batch_size=4,
                      eval_chars=256, precision="f32", progress=False)
    assert result.record["precision"] == "f32" and all(map(math.isfinite, result.losses))
    assert artspeed.training_precision("auto") in ("bf16", "f32")
    with pytest.raises(InvalidArgumentError, match="choose auto, bf16 or f32"):
        artspeed.training_precision("f16")


def test_decode_against_recompute_times_both_ways_on_the_same_text(untrained):
    result = artspeed.decode_against_recompute(untrained, rounds=3)
    assert result.positions == CONTEXT - 1 and result.rounds == 3 and result.runtime == "keras"
    assert result.decode_ms > 0 and result.recompute_ms > 0
    assert result.speedup == pytest.approx(result.recompute_ms / result.decode_ms)
    assert "decode" in repr(result) and "speed-up" in result._repr_html_()
    assert artspeed.decode_against_recompute(untrained, 5, rounds=1).positions == 5
    with pytest.raises(InvalidArgumentError, match="positions"):
        artspeed.decode_against_recompute(untrained, CONTEXT)
