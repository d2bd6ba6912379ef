"""The decontamination rules of issue 33 applied to headline v2's split (made before them), and the problems they
take out of the evaluation: what each rule removes from the split's parts, and the held-out and benchmark problems a
cleaned evaluation leaves out.

Rules (rarelang.data.split / rarelang.data.decontam):

* ``mbpp_entry_point``      a row whose entry point is named like an MBPP problem's (HumanEval names were already out)
* ``benchmark_paraphrase``  a row whose normalised entry point and a test input equal a HumanEval/MBPP problem's
* ``train_paraphrase``      a held-out row whose normalised entry point and a test input equal a train row's (any
                            language)

Cleaned evaluation: held-out problems any rule removes, and benchmark problems the training rows touch (a train row
named like the problem's entry point, or paraphrasing it) are left out of every pairing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.decontam import load_benchmark_signatures, paraphrases, row_signatures
from ..data.split import entry_point_hits, load_entry_points
from .cells import Exclude

RULES = ("mbpp_entry_point", "benchmark_paraphrase", "train_paraphrase")
PARTS = ("train", "validation", "test-split", "test")         # .gpu/data/<part>.parquet (make gpu-data)


def load_parts(data: Path, pinned: Path) -> dict[str, pd.DataFrame]:
    """The split's parts from a data folder — the pipeline's (``train/validation/test.parquet``, test = the whole test
    split: data/seed-v2/processed) or the older staging's (.gpu/data: ``test-split.parquet`` the split, ``test.parquet``
    the pinned problems) — and the held-out problems every evaluation asked (``pinned``: results/headline/heldout.json)."""
    import json
    split_test = data / ("test-split.parquet" if (data / "test-split.parquet").exists() else "test.parquet")
    need = [data / "train.parquet", data / "validation.parquet", split_test, pinned]
    missing = [str(p) for p in need if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no {', '.join(missing)} (the headline split: `rarelang data seed-v2` makes "
                                f"data/seed-v2/processed)")
    parts = {"train": pd.read_parquet(need[0]), "validation": pd.read_parquet(need[1]),
             "test-split": pd.read_parquet(split_test)}
    ids = json.loads(pinned.read_text())["task_ids"]
    ts = parts["test-split"]
    keep = [t in set(ids.get(lang, ())) for lang, t in zip(ts["lang"], ts["task_id"])]
    parts["test"] = ts[keep].reset_index(drop=True)
    got = {lang: int(n) for lang, n in parts["test"]["lang"].value_counts().items()}
    if got != {lang: len(v) for lang, v in ids.items()}:
        raise ValueError(f"{split_test} holds {got} of the pinned held-out problems {pinned}, not all of them: "
                         "another split")
    return parts


def _entry_names(df: pd.DataFrame) -> list[str | None]:
    from ..languages import get_language
    out = []
    for r in df.itertuples(index=False):
        found = get_language(r.lang).entry_point(r.solution, r.tests)
        out.append(found[0] if found else None)
    return out


def rule_hits(parts: dict[str, pd.DataFrame], mdir: Path) -> dict[str, dict[str, dict[int, str]]]:
    """rule → part → {row position: what it matched} (each rule on its own: a row may be hit by several)."""
    mbpp = load_entry_points(mdir, ["mbpp"]) - load_entry_points(mdir, ["humaneval"])
    bench = load_benchmark_signatures(mdir, ["humaneval", "mbpp"])
    train_sigs = row_signatures(parts["train"])
    out: dict[str, dict[str, dict[int, str]]] = {r: {} for r in RULES}
    for part, df in parts.items():
        out["mbpp_entry_point"][part] = entry_point_hits(df, mbpp)
        sigs = row_signatures(df)
        out["benchmark_paraphrase"][part] = {i: bench[j].label for i, j in paraphrases(sigs, bench).items()}
        if part in ("test-split", "test"):
            out["train_paraphrase"][part] = {i: parts["train"]["task_id"].iloc[j]
                                             for i, j in paraphrases(sigs, train_sigs).items()}
    return out


def touched_benchmark_problems(train: pd.DataFrame, mdir: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(suite, language) → {benchmark task id: why} for the HumanEval/MBPP problems a training row is named after
    (exact entry point) or paraphrases."""
    import json
    names = Counter(n for n in _entry_names(train) if n)
    sigs = row_signatures(train)
    out: dict[tuple[str, str], dict[str, str]] = {}
    for f in sorted(Path(mdir).glob("*.jsonl")):
        suite, lang = f.stem.split("-")[0], {"r": "r", "jl": "julia"}[f.stem.split("-")[1]]
        rows = [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines() if x.strip()]
        bench = load_benchmark_signatures(mdir, [suite])   # either language's version of a problem (same name)
        hit = out.setdefault((suite, lang), {})
        for r in rows:
            entry = r.get("entry_point") or r["name"].split("_", 2)[-1]
            if names.get(entry):
                hit[r["name"]] = f"a training row is named {entry}"
        for j, i in paraphrases(bench, sigs).items():
            hit.setdefault(bench[j].label, f"training row {train['task_id'].iloc[i]} ({train['lang'].iloc[i]}) "
                                           f"paraphrases it")
    return out


