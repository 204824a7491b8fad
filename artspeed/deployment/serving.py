"""Serving a model on Ray Serve, with Ray's own dynamic batching (``serve.batch``).

Taught in notebooks/12-serving. ``serve(model)`` (``artspeed serve MODEL``)
deploys any model artspeed can load (``.keras``/``.h5``, ``.tflite``, an
OpenVINO ``.xml``) as a Ray Serve application on ``http://127.0.0.1:8000``
and returns a ``Served`` handle; ``handle.shutdown()`` (or leaving a ``with``
block) stops it and the local Ray cluster it started. The HTTP API is in
``artspeed/runtimes/http.py``.

- ``replicas``: copies of the model, each a Ray actor with
  ``threads_per_replica`` runtime threads (default: the cores shared out), so
  that replicas, OpenVINO streams and cores do not oversubscribe the machine;
  Ray reserves that many CPUs for each.
- ``max_batch_size`` and ``batch_wait_ms``: ``serve.batch`` waits up to
  ``batch_wait_ms`` for more requests, then runs them as one batch of at most
  ``max_batch_size`` samples. ``batching=False`` runs each request alone.
- ``streams``: OpenVINO models only; one compiled model with that many
  streams in one replica, serving that many batches at once.
- ``address``: join a running Ray cluster (``ray start --head``) instead of
  starting a local one; shutdown then removes only this application.
- ``proxy="python"`` (default) is Ray Serve's own HTTP proxy, on ``host``
  only. ``proxy="haproxy"`` puts Ray Serve's HAProxy ingress in front instead
  (``RAY_SERVE_ENABLE_HA_PROXY``), which costs less per request
  (``benchmarks/bench_serving.py`` measures both), but its statistics and
  metrics ports listen on every interface, so it is for machines you trust.

Ray's usage reporting is off (``artspeed.core.frameworks.import_ray``), the
dashboard is not started, and the server listens on 127.0.0.1 unless told
otherwise.

>>> serve("no-such-model.keras")
Traceback (most recent call last):
...
artspeed.ModelError: no model at 'no-such-model.keras': the path does not exist
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from artspeed.core import _checks
from artspeed.core.env import _available_cores
from artspeed.core.errors import InvalidArgumentError, ModelError, first_line
from artspeed.core.frameworks import check_tf_keras_model, import_openvino, import_ray
from artspeed.core.saving import existing_model, model_kind
from artspeed.runtimes.factory import load_predictor
from artspeed.runtimes.http import (
    BATCH_HEADER,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PORT,
    JSON,
    NPY,
    HttpPredictor,
    _is_loopback,
    decode_array,
    encode_array,
    free_port,
)

__all__ = ["Served", "serve", "serve_until_stopped", "PROXIES", "ray_processes"]

PROXIES = ("haproxy", "python")
APP_NAME = "artspeed"
_START_TIMEOUT_S = 180.0
_RUNTIME_MODES = {"keras": "function", "tflite": None, "openvino": "sync"}
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_SHORT_TEMP = "/tmp" if os.path.isdir("/tmp") else None   # Ray's socket paths must be short


# ---------------------------------------------------------------- the replica


class ModelServer:
    """One replica: the model, its HTTP routes, and the batches it runs.

    Ray Serve makes it a deployment in ``serve``; ``serve.batch`` wraps
    ``_batch`` there, with the sizes asked for. Inference runs in a worker
    thread so the replica's event loop keeps taking requests meanwhile, which
    is what lets the next batch form.
    """

    def __init__(self, path: str, runtime: str, threads: int, streams: int | None,
                 max_batch_size: int, max_body_bytes: int, safe_mode: bool, batching: bool):
        options = {"hint": "throughput", "streams": streams} if streams else {}
        self.predictor = load_predictor(path, runtime, mode=_RUNTIME_MODES[runtime],
                                        threads=threads, safe_mode=safe_mode, **options)
        self.max_batch_size, self.max_body_bytes = max_batch_size, max_body_bytes
        self.batching, self.streams = batching, streams
        self._lock = asyncio.Lock()
        self._requests: dict = {}
        self.info = {"model": Path(path).stem, "runtime": runtime,
                     "input_shape": [None, *self.predictor.input_shape[1:]],
                     "input_dtype": "float32", "threads": threads, "streams": streams,
                     "batching": batching, "max_batch_size": max_batch_size,
                     "max_body_bytes": max_body_bytes, "pid": os.getpid()}
        for size in _warm_sizes(max_batch_size):   # compile and trace them up front
            self._infer(self.predictor.sample_input(1).repeat(size, axis=0))

    # -- inference -------------------------------------------------------------
    def _infer(self, x: np.ndarray) -> np.ndarray:
        fixed = self.predictor.fixed_batch
        if fixed:   # a model built for one batch size runs the batch in pieces of it
            pieces = [_padded(x[i:i + fixed], fixed) for i in range(0, len(x), fixed)]
            return np.concatenate([self.predictor(p) for p in pieces])[:len(x)]
        if not self.streams:
            return self.predictor(x)
        pool = self._requests.get(len(x))
        if pool is None:   # one infer request per stream, for this batch size
            compiled = self.predictor.compiled_model(len(x))
            pool = self._requests[len(x)] = queue.SimpleQueue()
            for _ in range(self.streams):
                pool.put(compiled.create_infer_request())
        request = pool.get()
        try:
            request.infer({0: np.ascontiguousarray(x, np.float32)})
            return request.get_output_tensor(0).data.copy()
        finally:
            pool.put(request)

    async def _batch(self, batches: list) -> list:
        sizes = [len(x) for x in batches]
        y = await asyncio.to_thread(self._infer, np.concatenate(batches))
        formed = sum(sizes)
        ends = np.cumsum(sizes)
        return [(y[end - size:end], formed) for size, end in zip(sizes, ends)]

    async def _alone(self, x: np.ndarray):
        async with self._lock:
            return await asyncio.to_thread(self._infer, x), len(x)

    # -- HTTP ------------------------------------------------------------------
    async def __call__(self, request):
        from starlette.responses import JSONResponse, Response

        def error(status: int, message: str):
            return JSONResponse({"error": message}, status_code=status)

        path = request.url.path.rstrip("/") or "/"
        if path == "/health":
            if request.method != "GET":
                return error(405, "GET /health")
            return JSONResponse(self.info)
        if path not in ("/", "/predict"):
            return error(404, f"no route {path}; POST a batch to /predict, or GET /health")
        if request.method != "POST":
            return error(405, "POST a batch to /predict")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in (NPY, JSON):
            return error(415, f"send the batch as {NPY} or {JSON}, not {kind or 'no type'}")
        limit = self.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return error(413, f"the body is {int(declared):,} bytes; the limit is {limit:,}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return error(413, f"the body is over the limit of {limit:,} bytes")
        try:
            x = decode_array(bytes(body), kind)
            self._check(x)
        except InvalidArgumentError as exc:
            return error(400, str(exc))
        if len(x) > self.max_batch_size:
            return error(413, f"a batch of {len(x)} samples; this server takes at most "
                              f"{self.max_batch_size} a request (--max-batch-size)")
        try:
            y, formed = await (self._batch(x) if self.batching else self._alone(x))
        except Exception as exc:   # the model failed on good input: the server's fault
            return error(500, f"{type(exc).__name__}: {first_line(exc)}")
        return Response(encode_array(y, kind, batch_size=formed), media_type=kind,
                        headers={BATCH_HEADER: str(formed)})

    def _check(self, x: np.ndarray) -> None:
        if x.ndim and x.dtype.kind not in "fiu":
            raise InvalidArgumentError(f"the inputs are {x.dtype.name}; send numbers")
        if x.dtype.kind != "f":
            raise InvalidArgumentError(f"the inputs are {x.dtype.name}; send float32 in "
                                       "[0, 1] as artspeed.load_dataset gives")
        fixed = self.predictor.fixed_batch
        self.predictor.check_input(_padded(x[:fixed], fixed) if fixed and len(x) else x)


def _warm_sizes(max_batch_size: int) -> list[int]:
    """The batch sizes a replica runs once before it serves: each up to 16, then powers of 2.

    OpenVINO compiles a model once per batch size, on first use; a batch size first
    seen while serving pays that compile in its latency.

    >>> _warm_sizes(4), _warm_sizes(40)[-3:]
    ([1, 2, 3, 4], [16, 32, 40])
    """
    sizes = set(range(1, min(max_batch_size, 16) + 1)) | {max_batch_size}
    sizes |= {2 ** k for k in range(max_batch_size.bit_length()) if 2 ** k <= max_batch_size}
    return sorted(sizes)


def _padded(x: np.ndarray, size: int) -> np.ndarray:
    if len(x) >= size:
        return x
    return np.concatenate([x, np.repeat(x[-1:], size - len(x), axis=0)])


# ---------------------------------------------------------------- the handle


class Served:
    """A model served by Ray Serve: its URL, a predictor for it, and ``shutdown()``."""

    def __init__(self, url: str, settings: dict, *, started_cluster: bool, remote: bool):
        self.url, self.settings = url, settings
        self.started_cluster, self.remote = started_cluster, remote
        self._temp_dirs: list = []
        self._ray_dir = None
        self._lock = threading.Lock()
        self.closed = False

    def predictor(self, name: str | None = None) -> HttpPredictor:
        """An ``HttpPredictor`` for this server (for the scenarios and benchmarks)."""
        return HttpPredictor(self.url, remote=self.remote, name=name)

    def health(self) -> dict:
        """What ``GET /health`` says: the model, its runtime, shape and limits."""
        return self.predictor().health()

    def processes(self) -> list[int]:
        """PIDs of the local Ray cluster this server started (none if it joined one)."""
        return ray_processes(self._ray_dir) if self._ray_dir else []

    def redeploy(self, model=None, *, timeout_s: float = _START_TIMEOUT_S, **changes) -> Served:
        """Serve another model or other settings at the same URL, on the same Ray cluster.

        ``changes`` are ``serve``'s ``replicas``, ``max_batch_size``, ``batch_wait_ms``,
        ``threads_per_replica``, ``streams``, ``batching``, ``max_body_bytes``; Ray Serve
        replaces the replicas, which is quicker than a new ``serve``, as Ray keeps running.
        """
        if self.closed:
            raise InvalidArgumentError("this server was shut down; serve the model again")
        keys = ("replicas", "max_batch_size", "batch_wait_ms", "threads_per_replica",
                "streams", "batching", "max_body_bytes", "safe_mode")
        unknown = set(changes) - set(keys)
        if unknown:
            raise InvalidArgumentError(f"redeploy changes only {', '.join(keys)}, not "
                                       f"{', '.join(sorted(unknown))}")
        if "replicas" in changes and "threads_per_replica" not in changes:
            changes["threads_per_replica"] = None   # shared out again
        old = self.settings
        options = {key: old[key] for key in keys} | changes
        ray = import_ray()
        from ray import serve as ray_serve

        temp_dirs: list = []
        cpus = _cluster_cpus(ray)
        settings = _app_settings(old["path"] if model is None else model, temp_dirs, cpus,
                                 **options)
        with _quiet_ray_logs():
            if _no_room_to_grow(old, settings, cpus):
                ray_serve.delete(APP_NAME)
            _run_within(ray_serve, _application(ray_serve, settings), timeout_s)
        self._temp_dirs.extend(temp_dirs)
        self.settings = {**old, **settings}
        _wait_healthy(self, timeout_s)
        return self

    def shutdown(self, wait_s: float = 30.0) -> None:
        """Stop serving: the application, and the local Ray cluster if this started it.

        Waits up to ``wait_s`` for that cluster's processes to exit, so that none is
        left when it returns (``processes()`` is then empty).
        """
        with self._lock:
            if self.closed:
                return
            self.closed = True
        ray = import_ray()
        try:
            if not self.started_cluster and ray.is_initialized():
                with contextlib.suppress(Exception), _quiet_ray_logs():
                    ray.serve.delete(APP_NAME)
            ray.shutdown()
            deadline = time.monotonic() + wait_s
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            for temp in self._temp_dirs:
                shutil.rmtree(temp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()

    def __del__(self):
        if not getattr(self, "closed", True) and sys.meta_path is not None:
            with contextlib.suppress(Exception):
                self.shutdown()

    def __repr__(self) -> str:
        s = self.settings
        state = "stopped" if self.closed else "serving"
        return (f"<Served {s['model']!r} {state} at {self.url}: {s['replicas']} replica(s) x "
                f"{s['threads_per_replica']} thread(s), batches up to {s['max_batch_size']}"
                f"{'' if s['batching'] else ' (batching off)'}>")


def _no_room_to_grow(old: dict, new: dict, cpus: int) -> bool:
    """True when Ray Serve could not add the new replicas beside the old ones.

    Going to more replicas, Serve starts the new ones before it stops the old, and
    Ray holds the old replicas' CPUs meanwhile: if both sets do not fit, the new ones
    wait for CPUs for ever (1 x 2 threads to 2 x 1 on 2 cores). Then the old
    application goes first (a second without a server).

    >>> one_by_two, two_by_one = ({"replicas": r, "threads_per_replica": t} for r, t in
    ...                           ((1, 2), (2, 1)))
    >>> _no_room_to_grow(one_by_two, two_by_one, 2), _no_room_to_grow(two_by_one, one_by_two, 2)
    (True, False)
    >>> _no_room_to_grow(one_by_two, two_by_one, 4)
    False
    """
    need = (old["replicas"] * old["threads_per_replica"]
            + new["replicas"] * new["threads_per_replica"])
    return new["replicas"] > old["replicas"] and need > cpus


def _model_file(model, temp_dir_holder: list) -> tuple[str, str]:
    """(path, runtime) of a model given as a path, a tf_keras model or an ov.Model."""
    if isinstance(model, (str, Path)):
        path = existing_model(Path(model))
        kind = model_kind(path)
        if kind is None:
            raise ModelError(f"'{path}' is not a model artspeed can serve; expected a .keras "
                             "or .h5 file, a SavedModel folder, a .tflite file or an "
                             "OpenVINO .xml")
        return str(path.resolve()), kind
    temp = tempfile.mkdtemp(prefix="artspeed-serve-")
    temp_dir_holder.append(temp)
    if type(model).__module__.startswith("openvino"):
        path = Path(temp) / "model.xml"
        import_openvino().save_model(model, str(path), compress_to_fp16=False)
        return str(path), "openvino"
    check_tf_keras_model(model, "artspeed.serve")
    path = Path(temp) / f"{model.name or 'model'}.keras"
    model.save(path)
    return str(path), "keras"


def _cluster_cpus(ray) -> int:
    return int(ray.cluster_resources().get("CPU", 0))


def _app_settings(model, temp_dirs: list, cpus: int | None, *, replicas=1, max_batch_size=8,
                  batch_wait_ms=2.0, threads_per_replica=None, streams=None, batching=True,
                  max_body_bytes=DEFAULT_MAX_BODY_BYTES, safe_mode=True) -> dict:
    """The application's settings, checked, with the model as a file (``cpus``: the cluster's,
    ``None`` when not known yet)."""
    replicas = _checks.whole_number("replicas", replicas, maximum=64)
    max_batch_size = _checks.whole_number("max_batch_size", max_batch_size, maximum=1024)
    batch_wait_ms = _checks.positive_finite("batch_wait_ms", batch_wait_ms) \
        if batch_wait_ms else 0.0
    threads_per_replica = _checks.threads(threads_per_replica, "threads_per_replica")
    max_body_bytes = _checks.whole_number("max_body_bytes", max_body_bytes)
    if streams is not None:
        streams = _checks.threads(streams, "streams")
    # a cluster joined by address: its CPUs are known once joined (_start shares them out)
    threads = threads_per_replica or (max(1, cpus // replicas) if cpus is not None else None)
    if cpus is not None and replicas * threads > cpus:
        raise InvalidArgumentError(
            f"{replicas} replica(s) x {threads} thread(s) need {replicas * threads} CPUs; "
            f"there are {cpus}: lower the replicas or the threads per replica")
    path, runtime = _model_file(model, temp_dirs)
    if streams is not None and runtime != "openvino":
        raise InvalidArgumentError(f"streams are OpenVINO's; {Path(path).name} runs in "
                                   f"{runtime}: serve an OpenVINO .xml, or use replicas")
    if streams and threads and streams > threads:
        raise InvalidArgumentError(f"{streams} streams need at least {streams} threads; "
                                   f"the replica has {threads}")
    load_predictor(path, runtime, safe_mode=safe_mode).close()   # clear errors, here
    return {"model": Path(path).stem, "path": path, "runtime": runtime, "replicas": replicas,
            "threads_per_replica": threads, "streams": streams,
            "max_batch_size": max_batch_size, "batch_wait_ms": batch_wait_ms,
            "batching": bool(batching), "max_body_bytes": max_body_bytes,
            "safe_mode": bool(safe_mode)}


def serve(model, *, replicas: int = 1, max_batch_size: int = 8, batch_wait_ms: float = 2.0,
          threads_per_replica: int | None = None, streams: int | None = None,
          batching: bool = True, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
          address: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
          proxy: str = "python", safe_mode: bool = True,
          timeout_s: float = _START_TIMEOUT_S) -> Served:
    """Serve ``model`` on Ray Serve over HTTP; return the ``Served`` handle (see the module).

    ``model`` is a model file, a tf_keras model or an ``ov.Model`` (saved to a
    temporary folder that shutdown removes).
    """
    port = _checks.whole_number("port", port, maximum=65535)
    proxy = _checks.choice("proxy", proxy, PROXIES)
    timeout_s = _checks.positive_finite("timeout_s", timeout_s)
    if address is None and not _is_loopback(host):
        raise InvalidArgumentError(f"{host} is not a loopback address; artspeed serves on "
                                   "this machine only (127.0.0.1) unless it joins a cluster "
                                   "you named with address=")
    if address is None and not _port_free(host, port):
        raise InvalidArgumentError(f"port {port} on {host} is in use; pick another with --port")
    temp_dirs: list = []
    try:
        settings = _app_settings(model, temp_dirs, None if address else _available_cores(),
                                 replicas=replicas, max_batch_size=max_batch_size,
                                 batch_wait_ms=batch_wait_ms,
                                 threads_per_replica=threads_per_replica, streams=streams,
                                 batching=batching, max_body_bytes=max_body_bytes,
                                 safe_mode=safe_mode)
        served = _start(settings, port=port, host=host, address=address, proxy=proxy,
                        timeout_s=timeout_s)
    except BaseException:
        for temp in temp_dirs:
            shutil.rmtree(temp, ignore_errors=True)
        raise
    served._temp_dirs.extend(temp_dirs)
    return served


def _start(settings: dict, *, port, host, address, proxy, timeout_s) -> Served:
    ray = import_ray()
    from ray import serve as ray_serve

    if ray.is_initialized():
        raise InvalidArgumentError("Ray is already running in this process; shut the other "
                                   "server down first (handle.shutdown()), or redeploy it "
                                   "with handle.redeploy(...)")
    started = address is None
    temp_dir = tempfile.mkdtemp(prefix="artspeed-ray-", dir=_SHORT_TEMP) if started else None
    try:
        with _quiet_ray_logs(), _own_sigterm():
            if started:
                with _environment(_serve_environment(proxy, temp_dir)):
                    try:
                        ray.init(num_cpus=_available_cores(), include_dashboard=False,
                                 log_to_driver=False, logging_level="ERROR",
                                 _node_ip_address=host, _temp_dir=temp_dir)
                    except Exception as exc:   # Ray raises bare Exceptions when a node is slow
                        raise ModelError(f"Ray did not start: {first_line(exc)}; try again, or "
                                         "with fewer other programs running") from None
            else:
                _check_reachable(address)
                try:
                    ray.init(address=address, log_to_driver=False, logging_level="ERROR")
                except (ConnectionError, ValueError, RuntimeError) as exc:
                    raise InvalidArgumentError(f"could not join the Ray cluster at {address}: "
                                               f"{first_line(exc)}; start one with "
                                               "`ray start --head`") from None
                _check_cpus(settings, _cluster_cpus(ray))
            ray_serve.start(http_options={"host": host, "port": port},
                            logging_config={"log_level": "WARNING"})
            _run_within(ray_serve, _application(ray_serve, settings), timeout_s)
    except BaseException:
        with contextlib.suppress(Exception):
            if not started and ray.is_initialized():
                ray_serve.delete(APP_NAME)
            ray.shutdown()
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    url_host = host if started else _head_host(address)
    served = Served(f"http://{url_host}:{port}",
                    {**settings, "proxy": proxy, "address": address, "port": port},
                    started_cluster=started, remote=not _is_loopback(url_host))
    served._temp_dirs.extend([temp_dir] if temp_dir else [])
    served._ray_dir = temp_dir
    _wait_healthy(served, timeout_s)
    return served


def _serve_environment(proxy: str, temp_dir: str) -> dict:
    """What Ray Serve reads from the environment when the local cluster starts.

    Its proxies drain for 30 s before an application can go (no requests wait
    here, so 1 s is enough), and HAProxy's files and ports get a folder and free
    ports of this server's own, so that two servers on one machine do not clash.
    """
    env = {"RAY_SERVE_ENABLE_HA_PROXY": "1" if proxy == "haproxy" else "0",
           "RAY_SERVE_PROXY_MIN_DRAINING_PERIOD_S": "1",
           "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "1"}
    if proxy == "haproxy":
        env.update({"RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": f"{temp_dir}/haproxy.cfg",
                    "RAY_SERVE_HAPROXY_SOCKET_PATH": f"{temp_dir}/admin.sock",
                    "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": temp_dir,
                    "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": f"{temp_dir}/server-state",
                    "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
                    "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
                    "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0"})
    return env


@contextlib.contextmanager
def _environment(values: dict):
    """``os.environ`` with ``values`` within the block, as it was after it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _check_cpus(settings: dict, cpus: int) -> None:
    """Share a joined cluster's CPUs out (no threads asked for), then check they suffice.

    >>> settings = {"replicas": 2, "threads_per_replica": None, "streams": None}
    >>> _check_cpus(settings, 4); settings["threads_per_replica"]
    2
    >>> _check_cpus({"replicas": 1, "threads_per_replica": None, "streams": 4}, 2)
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: 4 streams need at least 4 threads; the replica has 2
    """
    if settings["threads_per_replica"] is None:
        settings["threads_per_replica"] = max(1, cpus // settings["replicas"])
    streams, threads = settings["streams"], settings["threads_per_replica"]
    if streams and streams > threads:
        raise InvalidArgumentError(f"{streams} streams need at least {streams} threads; "
                                   f"the replica has {threads}")
    need = settings["replicas"] * settings["threads_per_replica"]
    if need > cpus:
        raise InvalidArgumentError(
            f"{settings['replicas']} replica(s) x {settings['threads_per_replica']} thread(s) "
            f"need {need} CPUs; the cluster has {cpus}")


def serve_until_stopped(model, *, on_ready=None, stop_after_s: float | None = None,
                        **options) -> Served:
    """``serve(model, **options)``, call ``on_ready(served)``, then serve until Ctrl-C,
    SIGTERM or ``stop_after_s`` seconds; shut down on the way out whatever stops it.

    What ``artspeed serve`` runs. Returns the (stopped) handle after ``stop_after_s``;
    Ctrl-C and SIGTERM are raised on after the shutdown.
    """
    if stop_after_s is not None:
        stop_after_s = _checks.positive_finite("stop_after_s", stop_after_s)
    served = serve(model, **options)
    try:
        if on_ready is not None:
            on_ready(served)
        deadline = None if stop_after_s is None else time.monotonic() + stop_after_s
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2 if deadline is None else
                       max(0.0, min(0.2, deadline - time.monotonic())))
    finally:
        served.shutdown()
    return served


