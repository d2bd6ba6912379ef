"""The declared analysis (configs/analysis/headline-v2.yaml → results/headline/claims.json): the plan's loader,
the joint max-T correction, the verdict rule, and claims.json recomputed from the committed answers — a verdict
or a number edited by hand fails here."""
import copy
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rarelang.analysis.claims import cell_verdict, compare_claims, consistent, goal_verdicts
from rarelang.analysis.multiplicity import holm, joint_draws, max_t, pooled
from rarelang.analysis.plan import PlanError, load_plan, parse_plan

REPO = Path(__file__).resolve().parents[1]
PLAN = REPO / "configs" / "analysis" / "headline-v2.yaml"
CLAIMS = REPO / "results" / "headline" / "claims.json"


def _raw():
    return yaml.safe_load(PLAN.read_text())


def test_the_plan_loads_and_refuses_what_it_cannot_use():
    plan = load_plan(PLAN)
    assert plan.correction.draws >= 20000 and plan.protocol_rule in ("chat", "completion")
    assert {t.family for t in plan.tests} == {"headline-v2"}            # v2: one family, every examined cell
    raw = _raw()
    raw["corection"] = raw.pop("correction")
    with pytest.raises(PlanError, match="did you mean 'correction'"):
        parse_plan(raw)
    raw = _raw()
    raw["correction"]["draws"] = 2000
    with pytest.raises(PlanError, match="20,000"):
        parse_plan(raw)
    raw = _raw()
    raw["protocol_rule"] = "both"
    with pytest.raises(PlanError, match="protocol_rule"):
        parse_plan(raw)
    raw = _raw()
    raw["tests"][0]["base"] = "qwen-7b"
    with pytest.raises(PlanError, match="base 'qwen-7b'"):
        parse_plan(raw)
    raw = _raw()
    raw["tests"][1]["label"] = raw["tests"][0]["run"]
    with pytest.raises(PlanError, match="appears twice"):
        parse_plan(raw)


def _recorded_inputs(paired: Path) -> list[str]:
    words = shlex.split(json.loads(paired.read_text())["command"])
    out, it = [], iter(words[2:])
    for w in it:
        if w in ("-o", "--output", "--base"):
            next(it)
        elif not w.startswith("-"):
            out.append(w)
    return out


def test_the_plan_pairs_what_each_runs_paired_json_paired_at_the_checkpoint_tested():
    """The plan names the same answers as the command recorded in each test's paired.json, and the checkpoint the
    run's files say was tested (eval/CHECKPOINT, else the summary's best checkpoint, else the last step)."""
    import re
    plan = load_plan(PLAN)
    for t in plan.tests:
        folder = "eval" if t.label == t.run else f"eval-step{t.checkpoint}"
        paired = REPO / "results" / "headline" / t.label / "paired.json"       # beside the run (or in its eval folder)
        paired = paired if paired.exists() else REPO / "results" / "headline" / t.run / folder / "paired.json"
        assert sorted(_recorded_inputs(paired)) == sorted(plan.bases[t.base] + t.trained), t.label
        ck = REPO / "results" / "headline" / t.run / folder / "CHECKPOINT"
        summary = json.loads((REPO / "results" / "headline" / t.run / "train" / "summary.json").read_text())
        named = ck.read_text().strip() if ck.exists() else (summary.get("best_checkpoint") or "")
        m = re.search(r"checkpoint-(\d+)$", named)
        assert t.checkpoint == (int(m.group(1)) if m else summary["global_step"]), t.label


