"""The tour: variants built and measured alike, a report, resume, and bad input."""

import html
import json
import re

import pytest
from conftest import TOUR_EXTRAS, TOUR_FAILING, run_cli
from conftest import TOUR_VARIANTS as VARIANTS

import artspeed
from artspeed.core.errors import InvalidArgumentError
from artspeed.tour import run as tour_module

# small_tour (tests/conftest.py): one fast tour of the vehicle on the built-in scenes, shared
# with tests/test_interruptions.py: VARIANTS built and measured, TOUR_FAILING skipped.


def test_every_variant_is_measured_alike(small_tour):
    result, out, _ = small_tour
    assert result.names == ["keras", *VARIANTS]
    for v in result.variants:
        assert 0.0 <= v.accuracy <= 1.0 and v.size_bytes > 0 and 0 < v.gzip_bytes
        lat = v.latency_ms
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] and v.throughput_per_s > 0
    assert result.baseline.runtime == "keras"
    assert result["tflite-int8"].size_bytes < 0.35 * result["tflite-float32"].size_bytes
    assert result.profile["total_params"] == artspeed.vehicle().count_params()
    assert result.model == "vehicle" and result.dataset == "scenes"
    # energy and cost per inference, for every variant, with where the figure comes from
    assert set(result.costs) == set(result.names)
    for cost in result.costs.values():
        assert cost["joules_per_inference"] > 0 and cost["cost_per_million"] > 0
        assert cost["source"] in ("rapl", "estimate")


def test_pareto_picks_and_targets_follow_from_the_measurements(small_tour):
    result, _, _ = small_tour
    points = [{"name": v.name, "accuracy": v.accuracy, "latency_ms": v.p50_ms}
              for v in result.variants]
    noise = artspeed.latency_noise(result.variants)   # ties within the rounds' spread
    front = {points[i]["name"] for i in artspeed.pareto_front(
        points, relative_ties={"latency_ms": noise} if noise else None)}
    assert set(result.pareto_latency) == front and front
    base = result.baseline
    close = [v for v in result.variants if 100 * (base.accuracy - v.accuracy) <= 1.0]
    assert result.picks["latency"] == min(close, key=lambda v: v.p50_ms).name
    assert result.picks["size"] == min(close, key=lambda v: v.gzip_bytes).name
    fastest = result[result.picks["latency"]]
    assert result.targets["fastest_within_1pt_speedup_vs_function"] == pytest.approx(
        base.p50_ms / fastest.p50_ms)
    assert result.targets["fastest_within_1pt_speedup_vs_tflite_float32"] == pytest.approx(
        result["tflite-float32"].p50_ms / fastest.p50_ms)
    # throughput, the Offline scenario: the fastest within a point, batched, and OpenVINO's
    # throughput hint with async requests; the pick is what finished most, however it ran
    tried = set(result.batch_curves) | set(result.async_runs)
    assert result.picks["latency"] in tried and result.picks["throughput"] in tried
    assert set(result.async_runs) == {v.name for v in close if v.runtime == "openvino"}
    for run in result.async_runs.values():
        assert run["throughput_per_s"] > 0 and run["streams"] >= 1 and run["requests"] >= 1
    rates = {name: result.best_throughput(name)[1] for name in tried}
    noise = artspeed.latency_noise(result.variants)
    assert rates[result.picks["throughput"]] >= max(rates.values()) * (1 - noise)
    if result.picks["throughput"] != result.picks["latency"]:   # ties go to the latency pick
        assert rates[result.picks["latency"]] < max(rates.values()) * (1 - noise)
    smallest = result[result.picks["size"]]
    times_smaller = result.targets["smallest_within_1pt_gzip_times_smaller"]
    assert times_smaller == pytest.approx(base.gzip_bytes / smallest.gzip_bytes) and \
        times_smaller >= 1


def test_results_json_and_a_self_contained_report(small_tour):
    result, out, _ = small_tour
    again = artspeed.load_tour(out)
    assert again == result
    older = result.to_dict()   # results.json from before "× smaller" was the one word
    older["targets"]["smallest_within_1pt_gzip_ratio"] = older["targets"].pop(
        "smallest_within_1pt_gzip_times_smaller")
    assert artspeed.TourResult.from_dict(older) == result
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") >= 3       # two Pareto plots and the curves
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)
    assert "url(http" not in page and "@import" not in page
    for v in result.variants:
        assert v.name in page
    assert f"{result.baseline.accuracy:.2%}" in page
    header, rows = result.table_rows()
    assert len(rows) == len(result.variants) and "× smaller" in header
    text, view = result.table(), result._repr_html_()
    for row in rows:
        for cell in row:
            assert cell in text and html.escape(cell) in view and html.escape(cell) in page
    assert "What to pick" in page and "Environment" in page
    assert "Energy and cost per inference" in page and "tf.function" in page


