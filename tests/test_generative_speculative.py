"""Speculative decoding and static batching of the language model, on tiny untrained models."""

import functools
import json
import math

import numpy as np
import pytest
from conftest import tiny_lm

import artspeed
from artspeed import (
    BatchGeneration,
    CausalLM,
    CharTokenizer,
    Generation,
    InvalidArgumentError,
    LanguageModel,
    ModelError,
    decoder_lm,
    generate,
    static_batching,
)

CONTEXT = 32


def _lm(seed=0, **shape):
    return tiny_lm(**{"context": CONTEXT, **shape}, seed=seed)


@pytest.fixture(scope="module")
def target():
    return _lm(seed=3)


@pytest.fixture(scope="module")
def near_draft(target):
    """The target's weights, a little perturbed: it agrees with the target often, not always."""
    draft = _lm(seed=4)
    rng = np.random.default_rng(0)
    draft.model.set_weights([w + rng.normal(0, 0.3 * (w.std() + 1e-3), w.shape)
                             for w in target.model.get_weights()])
    return draft


@pytest.fixture(scope="module")
def other_draft():
    return _lm(seed=9)


PROMPTS = ("def ", "import os", "x = [", "class A:")


# speculative decoding

@pytest.mark.parametrize("cache", ["growing", "fixed"])
def test_propose_in_one_graph_is_the_decode_loop(target, cache):
    lm = target.with_cache(cache)
    tokens = lm.tokenizer.encode("import os, sys")[None]
    _, past = lm.prefill(tokens[:, :-2])
    ids, present = lm.propose(tokens[:, -2:], past, 12, 5)            # the graph's loop
    looped, looped_present = CausalLM.propose(lm, tokens[:, -2:], past, 12, 5)   # Python's
    assert np.asarray(ids).tolist() == looped.tolist() and looped.shape == (1, 5)
    for (k, v), (lk, lv) in zip(present, looped_present):
        np.testing.assert_allclose(k.numpy(), lk.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(v.numpy(), lv.numpy(), atol=1e-5, rtol=0)
    if cache == "growing":                 # 14 tokens and four of the five ids
        assert tuple(present[0][0].shape) == (1, lm.heads, 18, lm.head_dim)
    text = np.concatenate([tokens, looped[:, :-1]], axis=1)
    greedy = generate(lm, "import os, sys", max_new_tokens=5).token_ids
    assert tuple(looped[0].tolist()) == greedy
    assert np.argmax(lm.logits(text).numpy()[0, -1]) == looped[0, -1]


@pytest.mark.parametrize("draft_tokens", [1, 5])
def test_speculative_tokens_are_the_targets_own(target, near_draft, draft_tokens):
    rates = []
    for prompt in PROMPTS:
        plain = generate(target, prompt, max_new_tokens=20)
        fast = generate(target, prompt, max_new_tokens=20, draft=near_draft,
                        draft_tokens=draft_tokens)
        assert fast.token_ids == plain.token_ids and fast.text == plain.text
        assert fast.draft_tokens == draft_tokens and fast.speculative
        assert 0 <= fast.accepted_tokens <= fast.proposed_tokens
        assert fast.acceptance_rate == pytest.approx(fast.accepted_tokens / fast.proposed_tokens)
        # every round gives the accepted proposals and one token of the target's own
        assert fast.new_tokens == 1 + fast.rounds + fast.accepted_tokens
        rates.append(fast.acceptance_rate)
    assert min(rates) < 1


def test_the_near_draft_is_sometimes_wrong(target, near_draft):
    fast = [generate(target, p, max_new_tokens=24, draft=near_draft, draft_tokens=4)
            for p in PROMPTS]
    assert sum(g.accepted_tokens for g in fast) > 0
    assert sum(g.accepted_tokens for g in fast) < sum(g.proposed_tokens for g in fast)


def test_a_draft_proposing_one_decode_at_a_time_gives_the_same(target, near_draft, monkeypatch):
    graph = generate(target, "x = [", max_new_tokens=20, draft=near_draft, draft_tokens=4)
    # the generic CausalLM.propose (what an OpenVINO draft runs): Python's loop of decodes
    monkeypatch.setattr(near_draft, "propose", functools.partial(CausalLM.propose, near_draft))
    looped = generate(target, "x = [", max_new_tokens=20, draft=near_draft, draft_tokens=4)
    assert looped.token_ids == graph.token_ids
    assert (looped.rounds, looped.accepted_tokens) == (graph.rounds, graph.accepted_tokens)


def test_a_draft_that_is_the_target_is_always_accepted(target):
    plain = generate(target, "def ", max_new_tokens=20)
    fast = generate(target, "def ", max_new_tokens=20, draft=target, draft_tokens=4)
    assert fast.token_ids == plain.token_ids
    assert fast.acceptance_rate == 1.0 and fast.rounds == 4   # 1 + 4 rounds x 5 tokens - 1
    assert fast.proposed_tokens == fast.accepted_tokens


def test_an_unrelated_draft_still_gives_the_targets_tokens(target, other_draft):
    plain = generate(target, "for i in", max_new_tokens=25)
    fast = generate(target, "for i in", max_new_tokens=25, draft=other_draft, draft_tokens=6)
    assert fast.token_ids == plain.token_ids and 0 <= fast.acceptance_rate <= 1


@pytest.mark.parametrize("cache", ["growing", "fixed"])
def test_speculative_decoding_stops_at_the_context(target, near_draft, cache):
    prompt = "x = " * 6                          # 24 of 32: room for 8
    plain = generate(target.with_cache(cache), prompt, max_new_tokens=20)
    fast = generate(target.with_cache(cache), prompt, max_new_tokens=20,
                    draft=near_draft.with_cache(cache), draft_tokens=5)
    assert fast.token_ids == plain.token_ids and fast.new_tokens == CONTEXT - len(prompt)
    assert fast.stopped_at_context and plain.stopped_at_context
    short = generate(target, "def ", max_new_tokens=3, draft=target, draft_tokens=8)
    assert short.new_tokens == 3 and not short.stopped_at_context
    one = generate(target, "def ", max_new_tokens=1, draft=target)
    assert one.new_tokens == 1 and one.rounds == 0 and math.isnan(one.acceptance_rate)


def test_a_speculative_generation_carries_its_timings(target, near_draft):
    g = generate(target, "def ", max_new_tokens=16, draft=near_draft, draft_tokens=3)
    assert len(g.decode_ms) == 15 and g.ttft_ms > 0 and all(ms > 0 for ms in g.decode_ms)
    assert math.isclose(g.tokens_per_s, 16 / (g.total_ms / 1e3))
    assert "accepted" in repr(g) and "acceptance rate" in g._repr_html_()
    record = json.loads(g.to_json())
    assert record["draft_tokens"] == 3 and record["rounds"] == g.rounds
    plain = generate(target, "def ", max_new_tokens=4)
    assert plain.draft_tokens == 0 and not plain.speculative and "accepted" not in repr(plain)
    assert json.loads(plain.to_json())["acceptance_rate"] is None


def test_a_draft_must_suit_the_target(target):
    short = _lm(context=CONTEXT // 2)
    with pytest.raises(ModelError, match=r"draft's context \(16\) is shorter than the target's"):
        generate(target, "def ", draft=short)
    other = LanguageModel(decoder_lm(10, layers=1, context=CONTEXT, width=32, heads=2),
                          CharTokenizer("0123456789"))
    with pytest.raises(ModelError, match="share one tokenizer"):
        generate(target, "def ", draft=other)
    with pytest.raises(InvalidArgumentError, match="draft must be a language model"):
        generate(target, "def ", draft="draft.lm.h5")


@pytest.mark.parametrize("kwargs, match", [
    ({"temperature": 0.8}, "greedy: use temperature=0 with a draft"),
    ({"kv_cache": False}, "needs the KV cache"),
    ({"draft_tokens": 0}, "draft_tokens must be"),
])
def test_bad_speculative_settings_are_refused(target, near_draft, kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        generate(target, "def ", draft=near_draft, **kwargs)


def test_a_batch_cannot_be_speculated(target, near_draft):
    with pytest.raises(InvalidArgumentError, match="one prompt at a time"):
        generate(target, ["def ", "for "], draft=near_draft)


# static batching

def test_each_row_of_a_batch_is_its_prompt_generated_alone(target):
    prompts = ["def f", "for i", "class", "x = 1"]
    batch = generate(target, prompts, max_new_tokens=12)
    assert isinstance(batch, BatchGeneration) and batch.batch_size == 4
    assert batch.new_tokens == 12 and len(batch.decode_ms) == 11
    for prompt, ids, text in zip(prompts, batch.token_ids, batch.texts):
        alone = generate(target, prompt, max_new_tokens=12)
        assert isinstance(alone, Generation) and alone.token_ids == ids and alone.text == text
    assert math.isclose(batch.tokens_per_s, 4 * 12 / (batch.total_ms / 1e3))
    assert str(batch).splitlines()[1] == "for i" + batch.texts[1]
    assert "4 rows" in repr(batch) and "tokens/s (all rows)" in batch._repr_html_()
    recomputed = generate(target, prompts, max_new_tokens=6, kv_cache=False)
    assert recomputed.token_ids == tuple(ids[:6] for ids in batch.token_ids)


def test_a_batch_stops_at_the_context_and_samples_per_row(target):
    batch = generate(target, ["y" * 28, "z" * 28], max_new_tokens=10)
    assert batch.stopped_at_context and batch.new_tokens == CONTEXT - 28
    sampled = generate(target, ["def a", "def b"], max_new_tokens=8, temperature=1.0, seed=2)
    again = generate(target, ["def a", "def b"], max_new_tokens=8, temperature=1.0, seed=2)
    assert sampled.token_ids == again.token_ids


def test_prompts_of_unequal_length_are_refused_in_one_line(target):
    with pytest.raises(InvalidArgumentError, match=r"equally long .*lengths 3 to 5.*prompt\[-3:\]"):
        generate(target, ["def", "class"])
    with pytest.raises(InvalidArgumentError, match="non-empty list"):
        generate(target, [])
    with pytest.raises(InvalidArgumentError, match="the prompt is empty"):
        generate(target, ["", ""])


def test_static_batching_times_each_batch_size(target):
    prompts = ["def f", "for i", "class", "x = 1"]
    result = static_batching(target, prompts, batch_sizes=(1, 2, 4), max_new_tokens=6,
                             repeats=2)
    assert result.batch_sizes == (1, 2, 4) and result.identical is True
    assert all(t > 0 for t in result.tokens_per_s) and result.new_tokens == 6
    assert all(0 < a <= b for a, b in zip(result.tpot_p50_ms, result.tpot_p90_ms))
    assert "batch 4" in repr(result) and "TPOT p50" in result._repr_html_()
    assert len(result.rows()) == 3 and json.loads(result.to_json())["repeats"] == 2
    made = []
    by_batch = static_batching(lambda b: made.append(b) or target, prompts[:2],
                               batch_sizes=(2,), max_new_tokens=3, repeats=1)
    assert by_batch.identical and made == [2, 1]
    with pytest.raises(InvalidArgumentError, match="at least 4 prompts"):
        static_batching(target, prompts[:2], batch_sizes=(1, 4))


def test_the_static_batching_plot_labels_each_batch_size(target):
    import matplotlib

    matplotlib.use("Agg")
    result = static_batching(target, ["def f", "for i"], batch_sizes=(1, 2), max_new_tokens=3,
                             repeats=1, check=False)
    ax = result.plot()
    assert result.identical is None
    assert [t.get_text() for t in ax.texts] == ["batch 1", "batch 2"]


def test_the_names_are_public():
    for name in ("BatchGeneration", "static_batching", "StaticBatching"):
        assert name in artspeed.__all__


def test_a_stateful_model_cannot_be_its_own_draft(target):
    stateful = artspeed.compile_lm(target)
    with pytest.raises(InvalidArgumentError, match="cannot be its own draft"):
        generate(stateful, "def ", draft=stateful)


@pytest.mark.parametrize("stateful", [True, False])
def test_speculative_decoding_in_openvino_gives_the_keras_tokens(target, near_draft, stateful):
    ov_target = artspeed.compile_lm(target, stateful=stateful)
    ov_draft = artspeed.compile_lm(near_draft, stateful=stateful)
    for prompt in ("def ", "x = " * 6):
        keras = generate(target, prompt, max_new_tokens=12).token_ids
        fast = generate(ov_target, prompt, max_new_tokens=12, draft=ov_draft, draft_tokens=4)
        assert fast.token_ids == keras and 0 <= fast.acceptance_rate <= 1


def test_static_batching_in_openvino_with_a_dynamic_batch(target):
    dynamic = artspeed.compile_lm(target, stateful=False, batch_size=None)
    batch = generate(dynamic, ["def f", "for i", "class"], max_new_tokens=8)
    assert batch.token_ids == tuple(generate(target, p, max_new_tokens=8).token_ids
                                    for p in ["def f", "for i", "class"])
