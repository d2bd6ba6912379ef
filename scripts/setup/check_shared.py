#!/usr/bin/env python3
"""Before `dvc repro`: is the shared data folder there (machine.shared_dir, ../shared beside the checkout)?
A checkout on a user's own machine has no ../shared; this says what to fetch and from where, instead of DVC
failing on a missing dependency.

    python scripts/setup/check_shared.py [--for embedded|headline]      (make repro runs it)
    python scripts/setup/check_shared.py --fetch-multipl-e               MultiPL-E from the hub, pinned revision

Exit 0 when everything the pipeline reads is there, 2 otherwise (with the list of what is missing).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from rarelang.params import dotted, load_params  # noqa: E402

MULTIPL_E = ["humaneval-r.jsonl", "humaneval-jl.jsonl", "mbpp-r.jsonl", "mbpp-jl.jsonl"]
SEED = {"embedded": ["r_testset.parquet", "julia_testset.parquet"],     # the sandbox's reference check
        "headline": ["julia_trainset.parquet", "julia_testset.parquet", "r_dataset.parquet", "r_testset.parquet"]}
WHERE_MULTIPL_E = (
    "MultiPL-E's HumanEval and MBPP for R and Julia (one JSON line per problem: name, prompt, tests, stop_tokens):\n"
    "    python scripts/setup/check_shared.py --fetch-multipl-e    (from the hub: nuprl/MultiPL-E, the revision\n"
    "    MultiPL-E's own code pins), or build them with MultiPL-E's dataset_builder at commit 8963d9a4 — the\n"
    "    files the paper used (their sha256 and the commands: README.md of the shared folder's multipl-e/).")
WHERE_SEED = (
    "The original work's published Julia/R sets (parquet; columns task_id, <lang>_prompt, <lang>_code, <lang>_test):\n"
    "    julia_trainset (6,326), julia_testset (2,712), r_dataset (1,224), r_testset (2,746), from the original\n"
    "    work's dataset release, into {dir}/.")


def missing(shared: Path, which: str) -> list[str]:
    out = [f"{shared}/multipl-e/{f}" for f in MULTIPL_E if not (shared / "multipl-e" / f).is_file()]
    return out + [f"{shared}/seed-data/{f}" for f in SEED[which] if not (shared / "seed-data" / f).is_file()]


def fetch_multipl_e(dest: Path) -> int:
    from rarelang.evaluate.suites import MULTIPLE_REVISION
    from datasets import load_dataset
    dest.mkdir(parents=True, exist_ok=True)
    for f in MULTIPL_E:
        suite = f[: -len(".jsonl")]
        rows = load_dataset("nuprl/MultiPL-E", suite, revision=MULTIPLE_REVISION, split="test")
        with open(dest / f, "w", encoding="utf-8") as out:
            for r in rows:
                out.write(json.dumps(dict(r), ensure_ascii=False) + "\n")
        print(f"check_shared: {len(rows)} problems → {dest / f}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--for", dest="which", choices=sorted(SEED), default="embedded")
    ap.add_argument("--fetch-multipl-e", action="store_true", help="download MultiPL-E's R/Julia suites from the hub")
    args = ap.parse_args()
    shared_dir = str(dotted(load_params(ROOT / "params.yaml"), "machine.shared_dir") or "../shared")
    shared = (ROOT / shared_dir).resolve() if not Path(shared_dir).is_absolute() else Path(shared_dir)
    if args.fetch_multipl_e:
        return fetch_multipl_e(shared / "multipl-e")
    gone = missing(shared, args.which)
    if not gone:
        return 0
    print(f"check_shared: the shared data folder ({shared}) lacks {len(gone)} file(s) the pipeline reads:",
          file=sys.stderr)
    for g in gone:
        print(f"  {g}", file=sys.stderr)
    if any("multipl-e" in g for g in gone):
        print(WHERE_MULTIPL_E, file=sys.stderr)
    if any("seed-data" in g for g in gone):
        print(WHERE_SEED.format(dir=shared / "seed-data"), file=sys.stderr)
    print("Or point machine.shared_dir (a profile: configs/profiles/) at a copy elsewhere.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
