"""artspeed serve: a real local Ray Serve on 127.0.0.1, started and stopped within the tests.

One server (a small convolutional model) serves most tests, and is redeployed
(batching off; OpenVINO with streams; LiteRT) rather than started again. The
cluster test starts a one-node cluster with ``ray start --head`` on loopback;
the CLI test runs ``artspeed serve`` and stops it with Ctrl-C. Every wait is
bounded, and each test checks behaviour, never speed.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import artspeed
from artspeed.core.frameworks import ov, tf

_TIMEOUT_S = 120
_LIMIT = 100_000   # the fixture's request limit, in bytes: 31 images of 28 x 28 x 1 floats


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """A small CNN as .keras, .tflite and OpenVINO IR, with its in-process predictions."""
    folder = tmp_path_factory.mktemp("served")
    model = artspeed.baseline_cnn(width=8)
    keras_path = folder / "cnn.keras"
    model.save(keras_path)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    (folder / "cnn.tflite").write_bytes(converter.convert())
    ov.save_model(artspeed.convert_model(model), str(folder / "cnn.xml"))
    return {"keras": keras_path, "tflite": folder / "cnn.tflite", "xml": folder / "cnn.xml"}


@pytest.fixture(scope="module")
def served(model_files):
    handle = artspeed.serve(model_files["keras"], port=artspeed.free_port(), max_batch_size=8,
                            batch_wait_ms=20, max_body_bytes=_LIMIT, timeout_s=_TIMEOUT_S)
    yield handle
    handle.shutdown()


def _inputs(n, seed=0):
    return np.random.default_rng(seed).random((n, 28, 28, 1), dtype=np.float32)


def _local(path, x):
    with artspeed.load_predictor(path) as predictor:
        return predictor(x)


def _post(url, body: bytes, content_type="application/x-npy", method="POST", path="/predict",
          headers=None):
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request(method, path, body=body,
                     headers={"Content-Type": content_type, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _npy(x) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, x, allow_pickle=True)
    return buffer.getvalue()


def _concurrent_answers(predictor, xs, clients=16):
    """Post each batch of ``xs`` from ``clients`` threads at once; (outputs, formed sizes)."""
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return list(pool.map(predictor.post, xs))


def test_served_predictions_equal_local_ones_in_npy_and_json(served, model_files):
    x = _inputs(5)
    expected = _local(model_files["keras"], x)
    predictor = served.predictor()
    assert predictor.runtime == "http" and predictor.input_shape == (None, 28, 28, 1)
    y, formed = predictor.post(x)
    assert formed == 5 and np.abs(y - expected).max() <= 1e-5
    y_json, _ = predictor.post(x, "application/json")
    assert y_json.dtype == np.float32 and np.abs(y_json - expected).max() <= 1e-5
    via_factory = artspeed.as_predictor(served.url)
    assert np.abs(via_factory(x) - expected).max() <= 1e-5
    health = served.health()
    assert health["runtime"] == "keras" and health["max_batch_size"] == 8


def test_batching_forms_batches_larger_than_one_and_answers_each_request(served, model_files):
    xs = [_inputs(1, seed) for seed in range(96)]
    expected = _local(model_files["keras"], np.concatenate(xs))
    answers = _concurrent_answers(served.predictor(), xs)
    outputs = np.concatenate([y for y, _ in answers])
    assert np.abs(outputs - expected).max() <= 1e-5      # each request got its own answer
    formed = [size for _, size in answers]
    assert max(formed) > 1 and max(formed) <= 8, formed


BAD_REQUESTS = [
    # (id, body, content type, method, path, expected status)
    ("wrong-shape", _npy(np.zeros((2, 28, 28, 3), np.float32)), "application/x-npy",
     "POST", "/predict", 400),
    ("wrong-rank", _npy(np.zeros((28, 28), np.float32)), "application/x-npy",
     "POST", "/predict", 400),
    ("int-dtype", _npy(np.zeros((1, 28, 28, 1), np.int64)), "application/x-npy",
     "POST", "/predict", 400),
    ("string-dtype", _npy(np.full((1, 28, 28, 1), "a")), "application/x-npy",
     "POST", "/predict", 400),
    ("pickled-objects", _npy(np.array([{"a": 1}], dtype=object)), "application/x-npy",
     "POST", "/predict", 400),
    ("junk-npy", b"not an array", "application/x-npy", "POST", "/predict", 400),
    ("junk-json", b"{not json", "application/json", "POST", "/predict", 400),
    ("json-no-inputs", b'{"x": 1}', "application/json", "POST", "/predict", 400),
    ("json-ragged", b'{"inputs": [[1, 2], [3]]}', "application/json", "POST", "/predict", 400),
    ("json-strings", b'{"inputs": [["a"]]}', "application/json", "POST", "/predict", 400),
    ("empty-batch", _npy(np.zeros((0, 28, 28, 1), np.float32)), "application/x-npy",
     "POST", "/predict", 400),
    ("batch-over-max", _npy(np.zeros((9, 28, 28, 1), np.float32)), "application/x-npy",
     "POST", "/predict", 413),
    ("body-over-limit", _npy(np.zeros((40, 28, 28, 1), np.float32)), "application/x-npy",
     "POST", "/predict", 413),
    ("other-type", b"<xml/>", "text/xml", "POST", "/predict", 415),
    ("get-predict", b"", "application/x-npy", "GET", "/predict", 405),
    ("post-health", b"", "application/json", "POST", "/health", 405),
    ("unknown-route", b"", "application/json", "GET", "/admin", 404),
]


def test_bad_requests_get_a_clear_4xx_never_a_500(served, model_files):
    statuses = {}
    for case, body, content_type, method, path, expected in BAD_REQUESTS:
        status, answer = _post(served.url, body, content_type, method, path)
        message = json.loads(answer)["error"]
        assert status == expected and message, (case, status, answer[:300])
        statuses[case] = status
    assert all(400 <= s < 500 for s in statuses.values())
    x = _inputs(2)
    y, _ = served.predictor().post(x)     # and the server still answers good requests
    assert np.abs(y - _local(model_files["keras"], x)).max() <= 1e-5


def test_the_server_scenario_and_find_max_qps_drive_the_served_model(served):
    predictor = served.predictor()
    result = artspeed.server(predictor, target_qps=60, latency_bound_ms=2000, duration_s=0.5)
    assert result.concurrency == 16 and result.queries >= 20 and result.unserved == 0
    assert set(result.latency_ms) >= {"p50", "p90", "p99"} and result.latency_ms["p50"] > 0
    assert 0.0 <= result.met_share <= 1.0 and result.throughput_per_s > 0
    assert sum(result.batch_sizes.values()) == result.queries
    assert result.to_dict()["batch_sizes"] and "batch formed" in repr(result)
    again = artspeed.ScenarioResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.batch_sizes == result.batch_sizes
    search = artspeed.find_max_qps(predictor, 2000, duration_s=0.3, steps=2)
    assert len(search.trials) == 2 and search.max_qps >= 0
    assert all(t.concurrency == 16 for t in search.trials)
    with pytest.raises(artspeed.InvalidArgumentError, match="served model"):
        artspeed.server(artspeed.FunctionPredictor(None), 10, 10, concurrency=4)


def test_load_goes_only_to_loopback_unless_told_otherwise():
    with pytest.raises(artspeed.InvalidArgumentError, match="not a loopback address"):
        artspeed.HttpPredictor("http://192.0.2.1:8000")
    with pytest.raises(artspeed.ModelError, match="artspeed serve"):
        artspeed.HttpPredictor(f"http://127.0.0.1:{artspeed.free_port()}")


def test_redeploys_batching_off_openvino_streams_and_litert(served, model_files):
    xs = [_inputs(1, seed) for seed in range(48)]
    batch = np.concatenate(xs)
    served.redeploy(batching=False)
    answers = _concurrent_answers(served.predictor(), xs)
    assert {size for _, size in answers} == {1}       # each request ran alone
    assert np.abs(np.concatenate([y for y, _ in answers]) -
                  _local(model_files["keras"], batch)).max() <= 1e-5

    served.redeploy(model_files["xml"], batching=True, streams=2)
    assert served.health()["runtime"] == "openvino" and served.health()["streams"] == 2
    answers = _concurrent_answers(served.predictor(), xs)
    assert np.abs(np.concatenate([y for y, _ in answers]) -
                  _local(model_files["xml"], batch)).max() <= 1e-5

    served.redeploy(model_files["tflite"], streams=None)   # built for batches of 1
    answers = _concurrent_answers(served.predictor(), xs)
    assert np.abs(np.concatenate([y for y, _ in answers]) -
                  _local(model_files["tflite"], batch)).max() <= 1e-5
    with pytest.raises(artspeed.InvalidArgumentError, match="not replicas_"):
        served.redeploy(replicas_=2)


def _wait_gone(pids, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = set(pids) & set(artspeed.ray_processes())
        if not left:
            return set()
        time.sleep(0.25)
    return left


def test_shutdown_stops_serving_and_leaves_no_ray_process(served):
    started = served.processes()
    assert len(started) >= 3, "a local cluster: GCS, raylet, workers"
    url = served.url
    served.shutdown()      # returns once its cluster's processes are gone
    assert served.processes() == [] and _wait_gone(started, 1) == set()
    assert "stopped" in repr(served)
    with pytest.raises(artspeed.ModelError, match="no model answers"):
        artspeed.HttpPredictor(url)
    served.shutdown()    # twice is harmless


def _ray(*args, timeout=120):
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_SERVE_PROXY_MIN_DRAINING_PERIOD_S": "1", "RAY_raylet_start_wait_time_s": "120"}
    return subprocess.run([str(Path(sys.executable).parent / "ray"), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def _kill_cluster(temp_dir: str) -> None:
    """Stop the processes of the cluster started with ``temp_dir`` (and their children).

    Not ``ray stop``, which stops every Ray process on the machine.
    """
    family = artspeed.ray_processes(temp_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in family:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if not _wait_gone(family, 10):
            return


def test_the_same_code_joins_a_cluster_started_with_ray_start(model_files):
    port = artspeed.free_port()
    temp_dir = tempfile.mkdtemp(prefix="artray-", dir="/tmp")
    started = _ray("start", "--head", f"--port={port}", "--num-cpus=2",
                   "--include-dashboard=false",
                   "--disable-usage-stats", f"--temp-dir={temp_dir}")
    try:
        assert started.returncode == 0, started.stderr[-2000:]
        served = artspeed.serve(model_files["keras"], address=f"127.0.0.1:{port}",
                                port=artspeed.free_port(), timeout_s=_TIMEOUT_S)
        try:
            assert not served.started_cluster
            x = _inputs(3)
            assert np.abs(served.predictor()(x) - _local(model_files["keras"], x)).max() <= 1e-5
        finally:
            served.shutdown()
        with pytest.raises(artspeed.ModelError):   # the application is gone...
            artspeed.HttpPredictor(served.url, timeout_s=5)
        status = _ray("status", f"--address=127.0.0.1:{port}")
        assert status.returncode == 0, status.stderr[-2000:]   # ...the cluster is not
    finally:
        _kill_cluster(temp_dir)


def test_the_cli_serves_until_ctrl_c_then_leaves_nothing_behind(model_files):
    port = artspeed.free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, "-c", "import sys; from artspeed.cli import "
                                "main; sys.exit(main(sys.argv[1:]))", "serve",
                                str(model_files["keras"]), "--port", str(port), "--json",
                                "--max-batch-size", "4"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ready = json.loads(_read_line(process, _TIMEOUT_S))
        assert ready["url"] == f"http://127.0.0.1:{port}" and ready["max_batch_size"] == 4
        x = _inputs(4)
        status, body = _post(ready["url"], _npy(x.astype(np.float32)))
        assert status == 200
        assert np.abs(np.load(io.BytesIO(body)) - _local(model_files["keras"], x)).max() <= 1e-5
        started = _children(process.pid)
        assert started, "the CLI's own Ray cluster"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err[-2000:]
    assert err.strip() == "artspeed serve: stopped"
    assert _wait_gone(started) == set()


def _children(pid: int) -> list[int]:
    """The Ray processes started by ``pid`` (its local cluster's GCS, raylet, workers)."""
    import re

    dirs = set()
    for other in artspeed.ray_processes():
        try:
            cmdline = Path(f"/proc/{other}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        dirs |= set(re.findall(r"/tmp/artspeed-ray-[A-Za-z0-9_]+", cmdline))
    owned = []
    for folder in dirs:
        family = artspeed.ray_processes(folder)
        if any(_parent(p) == pid for p in family):
            owned += family
    return owned


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _read_line(process, timeout_s: float) -> str:
    """The process's next stdout line, or a failure after ``timeout_s``."""
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout_s):
        process.kill()
        pytest.fail(f"artspeed serve printed nothing in {timeout_s} s: "
                    f"{process.stderr.read()[-2000:]}")
    line = process.stdout.readline()
    assert line, process.stderr.read()[-2000:]
    return line


def test_a_pickle_in_a_body_is_refused_never_loaded():
    body = _npy(np.array([{"a": 1}], dtype=object))
    with pytest.raises(artspeed.InvalidArgumentError, match="not a .npy array"):
        artspeed.decode_array(body, "application/x-npy")
