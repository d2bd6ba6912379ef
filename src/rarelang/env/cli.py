"""``rarelang serve``: its options and its start. Kept apart from rarelang.cli so that the other
subcommands never import the web stack."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

TOKEN_ENV = "RARELANG_ENV_TOKEN"


def add_serve_parser(sub: Any) -> argparse.ArgumentParser:
    from .settings import ServerSettings
    d = ServerSettings()
    s = sub.add_parser(
        "serve", help="serve the sandbox as an OpenEnv-compatible environment and batch scorer",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Serve Julia/R code tasks over HTTP and WebSocket on OpenEnv's protocol (reset/step/state, "
                    "/ws sessions; multi-turn episodes of up to --max-attempts attempts) and a batch endpoint "
                    "POST /score for GRPO rewards. Probes: GET /health, GET /ready. The access token is read "
                    f"from the environment variable named by --token-env (default ${TOKEN_ENV}) or a file; "
                    "without one only --host 127.0.0.1 is allowed. SIGTERM/SIGINT: stop taking work, finish "
                    "what is in flight (--drain-s), close the workers. See docs/environments.md.")
    s.add_argument("--host", default=d.host, help="address to listen on (0.0.0.0: every interface; needs a token)")
    s.add_argument("--port", type=int, default=d.port)
    s.add_argument("--token-env", default=TOKEN_ENV, help="environment variable holding the access token")
    s.add_argument("--token-file", help="file holding the access token (instead of --token-env)")
    s.add_argument("--workers", type=int, default=None, help="warm workers per language (default: machine.workers)")
    s.add_argument("--backend", choices=["bwrap", "apptainer", "none"], help="override machine.sandbox_backend")
    s.add_argument("--data-dir", default="data/processed", help="where train/validation/test.parquet are")
    s.add_argument("--multipl-e-dir", default=None, help="MultiPL-E jsonl files (default: evaluate.multipl_e_dir)")
    s.add_argument("--split", default=d.split, help="split a reset draws from when it names none: train, validation, "
                                                    "test, humaneval-r, humaneval-jl, mbpp-r or mbpp-jl")
    s.add_argument("--max-attempts", type=int, default=d.max_attempts, help="attempts per episode by default")
    s.add_argument("--max-attempts-cap", type=int, default=d.max_attempts_cap, help="most attempts a reset may ask")
    s.add_argument("--max-sessions", type=int, default=d.max_sessions, help="open sessions at most")
    s.add_argument("--session-ttl", type=float, default=d.session_ttl_s, help="seconds before an idle session closes")
    s.add_argument("--max-request-mb", type=float, default=d.max_request_bytes / (1 << 20),
                   help="largest request body or WebSocket message")
    s.add_argument("--max-program-kb", type=float, default=d.max_program_bytes / 1024,
                   help="largest program, completion or test file")
    s.add_argument("--max-batch", type=int, default=d.max_batch_jobs, help="most jobs in one POST /score")
    s.add_argument("--cache-size", type=int, default=d.cache_size, help="batch results kept for retried job ids")
    s.add_argument("--drain-s", type=float, default=d.drain_s, help="on shutdown, wait this long for work in flight")
    s.add_argument("--warm", default=",".join(d.warm), help="languages whose workers start before /ready ('' none)")
    s.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return s


def read_token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        p = Path(args.token_file)
        if not p.is_file():
            raise ValueError(f"token file not found: {p}")
        token = p.read_text().strip()
        if not token:
            raise ValueError(f"token file {p} is empty")
        return token
    return os.environ.get(args.token_env) or None


def serve_from_args(args: argparse.Namespace, params: dict[str, Any]) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise ValueError(f"rarelang serve needs fastapi and uvicorn ({e}); pip install -e .") from None
    from ..rewards import RewardTable
    from ..sandbox import SandboxPool
    from .server import ServerSettings, serve
    from .tasks import SPLITS, TaskBank

    if args.split not in SPLITS:
        raise ValueError(f"--split {args.split!r}: not a split; known: {', '.join(SPLITS)}")
    token = read_token(args)
    if token is None and args.host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"--host {args.host} without a token would let anyone on the network run programs: "
                         f"set ${args.token_env} (or --token-file), or listen on 127.0.0.1")
    for name, v in (("--max-attempts", args.max_attempts), ("--max-sessions", args.max_sessions),
                    ("--max-batch", args.max_batch), ("--cache-size", args.cache_size)):
        if v < 1:
            raise ValueError(f"{name} must be >= 1")
    if args.session_ttl <= 0 or args.max_request_mb <= 0 or args.max_program_kb <= 0:
        raise ValueError("--session-ttl, --max-request-mb and --max-program-kb must be > 0")
    settings = ServerSettings(
        host=args.host, port=args.port, token=token, split=args.split, max_attempts=args.max_attempts,
        max_attempts_cap=max(args.max_attempts_cap, args.max_attempts), max_sessions=args.max_sessions,
        session_ttl_s=args.session_ttl, max_request_bytes=int(args.max_request_mb * (1 << 20)),
        max_program_bytes=int(args.max_program_kb * 1024), max_batch_jobs=args.max_batch, cache_size=args.cache_size,
        drain_s=args.drain_s, warm=[x.strip() for x in args.warm.split(",") if x.strip()])
    overrides: dict[str, Any] = {}
    if args.workers:
        overrides["workers"] = args.workers
    if args.backend:
        overrides["backend"] = args.backend
    pool = SandboxPool.from_params(params, **overrides)
    multipl_e_dir = args.multipl_e_dir or (params.get("evaluate") or {}).get("multipl_e_dir")
    tasks = TaskBank(Path(args.data_dir), Path(multipl_e_dir) if multipl_e_dir else None,
                     signature=bool((params.get("prompt") or {}).get("signature", True)))
    table = RewardTable.from_params(params.get("reward"))
    print(f"rarelang serve: http://{args.host}:{args.port} (token {'on' if token else 'off'}; splits available: "
          f"{', '.join(k for k, v in tasks.available().items() if v) or 'none (inline problems only)'})",
          file=sys.stderr, flush=True)
    from ..manifest import environment
    info = {"interpreters": environment(params).get("interpreters")}      # what judges, for the trainers' records
    serve(settings, pool, tasks, table, info=info, log_level=args.log_level)
    return 0
