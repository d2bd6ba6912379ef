"""Every MultiPL-E prompt of every suite parses as presented (after the documented repairs), with
the real interpreters: a prompt that cannot parse caps every model at 0 on that problem."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rarelang.evaluate.repair import repair_problem
from rarelang.evaluate.suites import MULTIPLE_SUITES, multipl_e
from rarelang.languages import get_language
from rarelang.sandbox import SandboxConfig

MULTIPLE_DIR = Path(__file__).resolve().parents[2] / "shared" / "multipl-e"

# Julia: the prompt + "end" must be one complete top-level expression, a (documented) function
# definition named after the entry point whose return/argument types contain no call (a stray
# `>` after `Dict{K,V}` parses as a comparison that swallows the body).
_JULIA_CHECK = r'''
for f in ARGS
    s = read(f, String) * "\nend\n"
    name = Symbol(readline(f * ".name"))
    ex, pos = Meta.parse(s, 1; raise=false)
    rest, _ = Meta.parse(s, pos; raise=false)
    why = ""
    if ex isa Expr && ex.head in (:error, :incomplete)
        why = string(ex.args[1])
    elseif rest !== nothing
        why = "more than one expression"
    else
        fn = (ex isa Expr && ex.head == :macrocall) ? ex.args[end] : ex
        if !(fn isa Expr && fn.head == :function)
            why = "not a function definition"
        else
            sig = fn.args[1]
            called = Symbol[]
            walk(x) = (x isa Expr && (x.head == :call && push!(called, x.args[1]); foreach(walk, x.args)))
            walk(sig)
            body = filter(x -> !(x isa LineNumberNode), fn.args[2].args)
            if !(name in called) || length(called) != 1
                why = "signature calls $(called)"
            elseif !isempty(body)
                why = "the signature leaks into the body: $(body)"
            end
        end
    end
    isempty(why) || println("BAD ", basename(f), ": ", why)
end
'''

_R_CHECK = r'''
for (f in commandArgs(TRUE)) {
  name <- readLines(paste0(f, ".name"))
  why <- tryCatch({
    e <- parse(f, keep.source = FALSE)
    if (length(e) != 1) "more than one expression"
    else if (!(is.call(e[[1]]) && as.character(e[[1]][[1]]) %in% c("<-", "=") &&
               identical(as.character(e[[1]][[2]]), name))) "not a definition of the entry point"
    else ""
  }, error = function(err) conditionMessage(err))
  if (nzchar(why)) cat("BAD", basename(f), ":", why, "\n")
}
'''


def _problems(suite: str):
    if not (MULTIPLE_DIR / f"{suite}.jsonl").exists():
        pytest.fail(f"{MULTIPLE_DIR}/{suite}.jsonl missing (../shared/multipl-e is part of the checkout's surroundings)")
    return multipl_e(suite, MULTIPLE_DIR)


def _unparsable(problems, tmp_path) -> list[str]:
    lang = problems[0].lang
    files = []
    for i, p in enumerate(problems):
        f = tmp_path / f"{i:04d}_{p.task_id}{'.jl' if lang == 'julia' else '.R'}"
        f.write_text(p.prompt + ("\n}\n" if lang == "r" else ""))
        Path(str(f) + ".name").write_text(p.entry_point if lang == "julia" else p.entry_point)
        files.append(str(f))
    binary = get_language(lang).find_interpreter(SandboxConfig())
    if lang == "julia":
        cmd = [binary, "--startup-file=no", "-e", _JULIA_CHECK, *files]
    else:
        cmd = [binary, "-e", _R_CHECK, *files]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return [ln for ln in out.stdout.splitlines() if ln.startswith("BAD")]


@pytest.mark.parametrize("suite", MULTIPLE_SUITES)
def test_every_prompt_parses_as_presented(suite, tmp_path):
    bad = _unparsable(_problems(suite), tmp_path)
    assert not bad, f"{len(bad)} {suite} prompt(s) do not parse:\n" + "\n".join(bad[:20])


def test_the_checker_catches_the_upstream_bugs(tmp_path):
    """Without the repairs the same check fails on exactly the known broken prompts."""
    rows = [json.loads(x) for x in (MULTIPLE_DIR / "humaneval-jl.jsonl").read_text().splitlines() if x.strip()]
    raw = multipl_e("humaneval-jl", MULTIPLE_DIR)
    for p, r in zip(raw, rows):
        p.prompt = r["prompt"]
    bad = _unparsable(raw, tmp_path)
    names = {b.split()[1].split("_", 1)[1].rsplit(":", 1)[0].removesuffix(".jl") for b in bad}
    assert {"HumanEval_11_string_xor", "HumanEval_95_check_dict_case", "HumanEval_111_histogram"} <= names
    assert len(bad) == 27


def test_repairs_are_counted_and_change_nothing_else():
    probs = _problems("humaneval-jl")
    repaired = [p for p in probs if p.repairs]
    assert len(repaired) == 27
    assert sum("docstring-quote" in p.repairs for p in repaired) == 25
    rows = {json.loads(x)["name"]: json.loads(x) for x in (MULTIPLE_DIR / "humaneval-jl.jsonl").read_text().splitlines() if x.strip()}
    for p in probs:
        r = rows[p.task_id]
        if not p.repairs:
            assert p.prompt == r["prompt"] and p.tests == r["tests"]
        else:     # only a newline inserted / a `>` removed
            assert abs(len(p.prompt) - len(r["prompt"])) <= 2
    # the R name repair backquotes the name in the prompt and the tests alike
    prompt, tests, fixes = repair_problem("r", "# sum\n_sum <- function(arr) {", "candidate <- _sum\nx_sum(1)", "_sum")
    assert fixes == ["backtick-name"] and prompt.endswith("`_sum` <- function(arr) {")
    assert "candidate <- `_sum`" in tests and "x_sum(1)" in tests
