"""Stages that run R or Julia record which ones (issue 16: interpreter versions in the pipeline's
outputs): a pass rate means little without the interpreter that produced it (Julia 1.5.3 here,
newer on a cluster)."""
import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_seed_references_stage_writes_the_interpreters_it_ran(tmp_path):
    env = tmp_path / "env" / "seed_references.json"
    r = subprocess.run([sys.executable, "scripts/check_seed_references.py", "--langs", "r", "--limit", "2",
                        "-o", str(tmp_path / "seed_references.json"), "--environment", str(env)],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    e = json.loads(env.read_text())
    interp = e["interpreters"]
    assert "error" not in interp, interp
    assert "R" in interp["r"] and any(c.isdigit() for c in interp["r"])        # e.g. "Rscript (R) version 4.2.2"
    assert "julia" in interp["julia"].lower()                                  # e.g. "julia version 1.5.3"
    assert e["python"] and "pandas" in e["packages"]


def test_dvc_declares_an_environment_record_for_every_stage_that_runs_interpreters():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    def outs(name):
        return [next(iter(o)) if isinstance(o, dict) else o for o in stages[name].get("outs", [])]
    assert "results/env/validate.json" in outs("validate")
    assert "results/env/seed_references.json" in outs("seed_references")
    assert "results/train/${train.run_name}" in outs("train")          # environment.json is written in it
    assert "results/eval/environment.json" in outs("evaluate")
