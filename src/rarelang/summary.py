"""The few numbers a person compares across experiments, one small JSON per stage kind — what dvc.yaml
declares as metrics (``dvc metrics show``, ``dvc exp show``). Everything else a stage writes (status
counts of every suite, timings, per-problem tables) stays a plain output, read where it is needed.

* data: per language, rows sampled, validated (yield), and the split's train / validation / test rows
* train: steps, last-quarter reward, zero-variance groups, validation pass rate at its start, best and end
* evaluation: per suite × protocol × language, pass@1 of base and trained and the paired difference with its CI
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def _r(x: Any, nd: int = 4) -> Any:
    return round(float(x), nd) if isinstance(x, (int, float)) and x is not None else x


def data_summary(validation: dict[str, Any], split: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for lang, f in validation.items():
        if lang == "all" or not isinstance(f, dict):
            continue
        s = (split.get("per_language") or {}).get(lang) or {}
        out[lang] = {"sampled": f.get("sampled"), "validated": f.get("passes"), "yield": _r(f.get("yield")),
                     "train": s.get("train"), "validation": s.get("validation"), "test": s.get("test")}
    return out


def train_summary(summary: dict[str, Any], validation_csv: Path | None) -> dict[str, Any]:
    out = {"steps": summary.get("global_step"), "reward_last_quarter": _r(summary.get("reward_last_quarter")),
           "zero_variance_groups": _r(summary.get("mean_frac_reward_zero_std"))}   # timings: results/bench
    if validation_csv is not None and validation_csv.exists():
        with open(validation_csv) as f:
            rows = [r for r in csv.DictReader(f) if r.get("eval_pass_rate") not in (None, "")]
        if rows:
            rates = [(int(float(r["step"])), float(r["eval_pass_rate"])) for r in rows]
            best = max(rates, key=lambda x: x[1])
            out.update({"val_pass_rate_start": _r(rates[0][1]), "val_pass_rate_end": _r(rates[-1][1]),
                        "val_pass_rate_best": _r(best[1]), "val_best_step": best[0]})
    return out


def eval_summary(pairs: dict[str, Any]) -> dict[str, Any]:
    """``paired.json``'s pairs as ``suite[+protocol]/setting/language → base, trained, diff, CI``."""
    out: dict[str, Any] = {}
    for key, d in sorted(pairs.items()):
        name = key.split("/", 1)[1] if "-vs-" in key.split("/", 1)[0] else key
        ci = d.get("difference_ci95") or [None, None]
        out[name] = {"problems": d.get("problems"), "base": _r(d.get("base_pass@1")),
                     "trained": _r(d.get("other_pass@1")), "diff": _r(d.get("difference")),
                     "ci_low": _r(ci[0]), "ci_high": _r(ci[1])}
    return out


def write(path: Path, obj: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")


def summarize_data(results: Path) -> dict[str, Any]:
    return data_summary(json.loads((results / "validation.json").read_text()),
                        json.loads((results / "split.json").read_text()))


def summarize_paired(paired_json: Path) -> dict[str, Any]:
    d = json.loads(paired_json.read_text())
    return eval_summary(d.get("pairs", d))
