"""``artspeed serve``: a model behind Ray Serve over HTTP, until Ctrl-C.

>>> from artspeed.cli.app import build_parser
>>> args = build_parser().parse_args(["serve", "model.keras", "--replicas", "2"])
>>> args.command, args.replicas, args.max_batch_size, args.port
('serve', 2, 8, 8000)
"""

from __future__ import annotations

import json
import sys

from artspeed.cli._args import _add_unsafe_argument, _positive_float, _positive_int, _threads
from artspeed.deployment.serving import PROXIES, serve_until_stopped
from artspeed.runtimes.http import DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT


def _ready_line(served) -> str:
    s = served.settings
    batching = (f"batches up to {s['max_batch_size']} within {s['batch_wait_ms']:g} ms"
                if s["batching"] else "batching off")
    streams = f", {s['streams']} OpenVINO streams" if s["streams"] else ""
    return (f"serving {s['model']} ({s['runtime']}) at {served.url}: {s['replicas']} "
            f"replica(s) x {s['threads_per_replica']} thread(s){streams}, {batching}; "
            "POST /predict, GET /health; Ctrl-C stops it")


def _cmd_serve(args) -> int:
    def on_ready(served):
        if args.json:
            print(json.dumps({"url": served.url, **served.settings}), flush=True)
        else:
            print(_ready_line(served), flush=True)

    try:
        serve_until_stopped(args.model, on_ready=on_ready, stop_after_s=args.stop_after,
                            replicas=args.replicas, max_batch_size=args.max_batch_size,
                            batch_wait_ms=args.batch_wait_ms, batching=not args.no_batching,
                            threads_per_replica=args.threads_per_replica,
                            streams=args.streams, port=args.port, address=args.address,
                            max_body_bytes=args.max_body_bytes, proxy=args.proxy,
                            safe_mode=not args.unsafe)
    except KeyboardInterrupt:   # Ctrl-C or SIGTERM: the way a server is stopped
        print("artspeed serve: stopped", file=sys.stderr)
        return 0
    if not args.json:
        print(f"stopped after {args.stop_after:g} s")
    return 0


def _add_serve(commands) -> None:
    p = commands.add_parser("serve", help="serve a model over HTTP on Ray Serve, with "
                            "dynamic batching, until Ctrl-C")
    p.add_argument("model", metavar="MODEL",
                   help="a .keras/.h5 file, a .tflite file or an OpenVINO .xml")
    p.add_argument("--replicas", type=_positive_int, default=1, metavar="N",
                   help="copies of the model, each in its own process (1)")
    p.add_argument("--max-batch-size", type=_positive_int, default=8, metavar="N",
                   help="the most samples run together, and in one request (8)")
    p.add_argument("--batch-wait-ms", type=_positive_float, default=2.0, metavar="MS",
                   help="how long a batch waits for more requests (2)")
    p.add_argument("--no-batching", action="store_true", help="run each request alone")
    p.add_argument("--threads-per-replica", type=_threads, metavar="N",
                   help="runtime threads of each replica (default: the cores shared out)")
    p.add_argument("--streams", type=_threads, metavar="N",
                   help="OpenVINO streams in each replica (OpenVINO models only)")
    p.add_argument("--port", type=_positive_int, default=DEFAULT_PORT, metavar="P",
                   help=f"the HTTP port on 127.0.0.1 ({DEFAULT_PORT})")
    p.add_argument("--address", metavar="RAY_ADDRESS",
                   help="join this running Ray cluster (from `ray start --head`) instead of "
                   "starting a local one")
    p.add_argument("--proxy", choices=PROXIES, default="python",
                   help="Ray Serve's ingress: its own proxy on 127.0.0.1 (default), or HAProxy "
                   "(less overhead a request; its stats and metrics ports listen on every "
                   "interface)")
    p.add_argument("--max-body-bytes", type=_positive_int, default=DEFAULT_MAX_BODY_BYTES,
                   metavar="N", help=f"the largest request body ({DEFAULT_MAX_BODY_BYTES:,})")
    p.add_argument("--stop-after", type=_positive_float, metavar="SECONDS",
                   help="stop by itself after this many seconds")
    _add_unsafe_argument(p)
    p.add_argument("--json", action="store_true", help="print the server's settings as JSON")
    p.set_defaults(func=_cmd_serve, command="serve")
