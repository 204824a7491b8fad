"""``artspeed lm``: train, generate and bench from the command line, on a tiny model."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from artspeed.cli import main

TINY = ["--layers", "1", "--context", "32", "--width", "32", "--steps", "3"]


def _run(capsys, *args):
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    """The tiny model ``artspeed lm train`` saved, and the JSON it printed."""
    out = tmp_path_factory.mktemp("lm") / "tiny.lm.h5"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["lm", "train", *TINY, "--out", str(out), "--json"]) == 0
    return out, json.loads(printed.getvalue())


@pytest.fixture(scope="module")
def trained(training):
    return training[0]


def test_train_saves_the_model_and_reports_its_loss_beside_the_bigram(training):
    out, record = training
    assert out.is_file() and out.with_name(out.name + ".json").is_file()
    assert record["model_path"] == str(out) and record["size_bytes"] == out.stat().st_size
    assert record["steps"] == 3 and record["heldout_bits_per_char"] > 0
    assert record["bigram_bits_per_char"] > 0 and record["sample"].startswith("def ")


@pytest.mark.parametrize("runtime", ["keras", "openvino"])
def test_generate_continues_the_prompt_and_times_it(trained, capsys, runtime):
    payload = _run(capsys, "lm", "generate", str(trained), "--prompt", "import ",
                   "--max-new-tokens", "5", "--runtime", runtime, "--json")
    assert payload["prompt"] == "import " and len(payload["token_ids"]) == 5
    assert payload["ttft_ms"] > 0 and payload["tpot_ms"]["p50"] > 0 and payload["kv_cache"]


def test_greedy_text_is_the_same_in_both_runtimes_and_without_the_cache(trained, capsys):
    texts = [_run(capsys, "lm", "generate", str(trained), "--prompt", "for i in",
                  "--max-new-tokens", "8", *extra, "--json")["text"]
             for extra in ([], ["--runtime", "openvino"], ["--no-kv-cache"])]
    assert texts[0] == texts[1] == texts[2]


def test_bench_reports_ttft_tpot_and_tokens_per_second_with_the_environment(trained, capsys):
    payload = _run(capsys, "lm", "bench", str(trained), "--prompt-tokens", "8",
                   "--new-tokens", "6", "--runs", "2", "--json")
    assert payload["runs"] == 2 and payload["prompt_tokens"] == 8 and payload["new_tokens"] == 6
    assert set(payload["tpot_ms"]) == {"p50", "p90"} and payload["tokens_per_s"] > 0
    assert payload["ttft_ms"]["p50"] > 0 and payload["env"]["cpu_model"]


def test_the_people_output_says_what_it_measured(trained, capsys):
    assert main(["lm", "bench", str(trained), "--prompt-tokens", "8", "--new-tokens", "4",
                 "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "TTFT" in out and "TPOT" in out and "tokens/s" in out


def test_compress_saves_an_ir_that_generate_runs(trained, tmp_path, capsys):
    payload = _run(capsys, "lm", "compress", str(trained), "--precision", "int4",
                   "--group-size", "16", "--out", str(tmp_path), "--json")
    xml = tmp_path / "tiny.lm-int4.xml"
    assert payload["xml"] == str(xml) and xml.is_file() and xml.with_suffix(".bin").is_file()
    assert payload["group_size"] == 16 and payload["bytes_ratio"] < 0.5
    assert "i4" in payload["weight_bytes_by_type"] or "u4" in payload["weight_bytes_by_type"]
    assert abs(payload["loss_change"]) < 0.5
    generated = _run(capsys, "lm", "generate", str(xml), "--prompt", "def ",
                     "--max-new-tokens", "4", "--json")
    assert len(generated["token_ids"]) == 4


@pytest.mark.parametrize("runtime", ["keras", "openvino"])
def test_a_draft_gives_the_same_greedy_text_and_says_what_it_accepted(trained, capsys, runtime):
    args = ["lm", "generate", str(trained), "--prompt", "while ", "--max-new-tokens", "12",
            "--runtime", runtime]
    alone = _run(capsys, *args, "--json")
    drafted = _run(capsys, *args, "--draft", str(trained), "--draft-tokens", "3", "--json")
    assert drafted["token_ids"] == alone["token_ids"]
    assert drafted["acceptance_rate"] == 1.0 and drafted["draft_tokens"] == 3   # its own draft


def test_bench_runs_a_static_batch(trained, capsys):
    payload = _run(capsys, "lm", "bench", str(trained), "--prompt-tokens", "8", "--new-tokens",
                   "4", "--batch-size", "3", "--runs", "1", "--runtime", "openvino", "--json")
    assert payload["batch_size"] == 3 and payload["runtime"] == "openvino"
    assert payload["tokens_per_s"] > 0
