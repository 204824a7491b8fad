"""Issue 17's figures: a model served over HTTP (Ray Serve) against the same model in-process.

Run: python benchmarks/bench_serving.py [--rounds N] [--resolution PX] [--bound-ms MS]
     [--int8-bound-ms MS] [--out FILE.json]
(ARTSPEED_FAST=1: ResNet50 at 96 px, no vehicle, one round of shorter runs.)

Two servers run side by side, so that what is compared is measured in alternation:
server A in this process, with Ray Serve's own proxy (``proxy="python"``), and
server B in a child process, with HAProxy in front (``proxy="haproxy"``); each is its
own local Ray cluster on the same 2 cores, idle while the other is measured.
The models: the vehicle (``artspeed.vehicle()``, the speed chapters' MobileNetV2, random
weights) and ResNet50 (``tf_keras.applications.ResNet50(weights=None)``, 160 px), each
as Keras (a ``tf.function`` in the replica) and as an OpenVINO INT8 IR
(``artspeed.quantize_openvino`` on a few ``scenes`` images). Random weights are fine:
only speed and served-against-in-process equality are measured.

1. The serving tax: single-stream p50 over HTTP minus the in-process p50 (same runtime,
   same threads), in alternating rounds; and the CPU time the engine spends per request
   (utime + stime of the server's Ray processes from /proc, over the requests) minus the
   model's own CPU time per inference in-process (``time.process_time``).
2. Dynamic batching off against on, at several concurrencies and batch waits: the highest
   Poisson rate whose p99 meets a stated bound (``artspeed.find_max_qps`` over HTTP) and
   the batch sizes the server formed at that rate.
3. The in-process batch sweep (throughput per sample at batch 1, 2, 4, 8).
4. One replica with 2 threads against 2 replicas with 1 thread against one replica
   with 2 OpenVINO streams, on the same 2 cores.
5. The targets, each as measured value, target, met or missed; one of them joins a
   cluster started with ``ray start --head`` (on loopback, its own temp dir and ports),
   from a fresh process, as ``artspeed serve --address`` does; that cluster's processes
   are then ended by PID (never ``ray stop``, which would end other people's Ray too).

Every figure is a median over this run's rounds; nothing is asserted on time. Other
programs share the cores: the load average is printed at every step.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import artspeed  # noqa: E402

BATCHES = (1, 2, 4, 8)
CLIENTS = 16
SERVE_DEFAULTS = {"replicas": 1, "max_batch_size": 8, "batch_wait_ms": 2.0, "batching": True,
                  "streams": None, "threads_per_replica": None}
EQUAL_WITHIN = 1e-5
TAX_TARGET_MS = 10.0
QPS_RATIO_TARGET = 2.0
SHARE_TARGET = 0.6
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def load_line() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def median(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


# ----------------------------------------------------------- processes and CPU time


def _proc_table() -> dict:
    """{pid: (parent pid, utime + stime in seconds, command line)} of every process."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLK_TCK,
                                  cmdline)
    return table


def _subtree(roots, table) -> set:
    children: dict = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    seen, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += children.get(pid, [])
    return seen


def _role(cmdline: str) -> str:
    if "ServeReplica" in cmdline:
        return "replica"
    if any(mark in cmdline for mark in ("ProxyActor", "haproxy", "HAProxyManager")):
        return "proxy"
    return "other"


def cpu_by_role(pids) -> dict:
    """{role: CPU seconds so far} over ``pids`` (replica, proxy, other Ray processes)."""
    table = _proc_table()
    totals = {"replica": 0.0, "proxy": 0.0, "other": 0.0}
    for pid in pids:
        if pid in table:
            totals[_role(table[pid][2])] += table[pid][1]
    return totals


# ----------------------------------------------------------- servers in other processes


def serve_once_more(path: str, arguments: dict) -> tuple[object, str]:
    """``artspeed.serve``, tried a second time on a new port if the first start fails:
    Ray gives a new raylet 30 s to register, which a busy machine can miss."""
    try:
        return artspeed.serve(path, **arguments), ""
    except artspeed.InvalidArgumentError:
        raise
    except Exception as exc:   # noqa: BLE001 - Ray raises a bare Exception on that timeout
        note = f"the first start failed ({type(exc).__name__}: {str(exc)[:120]}); retried"
        time.sleep(5)
        return artspeed.serve(path, **{**arguments, "port": artspeed.free_port()}), note


