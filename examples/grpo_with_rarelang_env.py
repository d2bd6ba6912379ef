#!/usr/bin/env python3
"""Another project's GRPO script (TRL) that takes its Julia/R execution rewards from `rarelang serve`.

It needs only TRL and `requests`: the reward function sends each step's programs to the service's batch
endpoint (POST /score) and returns the reward the service's table gives. Task prompts come from the
service too (POST /reset draws them from a split), so this project holds no test files.

    export RARELANG_ENV_TOKEN=...                      # the server's token
    python examples/grpo_with_rarelang_env.py --server http://cpu-node-01:8000 --model ./my-student \
        --split test --lang julia --tasks 64 --steps 50

For multi-turn episodes use the WebSocket sessions instead (OpenEnv's EnvClient; docs/environments.md).
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ThreadPoolExecutor

import requests


def fetch_tasks(server: str, headers: dict, split: str, lang: str, n: int) -> list[dict]:
    """n distinct tasks of a split (prompt + the hidden tests stay on the server: only task ids here)."""
    tasks = {}
    for seed in range(20 * n):
        r = requests.post(f"{server}/reset", json={"split": split, "lang": lang, "seed": seed}, headers=headers, timeout=60)
        r.raise_for_status()
        obs = r.json()["observation"]
        requests.post(f"{server}/close", json={"episode_id": obs["episode_id"]}, headers=headers, timeout=60)
        tasks.setdefault(obs["task_id"], {"prompt": [{"role": "user", "content": obs["prompt"]}],
                                          "task_id": obs["task_id"], "lang": lang, "split": split})
        if len(tasks) == n:
            break
    return list(tasks.values())


class ServiceReward:
    """reward_funcs entry: one HTTP session per step through /reset + /step (the server keeps the tests)."""

    __name__ = "execution"

    def __init__(self, server: str, headers: dict):
        self.server, self.headers = server, headers

    def score(self, completion, task_id: str, lang: str, split: str) -> float:
        text = completion[-1]["content"] if isinstance(completion, list) else completion
        r = requests.post(f"{self.server}/reset", json={"split": split, "task_id": task_id, "lang": lang},
                          headers=self.headers, timeout=60)
        r.raise_for_status()
        episode = r.json()["observation"]["episode_id"]
        try:
            step = requests.post(f"{self.server}/step", json={"action": {"completion": text}, "episode_id": episode},
                                 headers=self.headers, timeout=600)
            step.raise_for_status()
            return float(step.json()["reward"])
        finally:         # sessions are bounded on the server: give this one back
            requests.post(f"{self.server}/close", json={"episode_id": episode}, headers=self.headers, timeout=60)

    def __call__(self, prompts, completions, task_id, lang, split, **_):
        with ThreadPoolExecutor(max_workers=16) as ex:        # the server runs them in parallel
            return list(ex.map(self.score, completions, task_id, lang, split))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True)
    ap.add_argument("--model", required=True, help="a local transformers model directory")
    ap.add_argument("--split", default="test")
    ap.add_argument("--lang", default="julia")
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--output", default="grpo-rarelang-env")
    args = ap.parse_args()
    token = os.environ.get("RARELANG_ENV_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    dataset = Dataset.from_list(fetch_tasks(args.server, headers, args.split, args.lang, args.tasks))
    config = GRPOConfig(output_dir=args.output, max_steps=args.steps, num_generations=8,
                        per_device_train_batch_size=8, max_completion_length=512, loss_type="dr_grpo", beta=0.0,
                        logging_steps=1, report_to="none")
    trainer = GRPOTrainer(model=args.model, reward_funcs=[ServiceReward(args.server, headers)], args=config,
                          train_dataset=dataset)
    trainer.train()


if __name__ == "__main__":
    main()
