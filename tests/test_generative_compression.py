"""Weight compression of the language model with NNCF's compress_weights, and the comparison."""

import json

import matplotlib
import numpy as np
import pytest
from conftest import tiny_lm

import artspeed
from artspeed import (
    VOCABULARY,
    CompressionComparison,
    InvalidArgumentError,
    ModelError,
    OpenVINOLanguageModel,
    bits_per_char,
    compare_compression,
    compile_lm,
    compress_lm,
    convert_lm,
    heldout_prompts,
    load_lm_ir,
)
from artspeed.core.frameworks import nncf
from artspeed.generative.compression import _group_size_error

matplotlib.use("Agg")

CONTEXT = 32
TEXT = "def f(x):\n    return x + 1\n\nclass A:\n    pass\n" * 6


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(context=CONTEXT, width=64, seed=7)


@pytest.fixture(scope="module")
def tokens():
    return np.random.default_rng(1).integers(0, len(VOCABULARY), (1, 24)).astype(np.int32)


@pytest.fixture(scope="module")
def models(lm):
    return {"f32": compile_lm(lm), "int8": compress_lm(lm, "int8"),
            "int4": compress_lm(lm, "int4", group_size=32)}


def test_int8_and_int4_store_fewer_bytes_in_integer_types(models):
    f32, int8, int4 = models["f32"], models["int8"], models["int4"]
    assert set(f32.weight_bytes_by_type) <= {"f32", "i32", "i64"}
    assert int8.weight_bytes_by_type["u8"] > 0 and int8.weights == "int8"
    assert int4.weight_bytes_by_type["i4"] > 0 and int4.weights == "int4"
    assert "u8" in int4.weight_bytes_by_type          # NNCF's INT8 backup: embeddings, head
    assert int4.weight_bytes < int8.weight_bytes < f32.weight_bytes / 3
    assert int4.weight_bytes == sum(int4.weight_bytes_by_type.values())
    assert repr(int8).endswith("int8 weights>")
    assert repr(int4).endswith("int4 weights (groups of 32)>") and int4.group_size == 32


def test_compressed_logits_are_close_to_float(models, lm, tokens):
    full = lm.logits(tokens).numpy()
    scale = np.abs(full).max()
    for name, tolerance in (("int8", 0.02), ("int4", 0.2)):
        diff = np.abs(models[name].logits(tokens) - full).max()
        assert 0 < diff < tolerance * scale, (name, diff, scale)
    for name in ("int8", "int4"):
        assert abs(bits_per_char(models[name], TEXT) / bits_per_char(lm, TEXT) - 1) < 0.05


def test_the_compressed_model_keeps_the_causal_lm_contract(models, tokens):
    model = models["int4"]                   # stateful: extend and rewind move its state
    full = model.logits(tokens)
    _, length = model.prefill(tokens[:, :6])
    logits, length = model.extend(tokens[:, 6:12], length, 6)
    np.testing.assert_allclose(logits, full[:, 6:12], atol=1e-5, rtol=0)
    length = model.rewind(length, 9)
    logits, length = model.decode(tokens[:, 9:10], length, 9)
    np.testing.assert_allclose(logits, full[:, 9], atol=1e-5, rtol=0)
    assert artspeed.generate(model, "def ", max_new_tokens=6).new_tokens == 6


def test_all_layers_compresses_embeddings_and_head_to_int4(lm, models):
    everything = compress_lm(lm, "int4", group_size=32, all_layers=True, stateful=False)
    assert "u8" not in everything.weight_bytes_by_type and not everything.stateful
    assert everything.weight_bytes < models["int4"].weight_bytes
    half = compress_lm(lm, "int4", group_size=32, ratio=0.5)    # half the layers stay INT8
    assert half.weight_bytes_by_type["u8"] > models["int4"].weight_bytes_by_type["u8"]
    assert repr(half).endswith("int4 weights (groups of 32, ratio 0.5)>")


def test_a_group_size_that_does_not_divide_is_refused_in_one_line(lm):
    with pytest.raises(InvalidArgumentError, match=r"^group size 48 does not divide block0_qkv's "
                                                   r"64 input channels; use a divisor of 64 such "
                                                   r"as 16, 32 or 64$"):
        compress_lm(lm, "int4", group_size=48)
    with pytest.raises(InvalidArgumentError, match="group size 128 does not divide block0_qkv's 64"):
        compress_lm(lm, "int4")                  # the default, 128, is wider than this model
    with pytest.raises(nncf.InvalidGroupSizeError) as raised:   # NNCF's own error, reworded
        nncf.compress_weights(convert_lm(lm), mode=nncf.CompressWeightsMode.INT4_SYM,
                              group_size=48)
    message = str(_group_size_error(raised.value, 48))
    assert message.startswith("group size 48 does not divide block0_")
    assert message.endswith("input channels; use a divisor of 64 such as 16, 32 or 64") or \
        message.endswith("of 256 such as 64, 128 or 256")
    assert "\n" not in message