def _application(ray_serve, settings: dict):
    """The Ray Serve application: ModelServer as a deployment, its batch method wrapped."""
    threads, streams = settings["threads_per_replica"], settings["streams"]
    max_batch_size, concurrent = settings["max_batch_size"], settings["streams"] or 1
    batched = ray_serve.batch(max_batch_size=max_batch_size,
                              batch_wait_timeout_s=settings["batch_wait_ms"] / 1000.0,
                              max_concurrent_batches=concurrent,
                              batch_size_fn=lambda xs: sum(len(x) for x in xs))
    replica = type("ModelServer", (ModelServer,), {"_batch": batched(ModelServer._batch)})
    env = {"OMP_NUM_THREADS": str(threads), "TF_NUM_INTRAOP_THREADS": str(threads),
           "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "ARTSPEED_OPENVINO_ONLY": "1" if settings["runtime"] == "openvino" else "0",
           "PYTHONPATH": os.pathsep.join(p for p in (_PACKAGE_ROOT,
                                                     os.environ.get("PYTHONPATH")) if p)}
    deployment = ray_serve.deployment(
        replica, name="model", num_replicas=settings["replicas"],
        ray_actor_options={"num_cpus": threads, "runtime_env": {"env_vars": env}},
        max_ongoing_requests=max(16, 4 * max_batch_size * concurrent),
        max_constructor_retry_count=1, health_check_period_s=5,
        graceful_shutdown_wait_loop_s=0.2, graceful_shutdown_timeout_s=2)
    return deployment.bind(settings["path"], settings["runtime"], threads, streams,
                           max_batch_size, settings["max_body_bytes"], settings["safe_mode"],
                           settings["batching"])


