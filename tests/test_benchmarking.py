"""The benchmark harness: statistics, budgets, sweeps, JSON, comparisons and the CLI."""

import json
import time
import warnings

import numpy as np
import pytest
from _inference_models import tiny_models  # noqa: F401  (a session fixture)
from conftest import run_cli_many

import artspeed
from artspeed.core.errors import InvalidArgumentError
from artspeed.measure.benchmarking import NOISY_CV, latency_stats, spread


def test_latency_stats_match_numpy():
    values = np.arange(1, 101, dtype=float)
    stats = latency_stats(values)
    assert stats["p50"] == pytest.approx(50.5) and stats["p99"] == pytest.approx(99.01)
    assert stats["mean"] == pytest.approx(50.5) and stats["std"] == pytest.approx(values.std(ddof=1))
    assert (stats["min"], stats["max"]) == (1.0, 100.0)


def test_fixed_iterations_and_result_fields(tiny_models):  # noqa: F811
    predictor = artspeed.load_predictor(tiny_models["tflite"], threads=1)
    result = artspeed.benchmark(predictor, batch_size=2, iterations=25, warmup=3)
    assert result.iterations == 25 and result.batch_size == 2 and result.warmup == 3
    lat = result.latency_ms
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert len(result.latencies_ms) == 25 and result.first_call_ms > 0
    expected = 2 * 25 / result.wall_s
    assert result.throughput_per_s == pytest.approx(expected)
    assert result.runtime == "tflite" and result.threads == 1
    assert result.env.threads == 1 and result.env.versions["openvino"]
    assert result.cv >= 0 and result.robust_cv >= 0
    assert "p50" in repr(result) and "<table" in result._repr_html_()
    assert result.runtime_latency_ms is None   # TFLite has no timer of its own


def test_openvino_sync_records_its_own_timer_beside_the_wall_time(tiny_models):  # noqa: F811
    predictor = artspeed.load_predictor(tiny_models["xml"])
    result = artspeed.benchmark(predictor, batch_size=2, iterations=60, warn=False)
    own, wall = result.runtime_latency_ms, result.latency_ms
    assert own is not None and 0 < own["min"] <= own["p50"] <= own["max"]
    # OpenVINO times the inference inside the call that Python times around it
    assert own["p50"] <= wall["p50"] and own["mean"] <= wall["mean"]
    assert "own timer" in result._repr_html_()
    assert artspeed.BenchmarkResult.from_json(result.to_json()) == result


def test_time_budget_stops_the_run():
    slow = artspeed.FunctionPredictor(lambda x: time.sleep(0.002) or x, input_shape=(None, 1))
    result = artspeed.benchmark(slow, duration_s=0.1, warmup=1, warn=False)
    # sleep() never returns early, so at most 50 runs start within 0.1 s (51: clock
    # rounding), whatever the machine's load; every run but the last ended before the deadline.
    assert 1 <= result.iterations <= 51
    assert sum(result.latencies_ms[:-1]) < 100
    both = artspeed.benchmark(slow, iterations=3, duration_s=10, warmup=0, warn=False)
    assert both.iterations == 3


def test_json_round_trip_and_compare(tmp_path):
    fast = artspeed.benchmark(artspeed.FunctionPredictor(None, name="fast"), iterations=50,
                              warn=False)
    slow = artspeed.benchmark(
        artspeed.FunctionPredictor(lambda x: time.sleep(0.001) or x, name="slow"),
        iterations=5, warmup=1, warn=False)
    path = tmp_path / "fast.json"
    fast.to_json(path)
    again = artspeed.BenchmarkResult.from_json(path)
    assert again == fast and isinstance(again.env, artspeed.Environment)
    comparison = artspeed.compare(slow, fast)
    assert comparison.speedup > 10
    assert str(comparison).startswith("fast is ") and str(comparison).endswith(
        "faster than slow at p50")
    assert "slower" in str(artspeed.compare(fast, slow, "throughput"))
    with pytest.raises(InvalidArgumentError, match="unknown statistic"):
        artspeed.compare(fast, slow, "p75")


def test_noisy_runs_warn():
    rng = np.random.default_rng(0)
    jittery = artspeed.FunctionPredictor(
        lambda x: time.sleep(float(rng.uniform(0.0001, 0.004))) or x)
    with pytest.warns(artspeed.NoisyMeasurementWarning, match="trust the median"):
        result = artspeed.benchmark(jittery, iterations=20, warmup=0)
    assert result.noisy and result.robust_cv > NOISY_CV


def test_spread_ignores_a_few_stalls_but_not_a_wide_spread():
    steady = [2.0, 2.02, 1.98, 2.01, 1.99] * 4 + [40.0]   # one stall of a busy machine
    cv, robust_cv = spread(steady)
    assert cv > 1.0 and robust_cv < 0.02 < NOISY_CV
    _, wide = spread(np.linspace(0.5, 4.0, 21))
    assert wide > NOISY_CV
    assert spread([3.0]) == (0.0, 0.0)