def exclusions(parts: dict[str, pd.DataFrame], hits: dict, touched: dict) -> Exclude:
    """What a cleaned evaluation leaves out: held-out problems any rule removes, benchmark problems training touched."""
    ex: Exclude = {}
    test = parts["test"]
    for rule in RULES:
        for pos in hits[rule].get("test", {}):
            ex.setdefault(("heldout", test["lang"].iloc[pos]), set()).add(test["task_id"].iloc[pos])
    for key, tasks in touched.items():
        if tasks:
            ex.setdefault(key, set()).update(tasks)
    return ex


def removal_report(parts: dict[str, pd.DataFrame], hits: dict) -> dict[str, Any]:
    """Per rule and part: rows removed per language and what they matched; and all rules together."""
    out: dict[str, Any] = {}
    for rule in RULES:
        out[rule] = {}
        for part, h in hits[rule].items():
            df = parts[part]
            langs = Counter(df["lang"].iloc[i] for i in h)
            out[rule][part] = {"rows": int(len(h)), "of": int(len(df)), "per_language": dict(sorted(langs.items())),
                               "matched": sorted({f"{df['lang'].iloc[i]} {df['task_id'].iloc[i]} → {m}"
                                                  for i, m in h.items()})}
    out["any rule"] = {}
    for part, df in parts.items():
        pos = set().union(*(hits[r].get(part, {}).keys() for r in RULES))
        out["any rule"][part] = {"rows": len(pos), "of": int(len(df)),
                                 "share": round(len(pos) / max(1, len(df)), 4),
                                 "per_language": dict(sorted(Counter(df["lang"].iloc[i] for i in pos).items()))}
    return out


def side_by_side(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Every cell of two claims files (all problems / the cleaned set), matched by run, suite, protocol, language."""
    by = {(c["run"], c["suite"], c["protocol"], c["language"]): c for c in new["cells"]}
    rows = []
    for c in old["cells"]:
        n = by.get((c["run"], c["suite"], c["protocol"], c["language"]))
        rows.append({"run": c["run"], "suite": c["suite"], "protocol": c["protocol"], "language": c["language"],
                     "problems": c["problems"], "diff": c["diff"], "ci": [c["ci_low"], c["ci_high"]],
                     "adj_low": c["adj_low"], "verdict": c["verdict"],
                     "cleaned": None if n is None else {"problems": n["problems"], "diff": n["diff"],
                                                        "ci": [n["ci_low"], n["ci_high"]], "adj_low": n["adj_low"],
                                                        "verdict": n["verdict"]}})
    return rows


def markdown(report: dict[str, Any], rows: list[dict[str, Any]], goals: tuple[list, list], command: str) -> str:
    out = ["# Decontamination: issue 33's rules on headline v2's split, and the results on the cleaned set", "",
           f"Generated by `{command}` (rarelang.analysis.cleaned) from the headline split and the committed "
           "answers. Headline v2 was split and trained before these rules; `configs/datasets/seed-v2.yaml` keeps its "
           "split as it was, `params.yaml` has them on for new experiments.", "",
           "## What each rule removes", "", "| rule | train | validation | test split | held-out (pinned 400 + 400) |",
           "|---|---|---|---|---|"]
    rm = report["removed"]
    for rule in (*RULES, "any rule"):
        cells = []
        for part in PARTS:
            x = rm[rule].get(part)
            cells.append("–" if x is None else f"{x['rows']} of {x['of']} "
                         f"({', '.join(f'{k} {v}' for k, v in x['per_language'].items()) or 'none'})")
        out.append(f"| {rule} | " + " | ".join(cells) + " |")
    out += ["", "Benchmark problems a training row is named after or paraphrases (left out of the cleaned "
                "MultiPL-E pairings):", ""]
    out += [f"- {k}: {len(v)} — " + ", ".join(sorted(v)[:12]) + (" …" if len(v) > 12 else "")
            for k, v in sorted(report["touched_benchmark_problems"].items()) if v]
    out += ["", "## Every cell, all problems and cleaned", "",
            "Paired difference trained − base (pass@1), 95% CI, max-T adjusted lower bound and verdict "
            "(configs/analysis/headline-v2.yaml), on all problems and without the left-out ones.", "",
            "| run | suite | protocol | language | problems | all: diff [CI], adj. low, verdict | cleaned: problems | "
            "cleaned: diff [CI], adj. low, verdict |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["cleaned"]
        old = f"{r['diff']:+.3f} [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}], {r['adj_low']:+.3f}, {r['verdict']}"
        new = "–" if c is None else (f"{c['diff']:+.3f} [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}], {c['adj_low']:+.3f}, "
                                     f"{c['verdict']}")
        out.append(f"| {r['run']} | {r['suite']} | {r['protocol']} | {r['language']} | {r['problems']} | {old} | "
                   f"{'–' if c is None else c['problems']} | {new} |")
    old_goals, new_goals = goals
    out += ["", "Goal verdicts (all problems → cleaned): " + "; ".join(
        f"{a['run']}/{a['language']} {a['verdict']} → {b['verdict']}" for a, b in zip(old_goals, new_goals)
        if a["verdict"] != "not tested") + "."]
    return "\n".join(out) + "\n"
