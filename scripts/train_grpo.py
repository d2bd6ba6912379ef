#!/usr/bin/env python3
"""DVC stage `train`: GRPO (TRL) with LoRA (peft) on data/processed/train.parquet, rewarded by the
sandbox (compile failure −1, runtime error −0.5, partial tests 0–0.5, all pass +1; params.yaml).

Every knob is in params.yaml `train:`; `--set key=value` overrides one for this run (e.g.
`--set grpo.max_steps=10 --set languages=[r]`). Resumes from the last checkpoint of the run
(train.resume: auto). Multi-GPU: `accelerate launch scripts/train_grpo.py` (see docs/HPC.md).
"""

import json
import sys

import yaml

from _common import setup, stage_parser
from rarelang.train.run import train


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override train.KEY (YAML value), e.g. grpo.max_steps=5")
    args = ap.parse_args()
    params, repo = setup(args)
    overrides = {}
    for item in args.set:
        if "=" not in item:
            ap.error(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        overrides[k.strip()] = yaml.safe_load(v)
    res = train(params, repo, overrides=overrides)
    print(json.dumps(res["summary"], indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
