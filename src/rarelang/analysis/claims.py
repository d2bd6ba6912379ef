"""claims.json: every cell of a declared plan with its unadjusted and multiplicity-adjusted bounds, a verdict per
cell and per goal computed by the rule below (never typed), the pooled effect across runs, and the cross-checks.

Verdict of a cell (its adjusted interval, diff ± c·SE, is symmetric: adj_high = 2·diff − adj_low):
  ``gain``          adj_low > 0
  ``loss``          adj_high < 0
  ``inconclusive``  otherwise
Verdict of a goal (a test and a language): ``met`` when every endpoint cell (the plan's suites; MultiPL-E read under
the plan's protocol rule) has diff ≥ its threshold and adj_low > 0; ``not met`` otherwise; ``not tested`` when an
endpoint cell is missing. A goal met by a lever, or at a checkpoint the checkpoint rule did not choose, is marked
``exploratory``.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .cells import Cell, Exclude, plan_cells
from .multiplicity import bonferroni, holm, joint_draws, max_t, pooled
from ..models.registry import sha256_file as sha256
from .plan import Plan, Test

CELL_FIELDS = ("run", "checkpoint", "suite", "protocol", "language", "problems", "base", "trained", "diff",
               "ci_low", "ci_high", "adj_low", "family", "verdict")
VERDICTS = ("gain", "loss", "inconclusive")


def cell_verdict(diff: float, adj_low: float) -> str:
    adj_high = 2 * diff - adj_low
    return "gain" if adj_low > 0 else "loss" if adj_high < 0 else "inconclusive"


def validation_best(test: Test, root: Path) -> int | None:
    """The step the checkpoint rule chooses: the best validation pass rate (earliest on ties) of the run's own
    evaluations (step > 0 and ≥ start_step). None without a learning curve."""
    p = root / test.validation
    if not p.is_file() or not p.stat().st_size:
        return None
    v = pd.read_csv(p)
    if not {"step", "eval_pass_rate"} <= set(v.columns):
        return None
    v = v[(v["step"] > 0) & (v["step"] >= test.start_step)].dropna(subset=["eval_pass_rate"])
    if v.empty:
        return None
    return int(v.loc[v["eval_pass_rate"].idxmax(), "step"])          # idxmax: the first of equal maxima


def goal_verdicts(plan: Plan, rows: list[dict[str, Any]], checkpoints: dict[str, dict[str, Any]]) -> list[dict]:
    """One entry per test and goal language: the endpoint cells, whether each meets the rule, the verdict."""
    by_key = {(r["label"], r["suite"], r["protocol"], r["language"]): r for r in rows}
    out = []
    for test in plan.tests:
        for lang in plan.goal.languages:
            endpoints, reasons, missing = [], [], False
            for e in plan.goal.endpoints:
                protocol = "chat" if e.suite == "heldout" else plan.protocol_rule
                r = by_key.get((test.label, e.suite, protocol, lang))
                if r is None:
                    missing = True
                    endpoints.append({"suite": e.suite, "protocol": protocol, "min_diff": e.min_diff, "met": None})
                    continue
                met = r["diff"] >= e.min_diff and r["adj_low"] > 0
                endpoints.append({"suite": e.suite, "protocol": protocol, "min_diff": e.min_diff, "diff": r["diff"],
                                  "adj_low": r["adj_low"], "met": met})
                if not met:
                    reasons.append(f"{e.suite} {protocol}: diff {r['diff']:+.3f}"
                                   + (f" < {e.min_diff:+.2f}" if r["diff"] < e.min_diff else f" >= {e.min_diff:+.2f}")
                                   + f", adjusted lower bound {r['adj_low']:+.3f}"
                                   + (" <= 0" if r["adj_low"] <= 0 else " > 0"))
            ck = checkpoints[test.label]
            exploratory = []
            if test.role != "main":
                exploratory.append(f"a {test.role}")
            if not ck["rule_followed"]:
                exploratory.append(f"checkpoint {ck['tested']} is not the one the checkpoint rule chooses "
                                   f"({ck['validation_best']})")
            verdict = "not tested" if missing else "met" if all(e["met"] for e in endpoints) else "not met"
            out.append({"run": test.label, "checkpoint": test.checkpoint, "language": lang, "endpoints": endpoints,
                        "verdict": verdict, "reasons": reasons, "exploratory": exploratory})
    return out


def build_claims(plan: Plan, root: Path, command: str, progress: Callable[[Test], None] | None = None,
                 exclude: Exclude | None = None) -> dict[str, Any]:
    """claims.json's content (``exclude``: problems left out, e.g. a decontaminated set)."""
    cells: list[Cell] = plan_cells(plan, root, progress, exclude)
    alpha, corr = plan.alpha, plan.correction
    per_family: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(cells):
        per_family[c.test.family].append(i)
    diffs = np.array([c.diff for c in cells])
    boots = joint_draws([c.per_problem for c in cells], [c.universe for c in cells], corr.draws, corr.seed)
    adj = {}
    families = {}
    for fam, idx in per_family.items():
        mt = max_t(diffs[idx], boots[:, idx], alpha)
        sign_p = np.array([cells[i].sign_p for i in idx])
        for j, i in enumerate(idx):
            adj[i] = {"adj_low": float(mt["low"][j]), "adj_high": float(mt["high"][j]), "se": float(mt["se"][j]),
                      "p_bootstrap": float(mt["p"][j]), "p_sign": float(cells[i].sign_p),
                      "holm_bootstrap": float(holm(mt["p"])[j]), "holm_sign": float(holm(sign_p)[j]),
                      "bonferroni_bootstrap": float(bonferroni(mt["p"])[j]),
                      "bonferroni_sign": float(bonferroni(sign_p)[j])}
        families[fam] = {"cells": len(idx), "critical_value": mt["critical"]}
    rows, details = [], []
    for i, c in enumerate(cells):
        a = adj[i]
        rows.append({"run": c.test.label, "checkpoint": c.test.checkpoint, "suite": c.suite, "protocol": c.protocol,
                     "language": c.language, "problems": int(len(c.per_problem)), "base": c.base,
                     "trained": c.trained, "diff": c.diff, "ci_low": c.ci[0], "ci_high": c.ci[1],
                     "adj_low": a["adj_low"], "family": c.test.family, "verdict": cell_verdict(c.diff, a["adj_low"])})
        details.append({"run": c.test.label, "suite": c.suite, "protocol": c.protocol, "language": c.language,
                        "adj_high": a["adj_high"], "se": a["se"], "better": c.better, "worse": c.worse,
                        **{k: a[k] for k in ("p_bootstrap", "p_sign", "holm_bootstrap", "holm_sign",
                                             "bonferroni_bootstrap", "bonferroni_sign")}})
    checkpoints = {}
    for t in plan.tests:
        best = validation_best(t, root)
        checkpoints[t.label] = {"run": t.run, "tested": t.checkpoint, "validation_best": best,
                                "rule_followed": best is not None and best == t.checkpoint}
    labelled = [{**r, "label": r["run"]} for r in rows]
    goals = goal_verdicts(plan, labelled, checkpoints)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, c in enumerate(cells):
        groups[(c.suite, c.protocol, c.language)].append(i)
    pools = []
    for (suite, protocol, lang), idx in sorted(groups.items()):
        d, lo, hi = pooled(diffs[idx], boots[:, idx], alpha)
        pools.append({"suite": suite, "protocol": protocol, "language": lang, "tests": [cells[i].test.label for i in idx],
                      "diff": d, "ci_low": lo, "ci_high": hi})
    inputs = sorted({p for t in plan.tests for p in t.trained} | {p for t in plan.tests for p in plan.bases[t.base]})
    return {
        "what": "every cell of the declared analysis plan, its multiplicity-adjusted bound and the verdicts its rule "
                "gives (rarelang.analysis.claims); do not edit: scripts/claims.py --check recomputes it",
        "command": command, "plan": plan.path, "plan_sha256": sha256(root / plan.path) if plan.path else None,
        "inputs": {p: sha256(root / p) for p in inputs},
        "rule": {"cell": "gain: adj_low > 0; loss: adj_high < 0 (adj_high = 2 diff - adj_low); else inconclusive",
                 "goal": "met: every endpoint has diff >= min_diff and adj_low > 0, MultiPL-E under protocol_rule",
                 "protocol_rule": plan.protocol_rule, "checkpoint_rule": plan.checkpoint_rule,
                 "endpoints": [{"suite": e.suite, "min_diff": e.min_diff} for e in plan.goal.endpoints]},
        "correction": {"method": corr.method, "draws": corr.draws, "seed": corr.seed, "alpha": alpha,
                       "raw_ci_draws": plan.raw_ci_draws, "families": families},
        "cells": rows,
        "goals": goals,
        "pooled": pools,
        "checkpoints": checkpoints,
        "details": details,
    }


