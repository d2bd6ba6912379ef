#!/usr/bin/env python3
"""Attribution table: base vs trained answers beyond pass@1 — share with top-level code besides
definitions, with package imports, cut at the token limit, completion-protocol programs a code fence
reached (the chat format's closing fence, which Julia's stop sequences do not cut), mean length, and pass@1 on the
problems whose prompt names the function the tests call (vs those where it is hidden).

    python scripts/attribution.py results/headline/r/eval/completions_*.parquet \\
        --heldout .gpu/data/test.parquet -o results/headline/r/eval/attribution.json

Completions written before prompts carried the entry point (no `prompt`/`entry_point` columns)
get both from --heldout: the entry point derived from the reference solution, "named" when the
original prompt text contains it (MultiPL-E prompts always end with the signature).

Slimmed completions (results/headline/<run>/eval keep no `program` column, to stay small) get their
programs rebuilt row by row, by the evaluation's own rule (`program_for`): held-out rows from the
completion's code block, MultiPL-E rows from the suite's problem (--multipl-e-dir, default
params.yaml's evaluate.multipl_e_dir) and the row's protocol. Files with and without programs pool.
"""

import json
import sys
from pathlib import Path

import pandas as pd

from _common import setup, stage_parser
from rarelang.evaluate.attribution import attribution_table, format_table, names
from rarelang.evaluate.compare import asked_elsewhere
from rarelang.completions import extract_code
from rarelang.evaluate.programs import program_for
from rarelang.evaluate.suites import Problem, multipl_e
from rarelang.prompts import entry_signature


def names_entry_from_split(df: pd.DataFrame, heldout: Path) -> pd.Series:
    t = pd.read_parquet(heldout)
    info = {}
    for r in t.itertuples(index=False):
        entry, _ = entry_signature(r.solution, r.tests, r.lang)
        info[(r.task_id, r.lang)] = names(r.prompt, entry)
    return pd.Series([True if s != "heldout" else info.get((tid, lg))
                      for s, tid, lg in zip(df["suite"], df["task_id"], df["lang"])], index=df.index, dtype="object")


def rebuild_programs(df: pd.DataFrame, missing: pd.Series, multipl_e_dir: Path | None) -> pd.Series:
    """The program column with the rows in ``missing`` rebuilt as the evaluation built them
    (``program_for``); a row whose answer has no usable code gets "" (the evaluation's value)."""
    programs = (df["program"] if "program" in df.columns else pd.Series("", index=df.index)).astype(object)
    problems: dict[str, dict[str, Problem]] = {}
    for i in df.index[missing]:
        r = df.loc[i]
        if r["suite"] == "heldout":
            code = extract_code(r["completion"], r["lang"])
        else:
            if r["suite"] not in problems:
                problems[r["suite"]] = {p.task_id: p for p in multipl_e(r["suite"], multipl_e_dir)}
            code = program_for(problems[r["suite"]][r["task_id"]], r["completion"], r["protocol"] == "chat")
        programs[i] = code or ""
    return programs


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("completions", nargs="+", help="completions parquet(s); their rows are pooled")
    ap.add_argument("--heldout", default=None, help="the split's test parquet (for completions without prompts)")
    ap.add_argument("--multipl-e-dir", default=None,
                    help="MultiPL-E jsonl folder, to rebuild the programs of slimmed MultiPL-E rows "
                         "(default: params.yaml's evaluate.multipl_e_dir)")
    ap.add_argument("-o", "--output", required=True, help="JSON rows; a .md table is written beside it")
    args = ap.parse_args()
    params, repo = setup(args)
    df = pd.concat([pd.read_parquet(p) for p in args.completions], ignore_index=True)
    # answers to a prompt that asked for another language (the task-id mix-up of two-language evaluations
    # before 2026-11-25) test nothing of their problem: the problem is left out for every model, as
    # scripts/compare.py leaves it out of both sides of a pair (a trained model asked it rightly, e.g. r-1.5b's
    # Julia-only evaluation, would otherwise be read over 400 problems against the base's 325)
    bad = asked_elsewhere(df)
    keys = set(zip(df.loc[bad, "suite"], df.loc[bad, "lang"], df.loc[bad, "task_id"]))
    wrong = pd.Series([k in keys for k in zip(df["suite"], df["lang"], df["task_id"])], index=df.index, dtype=bool)
    if wrong.any():
        print(f"attribution: {int(wrong.sum())} answer(s) to {len(keys)} problem(s) some model was asked in another "
              f"language left out ({int(bad.sum())} of them asked so)", file=sys.stderr)
        df = df[~wrong].reset_index(drop=True)
    names = None
    if not {"prompt", "entry_point"} <= set(df.columns):
        if not args.heldout:
            ap.error("these completions carry no prompt/entry_point: pass --heldout (the split's test parquet)")
        names = names_entry_from_split(df, Path(args.heldout))
    missing = df["program"].isna() if "program" in df.columns else pd.Series(True, index=df.index)
    if missing.any():                    # slimmed completions (results/headline/<run>/eval): rebuild them
        mdir = args.multipl_e_dir or (params.get("evaluate") or {}).get("multipl_e_dir")
        try:
            df["program"] = rebuild_programs(df, missing, Path(repo, mdir) if mdir else None)
        except (FileNotFoundError, KeyError) as e:
            ap.error(f"cannot rebuild the programs of slimmed completions: {e}")
    rows = attribution_table(df, names)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"command": "python scripts/attribution.py " + " ".join(sys.argv[1:]),
            "left_out_asked_in_another_language": int(wrong.sum()), "rows": rows}
    out.write_text(json.dumps(meta, indent=1) + "\n")
    table = format_table(rows)
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