def test_the_warning_follows_the_spread_of_the_run():
    # Whether a real run is noisy depends on the machine; the warning must agree with it.
    steady = artspeed.FunctionPredictor(lambda x: time.sleep(0.002) or x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", artspeed.NoisyMeasurementWarning)
        result = artspeed.benchmark(steady, iterations=10, warmup=1)
    warned = [w for w in caught if issubclass(w.category, artspeed.NoisyMeasurementWarning)]
    assert len(warned) == int(result.noisy)
    assert (result.cv, result.robust_cv) == spread(result.latencies_ms)


def test_batch_and_thread_sweeps(tiny_models):  # noqa: F811
    predictor = artspeed.load_predictor(tiny_models["xml"])
    sweep = artspeed.batch_sweep(predictor, (1, 4), iterations=10, warn=False)
    assert sweep.values == (1, 4) and [r.batch_size for r in sweep.results] == [1, 4]
    assert artspeed.Sweep.from_json(sweep.to_json()) == sweep
    threads = artspeed.thread_sweep(tiny_models["tflite"], (1, 2), iterations=10, warn=False)
    assert [r.threads for r in threads.results] == [1, 2]
    assert [r.env.threads for r in threads.results] == [1, 2]
    assert len(threads.rows()) == 2


def test_async_openvino_keeps_requests_in_flight(tiny_models):  # noqa: F811
    predictor = artspeed.load_predictor(tiny_models["xml"], mode="async", requests=2)
    result = artspeed.benchmark(predictor, batch_size=2, iterations=40, warn=False)
    assert result.iterations == 40 and result.mode == "async"
    assert result.predictor["compiled_requests"] == 2
    assert result.runtime_latency_ms == result.latency_ms   # both are OpenVINO's own timer


def test_keras_model_is_wrapped(tiny_models):  # noqa: F811
    result = artspeed.benchmark(tiny_models["model"], iterations=3, warmup=1, warn=False)
    assert result.runtime == "keras" and result.mode == "call"


@pytest.mark.parametrize("kwargs, match", [
    ({"iterations": 0}, "iterations"), ({"iterations": -5}, "iterations"),
    ({"duration_s": 0}, "duration_s"), ({"duration_s": -1.0}, "duration_s"),
    ({"warmup": -1}, "warmup"), ({"batch_size": 0}, "batch_size"),
    ({"iterations": 2.5}, "iterations")])
def test_bad_budgets(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        artspeed.benchmark(artspeed.FunctionPredictor(None), **kwargs)


def test_bad_sweeps():
    with pytest.raises(InvalidArgumentError, match="batch_sizes"):
        artspeed.batch_sweep(artspeed.FunctionPredictor(None), (1, 0))
    with pytest.raises(InvalidArgumentError, match="threads"):
        artspeed.thread_sweep(lambda n: artspeed.FunctionPredictor(None), ())


# ------------------------------------------------------------------ CLI
def test_cli_bench_json_and_table(tiny_models):  # noqa: F811
    done = run_cli_many({   # one interpreter for the three
        "tflite": ["bench", str(tiny_models["tflite"]), "--iterations", "20", "--threads", "1",
                   "--json"],
        "ir": ["bench", str(tiny_models["xml"]), "--iterations", "20", "--json"],
        "both": ["bench", str(tiny_models["tflite"]), str(tiny_models["xml"]),
                 "--scenario", "single-stream", "--duration", "0.2"]})
    code, stdout, stderr = done["tflite"]
    assert code == 0, stderr
    payload = json.loads(stdout)
    for key in ("runtime", "batch_size", "threads", "scenario", "latency_ms",
                "throughput_per_s", "iterations", "env"):
        assert key in payload
    assert set(payload["latency_ms"]) == {"p50", "p90", "p99", "mean", "std"}
    assert (payload["runtime"], payload["threads"], payload["iterations"]) == ("tflite", 1, 20)
    assert payload["env"]["threads"] == 1 and payload["runtime_latency_ms"] is None
    code, stdout, stderr = done["ir"]
    assert code == 0, stderr
    own = json.loads(stdout)["runtime_latency_ms"]
    assert set(own) == {"p50", "p90", "p99", "mean", "std"} and own["p50"] > 0

    code, stdout, stderr = done["both"]
    assert code == 0, stderr
    assert "vs first" in stdout and "openvino" in stdout
    assert "single-stream" in stdout


def test_cli_bench_errors_are_one_line(tmp_path, tiny_models):  # noqa: F811
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"junk")
    cases = [
        (["--duration", "0"], "above 0"), (["--iterations", "-3"], ">= 1"),
        (["--runtime", "onnx"], "invalid choice"),
    ]
    commands = {str(i): ["bench", str(tiny_models["tflite"]), *extra]
                for i, (extra, _) in enumerate(cases)}
    files = ((junk, "not a TFLite model"), (tmp_path / "x.onnx", "does not exist"),
             (tiny_models["xml_fixed"], "fixed batch"))
    commands.update({str(len(cases) + i): ["bench", str(path), "--batch-size", "2", "--iterations", "2"]
                     for i, (path, _) in enumerate(files)})
    done = run_cli_many(commands)
    for i, (_, message) in enumerate([*cases, *files]):
        code, _, stderr = done[str(i)]
        assert code == 2 and message in stderr, stderr
        assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
