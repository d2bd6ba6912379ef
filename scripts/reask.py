#!/usr/bin/env python3
"""Re-ask held-out problems a stored evaluation asked in another language (results/headline/PROMPT_MIXUP.md:
until 2026-11-25, two-language evaluations showed 75 held-out Julia problems the R prompt), then put the new
answers in place of the old ones.

1. ``select``: the split's rows of every problem some stored frame asked in another language — a held-out
   parquet for an evaluation of just those problems (e.g. configs/gpu-eval-v2-reask-julia.yaml, which
   evaluates the base model and every trained adapter on it, one vLLM engine per base model):

       python scripts/reask.py select results/headline/unified-0.5b/eval/base/completions.parquet \\
           --heldout .gpu/data/test.parquet -o .gpu/data/test-reask-julia.parquet

2. ``merge``: a stored frame's rows of those problems replaced by a new evaluation's answers to them (the
   model named by --model, renamed to the stored frame's model), checked to be the same cells (suite,
   protocol, setting, language, problem) with the same number of samples, asked in the problem's own
   language. Writes OUT/completions.parquet, metrics.json (as scripts/evaluate.py computes it) and
   reask.json (what was replaced; pass@1 before and after), keeping the stored frame untouched:

       python scripts/reask.py merge results/headline/unified-0.5b/eval/trained/completions.parquet \\
           /work/.device/NN/reask/completions.parquet --model unified-0.5b -o /tmp/merged

   Then copy OUT's files over the stored ones (keeping the device's as completions-device.parquet and
   metrics-device.json, as scripts/rescore.py's users did) and re-run scripts/compare.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from _common import setup, stage_parser, write_json
from rarelang.evaluate.compare import asked_elsewhere
from rarelang.evaluate.run import summarize
from rarelang.schema import read_table, write_table
from rescore import recomputed_metrics

CELL = ["suite", "protocol", "setting", "lang", "task_id"]


def select(frames: list[pd.DataFrame], split: pd.DataFrame) -> pd.DataFrame:
    """The split's rows of every (language, problem) some frame asked in another language."""
    wrong = pd.concat([f[asked_elsewhere(f)][["lang", "task_id"]] for f in frames]).drop_duplicates()
    keys = set(zip(wrong["lang"], wrong["task_id"]))
    return split[[(lang, t) in keys for lang, t in zip(split["lang"], split["task_id"])]].reset_index(drop=True)


def merge(stored: pd.DataFrame, new: pd.DataFrame, model: str | None) -> tuple[pd.DataFrame, dict]:
    """``stored`` (one model) with the cells ``new`` answers replaced by new's rows of ``model``."""
    names = sorted(set(stored["model"]))
    if len(names) != 1:
        raise ValueError(f"the stored frame holds {len(names)} models {names}: merge one at a time")
    name = names[0]
    model = model or name
    fresh = new[new["model"] == model]
    if fresh.empty:
        raise ValueError(f"no answers of model {model!r} in the new frame (it has {sorted(set(new['model']))})")
    if asked_elsewhere(fresh).any():
        raise ValueError("the new answers were asked in another language too: run them with the fixed evaluate.py")
    cells = fresh.groupby(CELL).size()
    old_cells = stored.groupby(CELL).size()
    missing = cells.index.difference(old_cells.index)
    if len(missing):
        raise ValueError(f"{len(missing)} new cell(s) the stored frame does not have, e.g. {list(missing[:3])}")
    unequal = [c for c in cells.index if cells[c] != old_cells[c]]
    if unequal:
        raise ValueError(f"{len(unequal)} cell(s) with another number of samples than stored, e.g. {unequal[:3]}")
    replace = stored.set_index(CELL).index.isin(cells.index)
    merged = pd.concat([stored[~replace], fresh.assign(model=name)[stored.columns.intersection(fresh.columns)]],
                       ignore_index=True)
    report = {"model": name, "from_model": model, "replaced_rows": int(replace.sum()),
              "replaced_problems": int(len(cells)), "still_asked_elsewhere": int(asked_elsewhere(merged).sum())}
    for (suite, lang), g in merged.groupby(["suite", "lang"]):
        before = stored[(stored["suite"] == suite) & (stored["lang"] == lang)]
        if replace[(stored["suite"] == suite) & (stored["lang"] == lang)].any():
            report[f"{suite}/{lang}"] = {"before": summarize(before, [1], 2000, 0).get("pass@1"),
                                         "after": summarize(g, [1], 2000, 0).get("pass@1")}
    return merged, report


def main() -> int:
    ap = stage_parser(__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("select", help="the split's rows of the problems stored frames asked in another language")
    s.add_argument("completions", nargs="+")
    s.add_argument("--heldout", required=True, help="the split's test parquet")
    s.add_argument("-o", "--output", required=True)
    m = sub.add_parser("merge", help="a stored frame with the re-asked problems' answers replaced")
    m.add_argument("stored")
    m.add_argument("new")
    m.add_argument("--model", default=None, help="the new frame's model to take (default: the stored model's name)")
    m.add_argument("-o", "--out-dir", required=True)
    for p in (s, m):      # also after the subcommand (SUPPRESS: not given there, the top-level value stays)
        p.add_argument("--params", default=argparse.SUPPRESS, help="params.yaml (default: the repository's)")
        p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
    args = ap.parse_args()
    params, _repo = setup(args)
    if args.cmd == "select":
        rows = select([pd.read_parquet(p) for p in args.completions], read_table(args.heldout, "processed"))
        if rows.empty:
            sys.exit("reask: no stored answer was asked in another language")
        write_table(rows, args.output, "processed")
        print(json.dumps(rows.groupby("lang").size().to_dict()), file=sys.stderr)
        return 0
    stored = pd.read_parquet(args.stored)
    try:
        merged, report = merge(stored, pd.read_parquet(args.new), args.model)
    except ValueError as e:
        sys.exit(f"reask merge: {e}")
    ep = params.get("evaluate") or {}
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    merged.to_parquet(out / "completions.parquet", index=False)
    mpath = Path(args.stored).with_name(Path(args.stored).name.replace("completions", "metrics", 1)
                                        .replace(".parquet", ".json"))
    old = json.loads(mpath.read_text()) if mpath.exists() else {}
    new = recomputed_metrics(merged, ep, old)
    # a check of the recomputation itself: the entries of every (suite, language) that got no new answer come
    # out as stored (metric keys: model/suite[+completion]/setting/lang)
    touched = {tuple(k.split("/")) for k in report if "/" in k}          # report's "suite/lang" entries
    report["untouched_metrics_reproduce"] = all(
        new[k] == old[k] for k in new
        if k in old and (k.split("/")[1].split("+")[0], k.split("/")[-1]) not in touched)
    write_json(out / "metrics.json", new)
    write_json(out / "reask.json", {"command": "python scripts/reask.py " + " ".join(sys.argv[1:]), **report})
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