def test_bad_settings_are_refused(lm, models):
    with pytest.raises(InvalidArgumentError, match="group_size, ratio and all_layers are for int4"):
        compress_lm(lm, "int8", group_size=32)
    with pytest.raises(InvalidArgumentError, match="unknown precision 'int2'; choose int8 or int4"):
        compress_lm(lm, "int2")
    with pytest.raises(InvalidArgumentError, match="ratio must be a fraction in"):
        compress_lm(lm, "int4", group_size=32, ratio=1.5)
    with pytest.raises(ModelError, match="compressed already"):
        compress_lm(models["int8"], "int4", group_size=32)
    with pytest.raises(InvalidArgumentError, match="cannot be made stateless again"):
        compress_lm(models["f32"], "int8", stateful=False)
    with pytest.raises(InvalidArgumentError, match="needs a LanguageModel, an OpenVINOLanguage"):
        compress_lm("model.xml")


def test_an_openvino_model_or_ir_compresses_too(lm, models, tokens):
    stateless = compile_lm(lm, stateful=False)
    from_compiled = compress_lm(stateless, "int8")              # made stateful after
    from_ir = compress_lm(convert_lm(lm), "int8", stateful=False)
    assert from_compiled.stateful and not from_ir.stateful
    assert not stateless.model.has_rt_info(["artspeed_lm", "weights"])      # the source untouched
    assert "u8" not in stateless.weight_bytes_by_type and not stateless.stateful
    np.testing.assert_allclose(from_compiled.logits(tokens), models["int8"].logits(tokens),
                               atol=1e-5, rtol=0)
    np.testing.assert_allclose(from_ir.logits(tokens), models["int8"].logits(tokens),
                               atol=1e-5, rtol=0)


def test_save_and_load_keep_the_precision(models, tokens, tmp_path):
    path = models["int4"].save(tmp_path / "lm_int4.xml")
    record = json.loads((tmp_path / "lm_int4.xml.json").read_text())
    assert record["openvino"]["weights"] == "int4" and record["openvino"]["group_size"] == 32
    loaded = load_lm_ir(path)
    assert isinstance(loaded, OpenVINOLanguageModel)
    assert (loaded.weights, loaded.group_size) == ("int4", 32) and repr(loaded) == repr(models["int4"])
    assert loaded.weight_bytes_by_type == models["int4"].weight_bytes_by_type
    np.testing.assert_array_equal(loaded.logits(tokens), models["int4"].logits(tokens))


def test_heldout_prompts_are_seeded_cuts_at_line_starts():
    prompts = heldout_prompts(TEXT, 20, chars=8, seed=3)
    assert len(prompts) == 20 and all(len(p) == 8 for p in prompts)
    assert prompts == heldout_prompts(TEXT, 20, chars=8, seed=3)
    assert all(TEXT.startswith(p) or f"\n{p}" in TEXT for p in prompts)
    with pytest.raises(InvalidArgumentError, match="no line with 500 characters"):
        heldout_prompts(TEXT, 2, chars=500)


def test_compare_compression_fields_are_sane(lm):
    r = compare_compression(lm, TEXT, ["def ", "class A"], group_size=32, max_new_tokens=5,
                            rounds=2)
    assert isinstance(r, CompressionComparison) and r.precisions == ("f32", "int8", "int4")
    assert r.agreement["f32"] == 1.0 and r.identical_prompts["f32"] == 2
    assert all(0 <= r.agreement[p] <= 1 for p in r.precisions)
    assert r.bytes_ratio("f32") == 1 and r.bytes_ratio("int4") < r.bytes_ratio("int8") < 0.35
    assert all(abs(r.loss_ratio(p) - 1) < 0.05 for p in r.precisions)
    assert all(r.tpot_ms[p] > 0 for p in r.precisions) and r.group_size == 32
    assert r.prompts == 2 and r.max_chars == len(TEXT) and r.int4_mode == "INT4_SYM"
    assert r.cache_bytes is None or r.weights_fit_in_cache == (r.weight_bytes["f32"] <= r.cache_bytes)
    data = json.loads(r.to_json())
    assert data["weight_bytes_by_type"]["int4"]["i4"] > 0
    assert repr(r).startswith("<CompressionComparison f32 ") and "; int4 0." in repr(r)
    assert "int4" in r._repr_html_() and len(r.rows()) == 3
    assert len(r.plot()) == 4
    with pytest.raises(InvalidArgumentError, match="needs a LanguageModel"):
        compare_compression("x", TEXT)
