"""scripts/rescore.py --only-status: only the rows with those statuses run again (their stored
programs, in the real sandbox); every other row keeps its verdict; metrics.json is recomputed."""

import json
import subprocess
import sys

import pandas as pd

from rarelang.evaluate.run import metric_key, summarize
from rarelang.evaluate.suites import multipl_e
from rarelang.params import repo_root

SHARED = repo_root().parent / "shared"
CORRECT = """has_close_elements <- function(numbers, threshold) {
  n <- length(numbers)
  if (n < 2) return(FALSE)
  for (i in 1:(n - 1)) for (j in (i + 1):n) if (abs(numbers[i] - numbers[j]) < threshold) return(TRUE)
  FALSE
}
"""


def test_only_status_reruns_those_rows_and_recomputes_metrics(tmp_path):
    he = next(x for x in multipl_e("humaneval-r", SHARED / "multipl-e") if x.entry_point == "has_close_elements")
    rows = [  # (program, stored status): the first two could not be judged on the device
        (CORRECT, "sandbox_error"),
        ("has_close_elements <- function(numbers, threshold) {\n", "sandbox_error"),
        ("this is not R and would not pass (", "passed"),             # not re-run: keeps its verdict
        (CORRECT, "tests_failed")]                                     # not re-run either
    df = pd.DataFrame({"model": "trained", "suite": "humaneval-r", "protocol": "chat", "setting": "t0.2",
                       "task_id": he.task_id, "lang": "r", "sample": range(len(rows)),
                       "program": [p for p, _ in rows], "status": [s for _, s in rows],
                       "passed": [s == "passed" for _, s in rows], "tests_passed": 0, "tests_total": 0,
                       "message": "could not start a r worker: bwrap: Can't fork: Resource temporarily unavailable",
                       "duration_s": 0.0123})
    src = tmp_path / "trained-multipl-e"
    src.mkdir()
    df.to_parquet(src / "completions-device.parquet", index=False)
    key = metric_key("trained", "humaneval-r", "chat", "t0.2", "r")
    old = {key: {**summarize(df, [1], 200, 0), "protocol": "chat", "repaired_prompts": 3}}
    (src / "metrics-device.json").write_text(json.dumps(old))
    params = tmp_path / "params.yaml"
    params.write_text((repo_root() / "params.yaml").read_text().replace("bootstrap: 2000", "bootstrap: 200"))
    r = subprocess.run([sys.executable, str(repo_root() / "scripts" / "rescore.py"), str(src / "completions-device.parquet"),
                        "--only-status", "sandbox_error", "-q", "--params", str(params), "-o", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    new = pd.read_parquet(tmp_path / "out" / "trained-multipl-e" / "completions.parquet")
    assert new["status"].tolist() == ["passed", "syntax_error", "passed", "tests_failed"]
    # a re-run row records its own time (it kept the device's before), the others keep theirs
    assert (new["duration_s"][:2] != 0.0123).all() and (new["duration_s"][:2] > 0).all()
    assert (new["duration_s"][2:] == 0.0123).all()
    metrics = json.loads((tmp_path / "out" / "trained-multipl-e" / "metrics.json").read_text())
    assert metrics[key]["pass@1"] == 0.5 and old[key]["pass@1"] == 0.25
    assert metrics[key]["statuses"]["sandbox_error"] == 0 and metrics[key]["repaired_prompts"] == 3
    report = json.loads((tmp_path / "out" / "trained-multipl-e" / "rescore.json").read_text())
    assert report["rows_re_run"] == 2 and report["statuses_after"] == {"passed": 1, "syntax_error": 1}
    assert report["pass@1"][key] == {"before": 0.25, "after": 0.5}


def test_only_status_rejects_an_unknown_status(tmp_path):
    r = subprocess.run([sys.executable, str(repo_root() / "scripts" / "rescore.py"), "x.parquet",
                        "--only-status", "sandbox_eror", "-o", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "sandbox_eror" in r.stderr and "sandbox_error" in r.stderr


def test_only_changed_reruns_the_rows_whose_program_the_rule_now_builds_differently(tmp_path):
    """A completion that wrote `<|fim_prefix|>` after the function failed to parse (stored program with the
    token); today's rule ends the answer there, so that row — and only that row — runs again, passing."""
    from rarelang.evaluate.programs import program_for
    he = next(x for x in multipl_e("humaneval-r", SHARED / "multipl-e") if x.entry_point == "has_close_elements")
    body = CORRECT.split("{", 1)[1]
    completions = [body.rstrip() + "<|fim_prefix|># Check if in given list", body, "\n  TRUE\n}"]
    stored = [he.prompt + c for c in completions]               # the old rule: no cut at the control token
    df = pd.DataFrame({"model": "base", "suite": "humaneval-r", "protocol": "completion", "setting": "t0.2",
                       "task_id": he.task_id, "lang": "r", "sample": range(3), "completion": completions,
                       "program": [stored[0], program_for(he, completions[1], False), program_for(he, completions[2], False)],
                       "status": ["syntax_error", "passed", "passed"],       # the last one's verdict is kept as stored
                       "passed": [False, True, True], "tests_passed": 0, "tests_total": 0, "message": ""})
    src = tmp_path / "base-multipl-e"
    src.mkdir()
    df.to_parquet(src / "completions.parquet", index=False)
    r = subprocess.run([sys.executable, str(repo_root() / "scripts" / "rescore.py"), str(src / "completions.parquet"),
                        "--only-changed", "-q", "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    new = pd.read_parquet(tmp_path / "out" / "base-multipl-e" / "completions.parquet")
    assert new["status"].tolist() == ["passed", "passed", "passed"]
    assert "<|" not in new["program"].iloc[0]
    report = json.loads((tmp_path / "out" / "base-multipl-e" / "rescore.json").read_text())
    assert report["rows_re_run"] == 1 and report["statuses_before"] == {"syntax_error": 1}