def _close(a: Any, b: Any, path: str, out: list[str], tol: float) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'the file' if k in a else 'the recomputation'}")
            else:
                _close(a[k], b[k], f"{path}.{k}", out, tol)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} entries in the file, {len(b)} recomputed")
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]", out, tol)
    elif isinstance(a, float) and isinstance(b, float) and not isinstance(a, bool):
        if not math.isclose(a, b, rel_tol=tol, abs_tol=tol):
            out.append(f"{path}: {a!r} in the file, {b!r} recomputed")
    elif a != b:
        out.append(f"{path}: {a!r} in the file, {b!r} recomputed")


def compare_claims(committed: dict[str, Any], recomputed: dict[str, Any], tol: float = 1e-9) -> list[str]:
    """Every difference between a claims file and its recomputation (the command that wrote it aside); floats
    within ``tol`` (the bootstrap's sums may round differently on another CPU)."""
    a = {k: v for k, v in committed.items() if k != "command"}
    b = {k: v for k, v in recomputed.items() if k != "command"}
    out: list[str] = []
    _close(a, b, "claims", out, tol)
    return out


def consistent(claims: dict[str, Any]) -> list[str]:
    """Verdicts that do not follow from the numbers beside them (a verdict edited by hand)."""
    out = []
    for i, r in enumerate(claims.get("cells", [])):
        if set(r) != set(CELL_FIELDS):
            out.append(f"cells[{i}]: fields {sorted(r)} are not {sorted(CELL_FIELDS)}")
            continue
        want = cell_verdict(r["diff"], r["adj_low"])
        if r["verdict"] != want:
            out.append(f"cells[{i}] ({r['run']} {r['suite']} {r['protocol']} {r['language']}): verdict "
                       f"{r['verdict']!r}, the rule gives {want!r}")
    cells = {(r["run"], r["suite"], r["protocol"], r["language"]): r for r in claims.get("cells", [])}
    for g in claims.get("goals", []):
        met = []
        for e in g["endpoints"]:
            r = cells.get((g["run"], e["suite"], e["protocol"], g["language"]))
            met.append(None if r is None else (r["diff"] >= e["min_diff"] and r["adj_low"] > 0))
        want = "not tested" if None in met else "met" if all(met) else "not met"
        if g["verdict"] != want:
            out.append(f"goal {g['run']} {g['language']}: verdict {g['verdict']!r}, the rule gives {want!r}")
    return out


def write_claims(claims: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(claims, indent=1) + "\n")
    tmp.replace(path)
