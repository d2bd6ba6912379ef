"""scripts/recompute.py: every paired.json / attribution.json is recomputed from the command it records."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def _frame(model, passes):
    return pd.DataFrame([{"model": model, "suite": "heldout", "protocol": "chat", "setting": "t0.2", "lang": "r",
                          "task_id": f"t{t}", "sample": i, "passed": bool(p)}
                         for t, ps in enumerate(passes) for i, p in enumerate(ps)])


def test_recompute_checks_rewrites_and_skips(tmp_path):
    root = tmp_path / "headline"
    (root / "run" / "eval").mkdir(parents=True)
    base, trained = tmp_path / "base.parquet", tmp_path / "trained.parquet"
    _frame("base", [[0, 0], [1, 0], [0, 0], [1, 1]] * 5).to_parquet(base)
    _frame("trained", [[1, 0], [1, 1], [0, 0], [1, 1]] * 5).to_parquet(trained)
    paired = root / "run" / "eval" / "paired.json"
    r = _run("scripts/compare.py", "-q", str(base), str(trained), "-o", str(paired))
    assert r.returncode == 0, r.stderr
    recorded = json.loads(paired.read_text())["command"]

    r = _run("scripts/recompute.py", "--root", str(root), "--check")
    assert r.returncode == 0 and "1 same" in r.stdout, r.stdout + r.stderr

    # a stale file (the answers changed since): --check says so and fails, writing nothing
    data = json.loads(paired.read_text())
    key = next(iter(data["pairs"]))
    data["pairs"][key]["difference"] = 0.5
    paired.write_text(json.dumps(data))
    r = _run("scripts/recompute.py", "--root", str(root), "--check")
    assert r.returncode == 1 and "changed" in r.stdout, r.stdout + r.stderr
    assert json.loads(paired.read_text())["pairs"][key]["difference"] == 0.5

    # without --check it is rewritten from its inputs, keeping the command it records
    r = _run("scripts/recompute.py", "--root", str(root))
    assert r.returncode == 0 and "1 rewritten" in r.stdout, r.stdout + r.stderr
    assert json.loads(paired.read_text())["pairs"][key]["difference"] != 0.5
    assert json.loads(paired.read_text())["command"] == recorded
    assert "1 same" in _run("scripts/recompute.py", "--root", str(root), "--check").stdout

    # an input that is not here: skipped, named
    trained.unlink()
    r = _run("scripts/recompute.py", "--root", str(root), "--check")
    assert r.returncode == 0 and f"skipped, missing {trained}" in r.stdout, r.stdout

    # a folder marked NOT_RECOMPUTABLE (inputs of the same name that are not the ones it read) is never rewritten
    trained_again = tmp_path / "trained.parquet"
    _frame("trained", [[1, 1], [1, 1], [1, 1], [1, 1]] * 5).to_parquet(trained_again)
    (root / "run" / "eval" / "NOT_RECOMPUTABLE").write_text("its split is gone\n")
    before = paired.read_text()
    r = _run("scripts/recompute.py", "--root", str(root))
    assert r.returncode == 0 and "frozen (NOT_RECOMPUTABLE: its split is gone)" in r.stdout, r.stdout + r.stderr
    assert paired.read_text() == before
