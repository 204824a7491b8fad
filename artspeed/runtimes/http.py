"""A served model as a ``Predictor``: its HTTP API, spoken from both ends.

Taught in notebooks/12-serving. ``artspeed serve`` (``artspeed.serve``) puts a
model behind Ray Serve; this module holds the wire format that server and
client share, and ``HttpPredictor``, which drives a served model as the
benchmarks and scenarios drive a local one.

The API, on ``http://HOST:PORT``:

- ``POST /predict``: a batch of inputs in, the outputs out, in the format it
  came in: a ``.npy`` body (``Content-Type: application/x-npy``, what
  ``numpy.save`` writes; the fast one) or JSON (``{"inputs": [[...]]}``,
  answered with ``{"outputs": [[...]], "batch_size": N}``). The header
  ``X-Artspeed-Batch-Size`` says how many samples the server ran together.
- ``GET /health``: the model's name, runtime, input shape and limits.
- Bad input is a 4xx with ``{"error": "..."}``: 400 for a malformed body, a
  wrong shape or dtype; 413 for a body or batch over the limit; 415 for
  another content type; 404 and 405 for a wrong route or method.

Requests go only to loopback addresses unless ``remote=True`` (a cluster the
learner named).

>>> import numpy as np
>>> body = encode_array(np.ones((2, 3), np.float32), NPY)
>>> decode_array(body, NPY).shape
(2, 3)
>>> decode_array(b'{"inputs": [[1, 2], [3, 4]]}', JSON).dtype
dtype('float32')
>>> decode_array(b'{"inputs": [[1, "x"]]}', JSON)
Traceback (most recent call last):
...
artspeed.InvalidArgumentError: the JSON inputs are not numbers in a rectangular array: ...
"""

from __future__ import annotations

import collections
import http.client
import io
import ipaddress
import json
import socket
import threading
import urllib.parse

import numpy as np

from artspeed.core.errors import InvalidArgumentError, ModelError, first_line
from artspeed.runtimes.base import Predictor

__all__ = ["HttpPredictor", "encode_array", "decode_array", "check_loopback", "free_port"]

NPY = "application/x-npy"
JSON = "application/json"
BATCH_HEADER = "X-Artspeed-Batch-Size"
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY_BYTES = 64 * 2**20     # 64 MiB: a batch of 64 images of 224 x 224 x 3 floats
_TIMEOUT_S = 60.0


def encode_array(x: np.ndarray, content_type: str, **extra) -> bytes:
    """``x`` as a body of ``content_type`` (NPY or JSON); JSON bodies carry ``extra`` too."""
    if content_type == NPY:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(x), allow_pickle=False)
        return buffer.getvalue()
    key = "outputs" if extra else "inputs"
    return json.dumps({key: np.asarray(x).tolist(), **extra}).encode()


def decode_array(body: bytes, content_type: str, key: str = "inputs") -> np.ndarray:
    """The array in a body of ``content_type``, or an InvalidArgumentError that says why not.

    A ``.npy`` body is read without pickles; JSON numbers become float32.
    """
    if content_type == NPY:
        try:
            return np.load(io.BytesIO(body), allow_pickle=False)
        except Exception as exc:   # numpy raises ValueError, EOFError, OSError... on junk
            raise InvalidArgumentError(f"the body is not a .npy array ({first_line(exc)}); "
                                       "send what numpy.save writes") from None
    if content_type != JSON:
        raise InvalidArgumentError(f"unsupported content type {content_type!r}; send {NPY} "
                                   f"or {JSON}")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(f"the body is not JSON ({first_line(exc)})") from None
    if isinstance(data, dict):
        if key not in data:
            raise InvalidArgumentError(f'the JSON body has no "{key}"; send {{"{key}": '
                                       "[[...], ...]}, a batch of samples")
        data = data[key]
    try:
        array = np.asarray(data, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"the JSON {key} are not numbers in a rectangular array: "
                                   f"{first_line(exc)}") from None
    return array


