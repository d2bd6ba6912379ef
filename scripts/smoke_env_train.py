#!/usr/bin/env python3
"""CPU smoke run of training on the environment service, with the tiny test model (tests/tiny_model.py):

1. single-turn GRPO whose rewards come from two `rarelang serve` servers (reward_service.servers);
2. multi-turn GRPO (episodes.max_attempts=3: up to two draft runs through TRL's environment_factory,
   then the final answer), its drafts and answers scored by the same servers.

It starts the servers on free localhost ports, trains a few steps each, and writes under --out:
<run>/summary.json, log_history.json, config.json (with the servers' /info) and smoke.json (what ran,
the command, the servers' job counters). Random tiny models: the rewards show that the plumbing works,
not that anything was learned.

    python scripts/smoke_env_train.py [--steps 3] [--out results/env/smoke]
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import requests

from _common import setup, stage_parser
from rarelang.env.launch import LocalServer
from rarelang.schema import frame_from_records, write_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny_model import build_tiny, build_tiny_tools  # noqa: E402

JL_TESTS = "using Test\n@test f(1) == 2\n@test f(2) == 3\n"
R_TESTS = "library(testthat)\ntest_that('a', { expect_equal(f(1), 2); expect_equal(f(2), 3) })\n"


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", default="results/env/smoke")
    args = ap.parse_args()
    params, repo = setup(args)
    from rarelang.train.run import train

    out = repo / args.out
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="smoke-env-"))
    rows = []
    for i in range(4):
        rows += [dict(task_id=f"t{i}", lang="julia", prompt="Write f(x) that returns x + 1.", solution="f(x) = x + 1",
                      tests=JL_TESTS, source="smoke"),
                 dict(task_id=f"t{i}", lang="r", prompt="Write f(x) that returns x + 1.",
                      solution="f <- function(x) x + 1", tests=R_TESTS, source="smoke")]
    write_table(frame_from_records(rows, "processed"), tmp / "train.parquet", "processed")
    servers = [LocalServer(["--workers", "1"], log=tmp / f"server{i}.log") for i in range(2)]
    record: dict = {"command": " ".join(["python", *sys.argv]), "runs": {}}
    try:
        for s in servers:
            s.start()
        params = {**params, "reward_service": {"servers": [s.url for s in servers]}}
        runs = {"single_turn": (build_tiny(tmp / "tiny"), {}, 64),
                "multi_turn": (build_tiny_tools(tmp / "tiny-tools"), {"episodes.max_attempts": 3}, 700)}
        for name, (model, overrides, max_len) in runs.items():
            params["train"] = {
                "model": str(model), "languages": ["julia", "r"], "seed": 7, "data": str(tmp / "train.parquet"),
                "output_root": str(tmp / "models"), "results_root": str(out), "run_name": name, "resume": "never",
                "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
                "completion_log": {"every": 1},
                "grpo": {"num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": max_len,
                         "max_steps": args.steps, "learning_rate": 0.05, "save_steps": 1000, "logging_steps": 1}}
            res = train(params, tmp, overrides=overrides)
            logged = [h for h in res["trainer"].state.log_history if "reward" in h]
            record["runs"][name] = {
                "overrides": overrides, "steps": res["summary"]["global_step"],
                "rewards": [h["reward"] for h in logged],
                "status_fractions": res["summary"].get("status_fractions"),
                "tool_call_frequency": [h.get("tools/call_frequency") for h in logged] if overrides else None,
                "draft_runs_per_episode": [h.get("episodes/test_runs") for h in logged] if overrides else None}
        record["servers"] = {s.url: {k: v for k, v in requests.get(s.url + "/info", timeout=30).json().items()
                                     if k in ("jobs_run", "jobs_replayed", "steps", "sessions")} for s in servers}
    finally:
        for s in servers:
            s.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    (out / "smoke.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
