#!/usr/bin/env python3
"""Re-ask held-out problems a stored evaluation asked in another language (results/headline/PROMPT_MIXUP.md:
until 2026-11-25, two-language evaluations showed 75 held-out Julia problems the R prompt), then put the new
answers in place of the old ones.

1. ``select``: the split's rows of every problem some stored frame asked in another language — a held-out
   parquet for an evaluation of just those problems (results/headline/records/configs/gpu-eval-v2-reask-julia-{0.5b,1.5b}.yaml, which
   evaluates the base model and every trained adapter on it, one vLLM engine per base model):

       python scripts/reask.py select results/headline/unified-0.5b/eval/base/completions.parquet \\
           --heldout .gpu/data/test.parquet -o .gpu/data/test-reask-julia.parquet

   ``stage`` does that for every frame of REASKED and also puts each trained adapter the re-ask configs name
   where a device call can carry it (``.gpu/reask-adapters/<model>/``: adapter_config.json + safetensors):

       python scripts/reask.py stage --heldout .gpu/data/test.parquet      # make gpu-data makes .gpu/data

2. ``merge``: a stored frame's rows of those problems replaced by a new evaluation's answers to them (the
   model named by --model, renamed to the stored frame's model), checked to be the same cells (suite,
   protocol, setting, language, problem) with the same number of samples, asked in the problem's own
   language. Writes OUT/completions.parquet, metrics.json (as scripts/evaluate.py computes it) and
   reask.json (what was replaced; pass@1 before and after), keeping the stored frame untouched:

       python scripts/reask.py merge results/headline/unified-0.5b/eval/trained/completions.parquet \\
           /work/.device/NN/reask/completions.parquet --model unified-0.5b -o /tmp/merged

   Then copy OUT's files over the stored ones (keeping the device's as completions-device.parquet and
   metrics-device.json, as scripts/rescore.py's users did) and re-run scripts/compare.py.

3. ``apply``: ``merge`` for every stored frame at once, in place. The re-ask configs name each model after the
   frame it stands in for (REASKED below: ``base-0.5b`` → unified-0.5b/eval/base, ``r-0.5b`` →
   r-0.5b/eval/trained, …); each frame gets the new answers, its metrics.json recomputed and a reask.json
   beside it (the replaced answers stay in git's history). Then the experiments' ``compare`` stages (``dvc repro -s pipelines/headline/dvc.yaml:compare@<run>``) bring every
   paired.json and attribution table up to date:

       python scripts/reask.py apply /work/.device/NN/unified-0.5b-reask-all-completions.parquet \\
           /work/.device/MM/unified-1.5b-reask-all-completions.parquet
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pandas as pd

from _common import setup, stage_parser, write_json
from rarelang.evaluate.compare import asked_elsewhere
from rarelang.evaluate.run import summarize
from rarelang.schema import read_table, write_table
from rescore import recomputed_metrics

CELL = ["suite", "protocol", "setting", "lang", "task_id"]
# a re-ask evaluation's model (results/headline/records/configs/gpu-eval-v2-reask-julia-{0.5b,1.5b}.yaml) → the stored frame (under
# results/headline) whose mis-asked answers it replaces, and the committed adapter that made that frame (None: a
# base model). Every committed frame with answers asked in another language is here but the unified-0.5b pre-pass
# (1,000 problems at other settings; prepass_filter.py counts its mis-asked problems as unseen).
REASKED = {
    "base-0.5b": ("unified-0.5b/eval/base/completions.parquet", None),
    "unified-0.5b": ("unified-0.5b/eval/trained/completions.parquet", "unified-0.5b/adapter"),
    "r-0.5b": ("r-0.5b/eval/trained/completions.parquet", "r-0.5b/adapter"),
    "r-0.5b-long": ("r-0.5b-long/eval/trained/completions.parquet", "r-0.5b-long/adapter"),
    "r-0.5b-g16": ("r-0.5b-g16/eval/trained/completions.parquet", "r-0.5b-g16/adapter"),
    "r-0.5b-lr1e4": ("r-0.5b-lr1e4/eval/trained/completions.parquet", "r-0.5b-lr1e4/adapter"),
    "base-1.5b": ("unified-1.5b/eval/base/completions.parquet", None),
    "unified-1.5b": ("unified-1.5b/eval/trained/completions.parquet", "unified-1.5b/adapter"),
    "unified-1.5b-step300": ("unified-1.5b/eval-step300/trained/completions.parquet", "unified-1.5b/adapter-step300"),
}
# what an adapter needs on the device (its model card stays here)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


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
    g = sub.add_parser("stage", help="select for every REASKED frame + the adapters, for a device call to carry")
    g.add_argument("--heldout", required=True, help="the split's test parquet")
    g.add_argument("--root", default="results/headline", help="where the stored frames and adapters are")
    g.add_argument("-o", "--out-dir", default=".gpu", help="writes OUT/data/test-reask-julia.parquet, OUT/reask-adapters/")
    a = sub.add_parser("apply", help="merge for every stored frame (REASKED), in place")
    a.add_argument("new", nargs="+", help="the re-ask evaluations' completions parquets")
    a.add_argument("--root", default="results/headline", help="where the stored frames are")
    for p in (s, g, m, a):      # also after the subcommand (SUPPRESS: not given there, the top-level value stays)
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
    if args.cmd == "stage":
        root, out = Path(args.root), Path(args.out_dir)
        frames = [pd.read_parquet(root / rel) for rel, _ in REASKED.values()]
        rows = select(frames, read_table(args.heldout, "processed"))
        if rows.empty:
            sys.exit("reask: no stored answer was asked in another language")
        write_table(rows, out / "data" / "test-reask-julia.parquet", "processed")
        for model, (_, adapter) in REASKED.items():
            if adapter is None:
                continue
            dest = out / "reask-adapters" / model
            dest.mkdir(parents=True, exist_ok=True)
            for f in ADAPTER_FILES:
                shutil.copyfile(root / adapter / f, dest / f)
        sizes = {m: sum(f.stat().st_size for f in (out / "reask-adapters" / m).iterdir()) >> 20
                 for m, (_, a) in REASKED.items() if a}
        print(f"reask: {len(rows)} problems {json.dumps(rows.groupby('lang').size().to_dict())} → "
              f"{out / 'data' / 'test-reask-julia.parquet'}; adapters (MiB) → {out / 'reask-adapters'}: {sizes}",
              file=sys.stderr)
        return 0
    ep = params.get("evaluate") or {}
    command = "python scripts/reask.py " + " ".join(sys.argv[1:])
    try:
        if args.cmd == "merge":
            report = write_merged(Path(args.stored), pd.read_parquet(args.new), args.model, Path(args.out_dir), ep,
                                  command)
            print(json.dumps(report, indent=1))
            return 0
        new = pd.concat([pd.read_parquet(p) for p in args.new], ignore_index=True)
        unknown = sorted(set(new["model"]) - set(REASKED))
        if unknown:
            raise ValueError(f"model(s) {unknown} stand in for no stored frame (REASKED has {sorted(REASKED)})")
        root = Path(args.root)
        for model, (rel, _adapter) in REASKED.items():
            if model not in set(new["model"]):
                print(f"{model}: not in the new answers; {rel} keeps its mis-asked rows", file=sys.stderr)
                continue
            stored = root / rel
            rep = write_merged(stored, new, model, stored.parent, ep, command)
            print(f"{model} → {rel}: {rep['replaced_rows']} rows of {rep['replaced_problems']} problems replaced; "
                  + "; ".join(f"{k} {v['before']:.3f} → {v['after']:.3f}" for k, v in rep.items()
                              if isinstance(v, dict)), file=sys.stderr)
    except ValueError as e:
        sys.exit(f"reask {args.cmd}: {e}")
    print("now: dvc repro -s pipelines/headline/dvc.yaml:compare@<run> for each run (its paired and attribution "
          "tables), then make figures",
          file=sys.stderr)
    return 0


def write_merged(stored_path: Path, new: pd.DataFrame, model: str | None, out: Path, ep: dict, command: str) -> dict:
    """``merge`` of one stored frame, written to ``out`` (completions.parquet, metrics.json, reask.json)."""
    stored = pd.read_parquet(stored_path)
    merged, report = merge(stored, new, model)
    mpath = stored_path.with_name(stored_path.name.replace("completions", "metrics", 1).replace(".parquet", ".json"))
    old = json.loads(mpath.read_text()) if mpath.exists() else {}
    metrics = recomputed_metrics(merged, ep, old)
    # a check of the recomputation itself: the entries of every (suite, language) that got no new answer come
    # out as stored (metric keys: model/suite[+completion]/setting/lang)
    touched = {tuple(k.split("/")) for k in report if "/" in k}          # report's "suite/lang" entries
    report["untouched_metrics_reproduce"] = all(
        metrics[k] == old[k] for k in metrics
        if k in old and (k.split("/")[1].split("+")[0], k.split("/")[-1]) not in touched)
    out.mkdir(parents=True, exist_ok=True)
    merged.to_parquet(out / "completions.parquet", index=False)
    write_json(out / "metrics.json", metrics)
    write_json(out / "reask.json", {"command": command, **report})
    return report


if __name__ == "__main__":
    sys.exit(main())
