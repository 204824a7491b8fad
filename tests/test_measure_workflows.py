"""The library calls behind ``artspeed profile`` and ``bench``: plain values in, a Result out."""

from __future__ import annotations

import json

import pytest
from _inference_models import tiny_models  # noqa: F401  (a fixture)

import artspeed
from artspeed import BenchComparison, SpecProfile


def test_profile_spec_of_a_saved_model(tmp_path):
    path = artspeed.save_model(artspeed.dense_example(), tmp_path / "dense.keras")
    result = artspeed.profile_spec(str(path), batch_size=2)
    assert result.spec == str(path) and result.batch_size == 2 and result.total_params == 387
    data = result.to_dict()
    assert next(iter(data)) == "spec"
    assert SpecProfile.from_dict(json.loads(json.dumps(data))) == result


@pytest.mark.filterwarnings("ignore::artspeed.NoisyMeasurementWarning")
def test_bench_models_compares_against_the_first(tiny_models):  # noqa: F811
    paths = [str(tiny_models["tflite"]), str(tiny_models["xml"])]
    comparison = artspeed.bench_models(paths, iterations=5, warmup=1)
    first, second = comparison.runs
    assert first.speedup_p50_vs_first == 1.0
    assert second.speedup_p50_vs_first == pytest.approx(first.p50_ms / second.p50_ms)
    row = second.to_dict()
    assert row["model"] == paths[1] and row["scenario"] == "benchmark"
    assert row["iterations"] == 5 and "latencies_ms" not in row
    assert set(row["latency_ms"]) == {"p50", "p90", "p99", "mean", "std"}
    again = BenchComparison.from_dict(json.loads(json.dumps(comparison.to_dict())))
    assert [r.model for r in again.runs] == paths


def test_bench_models_runs_a_scenario(tiny_models):  # noqa: F811
    run, = artspeed.bench_models([tiny_models["tflite"]], scenario="multi-stream",
                                 batch_size=4, duration_s=0.05).runs
    data = run.to_dict()
    assert data["scenario"] == "multi-stream" and data["batch_size"] == 4
    assert data["iterations"] == data["queries"]