def test_an_interrupted_tour_resumes_from_the_steps_done(small_tour, monkeypatch):
    result, out, data = small_tour
    state = json.loads((out / "state.json").read_text())
    steps = [name for name, _, _ in tour_module._steps(["keras", *VARIANTS, *TOUR_FAILING])]
    assert list(state["steps"]) == steps == [
        "baseline", "variant:keras", "variant:tflite-float32", "variant:tflite-int8",
        "variant:openvino-f32", "variant:boom", "variant:garbage", "variant:needs-conv",
        "measure", "picks", "curves", "energy", "report"]

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished step ran again")

    monkeypatch.setenv("ARTSPEED_FAST", "1")
    monkeypatch.setattr(tour_module, "VARIANTS", [*tour_module.VARIANTS, *TOUR_EXTRAS])
    for step in ("_baseline", "_prepare_baseline", "_variant", "_measure", "_picks", "_curves",
                 "_energy"):
        monkeypatch.setattr(tour_module, step, must_not_run)
    (out / "report.html").unlink()
    again = artspeed.run_tour(dataset=data, quick=True, out=out, progress=False,
                              variants=[*VARIANTS, *TOUR_FAILING])
    assert [v.to_dict() for v in again.variants] == [v.to_dict() for v in result.variants]
    assert (again.picks, again.pareto_latency) == (result.picks, result.pareto_latency)
    assert again.skipped == result.skipped
    assert (out / "report.html").exists()
    # the tour's time counts the steps the first run did, not only this resumption
    taken = json.loads((out / "state.json").read_text())["step_seconds"]
    assert set(taken) == set(steps) and again.seconds >= sum(
        seconds for step, seconds in taken.items() if step != "report")


def test_a_changed_model_file_is_not_mistaken_for_the_finished_one(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTSPEED_FAST", "1")
    data = artspeed.load_dataset("shapes", limit_train=300, limit_test=100)
    path = tmp_path / "mine.keras"
    artspeed.save_model(artspeed.baseline_cnn(width=4, seed=1), path)
    first = artspeed.run_tour(path, data, quick=True, out=tmp_path / "t", progress=False,
                              variants=["tflite-float32"])
    artspeed.save_model(artspeed.baseline_cnn(width=8, seed=2), path)   # same path, new model
    second = artspeed.run_tour(path, data, quick=True, out=tmp_path / "t", progress=False,
                               variants=["tflite-float32"])
    assert first.profile["total_params"] != second.profile["total_params"]
    assert second.profile["total_params"] == artspeed.baseline_cnn(width=8).count_params()


def test_a_variant_that_does_not_apply_is_skipped_with_its_reason(small_tour):
    result, out, _ = small_tour   # its builder raised InvalidArgumentError: no Conv2D layer
    assert result.names == ["keras", *VARIANTS]
    assert result.skipped["needs-conv"] == "this model has no Conv2D layer to prune"
    assert set(result.skipped) == set(TOUR_FAILING)   # nothing else was skipped
    assert "no Conv2D layer to prune" in (out / "report.html").read_text()


def test_a_model_of_the_wrong_shape_is_refused_with_the_shape_it_needs(tmp_path):
    data = artspeed.load_dataset("shapes", limit_train=50, limit_test=20)
    wrong = artspeed.baseline_cnn((32, 32, 3), width=4)
    with pytest.raises(InvalidArgumentError, match=r"input_shape=\(28, 28, 1\)"):
        artspeed.run_tour(wrong, data, quick=True, out=tmp_path / "t", progress=False)


def test_unknown_variants_and_an_unwritable_out_fail_before_any_work(tmp_path):
    with pytest.raises(InvalidArgumentError, match="unknown variants"):
        artspeed.run_tour(dataset="shapes", out=tmp_path / "t", variants=["tflite-int3"])
    names = [name for name, _ in tour_module.VARIANTS]
    assert {"openvino-f32", "openvino-int8"} <= set(names) and "openvino-fp32" not in names
    with pytest.warns(DeprecationWarning, match="'openvino-fp32' is now called 'openvino-f32'"), \
            pytest.raises(InvalidArgumentError, match=r"unknown variants \['tflite-int3'\]"):
        artspeed.run_tour(dataset="shapes", out=tmp_path / "t",
                          variants=["openvino-fp32", "tflite-int3"])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("tour", "--quick", "--dataset", "shapes", "--out", str(blocker / "tour"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "cannot create the folder" in lines[0]


def test_cli_refuses_a_missing_model_in_one_line(tmp_path):
    result = run_cli("tour", str(tmp_path / "nope.keras"), "--out", str(tmp_path / "t"))
    assert result.returncode == 2 and "no model at" in result.stderr
    assert "Traceback" not in result.stderr
