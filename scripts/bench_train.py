#!/usr/bin/env python3
"""Benchmark one GRPO step split into generation / reward / loss+backward, on whatever device is
present, with the configured student (default: the packaged Qwen2.5-Coder-0.5B-Instruct).

Writes results/bench/train_<device>.json. Uses data/processed/train.parquet (run `dvc repro
split` first) unless --data points elsewhere.
"""

import json
import sys
import tempfile
from pathlib import Path

from _common import setup, stage_parser, write_json
from rarelang.train.run import train


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--data", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()
    params, repo = setup(args)
    import torch
    import yaml
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        overrides = {"run_name": "bench", "output_root": tmp, "results_root": tmp, "resume": "never",
                     "grpo.max_steps": args.steps, "grpo.save_steps": 10_000}
        if args.data:
            overrides["data"] = args.data
        for item in args.set:
            k, v = item.split("=", 1)
            overrides[k] = yaml.safe_load(v)
        res = train(params, repo, overrides=overrides)
        hist = [h for h in res["trainer"].state.log_history if "reward" in h]
    steps = [{k: h.get(k) for k in ("step", "step_time", "timing/generation_s", "timing/reward_s_total",
                                    "timing/scoring_other_s", "timing/loss_backward_s", "reward",
                                    "frac_reward_zero_std", "completions/mean_length")} for h in hist]
    later = steps[1:] or steps            # the first step includes one-off warm-up
    mean = {k: sum(s[k] or 0 for s in later) / len(later) for k in steps[0] if k != "step"}
    report = {"device": device, "model": params["train"]["model"], "grpo": res["summary"],
              "config": {k: v for k, v in overrides.items()}, "steps": steps, "mean_excluding_first": mean}
    out = Path(args.output) if args.output else repo / "results" / "bench" / (
        "train_" + ("cpu" if device == "cpu" else device.replace(" ", "_").lower()) + ".json")
    write_json(out, report)
    print(json.dumps(mean, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