def _run_within(ray_serve, app, timeout_s: float) -> None:
    """``serve.run``, with a replica's failure to start as one clear line."""
    errors: list = []

    def run():
        try:
            ray_serve.run(app, name=APP_NAME, route_prefix="/")
        except BaseException as exc:   # noqa: BLE001 - handed to the caller below
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise ModelError(f"the model did not start serving within {timeout_s:.0f} s")
    if errors:
        raise ModelError(f"the model did not start serving: {_last_error_line(errors[0])}")


def _last_error_line(exc) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error:" in line or "Exception:" in line:
            return line[-300:]
    return first_line(exc)


def _wait_healthy(served: Served, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            served.health()
            return
        except (ModelError, OSError):
            if time.monotonic() > deadline:
                served.shutdown()
                raise ModelError(f"nothing answered at {served.url} within "
                                 f"{timeout_s:.0f} s") from None
            time.sleep(0.2)


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """A clear error at once when nothing listens at a cluster's address (Ray itself
    retries for minutes).

    >>> _check_reachable("127.0.0.1:1")
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: nothing listens at 127.0.0.1:1; start a cluster there with `ray start --head --port 1`, or leave --address out to start a local one
    """
    import socket

    if address in ("auto", "local") or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise InvalidArgumentError(f"{address!r} is not a Ray address such as 127.0.0.1:6379")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            pass
    except OSError:
        raise InvalidArgumentError(
            f"nothing listens at {address}; start a cluster there with `ray start --head "
            f"--port {port}`, or leave --address out to start a local one") from None


def _head_host(address: str) -> str:
    """The head node's host in a Ray address ("auto": this machine).

    >>> _head_host("127.0.0.1:6379"), _head_host("ray://10.0.0.5:10001"), _head_host("auto")
    ('127.0.0.1', '10.0.0.5', '127.0.0.1')
    """
    if address in ("auto", "local"):
        return "127.0.0.1"
    address = address.removeprefix("ray://")
    host = address.rsplit(":", 1)[0] if ":" in address else address
    return host or "127.0.0.1"


@contextlib.contextmanager
def _own_sigterm():
    """Keep this process's SIGTERM handler: ``ray.init`` puts in its own, a bare exit that
    skips the shutdown (and the CLI's one line)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _quiet_ray_logs():
    """Ray's INFO and WARNING lines (auth token, startup) stay out of the learner's output."""
    import logging

    loggers = [logging.getLogger(name) for name in ("ray", "ray.serve")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def ray_processes(temp_dir: str | None = None) -> list[int]:
    """PIDs of Ray's processes on this machine (raylet, GCS, workers, HAProxy), from /proc.

    With ``temp_dir``, only those of the cluster started with that temporary
    folder (``ray start --temp-dir``, ``Served.processes()``) and their children.

    >>> isinstance(ray_processes(), list)
    True
    """
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        table[int(entry.name)] = (cmdline, ppid)
    if temp_dir is None:
        marks = (b"raylet", b"gcs_server", b"ray::", b"/site-packages/ray/", b"haproxy")
        return sorted(pid for pid, (cmd, _) in table.items() if any(m in cmd for m in marks))
    family = {pid for pid, (cmd, _) in table.items() if str(temp_dir).encode() in cmd}
    while True:
        more = {pid for pid, (_, ppid) in table.items() if ppid in family} - family
        if not more:
            return sorted(family)
        family |= more
