import json
import subprocess
import sys

import pytest

from rarelang.cli import _parse_job_line, main
from rarelang.sandbox import Status


def write(p, text):
    p.write_text(text)
    return str(p)


def test_exec_passed_and_json(tmp_path, capsys):
    code = write(tmp_path / "c.jl", "f(x) = 2x\n")
    tests = write(tmp_path / "t.jl", "using Test\n@testset begin\n@test f(2) == 4\n@test f(0) == 0\nend\n")
    assert main(["exec", "--lang", "julia", "--code", code, "--tests", tests, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "passed" and out["tests_passed"] == 2 and out["reward"] == 1.0
    for key in ("status", "tests_passed", "tests_total", "reward", "duration_s", "stdout", "stderr"):
        assert key in out


def test_exec_not_passed_exit_code_and_text(tmp_path, capsys):
    code = write(tmp_path / "c.R", "f <- function(x) x\n")
    tests = write(tmp_path / "t.R", "library(testthat)\ntest_that('a', expect_equal(f(1), 2))\n")
    assert main(["exec", "--lang", "r", "--code", code, "--tests", tests]) == 1
    text = capsys.readouterr().out
    assert "status:   tests_failed" in text and "0/1" in text


def test_exec_usage_errors(tmp_path, capsys):
    code = write(tmp_path / "c.R", "x")
    assert main(["exec", "--lang", "cobol", "--code", code, "--tests", code]) == 2
    assert "unknown language" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["exec", "--lang", "r", "--code", str(tmp_path / "missing"), "--tests", code])
    assert e.value.code == 2


@pytest.mark.parametrize("line,needle", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"lang": "r", "code": "", "tests": ""}', "missing 'id'"),
    ('{"id": 1, "lang": "r", "code": ""}', "missing field"),
    ('{"id": 1, "lang": "r", "code": 5, "tests": ""}', "must be strings"),
    ('{"id": 1, "lang": "go", "code": "", "tests": ""}', "unknown language"),
    ('{"id": 1, "lang": "r", "code": "", "tests": "", "timeout_s": "x"}', "timeout_s"),
    ('{"id": 1, "lang": "r", "code": "", "tests": "", "timeout_s": 0}', "timeout_s"),
])
def test_bad_lines_become_sandbox_errors(line, needle):
    job, err = _parse_job_line(line, 7)
    assert job is None and err.status is Status.SANDBOX_ERROR
    assert needle in err.message and "line 7" in err.message


def _jobs_file(tmp_path):
    lines = [
        {"id": "r-ok", "lang": "r", "code": "f <- function(x) x * 2",
         "tests": "library(testthat)\ntest_that('t', { expect_equal(f(2), 4) })"},
        {"id": "jl-fail", "lang": "julia", "code": "f(x) = x", "tests": "using Test\n@test f(2) == 4\n"},
        {"id": "jl-ok", "lang": "jl", "code": "f(x) = 2x", "tests": "using Test\n@test f(2) == 4\n",
         "timeout_s": 5},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\nthis is not json\n" + json.dumps(lines[0]) + "\n"
    return write(tmp_path / "jobs.jsonl", text)


def test_exec_batch_one_result_per_line_and_resume(tmp_path):
    jobs = _jobs_file(tmp_path)
    out = tmp_path / "res.jsonl"
    assert main(["exec-batch", jobs, "-o", str(out), "--workers", "2", "-q"]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 5                       # one per input line, bad ones included
    by_id = {}
    for r in rows:
        by_id.setdefault(r["id"], []).append(r["status"])
    assert by_id["jl-ok"] == ["passed"] and by_id["jl-fail"] == ["tests_failed"]
    assert by_id["r-ok"] == ["passed"]
    assert by_id["line-4"] == ["sandbox_error"]
    assert by_id["line-5"] == ["sandbox_error"]                 # the duplicate id

    # simulate a crash: keep three results and a torn line, then resume
    kept = out.read_text().splitlines()[:3]
    out.write_text("\n".join(kept) + '\n{"id": "to')
    assert main(["exec-batch", jobs, "-o", str(out), "--resume", "-q"]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]   # every line parses again
    ids = [r["id"] for r in rows]
    assert sorted(ids) == ["jl-fail", "jl-ok", "line-4", "line-5", "r-ok"]   # none lost, none twice


def test_console_script_help():
    exe = [sys.executable, "-m", "rarelang.cli"]
    r = subprocess.run(exe + ["exec-batch", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--resume" in r.stdout and "timeout_s" in r.stdout
