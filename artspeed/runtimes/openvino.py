"""The OpenVINO runtime behind ``artspeed.Predictor``: a compiled model, sync or async.

Taught in notebooks/02-inference-metrics. The inference precision defaults to
f32, so outputs match the other runtimes even on CPUs where OpenVINO would
pick bf16 by itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from artspeed.core import _checks
from artspeed.core.errors import InvalidArgumentError, ModelError, first_line
from artspeed.core.frameworks import check_tf_keras_model, import_openvino, openvino_core
from artspeed.runtimes.base import Predictor
from artspeed.runtimes.ir import convert_model, read_ir

__all__ = ["OpenVINOPredictor", "HINTS", "INFERENCE_PRECISIONS", "compile_model", "compile_config",
           "default_inference_precision"]


_HINTS = {"latency": "LATENCY", "throughput": "THROUGHPUT",
          "cumulative_throughput": "CUMULATIVE_THROUGHPUT"}
HINTS = tuple(_HINTS)
INFERENCE_PRECISIONS = ("f32", "bf16", "f16")   # the CPU's INFERENCE_PRECISION_HINT values


class OpenVINOPredictor(Predictor):
    """An OpenVINO model (``.xml`` path, ``ov.Model`` or tf_keras model), compiled.

    ``mode="sync"`` runs one infer request and waits; ``mode="async"`` keeps
    ``requests`` of them in flight in an ``AsyncInferQueue`` (default: the
    compiled model's optimal number), which is how OpenVINO reaches its
    throughput. ``hint`` is ``"latency"`` or ``"throughput"`` (default: latency
    for sync, throughput for async); ``streams`` and ``threads`` override the
    hint's choice; ``precision="f32"`` (default) pins the inference precision,
    ``None`` keeps OpenVINO's choice (bf16 on CPUs with AMX or AVX-512 BF16).
    A model with a dynamic batch axis is compiled once per batch size it sees.
    ``perf_count=True`` makes OpenVINO time each layer (``artspeed.runtime_graph``).
    Once compiled, ``describe()`` adds what OpenVINO chose: ``compiled_streams``,
    ``compiled_requests`` and ``compiled_precision`` (the precision that runs).
    """

    runtime = "openvino"
    MODES = ("sync", "async")

    def __init__(self, model, mode: str = "sync", hint: str | None = None, streams=None,
                 threads=None, precision: str | None = "f32", requests=None,
                 device: str = "CPU", perf_count: bool = False, name: str | None = None):
        if mode not in self.MODES:
            raise InvalidArgumentError(f"unknown OpenVINO mode {mode!r}; choose sync or async")
        hint = hint or ("throughput" if mode == "async" else "latency")
        if requests is not None:
            _checks.threads(requests, "requests")   # as many as threads, at the most
        config = compile_config(hint=hint, streams=streams, threads=threads,
                                precision=precision, perf_count=perf_count)
        threads = _checks.threads(threads)

        self._ov = import_openvino()
        self._core = openvino_core()
        self._model = self._read(model)
        if len(self._model.inputs) != 1 or len(self._model.outputs) != 1:
            raise ModelError("artspeed predictors take models with one input and one output; "
                             f"this one has {len(self._model.inputs)} and "
                             f"{len(self._model.outputs)}")
        port = self._model.inputs[0]
        shape = port.get_partial_shape()
        if not shape.rank.is_static:
            raise ModelError("the OpenVINO model's input rank is dynamic; reshape it to "
                             "(N, H, W, C) with model.reshape before benchmarking")
        dims = tuple(d.get_length() if d.is_static else None for d in shape)
        super().__init__(name=name or f"openvino-{mode}", mode=mode, input_shape=dims,
                         input_dtype=port.get_element_type().to_dtype(), threads=threads)
        self.hint, self.streams, self.precision = hint, streams, precision
        self.requests, self.device = requests, device
        self._config = config
        self._compiled: dict = {}     # batch size -> (compiled model, request, queue)
        self._current = None
        self._input = None

    def _read(self, model):
        if isinstance(model, self._ov.Model):
            return model

        if isinstance(model, (str, Path)):
            path = Path(model)
            if not path.is_file():
                raise ModelError(f"no OpenVINO model at '{path}': the file does not exist")
            return read_ir(path)   # clear errors: not an .xml, no .bin beside it, unreadable

        check_tf_keras_model(model, "artspeed.OpenVINOPredictor")
        return convert_model(model)   # names an operation OpenVINO cannot convert

    def describe(self) -> dict:
        info = {**super().describe(), "hint": self.hint, "streams": self.streams,
                "precision": self.precision, "device": self.device}
        if self._current is not None:
            compiled = self._current[0]
            info["compiled_streams"] = int(compiled.get_property("NUM_STREAMS"))
            info["compiled_requests"] = self._request_count(compiled)
            info["compiled_precision"] = compiled_precision(compiled)
        return info

    def _request_count(self, compiled) -> int:
        if self.requests is not None:
            return int(self.requests)
        return int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))

    def compiled_model(self, batch_size: int = 1):
        """The ``ov.CompiledModel`` used for ``batch_size`` (compiled on first use)."""
        entry = self._compiled.get(batch_size)
        if entry is None:
            model = self._model
            if self.input_shape[0] is None:
                model = model.clone()
                model.reshape([batch_size, *(d if d is not None else -1
                                             for d in self.input_shape[1:])])
            try:
                compiled = self._core.compile_model(model, self.device, self._config)
            except RuntimeError as exc:
                raise ModelError(f"OpenVINO could not compile the model for batch "
                                 f"{batch_size}: {first_line(exc)}") from None
            request = compiled.create_infer_request()
            queue = None
            if self.mode == "async":
                queue = self._ov.AsyncInferQueue(compiled, self._request_count(compiled))
            entry = self._compiled[batch_size] = (compiled, request, queue)
        return entry[0]

    def _prepare_native(self, x: np.ndarray) -> None:
        self.compiled_model(len(x))
        self._current = self._compiled[len(x)]
        _, request, queue = self._current
        self._input = x                       # the tensors below share its memory
        tensor = self._ov.Tensor(x, shared_memory=True)
        request.set_input_tensor(tensor)
        if queue is not None:
            for i in range(len(queue)):
                queue[i].set_input_tensor(tensor)

    def _run(self) -> None:
        self._current[1].infer()

    def _fetch(self):
        return self._current[1].get_output_tensor(0).data

    def _own_latency_ns(self) -> int:
        """OpenVINO's own timing of the last sync inference (what benchmark_app reports)."""
        return int(self._current[1].latency * 1e6)

    def _timed_async(self, iterations, deadline_ns, clock):
        """Keep every request of the queue busy; (per-request latencies in ns, wall ns).

        As benchmark_app does: wait for an idle request, read the latency
        OpenVINO measured for its last inference, start it again. No Python
        callback runs, so requests do not wait for the interpreter's lock.
        """
        queue = self._current[2]
        latencies: list = []
        used: set = set()
        start = clock()
        issued = 0
        while issued < iterations and (deadline_ns is None or clock() < deadline_ns):
            idle = queue.get_idle_request_id()
            if idle in used:
                latencies.append(queue[idle].latency)
            else:
                used.add(idle)
            queue.start_async()
            issued += 1
        queue.wait_all()
        wall = clock() - start
        latencies.extend(queue[i].latency for i in used)
        return (np.asarray(latencies, dtype=np.float64) * 1e6).astype(np.int64), wall

    def close(self) -> None:
        self._compiled.clear()
        self._current = None


# ---------------------------------------------------------------- loading


def compile_config(*, hint: str = "latency", streams=None, threads=None,
                   precision: str | None = "f32", perf_count: bool = False) -> dict:
    """The CPU plugin's properties for ``core.compile_model``, checked: PERFORMANCE_HINT,
    NUM_STREAMS, INFERENCE_NUM_THREADS, INFERENCE_PRECISION_HINT (``None``: OpenVINO's
    choice) and PERF_COUNT. ``OpenVINOPredictor`` compiles with it, and so does anything
    else artspeed compiles.

    >>> compile_config(threads=1)
    {'PERFORMANCE_HINT': 'LATENCY', 'INFERENCE_NUM_THREADS': 1, 'INFERENCE_PRECISION_HINT': 'f32'}
    """
    if hint not in _HINTS:
        raise InvalidArgumentError(f"unknown hint {hint!r}; choose one of {', '.join(_HINTS)}")
    threads = _checks.threads(threads)
    if streams is not None:
        _checks.threads(streams, "streams")   # as many as threads, at the most
    if precision not in (None, *INFERENCE_PRECISIONS):
        raise InvalidArgumentError(f"precision must be f32, bf16, f16 or None, got {precision!r}")
    config = {"PERFORMANCE_HINT": _HINTS[hint]}
    if streams is not None:
        config["NUM_STREAMS"] = str(int(streams))
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    if precision is not None:
        config["INFERENCE_PRECISION_HINT"] = precision
    if perf_count:  # per-layer times in the runtime graph (artspeed.runtime_graph)
        config["PERF_COUNT"] = True
    return config


def compile_model(model, *, hint: str = "latency", streams=None, requests=None,
                  inference_precision: str | None = "f32", threads=None, mode: str = "sync",
                  perf_count: bool = False, name: str | None = None):
    """Compile ``model`` for the CPU; return an ``artspeed.OpenVINOPredictor``.

    ``hint`` is ``"latency"`` or ``"throughput"`` (OpenVINO's
    PERFORMANCE_HINT); ``streams`` and ``requests`` override what the hint
    picks; ``inference_precision`` is the INFERENCE_PRECISION_HINT (``"f32"``,
    ``"bf16"``, or ``None`` for OpenVINO's default: bf16 on CPUs with AMX or
    AVX512_BF16). ``mode="async"`` runs an ``AsyncInferQueue``.
    ``predictor.compiled_model()`` is the ``ov.CompiledModel``.

    >>> import artspeed, numpy as np
    >>> p = compile_model(artspeed.dense_example(), hint="throughput", streams=2)
    >>> p.compiled_model().get_property("NUM_STREAMS")
    2
    """
    if isinstance(model, (str, Path)) and Path(model).suffix == ".xml":
        read_ir(model)  # the clear errors (missing .bin) before OpenVINO's own
        source = model
    else:
        source = convert_model(model)
    return OpenVINOPredictor(source, mode=mode, hint=hint, streams=streams, threads=threads,
                             precision=inference_precision, requests=requests,
                             perf_count=perf_count, name=name)


def compiled_precision(compiled) -> str:
    """The inference precision an ``ov.CompiledModel`` runs in (``"f32"``, ``"bf16"``, ...).

    Read back from its INFERENCE_PRECISION_HINT, which holds OpenVINO's choice
    when none was asked for.

    >>> import artspeed
    >>> compiled_precision(compile_model(artspeed.dense_example()).compiled_model())
    'f32'
    """
    return compiled.get_property("INFERENCE_PRECISION_HINT").to_string()


def default_inference_precision(device: str = "CPU") -> dict:
    """What OpenVINO picks on this machine: the default precision and the CPU's capabilities.

    >>> info = default_inference_precision()
    >>> info["default"] in ("f32", "bf16", "f16")
    True
    """
    core = openvino_core()
    default = core.get_property(device, "INFERENCE_PRECISION_HINT")
    return {"device": device, "default": default.to_string(),
            "capabilities": list(core.get_property(device, "OPTIMIZATION_CAPABILITIES")),
            "cpu": core.get_property(device, "FULL_DEVICE_NAME")}