def test_cells_sharing_their_problems_share_the_draws():
    """Two cells with the same per-problem differences over the same problems are one cell for the max-T: c is the
    single cell's two-sided 95% point (~1.96); over independent problems it is higher (~2.24)."""
    rng = np.random.default_rng(1)
    d = pd.Series(rng.normal(0.05, 0.3, 300), index=[f"t{i}" for i in range(300)])
    shared = joint_draws([d, d], [("heldout", "r"), ("heldout", "r")], 20000, 0)
    assert np.array_equal(shared[:, 0], shared[:, 1])
    c_shared = max_t(np.array([d.mean()] * 2), shared, 0.05)["critical"]
    apart = joint_draws([d, d], [("heldout", "r"), ("mbpp", "r")], 20000, 0)
    c_apart = max_t(np.array([d.mean()] * 2), apart, 0.05)["critical"]
    assert 1.90 < c_shared < 2.02 and 2.15 < c_apart < 2.32
    # a cell's draws do not depend on which other universes are in the family
    alone = joint_draws([d], [("mbpp", "r")], 20000, 0)
    assert np.array_equal(alone[:, 0], apart[:, 1])
    # the pooled mean of two perfectly correlated cells has the single cell's interval
    m, lo, hi = pooled(np.array([d.mean()] * 2), shared, 0.05)
    assert m == pytest.approx(d.mean()) and lo < m < hi


def test_holm_steps_down():
    assert holm([0.01, 0.04, 0.03, 0.5]).tolist() == pytest.approx([0.04, 0.09, 0.09, 0.5])


def test_cell_and_goal_verdicts_follow_the_rule():
    assert cell_verdict(0.10, 0.01) == "gain" and cell_verdict(-0.10, -0.19) == "loss"
    assert cell_verdict(0.05, -0.01) == "inconclusive" and cell_verdict(-0.01, -0.05) == "inconclusive"
    plan = load_plan(PLAN)
    t = plan.tests[0]
    rows = [{"label": t.label, "suite": "heldout", "protocol": "chat", "language": "julia", "diff": 0.13, "adj_low": 0.06},
            {"label": t.label, "suite": "humaneval", "protocol": "chat", "language": "julia", "diff": 0.062, "adj_low": -0.03},
            {"label": t.label, "suite": "humaneval", "protocol": "completion", "language": "julia", "diff": 0.09,
             "adj_low": 0.01}]
    cks = {x.label: {"tested": x.checkpoint, "validation_best": x.checkpoint, "rule_followed": True} for x in plan.tests}
    g = {(x["run"], x["language"]): x for x in goal_verdicts(plan, rows, cks)}
    # chat is the declared protocol: the completion cell that would meet the threshold decides nothing
    assert g[(t.label, "julia")]["verdict"] == "not met"
    assert "adjusted lower bound -0.030 <= 0" in g[(t.label, "julia")]["reasons"][0]
    assert g[(t.label, "r")]["verdict"] == "not tested"
    rows[1]["adj_low"] = 0.001
    cks[t.label] = {"tested": 320, "validation_best": 300, "rule_followed": False}
    g = {(x["run"], x["language"]): x for x in goal_verdicts(plan, rows, cks)}
    assert g[(t.label, "julia")]["verdict"] == "met" and g[(t.label, "julia")]["exploratory"]


def test_a_verdict_or_a_number_edited_by_hand_is_found():
    claims = json.loads(CLAIMS.read_text())
    assert not consistent(claims)
    assert len(claims["cells"]) == 90 and all(set(c) == {"run", "checkpoint", "suite", "protocol", "language",
                                                          "problems", "base", "trained", "diff", "ci_low", "ci_high",
                                                          "adj_low", "family", "verdict"} for c in claims["cells"])
    edited = copy.deepcopy(claims)
    # a cell no goal rests on (a completion-protocol cell): only its own verdict follows from it
    i = next(i for i, c in enumerate(edited["cells"]) if c["verdict"] == "inconclusive" and c["diff"] > 0.04
             and c["protocol"] == "completion")
    edited["cells"][i]["verdict"] = "gain"
    assert consistent(edited) and compare_claims(edited, claims)
    edited = copy.deepcopy(claims)
    edited["cells"][i]["adj_low"] = 0.001              # the number and the verdict edited together
    edited["cells"][i]["verdict"] = "gain"
    assert not consistent(edited) and any("adj_low" in p for p in compare_claims(edited, claims))
    edited = copy.deepcopy(claims)
    edited["goals"][0]["verdict"] = "met"
    assert consistent(edited) and compare_claims(edited, claims)
    # a goal's endpoint edited to pass: the goal's verdict no longer follows from its cells
    edited = copy.deepcopy(claims)
    g = next(g for g in edited["goals"] if g["verdict"] == "not met" and g["endpoints"][0]["met"])
    cell = next(c for c in edited["cells"] if (c["run"], c["suite"], c["protocol"], c["language"]) ==
                (g["run"], "humaneval", g["endpoints"][1]["protocol"], g["language"]))
    cell.update(diff=0.06, adj_low=0.001, verdict="gain")
    assert any(p.startswith(f"goal {g['run']} {g['language']}") for p in consistent(edited))


