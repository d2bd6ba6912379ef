"""The answers' digest (dvc.yaml's `answers` stage): the same answers give the same digest whatever each program
took to run and in whatever order the rows came; a changed program, status or row changes it, and says where."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rarelang.evaluate.digest import answers_digest, differences

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "answers_digest.py"


def answers(**change) -> pd.DataFrame:
    rows = [{"model": m, "suite": s, "protocol": "chat", "setting": "t0.2", "task_id": f"t{i}", "lang": "r",
             "sample": 0, "temperature": 0.2, "prompt": f"p{i}", "program": f"f <- function() {i}",
             "status": "passed" if i else "tests_failed", "passed": bool(i), "tests_passed": 1, "tests_total": 1,
             "message": "", "duration_s": 0.1 * (i + 1)}
            for m in ("base", "trained") for s in ("heldout", "humaneval-r") for i in range(3)]
    df = pd.DataFrame(rows)
    for col, (row, value) in change.items():
        df.loc[row, col] = value
    return df


def test_timings_and_row_order_do_not_count():
    a = answers()
    b = answers().assign(duration_s=lambda d: d.duration_s * 7.3).sample(frac=1.0, random_state=1)
    assert not a.duration_s.equals(b.sort_index().duration_s)
    assert answers_digest(a) == answers_digest(b)
    assert differences(answers_digest(a), answers_digest(b)) == []
    assert "duration_s" not in answers_digest(a)["columns"]


def test_a_missing_value_is_null_whichever_way_pandas_holds_it():
    a, b = answers(), answers(message=(3, float("nan")))            # b: pandas' string column holds NaN
    a["message"] = a["message"].astype(object)
    a.loc[3, "message"] = None                                       # a: an object column holds None
    assert a.loc[3, "message"] is None and b.loc[3, "message"] != b.loc[3, "message"]
    assert answers_digest(a) == answers_digest(b) != answers_digest(answers())


def test_rows_sharing_a_key_in_either_order():
    a = answers()
    a.loc[5, "task_id"] = a.loc[4, "task_id"]
    assert answers_digest(a) == answers_digest(a.iloc[::-1])


@pytest.mark.parametrize("col,value", [("program", "f <- function() 99"), ("status", "timeout"),
                                       ("message", "Error"), ("tests_passed", 0)])
def test_a_changed_answer_changes_it_and_says_where(col, value):
    a, b = answers_digest(answers()), answers_digest(answers(**{col: (7, value)}))   # row 7: trained/heldout
    assert a["sha256"] != b["sha256"]
    assert differences(a, b) == ["trained/heldout: different answers (3 vs 3 rows)"]
    assert a["groups"]["base/heldout"] == b["groups"]["base/heldout"]


def test_a_missing_or_extra_row_is_a_difference():
    full = answers()
    a, b = answers_digest(full), answers_digest(full.drop(index=0))
    assert differences(a, b) == ["base/heldout: different answers (3 vs 2 rows)"]
    c = answers_digest(full[full.model == "base"])
    assert differences(a, c) == ["trained/heldout: only in the first", "trained/humaneval-r: only in the first"]


def test_not_an_answers_table_is_refused():
    with pytest.raises(ValueError, match="no column task_id"):
        answers_digest(answers().drop(columns=["task_id"]))


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True)


def test_the_script_writes_and_checks(tmp_path):
    answers().to_parquet(tmp_path / "a.parquet")
    answers().assign(duration_s=9.0).to_parquet(tmp_path / "same.parquet")
    answers(program=(4, "other")).to_parquet(tmp_path / "other.parquet")
    r = run(tmp_path / "a.parquet", "-o", tmp_path / "out" / "answers.json")
    assert r.returncode == 0, r.stderr
    written = json.loads((tmp_path / "out" / "answers.json").read_text())
    assert written["rows"] == 12 and len(written["groups"]) == 4
    ok = run(tmp_path / "same.parquet", "--check", tmp_path / "out" / "answers.json")
    assert ok.returncode == 0 and "the same 12 answers" in ok.stdout, ok.stderr
    bad = run(tmp_path / "other.parquet", "--check", tmp_path / "out" / "answers.json")
    assert bad.returncode == 1 and "base/humaneval-r: different answers" in bad.stderr


def test_the_script_explains_a_missing_file(tmp_path):
    r = run(tmp_path / "nothing.parquet")
    assert r.returncode == 2 and "run the evaluate stage first" in r.stderr
    answers().to_parquet(tmp_path / "a.parquet")
    for name, text in [("absent.json", None), ("broken.json", "{"), ("other.json", '{"rows": 1}')]:
        if text is not None:
            (tmp_path / name).write_text(text)
        r = run(tmp_path / "a.parquet", "--check", tmp_path / name)
        assert r.returncode == 2 and f"--check {tmp_path / name}" in r.stderr, (name, r.stderr)


def test_checking_against_the_file_it_writes_compares_with_what_was_there(tmp_path):
    answers().to_parquet(tmp_path / "a.parquet")
    answers(program=(0, "other")).to_parquet(tmp_path / "b.parquet")
    assert run(tmp_path / "a.parquet", "-o", tmp_path / "d.json").returncode == 0
    r = run(tmp_path / "b.parquet", "-o", tmp_path / "d.json", "--check", tmp_path / "d.json")
    assert r.returncode == 1 and "base/heldout: different answers" in r.stderr
    assert json.loads((tmp_path / "d.json").read_text())["rows"] == 12      # and it wrote the new one


def test_the_committed_digest_is_the_committed_answers_digest():
    """results/eval/answers.json is what the stage makes of the answers dvc.lock records (where they are here)."""
    made = ROOT / "results" / "eval" / "completions.parquet"
    if not made.is_file():
        pytest.skip("no results/eval/completions.parquet here (make repro)")
    import hashlib
    import yaml
    deps = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]["answers"]["deps"]
    locked = next(d["md5"] for d in deps if d["path"] == "results/eval/completions.parquet")
    if hashlib.md5(made.read_bytes()).hexdigest() != locked:
        pytest.skip("this checkout's answers are not the ones dvc.lock records")
    assert answers_digest(pd.read_parquet(made)) == json.loads((ROOT / "results/eval/answers.json").read_text())