def _worker_main(conn, log_path: str) -> None:
    """A child process holding one served model: serve / redeploy / join / stop on command."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    served = None
    while True:
        command, model, options = conn.recv()
        note = ""
        try:
            if command == "stop":
                break
            if command == "join":   # a cluster of our own, then serve on it, as a user would
                subprocess.run(options.pop("ray_start"), check=True, capture_output=True,
                               text=True, timeout=180)
                command = "serve"
            if command == "serve":
                if served is not None:
                    served.shutdown()
                served, note = serve_once_more(model, options)
            else:
                served.redeploy(model, **options)
            conn.send(("ok", served.url, dict(served.settings), note))
        except Exception as exc:   # noqa: BLE001 - reported to the parent, which raises it
            detail = getattr(exc, "stderr", "") or ""
            conn.send(("error", f"{type(exc).__name__}: {exc} {detail[-400:]}", None, ""))
    if served is not None:
        served.shutdown()
    conn.send(("stopped", None, None, ""))


@dataclass
class Slot:
    """One server: A in this process, or B (or the cluster joiner) in a child process."""

    label: str
    proxy: str
    child: bool
    log_path: str = ""
    url: str | None = None
    settings: dict = field(default_factory=dict)
    model: str | None = None          # the key of the model it serves now
    path: str | None = None
    options: dict = field(default_factory=dict)
    served: object = None             # this process's Served (A)
    process: object = None            # the child (B)
    conn: object = None
    _waiting: bool = False

    # -- configuration ---------------------------------------------------------
    def begin(self, key: str, path: str, options: dict, address: str | None = None,
              ray_start: list | None = None) -> None:
        """Serve ``path`` with ``options`` (all of serve's batching and replica settings):
        redeploy if a server is up, else serve. In a child, returns at once (``finish``)."""
        self.model, self.path, self.options = key, path, dict(options)
        if self.url is None:
            command = "join" if ray_start else "serve"
            arguments = {**options, "port": artspeed.free_port()}
            if address:
                arguments["address"] = address
            else:
                arguments["proxy"] = self.proxy
            if ray_start:
                arguments["ray_start"] = ray_start
        else:
            command, arguments = "redeploy", options
        if not self.child:
            if command == "serve":
                self.served, note = serve_once_more(path, arguments)
                if note:
                    print(f"  server {self.label}: {note}")
            else:
                self.served.redeploy(path, **arguments)
            self.url, self.settings = self.served.url, dict(self.served.settings)
            return
        if self.process is None:
            context = multiprocessing.get_context("spawn")
            self.conn, theirs = context.Pipe()
            self.process = context.Process(target=_worker_main, args=(theirs, self.log_path),
                                           daemon=True, name=f"artspeed-bench-{self.label}")
            self.process.start()
        self.conn.send((command, path, arguments))
        self._waiting = True

    def finish(self, timeout_s: float = 600.0) -> None:
        if not self._waiting:
            return
        self._waiting = False
        if not self.conn.poll(timeout_s):
            raise SystemExit(f"server {self.label} did not answer within {timeout_s:.0f} s; "
                             f"see {self.log_path}")
        status, url, settings, note = self.conn.recv()
        if status != "ok":
            raise SystemExit(f"server {self.label} failed: {url}; see {self.log_path}")
        if note:
            print(f"  server {self.label}: {note}")
        self.url, self.settings = url, settings

    def predictor(self) -> artspeed.HttpPredictor:
        return artspeed.HttpPredictor(self.url, name=f"{self.model} via {self.proxy}")

    def pids(self, others=()) -> list:
        """This server's Ray processes: those on the machine that descend from its process
        (other people's Ray on this machine is left out, and so is a child's server)."""
        table = _proc_table()
        root = self.process.pid if self.child else os.getpid()
        mine = _subtree([root], table) - {root}
        for other in others:
            if other is not self and other.child and other.process is not None:
                mine -= _subtree([other.process.pid], table)
        return sorted(mine & set(artspeed.ray_processes()))

    def describe(self) -> str:
        s = self.settings
        batching = (f"batches up to {s['max_batch_size']} within {s['batch_wait_ms']:g} ms"
                    if s["batching"] else "batching off")
        streams = f", {s['streams']} streams" if s.get("streams") else ""
        return (f"{s['replicas']} replica(s) x {s['threads_per_replica']} thread(s){streams}, "
                f"{batching}")

    def stop(self) -> None:
        if not self.child:
            if self.served is not None:
                self.served.shutdown()
            self.served = self.url = None
            return
        if self.process is not None:
            with contextlib.suppress(Exception):
                self.conn.send(("stop", None, None))
                self.conn.poll(60)
            self.process.join(30)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(10)
        self.process = self.url = None


def apply(pairs) -> None:
    """Configure servers: new ones one after the other (two Ray clusters starting at once
    on a busy machine miss Ray's startup timeouts), then the redeploys all at once."""
    fresh = [(slot, args) for slot, args in pairs if slot.url is None]
    again = [(slot, args) for slot, args in pairs if slot.url is not None
             and (slot.path, slot.options) != (args[1], args[2])]   # else: serving it already
    for slot, args in fresh:
        slot.begin(*args)
        slot.finish()
    for slot, args in sorted(again, key=lambda pair: not pair[0].child):
        slot.begin(*args)
    for slot, _ in again:
        slot.finish()


# ----------------------------------------------------------- a cluster of our own


def ray_start_command(temp: str, port: int) -> list:
    """``ray start --head`` on loopback with this run's own temp dir and ports."""
    ray = Path(sys.executable).with_name("ray")
    return [str(ray), "start", "--head", "--port", str(port), "--num-cpus", "2",
            "--include-dashboard=false", "--node-ip-address", "127.0.0.1", "--temp-dir", temp,
            "--ray-client-server-port", str(artspeed.free_port()),
            "--dashboard-agent-listen-port", str(artspeed.free_port()),
            "--disable-usage-stats"]


def cluster_pids(temp: str) -> list:
    """The processes of the cluster whose temp dir is ``temp``: its GCS, raylet and helpers
    (their command lines name the temp dir) and everything they started."""
    table = _proc_table()
    roots = [pid for pid, (_, _, cmdline) in table.items() if temp in cmdline]
    return sorted(_subtree(roots, table))


def stop_cluster(temp: str) -> tuple[int, list]:
    """End that cluster's processes by PID (SIGTERM, then SIGKILL); (how many, left over)."""
    pids = cluster_pids(temp)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    _wait_gone(pids, 10)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids), _wait_gone(pids, 5)


def _wait_gone(pids, timeout_s: float) -> list:
    """Wait until none of ``pids`` runs (gone, or a zombie waiting to be reaped); the rest."""
    def running(pid):
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + timeout_s
    while (left := [pid for pid in pids if running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


# ----------------------------------------------------------- measurements


def served_single_stream(slot: Slot, others, duration_s: float, warmup: int) -> dict:
    """Single-stream p50 over HTTP, and the Ray processes' CPU time per request by role."""
    predictor = slot.predictor()
    pids = slot.pids(others)
    before = cpu_by_role(pids)
    result = artspeed.single_stream(predictor, duration_s=duration_s, warmup=warmup)
    after = cpu_by_role(pids)
    requests = result.queries + warmup
    predictor.close()
    cpu = {role: 1000 * (after[role] - before[role]) / requests for role in before}
    return {"p50_ms": result.latency_ms["p50"], "cpu_ms": cpu, "requests": requests}


def local_single_stream(predictor, duration_s: float, warmup: int) -> dict:
    started = time.process_time()
    result = artspeed.single_stream(predictor, duration_s=duration_s, warmup=warmup)
    cpu = 1000 * (time.process_time() - started) / (result.queries + warmup)
    return {"p50_ms": result.latency_ms["p50"], "cpu_ms": cpu}


def idle_cpu(slots, others, seconds: float) -> dict:
    """{slot label: {role: CPU ms per second}} of each server's Ray processes, idle."""
    pids = {slot.label: slot.pids(others) for slot in slots}
    before = {label: cpu_by_role(p) for label, p in pids.items()}
    time.sleep(seconds)
    after = {label: cpu_by_role(p) for label, p in pids.items()}
    return {label: {role: 1000 * (after[label][role] - before[label][role]) / seconds
                     for role in before[label]} for label in pids}


def tax_figures(served: dict, inproc: dict) -> dict:
    """Medians over the rounds; the tax is the median of each round's difference."""
    return {
        "served_p50_ms": median(s["p50_ms"] for s in served.values()),
        "in_process_p50_ms": median(s["p50_ms"] for s in inproc.values()),
        "tax_ms": median(served[r]["p50_ms"] - inproc[r]["p50_ms"] for r in served),
        "engine_cpu_ms": median(sum(s["cpu_ms"].values()) for s in served.values()),
        "engine_cpu_by_role_ms": {role: median(s["cpu_ms"][role] for s in served.values())
                                  for role in ("replica", "proxy", "other")},
        "model_cpu_ms": median(s["cpu_ms"] for s in inproc.values()),
        "requests": sum(s["requests"] for s in served.values())}


def max_abs_diff(slot: Slot, local, samples: int = 4) -> tuple[float, int]:
    """Served against in-process outputs on one batch sent alone: (max |diff|, batch formed)."""
    x = local.sample_input(samples, seed=1)
    predictor = slot.predictor()
    served, formed = predictor.post(x)
    predictor.close()
    return float(np.max(np.abs(served - local(x)))), formed


def batch_sweep(local, duration_s: float) -> dict:
    out = {}
    for b in BATCHES:
        r = artspeed.benchmark(local, b, duration_s=duration_s, warmup=3, warn=False)
        out[b] = {"p50_ms": r.latency_ms["p50"], "per_s": r.throughput_per_s}
    return out


def search(slot: Slot, bound_ms: float, duration_s: float, steps: int, concurrency: int) -> dict:
    """find_max_qps over HTTP; the batches formed and p99 at the highest rate that met it."""
    predictor = slot.predictor()
    result = artspeed.find_max_qps(predictor, bound_ms, duration_s=duration_s, steps=steps,
                                   concurrency=concurrency)
    predictor.close()
    met = [t for t in result.trials if t.bound_met]
    best = max(met, key=lambda t: t.target_qps) if met else None
    return {"max_qps": result.max_qps,
            "batch_sizes": dict(best.batch_sizes) if best else {},
            "p99_ms": best.latency_ms["p99"] if best else None,
            "achieved_per_s": best.throughput_per_s if best else 0.0}


def closed_loop(slot: Slot, clients: int, duration_s: float) -> tuple[float, dict]:
    """Requests answered per second with ``clients`` sending one sample back to back."""
    predictor = slot.predictor()
    x = predictor.sample_input(1)
    for _ in range(3):
        predictor.post(x)
    predictor.reset_batch_sizes()
    counts = [0] * clients
    ready = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(k):
        ready.wait()
        while time.perf_counter() < deadline[0]:
            predictor.post(x)
            counts[k] += 1

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + duration_s
    start = time.perf_counter()
    ready.wait()
    for thread in threads:
        thread.join(duration_s + 120)
    rate = sum(counts) / (time.perf_counter() - start)
    formed = predictor.batch_sizes()
    predictor.close()
    return rate, formed


def in_process_at(local, formed: dict, duration_s: float) -> float:
    """In-process samples/s if each request ran in a batch of the size the server formed
    for it: total samples over the sum of (samples at size b / throughput at size b)."""
    seconds = 0.0
    for size, requests in formed.items():
        rate = artspeed.benchmark(local, size, duration_s=duration_s, warmup=2,
                                  warn=False).throughput_per_s
        seconds += requests / rate
    return sum(formed.values()) / seconds if seconds else float("nan")


def formed_text(formed: dict) -> str:
    total = sum(formed.values())
    if not total:
        return "-"
    mean = sum(k * v for k, v in formed.items()) / total
    top = sorted(formed.items(), key=lambda kv: -kv[1])[:3]
    return f"mean {mean:.1f} ({', '.join(f'{k}: {v / total:.0%}' for k, v in top)})"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# ----------------------------------------------------------- the models


def build_models(folder: Path, resolution: int, vehicle: bool, calibration: int,
                 threads: int) -> dict:
    """{key: (path, in-process predictor)}: Keras files and OpenVINO INT8 IRs."""
    import tf_keras

    from artspeed.core.frameworks import tf

    ds = artspeed.load_dataset("scenes", limit_train=calibration, limit_test=8)
    keras_models = {}
    if vehicle:
        tf_keras.utils.set_random_seed(0)
        keras_models["vehicle"] = (artspeed.vehicle(ds.input_shape, ds.num_classes),
                                   ds.x_train)
    tf_keras.utils.set_random_seed(0)
    resnet = tf_keras.applications.ResNet50(weights=None,
                                            input_shape=(resolution, resolution, 3))
    keras_models["resnet50"] = (resnet, tf.image.resize(ds.x_train, (resolution, resolution))
                                .numpy().astype("float32"))
    models = {}
    for name, (model, images) in keras_models.items():
        keras_path = folder / f"{name}.keras"
        model.save(keras_path)
        ir = artspeed.convert_model(model)
        int8 = artspeed.quantize_openvino(ir, images, subset_size=len(images), progress=False)
        xml = artspeed.save_ir(int8, folder / f"{name}_int8.xml")
        models[f"{name} keras"] = (str(keras_path),
                                   artspeed.load_predictor(keras_path, mode="function",
                                                           threads=threads))
        models[f"{name} int8"] = (str(xml), artspeed.load_predictor(xml, threads=threads))
    return models


# ----------------------------------------------------------- the run


def main() -> None:  # noqa: C901 - one linear script, section by section
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 3; 1 fast)")
    parser.add_argument("--resolution", type=int, help="ResNet50 input size (160; 96 fast)")
    parser.add_argument("--bound-ms", type=float, default=1000.0,
                        help="p99 bound for ResNet50 Keras against INT8 (1000 ms: loose "
                        "enough that Keras, at 0.4 s a batch of 8, is not starved)")
    parser.add_argument("--int8-bound-ms", type=float,
                        help="p99 bound for the batching and replica configurations of "
                        "ResNet50 INT8 (200 ms; 100 fast)")
    parser.add_argument("--calibration-samples", type=int, default=32)
    parser.add_argument("--out", help="write every figure, with the environment, to this JSON")
    parser.add_argument("--keep", help="folder for the models and server logs (default: temp)")
    args = parser.parse_args()

    fast = artspeed.fast_mode()
    rounds = args.rounds or (1 if fast else 3)
    resolution = args.resolution or (96 if fast else 160)
    bound_ms = args.bound_ms
    int8_bound_ms = args.int8_bound_ms or (100.0 if fast else 200.0)
    tax_s = 0.6 if fast else 1.5
    qps_s = 0.5 if fast else 1.5
    qps_steps = 4 if fast else 6
    sweep_s = 0.3 if fast else 0.8
    loop_s = 1.0 if fast else 2.0
    concurrencies = (16,) if fast else (4, 16)
    warmup = 5 if fast else 10
    started = time.perf_counter()

    from artspeed.core.frameworks import tf

    env = artspeed.environment()
    print(env)
    # one replica gets every core (serve's default); in-process runs get as many threads,
    # and TensorFlow the replicas' settings: intra-op = threads, inter-op = 1
    threads = env.available_cores
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    import ray

    print(f"ray {ray.__version__}; {load_line()} at the start. Other programs (other "
          "helpers' tests and servers) share these 2 cores, so every figure is noisy.")
    folder = Path(args.keep or tempfile.mkdtemp(prefix="artspeed-bench-serving-"))
    folder.mkdir(parents=True, exist_ok=True)
    models = build_models(folder, resolution, vehicle=not fast,
                          calibration=args.calibration_samples, threads=threads)
    local = {key: predictor for key, (_, predictor) in models.items()}
    print(f"models in {folder} (random weights; INT8 calibrated on {args.calibration_samples} "
          f"scenes images), built in {time.perf_counter() - started:.0f} s: "
          + ", ".join(models))

    a = Slot("A", "python", child=False)
    b = Slot("B", "haproxy", child=True, log_path=str(folder / "server-B.log"))
    j = Slot("J", "python", child=True, log_path=str(folder / "server-J.log"))
    join_temp = tempfile.mkdtemp(prefix="asb-", dir="/tmp")   # short: Ray's socket paths
    join_port = artspeed.free_port()
    results: dict = {"env": env.to_dict(), "settings": {
        "rounds": rounds, "resolution": resolution, "bound_ms": bound_ms,
        "int8_bound_ms": int8_bound_ms, "fast": fast}, "tax": {}, "sweep": {}, "equal": {},
        "qps": {}, "capacity": {}, "configs": {}, "join": {}}
    try:
        # -- 1. the serving tax, both proxies, each model ----------------------------
        # each step: A's model and B's (None: B not run); ResNet50's Keras and INT8 swap
        # places between two steps, so each proxy serves both and the order is A-B, B-A
        steps = [("vehicle keras", "vehicle int8"), ("vehicle int8", "vehicle keras"),
                 ("resnet50 keras", "resnet50 int8"), ("resnet50 int8", "resnet50 keras")]
        if fast:   # A alone (Ray's proxy); HAProxy, the vehicle and B only in the full run
            steps = [("resnet50 keras", None), ("resnet50 int8", None)]
        qps: dict = {}          # (model, proxy) -> [search results]
        capacity: dict = {}     # proxy -> [(served/s, in-process/s, formed)]
        for step, (model_a, model_b) in enumerate(steps):
            t0 = time.perf_counter()
            jobs = [(slot, (key, models[key][0], dict(SERVE_DEFAULTS)))
                    for slot, key in ((a, model_a), (b, model_b)) if key]
            apply(jobs)
            slots = [slot for slot, _ in jobs]
            print(f"\n== step {step + 1}: "
                  + "; ".join(f"{slot.label} ({slot.proxy} proxy) serves {slot.model}"
                              for slot in slots)
                  + f"; {a.describe()}; ready in {time.perf_counter() - t0:.0f} s; "
                  f"{load_line()}")
            for slot in slots:
                if slot.settings["threads_per_replica"] != threads:
                    raise SystemExit(f"{slot.label} runs {slot.describe()}; the in-process "
                                     f"runs use {threads} threads")
                diff, formed = max_abs_diff(slot, local[slot.model])
                results["equal"][f"{slot.model} via {slot.proxy}"] = diff
                print(f"  {slot.model} via {slot.proxy}: max |served - in-process| "
                      f"{diff:.1e} (a batch of 4, formed {formed})")
                if slot.model not in results["sweep"]:
                    results["sweep"][slot.model] = batch_sweep(local[slot.model], sweep_s)
            # what the servers' Ray processes burn while idle, over one window for all
            idle = idle_cpu(slots, [a, b], 1.0 if fast else 2.0)
            # alternate: the servers and the in-process models, rotated each round
            runs: dict = {}
            items = slots + [slot.model for slot in slots]
            for r in range(rounds):
                for item in items[r % len(items):] + items[:r % len(items)]:
                    if isinstance(item, Slot):
                        out = served_single_stream(item, [a, b], tax_s, warmup)
                        runs.setdefault((item.model, item.proxy), []).append((r, out))
                    else:
                        out = local_single_stream(local[item], tax_s, warmup)
                        runs.setdefault((item, "in-process"), []).append((r, out))
            for slot in slots:
                results["tax"][f"{slot.model} via {slot.proxy}"] = {
                    **tax_figures(dict(runs[(slot.model, slot.proxy)]),
                                  dict(runs[(slot.model, "in-process")])),
                    "idle_cpu_ms_per_s": idle[slot.label]}
            # ResNet50: the highest rate within the bound, and capacity against in-process
            if model_a.startswith("resnet50"):
                for r in range(max(1, rounds - 1)):
                    for slot in (slots if r % 2 == 0 else slots[::-1]):
                        found = search(slot, bound_ms, qps_s, qps_steps, CLIENTS)
                        qps.setdefault((slot.model, slot.proxy), []).append(found)
                for slot in slots:
                    if slot.model != "resnet50 int8":
                        continue
                    for _ in range(max(1, rounds - 1)):
                        served_rate, formed = closed_loop(slot, CLIENTS, loop_s)
                        inproc_rate = in_process_at(local[slot.model], formed, sweep_s / 2)
                        capacity.setdefault(slot.proxy, []).append((served_rate, inproc_rate,
                                                                    formed))
            print(f"  measured in {time.perf_counter() - t0:.0f} s since the step began")
        results["qps"]["resnet50"] = {f"{m} via {p}": v for (m, p), v in qps.items()}
        results["capacity"] = {p: [{"served_per_s": s, "in_process_per_s": i, "formed": f}
                                   for s, i, f in v] for p, v in capacity.items()}
        b.stop()   # B's cluster gone: A alone on the cores for the configurations

        # -- 2 and 4. batching, batch waits, replicas and streams: ResNet50 INT8 on A ---
        configs = [("batching on, wait 2 ms (default)", {}),
                   ("batching off", {"batching": False})]
        if not fast:
            configs.append(("batching on, wait 10 ms", {"batch_wait_ms": 10.0}))
        configs.append(("2 replicas x 1 thread", {"replicas": 2}))
        if not fast:
            configs.append(("1 replica, 2 OpenVINO streams", {"streams": 2}))
        print(f"\n== ResNet50 INT8 configurations on A (python proxy, B stopped), "
              f"p99 bound {int8_bound_ms:g} ms")
        for label, change in configs:
            t0 = time.perf_counter()
            apply([(a, ("resnet50 int8", models["resnet50 int8"][0],
                        {**SERVE_DEFAULTS, **change}))])
            ready = time.perf_counter() - t0
            rows = {}
            for concurrency in concurrencies:
                rows[concurrency] = [search(a, int8_bound_ms, qps_s, qps_steps, concurrency)]
            rate, formed = closed_loop(a, CLIENTS, loop_s)
            low = []   # single-stream p50, alternating with the in-process model's
            for _ in range(max(1, rounds - 1)):
                low.append((served_single_stream(a, [a], tax_s, warmup)["p50_ms"],
                            local_single_stream(local["resnet50 int8"], tax_s, warmup)["p50_ms"]))
            results["configs"][label] = {"settings": a.describe(), "ready_s": ready,
                                         "searches": rows, "closed_loop_per_s": rate,
                                         "closed_loop_formed": formed,
                                         "low_load_p50_ms": median(x for x, _ in low),
                                         "in_process_p50_ms": median(y for _, y in low)}
            print(f"  {label:<32} ({a.describe()}; ready in {ready:.0f} s; {load_line()})")
        a.stop()

        # -- 5. joining a cluster started with `ray start --head`, from a fresh process ----
        key = "vehicle int8" if "vehicle int8" in models else "resnet50 int8"
        t0 = time.perf_counter()
        for attempt in (1, 2):   # Ray gives a raylet 30 s to register: a busy machine can miss it
            try:
                apply([(j, (key, models[key][0], dict(SERVE_DEFAULTS), f"127.0.0.1:{join_port}",
                            ray_start_command(join_temp, join_port)))])
                break
            except SystemExit as exc:
                j.stop()
                stop_cluster(join_temp)
                if attempt == 2:
                    raise
                print(f"  the join failed once ({str(exc)[:160]}...); trying again")
                join_port = artspeed.free_port()
        print(f"\n== joined a cluster from `ray start --head` in "
              f"{time.perf_counter() - t0:.0f} s; {load_line()}")
        results["join"] = check_join(j, join_temp, local)
        print_report(results, rounds, bound_ms, int8_bound_ms, concurrencies, fast)
    finally:
        for slot in (j, b, a):
            with contextlib.suppress(Exception):
                slot.stop()
        if cluster_pids(join_temp):
            stop_cluster(join_temp)
        import shutil

        shutil.rmtree(join_temp, ignore_errors=True)
    print(f"\nthe whole run took {(time.perf_counter() - started) / 60:.1f} min; models and "
          f"server logs in {folder}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1, default=str))
        print(f"figures in {args.out}")


def check_join(j: Slot, temp: str, local: dict) -> dict:
    """The joined server answers as the local ones do; then its cluster is ended by PID."""
    diff, formed = max_abs_diff(j, local[j.model])
    p50 = served_single_stream(j, [], 0.5, 5)["p50_ms"]
    threads = j.settings["threads_per_replica"]
    j.stop()
    count, left = stop_cluster(temp)
    print(f"  J joined `ray start --head` at {j.settings.get('address')} from a fresh process: "
          f"{j.model}, {threads} thread(s), max |diff| {diff:.1e}, single-stream p50 "
          f"{p50:.1f} ms; its {count} processes ended by PID, {len(left)} left")
    return {"address": j.settings.get("address"), "threads": threads, "max_abs_diff": diff,
            "p50_ms": p50, "processes": count, "left": left}


def print_report(results, rounds, bound_ms, int8_bound_ms, concurrencies, fast) -> None:
    """Sections 1-5, from the figures gathered."""
    print(f"\n== 1. the serving tax: single-stream over HTTP, medians of {rounds} alternating "
          "round(s)")
    print(f"  {'model via proxy':<26}{'served':>9}{'in-proc':>9}{'tax':>8}  "
          f"{'engine CPU/request':<30}{'idle':>7}{'model':>8}{'overhead':>10}{'less idle':>11}")
    print(f"  {'':<26}{'p50 ms':>9}{'p50 ms':>9}{'ms':>8}  {'ms (replica + proxy + other)':<30}"
          f"{'ms/s':>7}{'CPU ms':>8}{'CPU ms':>10}{'CPU ms':>11}")
    for key, t in results["tax"].items():
        roles = t["engine_cpu_by_role_ms"]
        idle = sum(t["idle_cpu_ms_per_s"].values())
        overhead = t["engine_cpu_ms"] - t["model_cpu_ms"]
        split = (f"{t['engine_cpu_ms']:.1f} ({roles['replica']:.1f} + {roles['proxy']:.1f} + "
                 f"{roles['other']:.1f})")
        print(f"  {key:<26}{t['served_p50_ms']:>9.2f}{t['in_process_p50_ms']:>9.2f}"
              f"{t['tax_ms']:>8.2f}  {split:<30}{idle:>7.1f}{t['model_cpu_ms']:>8.2f}"
              f"{overhead:>10.2f}{overhead - idle * t['served_p50_ms'] / 1000:>11.2f}")
    print("  engine CPU: utime + stime of the server's Ray processes (/proc) over the requests, "
          "per request;\n  idle: what those processes burn idle (CPU ms per second); model CPU: "
          "time.process_time per in-process\n  inference at batch 1; overhead: engine - model; "
          "less idle: minus idle x the time a request took")

    print("\n== 3. in-process batch sweep (samples/s, p50 ms), same runtimes and threads")
    print(f"  {'model':<18}" + "".join(f"{'batch ' + str(b):>18}" for b in BATCHES))
    for key, sweep in results["sweep"].items():
        print(f"  {key:<18}" + "".join(f"{s['per_s']:>9.1f}/s {s['p50_ms']:>5.1f}ms"
                                       for s in sweep.values()))

    print(f"\n== ResNet50 served, Keras against INT8: max QPS with p99 <= {bound_ms:g} ms "
          f"({CLIENTS} clients), medians of {rounds} alternating round(s)")
    qps = results["qps"]["resnet50"]
    for key, found in qps.items():
        print(f"  {key:<30} {median(f['max_qps'] for f in found):>7.1f} QPS; batches formed "
              f"there: {formed_text(found[-1]['batch_sizes'])}")

    print(f"\n== 2 and 4. ResNet50 INT8 on A: max QPS with p99 <= {int8_bound_ms:g} ms at "
          f"{', '.join(map(str, concurrencies))} clients; closed loop of {CLIENTS} clients")
    for label, c in results["configs"].items():
        cells = []
        for concurrency, found in c["searches"].items():
            cells.append(f"{concurrency:>2} clients {median(f['max_qps'] for f in found):6.1f} "
                         f"QPS, formed {formed_text(found[-1]['batch_sizes'])}")
        print(f"  {label:<32} single-stream p50 {c['low_load_p50_ms']:.1f} ms (in-process, 2 "
              f"threads: {c['in_process_p50_ms']:.1f} ms); closed loop "
              f"{c['closed_loop_per_s']:.1f}/s, formed {formed_text(c['closed_loop_formed'])}"
              + "".join(f"\n  {'':<32} {cell}" for cell in cells))

    # -- 5. targets ---------------------------------------------------------------------
    print("\n== 5. targets (figures from this run)")
    worst = max(results["equal"].values())
    join = results["join"]
    worst_all = max(worst, join.get("max_abs_diff", 0.0))
    print(f"  [{verdict(worst_all <= EQUAL_WITHIN)}] served outputs equal in-process: max |diff| "
          f"{worst_all:.1e} over {len(results['equal']) + 1} served models (target <= "
          f"{EQUAL_WITHIN:g})")
    for proxy in ("python", "haproxy"):
        if f"resnet50 int8 via {proxy}" not in qps or f"resnet50 keras via {proxy}" not in qps:
            print(f"  [not run] ResNet50 INT8 against Keras via {proxy} (fast mode)")
            continue
        keras = median(f["max_qps"] for f in qps.get(f"resnet50 keras via {proxy}", []))
        int8 = median(f["max_qps"] for f in qps.get(f"resnet50 int8 via {proxy}", []))
        ratio = int8 / keras if keras else float("inf")
        print(f"  [{verdict(ratio >= QPS_RATIO_TARGET)}] ResNet50 served via {proxy}: INT8 "
              f"{int8:.1f} QPS against Keras {keras:.1f} QPS at p99 <= {bound_ms:g} ms: "
              f"{ratio:.2f}x (target >= {QPS_RATIO_TARGET:g}x)")
    single = results["sweep"]["resnet50 int8"][1]["per_s"]
    for proxy, rows in results["capacity"].items():
        served = median(r["served_per_s"] for r in rows)
        inproc = median(r["in_process_per_s"] for r in rows)
        share = median(r["served_per_s"] / r["in_process_per_s"] for r in rows)
        print(f"  [{verdict(share >= SHARE_TARGET)}] ResNet50 INT8 served via {proxy}: "
              f"{served:.1f}/s ({CLIENTS} clients back to back) = {share:.0%} of in-process "
              f"{inproc:.1f}/s: the same IR on 2 threads, offline, in the batch sizes the server "
              f"formed ({formed_text(rows[-1]['formed'])}) (target >= {SHARE_TARGET:.0%}; "
              f"against in-process batch 1, {single:.1f}/s: {served / single:.0%})")
        t = results["tax"].get(f"resnet50 int8 via {proxy}")
        if share < SHARE_TARGET and t:
            idle = sum(t["idle_cpu_ms_per_s"].values()) * t["served_p50_ms"] / 1000
            extra = t["engine_cpu_ms"] - t["model_cpu_ms"] - idle
            print(f"      why: each request also costs {extra:.1f} ms of the server's CPU beyond "
                  f"the model, less idle (section 1, at low load): at {served:.0f}/s, about {extra * served / 1000:.2f} "
                  f"of the {artspeed.environment().available_cores} cores, besides the {CLIENTS} "
                  "clients' own CPU and the other programs on them")
    for key, t in results["tax"].items():
        roles = t["engine_cpu_by_role_ms"]
        print(f"  [{verdict(t['tax_ms'] < TAX_TARGET_MS)}] serving tax at low load, {key}: "
              f"{t['tax_ms']:.2f} ms p50 (target < {TAX_TARGET_MS:g} ms; CPU per request "
              f"beyond the model: proxy {roles['proxy']:.1f} ms, replica "
              f"{roles['replica'] - t['model_cpu_ms']:.1f} ms)")
    ok = bool(join) and join["max_abs_diff"] <= EQUAL_WITHIN and not join["left"]
    print(f"  [{verdict(ok)}] joins a cluster from `ray start --head` (address "
          f"{join.get('address')}): answered, max |diff| {join.get('max_abs_diff', 0):.1e}, "
          f"{join.get('threads')} thread(s) from the cluster's 2 CPUs; "
          f"{join.get('processes')} cluster processes ended by PID, "
          f"{len(join.get('left', []))} left")


if __name__ == "__main__":
    main()
