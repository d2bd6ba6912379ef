#!/usr/bin/env python3
"""results/smoke/README.md from the smoke runs under results/smoke/ (`rarelang run EXPERIMENT STAGE --smoke`):
per experiment, what ran — the training step (its wall time and the statuses its completions got), the suites and
protocols its evaluation asked — and the command. A smoke run checks that a configuration runs end to end on a CPU
(model, data, reward, evaluation); with 32-token answers its numbers say nothing about the configuration.

    python scripts/smoke_report.py [--root results/smoke]
"""

import argparse
import json
import sys
from pathlib import Path


def row(d: Path) -> str:
    s = d / "train" / "summary.json"
    train = "–"
    if s.exists():
        t = json.loads(s.read_text())
        st = {k: v for k, v in (t.get("status_fractions") or {}).items() if v}
        train = (f"{t.get('global_step')} step, {t.get('wall_s')} s; "
                 + ", ".join(f"{k} {v:.2f}" for k, v in sorted(st.items())))
    asked = set()
    for m in sorted((d / "eval").glob("*/metrics.json")):
        for key in json.loads(m.read_text()):
            model, suite = key.split("/")[:2]
            asked.add((model, suite))
    models = sorted({m for m, _ in asked})
    suites = sorted({s for _, s in asked})
    ev = f"{'+'.join(models)}: {', '.join(suites)}" if asked else "–"
    stages = "train" + (" evaluate" if asked else "") if s.exists() else ("evaluate" if asked else "")
    return f"| {d.name} | {train} | {ev} | `rarelang run {d.name} {stages} --smoke` |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="results/smoke")
    args = ap.parse_args()
    root = Path(args.root)
    runs = sorted(d for d in root.iterdir() if d.is_dir() and (d / "resolved").is_dir())
    if not runs:
        sys.exit(f"smoke_report: no smoke runs under {root}")
    text = ("# Smoke runs (CPU)\n\nEach experiment's own stages shrunk to a step and a problem or two (`--smoke`: "
            "8 training rows, 1 step of 2 generations × 32 tokens, no validation pass; evaluation: 1 problem per suite "
            "and protocol, 1 sample, 32 tokens), on this 2-core machine, into `results/smoke/<experiment>/` (the "
            "adapters are not kept in git). They show each configuration runs end to end — its model, data, reward "
            "and evaluation protocol — not how well: 32-token answers are cut off.\n\n"
            "| experiment | training | evaluation (models: suites[+protocol]) | command |\n|---|---|---|---|\n"
            + "\n".join(row(d) for d in runs) + "\n\nMade by `python scripts/smoke_report.py`.\n")
    (root / "README.md").write_text(text)
    print(f"smoke_report: {len(runs)} run(s) → {root / 'README.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
