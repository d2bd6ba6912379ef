"""`rarelang solve`: candidates from a model, checked in the real sandbox, the first that passes returned.

Two kinds of model: a canned generator (its answers are written here, so which candidate passes is known) and
the tiny test model wired to answer one known program (tests/tiny_model.py: build_answering), generated from
through the real transformers generator and the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rarelang.cli import main
from rarelang.llm.generators import Generator
from rarelang.prompts import build_prompt
from rarelang.solve import solve_problems, task_problem

sys.path.insert(0, str(Path(__file__).parent))
from tiny_model import build_answering  # noqa: E402

ADD_ONE_TESTS = "using Test\n@test f(1) == 2\n@test f(2) == 3\n"
IMPOSSIBLE_TESTS = "using Test\n@test f(1) == 12345\n"


class Canned(Generator):
    """Answers every prompt with the same candidates; records what it was asked."""

    name = "canned"

    def __init__(self, answers: list[str], chat: bool = True):
        self.answers, self.chat, self.calls = answers, chat, []

    def generate(self, prompts, n, temperature, max_tokens, stop=None, seed=0, top_p=None):
        self.calls.append({"prompts": prompts, "n": n, "stop": stop, "chat": self.chat})
        return [list(self.answers[:n]) for _ in prompts]


def test_the_first_passing_candidate_is_returned_with_every_status(pool):
    task = {"id": "add1", "lang": "julia", "prompt": "Add one to x.", "signature": "function f(x::Int)::Int",
            "tests": ADD_ONE_TESTS}
    gen = Canned(["I cannot write code.", "```julia\nf(x) = x\n```", "```julia\nf(x) = x + 1\n```",
                  "```julia\nf(x) = x + 1 # again\n```"])
    sol = solve_problems(gen, [task_problem(task)], pool, n=4, temperature=0.2, max_tokens=64)[0]
    rec = sol.record()
    # asked as training and evaluation ask: the same instruction, with the signature
    assert gen.calls[0]["prompts"] == [build_prompt("Add one to x.", "julia", signature="function f(x::Int)::Int")]
    assert rec["passed"] is True and rec["chosen"] == 2 and rec["solution"] == "f(x) = x + 1\n"
    assert rec["n"] == 4 and rec["candidates_passed"] == 2
    assert rec["statuses"] == {"passed": 2, "syntax_error": 1, "tests_failed": 1}
    assert [c["status"] for c in rec["candidates"]] == ["syntax_error", "tests_failed", "passed", "passed"]
    assert rec["candidates"][1]["tests_passed"] == 0 and rec["candidates"][1]["tests_total"] == 2
    assert rec["check"] == "tests" and rec["entry_point"] == "f" and rec["time_s"]["total"] >= 0


def test_tests_that_cannot_pass_return_no_solution(pool):
    task = {"id": "never", "lang": "julia", "prompt": "Add one to x.", "tests": IMPOSSIBLE_TESTS}
    gen = Canned(["```julia\nf(x) = x + 1\n```", "```julia\nf(x) = 2x\n```"])
    rec = solve_problems(gen, [task_problem(task)], pool, n=2, temperature=0.2, max_tokens=64)[0].record()
    assert rec["passed"] is False and rec["chosen"] is None and rec["solution"] is None
    assert rec["candidates_passed"] == 0 and rec["statuses"] == {"tests_failed": 2}


def test_without_tests_a_candidate_must_parse_load_and_define_the_function(pool):
    task = {"id": "r-f", "lang": "r", "prompt": "Return x unchanged.", "signature": "f <- function(x)"}
    gen = Canned(["```r\ng <- function(x) x\n```", "```r\nf <- function(x) {\n```", "```r\nf <- function(x) x\n```"])
    rec = solve_problems(gen, [task_problem(task)], pool, n=3, temperature=0.2, max_tokens=64)[0].record()
    assert rec["check"] == "defines f" and rec["chosen"] == 2
    assert [c["status"] for c in rec["candidates"]] == ["tests_failed", "syntax_error", "passed"]
    assert "does not define the function f" in rec["candidates"][0]["message"]
    # a description with neither signature nor entry point: any function it defines will do, none will not
    task = {"id": "any", "lang": "julia", "prompt": "Write something."}
    gen = Canned(["```julia\nx = 1\n```", "```julia\nsquare(x) = x^2\n```"])
    rec = solve_problems(gen, [task_problem(task)], pool, n=2, temperature=0.2, max_tokens=64)[0].record()
    assert [c["check"] for c in rec["candidates"]] == ["defines", "defines square"] and rec["chosen"] == 1


def test_a_multipl_e_prompt_is_completed_under_either_protocol(pool):
    row = {"name": "HumanEval_x_add", "language": "r", "prompt": "# Add two numbers.\nadd <- function(a, b) {\n",
           "tests": "stopifnot(add(1, 2) == 3)\n", "stop_tokens": ["\n#", "\n```"], "doctests": "keep"}
    p = task_problem(row)           # a MultiPL-E row as it is (its extra fields are ignored)
    assert (p.kind, p.entry_point, p.task_id, p.lang) == ("multipl-e", "add", "HumanEval_x_add", "r")
    chat = Canned(["```r\nadd <- function(a, b) {\n  a + b\n}\n```"])
    rec = solve_problems(chat, [p], pool, n=1, temperature=0.2, max_tokens=64)[0].record()
    assert "Complete the following R function" in chat.calls[0]["prompts"][0] and rec["passed"], rec
    completion = Canned(["\n  a + b\n}\n# MultiPL-E's stop token cuts here\nstop('never run')"], chat=False)
    rec = solve_problems(completion, [p], pool, n=1, temperature=0.2, max_tokens=64)[0].record()
    assert completion.calls[0]["prompts"] == [p.prompt] and completion.calls[0]["stop"] == [["\n#", "\n```"]]
    assert rec["passed"] and rec["solution"] == p.prompt + "\n  a + b\n}"
    # the style is read from the prompt: a Julia header without a body is MultiPL-E, with MultiPL-E's stops
    jl = task_problem({"lang": "jl", "prompt": '"""Double x."""\nfunction double(x::Int64)::Int64 \n'})
    assert (jl.kind, jl.entry_point, jl.lang) == ("multipl-e", "double", "julia") and "\nfunction" in jl.stop


@pytest.mark.parametrize("task, needle", [
    ({"prompt": "Add one."}, "no language"),
    ({"lang": "cobol", "prompt": "Add one."}, "unknown language"),
    ({"lang": "r", "prompt": "  "}, "empty 'prompt'"),
    ({"lang": "r", "prompt": "Add one.", "test": "stopifnot(TRUE)"}, "unknown field(s) ['test']"),
    ({"lang": "r", "prompt": "Add one.", "style": "fewshot"}, "style must be one of"),
    ({"lang": "r", "prompt": "Add one.", "style": "multipl-e"}, "must end with the header"),
    ({"lang": "r", "prompt": "Add one.", "tests": 3}, "'tests' must be a string"),
    ([1, 2], "a task is a JSON object"),
])
def test_bad_tasks_say_what_is_wrong(task, needle):
    with pytest.raises(ValueError) as e:
        task_problem(task)
    assert needle in str(e.value)


@pytest.fixture(scope="module")
def add_one_model(tmp_path_factory):
    """The tiny model, answering `f(x) = x + 1` to every prompt."""
    return build_answering(tmp_path_factory.mktemp("tiny") / "add-one", ["f(x) = x + 1\n"])


def _solve(*args: str) -> int:
    return main(["solve", *args, "--engine", "transformers", "--workers", "1", "-q"])


def test_one_task_from_the_command_line_with_the_tiny_model(add_one_model, tmp_path, capsys):
    tests = tmp_path / "tests.jl"
    tests.write_text(ADD_ONE_TESTS)
    assert _solve("--lang", "julia", "--prompt", "Add one to x.", "--tests", str(tests), "--model",
                  str(add_one_model), "-n", "2") == 0
    out = capsys.readouterr()
    assert out.out == "f(x) = x + 1\n"                          # the solution alone on stdout
    assert "2 passed" in out.err and "#1 passed 2/2  <- returned" in out.err
    tests.write_text(IMPOSSIBLE_TESTS)
    assert _solve("--lang", "julia", "--prompt", "Add one to x.", "--tests", str(tests), "--model",
                  str(add_one_model), "-n", "2", "--json") == 1
    rec = json.loads(capsys.readouterr().out)
    assert rec["passed"] is False and rec["statuses"] == {"tests_failed": 2} and rec["engine"] == "transformers"
    assert rec["candidates"][0]["program"] == "f(x) = x + 1\n"
    # a task file, its fields overridden by flags
    task = tmp_path / "task.json"
    task.write_text(json.dumps({"id": "from-file", "lang": "r", "prompt": "Add one to x.", "tests": ADD_ONE_TESTS}))
    assert _solve("--task", str(task), "--lang", "julia", "--model", str(add_one_model), "-n", "1", "--json") == 0
    rec = json.loads(capsys.readouterr().out)
    assert (rec["id"], rec["lang"], rec["passed"]) == ("from-file", "julia", True)
    # usage errors: no task at all; the completion protocol for a description
    assert _solve("--model", str(add_one_model)) == 2
    assert _solve("--lang", "julia", "--prompt", "Add one.", "--protocol", "completion", "--model",
                  str(add_one_model)) == 2
    assert "completion protocol" in capsys.readouterr().err
    # a committed 1.5B adapter on the 0.5B base: refused before anything loads
    assert _solve("--adapter", "unified-1.5b", "--model", "qwen2.5-coder-0.5b-instruct", "--lang", "r",
                  "--prompt", "Add one.") == 2
    assert "trained on qwen2.5-coder-1.5b-instruct" in capsys.readouterr().err


def test_a_file_of_tasks_gives_one_result_line_each_and_resumes(add_one_model, tmp_path, capsys):
    tasks = tmp_path / "tasks.jsonl"
    lines = [{"id": "passes", "lang": "julia", "prompt": "Add one to x.", "tests": ADD_ONE_TESTS},
             {"id": "cannot-pass", "lang": "julia", "prompt": "Add one to x.", "tests": IMPOSSIBLE_TESTS},
             {"id": "defines-f", "prompt": "Write f.", "signature": "function f(x)"},        # --lang gives julia
             {"id": "defines-g", "lang": "julia", "prompt": "Write g.", "signature": "function g(x)"}]
    tasks.write_text("\n".join(json.dumps(x) for x in lines[:2]) + "\n{not json\n"
                     + "\n".join(json.dumps(x) for x in lines[2:]) + "\n")
    out = tmp_path / "out.jsonl"
    args = [str(tasks), "-o", str(out), "--model", str(add_one_model), "--lang", "julia", "-n", "2", "--chunk", "2"]
    assert _solve(*args) == 0
    recs = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(recs) == {"passes", "cannot-pass", "line-3", "defines-f", "defines-g"}
    assert recs["passes"]["passed"] and recs["passes"]["solution"] == "f(x) = x + 1\n"
    assert not recs["cannot-pass"]["passed"] and recs["cannot-pass"]["statuses"] == {"tests_failed": 2}
    assert recs["defines-f"]["passed"] and recs["defines-f"]["check"] == "defines f"
    assert not recs["defines-g"]["passed"] and recs["defines-g"]["check"] == "defines g"
    assert "not valid JSON" in recs["line-3"]["error"] and recs["line-3"]["passed"] is False
    assert "4 task(s)" in capsys.readouterr().err
    # a second run neither overwrites the results nor runs without being told how
    assert _solve(*args) == 2 and "--resume" in capsys.readouterr().err
    # a crash mid-write: two whole lines and a torn third; --resume solves only what is missing
    kept = out.read_text().splitlines()[:2]
    out.write_text("\n".join(kept) + "\n" + '{"id": "defi')
    assert _solve(*args, "--resume") == 0
    again = out.read_text().splitlines()
    assert again[:2] == kept and sorted(json.loads(x)["id"] for x in again) == sorted(recs)
    assert "resuming: 2 result(s)" in capsys.readouterr().err
