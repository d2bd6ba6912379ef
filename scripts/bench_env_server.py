#!/usr/bin/env python3
"""Throughput of the environment service: jobs/s of 8 concurrent clients × 300 jobs each, scored
in-process (one SandboxPool), by one `rarelang serve` server, and by two servers (each client a
RemoteScorer over both). Every setting has the same workers per language in all (the servers split them),
and every outcome is checked against the job's expected status. Writes results/bench/env_server.json.

    python scripts/bench_env_server.py [--clients 8] [--jobs 300] [--workers N] [--out results/bench/env_server.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import setup, stage_parser
from rarelang.env.client import RemoteScorer
from rarelang.env.launch import LocalServer
from rarelang.manifest import environment
from rarelang.rewards import RewardTable
from rarelang.sandbox import Job, SandboxPool
from rarelang.sandbox.bench import machine_info

JL_TESTS = "using Test\n@test f(1) == 2\n@test f(2) == 3\n"
R_TESTS = "library(testthat)\ntest_that('a', { expect_equal(f(1), 2); expect_equal(f(2), 3) })\n"
MIX = [("julia", "f(x) = x + 1\n", JL_TESTS, "passed"), ("julia", "f(x) = x\n", JL_TESTS, "tests_failed"),
       ("r", "f <- function(x) x + 1\n", R_TESTS, "passed"), ("r", "f <- function(x) x\n", R_TESTS, "tests_failed")]


def client_jobs(client: int, n: int) -> list[tuple[Job, str]]:
    """n jobs, Julia and R, passing and failing; each program distinct (a comment), so no cache can help."""
    out = []
    for i in range(n):
        lang, code, tests, want = MIX[i % len(MIX)]
        out.append((Job(lang, f"# c{client} j{i}\n" + code, tests, id=f"c{client}-{i}"), want))
    return out


def run_clients(make_runner, clients: int, jobs: int, batch: int) -> dict:
    """Each client sends its jobs in batches of ``batch`` (a GRPO step's completions), one after another."""
    def client(c: int) -> tuple[int, int]:
        runner = make_runner()
        todo = client_jobs(c, jobs)
        wrong = 0
        for k in range(0, len(todo), batch):
            part = todo[k:k + batch]
            outs = runner.run_all([j for j, _ in part])
            wrong += sum(o.status.value != want or o.id != j.id for o, (j, want) in zip(outs, part))
        return len(todo), wrong

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as ex:
        done = list(ex.map(client, range(clients)))
    wall = time.perf_counter() - t0
    n, wrong = sum(d[0] for d in done), sum(d[1] for d in done)
    return {"jobs": n, "wrong_outcomes": wrong, "wall_s": round(wall, 2), "jobs_per_s": round(n / wall, 1)}


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=300, help="jobs per client")
    ap.add_argument("--batch", type=int, default=16, help="jobs per request (a GRPO step's completions)")
    ap.add_argument("--workers", type=int, default=None, help="warm workers per language in all (default: CPU cores)")
    ap.add_argument("--out", default="results/bench/env_server.json")
    args = ap.parse_args()
    params, repo = setup(args)
    workers = args.workers or os.cpu_count() or 1
    table = RewardTable.from_params(params.get("reward"))
    out: dict = {"command": " ".join(["python", *sys.argv]), "clients": args.clients, "jobs_per_client": args.jobs,
                 "batch": args.batch, "workers_per_language": workers, "results": {}}

    with SandboxPool.from_params(params, workers=workers) as pool:
        pool.warm_up(["julia", "r"])
        print("in-process ...", file=sys.stderr)
        out["results"]["in_process"] = run_clients(lambda: pool, args.clients, args.jobs, args.batch)
        out["sandbox"] = machine_info(pool.cfg)

    logs = repo / "results" / "bench" / "env_server_logs"
    logs.mkdir(parents=True, exist_ok=True)
    for n_servers in (1, 2):
        per = max(1, workers // n_servers)
        srvs = [LocalServer(["--workers", str(per)], log=logs / f"servers{n_servers}-{i}.log") for i in range(n_servers)]
        try:
            for s in srvs:
                s.start()
            print(f"{n_servers} server(s) × {per} worker(s) per language ...", file=sys.stderr)
            res = run_clients(lambda: RemoteScorer([s.url for s in srvs], rewards=table),
                              args.clients, args.jobs, args.batch)
            res["workers_per_language_per_server"] = per
            out["results"][f"servers_{n_servers}"] = res
        finally:
            for s in srvs:
                s.terminate()
    base = out["results"]["in_process"]["jobs_per_s"]
    for k, v in out["results"].items():
        v["vs_in_process"] = round(v["jobs_per_s"] / base, 3)
    out["environment"] = environment(params)
    path = repo / args.out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["results"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