@pytest.mark.slow
def test_claims_json_is_what_the_plan_gives_from_the_committed_answers():
    """The acceptance check: recompute every cell, bound and verdict, compare with the committed file."""
    r = subprocess.run([sys.executable, "scripts/claims.py", "--check", "-q"], cwd=REPO, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def _answers(path, model, rates, suite="heldout", lang="r", protocol="chat", n=20):
    rows = [{"model": model, "suite": suite, "protocol": protocol, "setting": "t0.2", "lang": lang,
             "task_id": f"p{i}", "sample": s, "passed": s < round(r * n), "prompt": "Write an R function"}
            for i, r in enumerate(rates) for s in range(n)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)


def test_build_claims_from_a_plan_of_its_own(tmp_path):
    """A two-run plan over synthetic answers: the differences, the family's bound, the goal verdict and a problem
    filter (a cleaned set) all come out as the rule says."""
    from rarelang.analysis.claims import build_claims
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 0.6, 300)
    _answers(tmp_path / "b" / "heldout.parquet", "base", base)
    _answers(tmp_path / "b" / "he.parquet", "base", base[:150], suite="humaneval-r")
    lift = np.clip(base + 0.15 + rng.normal(0, 0.2, 300), 0, 1)                               # +0.15 on average
    _answers(tmp_path / "good" / "heldout.parquet", "trained", lift)
    _answers(tmp_path / "good" / "he.parquet", "trained", np.minimum(1, base[:150] + 0.10), suite="humaneval-r")
    _answers(tmp_path / "flat" / "heldout.parquet", "trained", base)                          # no change at all
    raw = _raw()
    raw["bases"] = {"b": ["b/heldout.parquet", "b/he.parquet"]}
    raw["tests"] = [{"run": "good", "checkpoint": 10, "base": "b", "trained": ["good/heldout.parquet", "good/he.parquet"]},
                    {"run": "flat", "checkpoint": 10, "base": "b", "trained": ["flat/heldout.parquet"]}]
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(raw))
    plan = load_plan(tmp_path / "plan.yaml")
    claims = build_claims(plan, tmp_path, "test")
    cells = {(c["run"], c["suite"]): c for c in claims["cells"]}
    assert set(cells) == {("good", "heldout"), ("good", "humaneval"), ("flat", "heldout")}
    good = cells[("good", "heldout")]
    assert good["diff"] == pytest.approx(float(np.mean(lift - base)), abs=0.01) and good["diff"] > 0.1
    assert good["verdict"] == "gain" and good["adj_low"] < good["ci_low"] < good["diff"]     # the family widens it
    assert cells[("flat", "heldout")]["diff"] == 0 and cells[("flat", "heldout")]["verdict"] == "inconclusive"
    assert not consistent(claims)
    goal = next(g for g in claims["goals"] if g["run"] == "good" and g["language"] == "r")
    assert goal["verdict"] == "met" and goal["exploratory"]          # no validation curve: not the rule's checkpoint
    # a cleaned set: the problems named are left out of every pairing
    cleaned = build_claims(plan, tmp_path, "test", exclude={("heldout", "r"): {f"p{i}" for i in range(100)}})
    assert {c["problems"] for c in cleaned["cells"] if c["suite"] == "heldout"} == {200}


def test_the_results_index_is_generated_from_the_plan_and_the_claims():
    r = subprocess.run([sys.executable, "scripts/results_index.py", "--check"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    text = (REPO / "results" / "headline" / "README.md").read_text()
    plan = load_plan(PLAN)
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith("| run ")]
    assert [ln.split(" | ")[0][2:] for ln in rows] == [t.label for t in plan.tests]      # one row per run, in order