def check_loopback(url: str, remote: bool = False) -> tuple[str, int]:
    """The (host, port) of an ``http://`` URL; a host off this machine needs ``remote=True``.

    >>> check_loopback("http://127.0.0.1:8000")
    ('127.0.0.1', 8000)
    >>> check_loopback("http://example.com:8000")
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: example.com is not a loopback address; artspeed sends load only to this machine unless told the cluster is yours (remote=True)
    """
    parts = urllib.parse.urlsplit(str(url))
    if parts.scheme != "http" or not parts.hostname:
        raise InvalidArgumentError(f"{url!r} is not an http:// URL such as "
                                   f"http://127.0.0.1:{DEFAULT_PORT}")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise InvalidArgumentError(f"{url!r} has a bad port: {first_line(exc)}") from None
    if not remote and not _is_loopback(parts.hostname):
        raise InvalidArgumentError(
            f"{parts.hostname} is not a loopback address; artspeed sends load only to this "
            "machine unless told the cluster is yours (remote=True)")
    return parts.hostname, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False   # a name: not resolved here, so not trusted to be this machine


class HttpPredictor(Predictor):
    """A model served over HTTP (``artspeed serve``), run like any other ``Predictor``.

    It reads the model's input shape from ``GET /health``, then posts ``.npy``
    batches over one kept-alive connection per thread, so unlike other
    predictors it may be called from several threads at once (the Server
    scenario's concurrent clients do). ``batch_sizes()`` counts the batch
    sizes the server reported forming since the last ``reset_batch_sizes()``.
    """

    runtime = "http"
    concurrent = True

    def __init__(self, url: str, *, remote: bool = False, name: str | None = None,
                 timeout_s: float = _TIMEOUT_S):
        self.host, self.port = check_loopback(url, remote)
        self.url = f"http://{self.host}:{self.port}"
        self.timeout_s = float(timeout_s)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._batches: collections.Counter = collections.Counter()
        info = self.health()
        self.served = info
        super().__init__(name=name or f"{info.get('model', 'model')} (served)", mode="http",
                         input_shape=[None if d is None else d for d in info["input_shape"]],
                         input_dtype="float32")

    # -- one connection per thread --------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout_s)
        return conn

    def _request(self, method: str, path: str, body: bytes | None = None,
                 content_type: str = NPY) -> tuple[int, dict, bytes]:
        headers = {"Content-Type": content_type} if body is not None else {}
        for attempt in (0, 1):   # a kept-alive connection the server closed: reconnect once
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                return response.status, dict(response.getheaders()), response.read()
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                conn.close()
                self._local.conn = None
                if attempt or isinstance(exc, (ConnectionRefusedError, TimeoutError)):
                    raise ModelError(f"no model answers at {self.url} ({first_line(exc)}); "
                                     "start one with `artspeed serve MODEL`") from None
        raise AssertionError("unreachable")

    def health(self) -> dict:
        """What the server says of its model: name, runtime, input shape, limits."""
        status, _, body = self._request("GET", "/health")
        if status != 200:
            raise ModelError(f"{self.url}/health answered {status}; is it artspeed serve?")
        return json.loads(body)

    def post(self, x, content_type: str = NPY) -> tuple[np.ndarray, int]:
        """Post the batch ``x``; return (outputs, the batch size the server formed)."""
        status, headers, body = self._request("POST", "/predict",
                                              encode_array(np.asarray(x), content_type),
                                              content_type)
        formed = self._checked(status, headers, body)
        return decode_array(body, content_type, key="outputs"), formed

    def _checked(self, status, headers, body) -> int:
        """The batch size the server formed (counted), or the server's error raised."""
        if status != 200:
            try:
                message = json.loads(body)["error"]
            except Exception:
                message = body[:200].decode(errors="replace")
            error = InvalidArgumentError if 400 <= status < 500 else ModelError
            raise error(f"the server answered {status}: {message}")
        formed = int({k.lower(): v for k, v in headers.items()}.get(BATCH_HEADER.lower(), 0))
        with self._lock:
            self._batches[formed] += 1
        return formed

    def batch_sizes(self) -> dict:
        """{batch size the server formed: requests answered from such a batch}."""
        with self._lock:
            return dict(sorted(self._batches.items()))

    def reset_batch_sizes(self) -> None:
        with self._lock:
            self._batches.clear()

    def describe(self) -> dict:
        return {**super().describe(), "url": self.url,
                "served": {k: v for k, v in self.served.items() if k != "input_shape"}}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- the Predictor contract, per thread -----------------------------------
    def _prepare_native(self, x: np.ndarray) -> None:
        self._local.body = encode_array(x, NPY)

    def _run(self) -> None:
        status, headers, body = self._request("POST", "/predict", self._local.body)
        self._checked(status, headers, body)
        self._local.answer = body

    def _fetch(self):
        return decode_array(self._local.answer, NPY, key="outputs")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (for tests and notebooks that serve)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
