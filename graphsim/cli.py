"""`graphsim serve`: run the simulator on a loopback port.

With `--port 0` the OS picks a free port; the first line on stdout is always
`graphsim listening on http://HOST:PORT` so scripts and fixtures can read the address.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from pathlib import Path

from graphsim.app import SimConfig, Simulator, create_app
from graphsim.rules import AGENT_CASCADE_SECONDS
from graphsim.seed import SeedError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphsim", description="Local Microsoft Graph "
                                     "simulator for Entra ID objects.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve /v1.0 and /beta over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    source = serve.add_mutually_exclusive_group()
    source.add_argument("--seed", type=Path, help="seed file (.json document or .ndjson items)")
    source.add_argument("--synthetic", type=int, metavar="N",
                        help="generate a synthetic tenant of about N objects")
    serve.add_argument("--random-seed", type=int, default=0)
    serve.add_argument("--tenant-id")
    serve.add_argument("--throttle", choices=("off", "graph"), default="off")
    serve.add_argument("--time-scale", type=float, default=1.0,
                       help="shrink throttling windows and Retry-After by this factor")
    serve.add_argument("--latency-ms", type=float, default=0.0,
                       help="flat delay added to every request")
    serve.add_argument("--latency-model", choices=("off", "graph"), default="off",
                       help="graph: reads ~60 ms + 0.05 ms per object, writes 150-250 ms "
                            "(estimates; see docs/graphsim.md)")
    serve.add_argument("--fail-rate", type=float, default=0.0,
                       help="share of requests answered 503/504")
    serve.add_argument("--drop-rate", type=float, default=0.0,
                       help="share of requests whose connection is dropped mid-answer")
    serve.add_argument("--spurious-429-rate", type=float, default=0.0)
    serve.add_argument("--delta-reset-rate", type=float, default=0.0,
                       help="share of deltaLink calls answered 410 resyncRequired + Location")
    serve.add_argument("--delta-replay", type=int, default=0, metavar="N",
                       help="deltaLink rounds also re-send the N change-log entries before them")
    serve.add_argument("--agent-cascade-seconds", type=float, default=AGENT_CASCADE_SECONDS,
                       help="simulated seconds before deleting a blueprint principal soft-"
                            "deletes its agent identities (Graph does it in the background); "
                            "0: at once")
    serve.add_argument("--replication-delay-ms", type=float, default=0.0,
                       help="a created object is invisible to reads and references for this "
                            "many simulated milliseconds (Graph's replication delay)")
    serve.add_argument("--log-level", default="warning")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.time_scale <= 0:
        print("graphsim: --time-scale must be greater than 0", file=sys.stderr)
        return 2
    if args.replication_delay_ms < 0:
        print("graphsim: --replication-delay-ms must be 0 or more", file=sys.stderr)
        return 2
    if args.agent_cascade_seconds < 0:
        print("graphsim: --agent-cascade-seconds must be 0 or more", file=sys.stderr)
        return 2
    if args.delta_replay < 0:
        print("graphsim: --delta-replay must be 0 or more", file=sys.stderr)
        return 2
    for name in ("fail_rate", "drop_rate", "spurious_429_rate", "delta_reset_rate"):
        if not 0 <= getattr(args, name) <= 1:
            print(f"graphsim: --{name.replace('_', '-')} must be between 0 and 1",
                  file=sys.stderr)
            return 2
    if args.seed is not None and not args.seed.is_file():
        print(f"graphsim: seed file not found: {args.seed}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    config = SimConfig(
        throttle=args.throttle, time_scale=args.time_scale, latency_ms=args.latency_ms,
        latency_model=args.latency_model,
        fail_rate=args.fail_rate, drop_rate=args.drop_rate,
        spurious_429_rate=args.spurious_429_rate, random_seed=args.random_seed,
        delta_reset_rate=args.delta_reset_rate, delta_replay=args.delta_replay,
        agent_cascade_seconds=args.agent_cascade_seconds,
        replication_delay_ms=args.replication_delay_ms,
        seed_file=str(args.seed) if args.seed else None, synthetic=args.synthetic,
        tenant_id=args.tenant_id,
    )
    try:
        sim = Simulator(config)
    except (SeedError, ValueError, OSError) as exc:
        print(f"graphsim: cannot load the tenant: {exc}", file=sys.stderr)
        return 2
    return serve(sim, args.host, args.port, args.log_level)


def serve(sim: Simulator, host: str, port: int, log_level: str = "warning") -> int:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit TCP_NODELAY; without it the separate header and body
    # writes of every answer meet the client's delayed ACK and each request takes ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        print(f"graphsim: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 2
    sock.listen(1024)
    actual = sock.getsockname()[1]
    print(f"graphsim listening on http://{host}:{actual}", flush=True)
    # The app writes Graph's own Date header; uvicorn's would make it appear twice.
    config = uvicorn.Config(create_app(sim), log_level=log_level, access_log=False,
                            loop="uvloop", http="httptools", lifespan="off",
                            date_header=False, server_header=False)
    server = uvicorn.Server(config)
    asyncio.run(server.serve(sockets=[sock]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
