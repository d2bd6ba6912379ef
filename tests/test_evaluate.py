import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rarelang.llm import ReplayGenerator
from rarelang.evaluate.passk import bootstrap_ci, mean_pass_at_k, pass_at_k
from rarelang.evaluate.programs import multipl_e_program, stop_at_stop_tokens
from rarelang.evaluate.run import evaluate_model, summarize
from rarelang.evaluate.suites import Problem, multipl_e
from rarelang.params import repo_root

SHARED = repo_root().parent / "shared"


@pytest.mark.parametrize("n,c,k,expected", [
    (1, 1, 1, 1.0), (1, 0, 1, 0.0), (10, 3, 1, 0.3), (10, 0, 5, 0.0), (10, 10, 10, 1.0),
    (5, 2, 2, 1 - math.comb(3, 2) / math.comb(5, 2)),        # 0.7
    (20, 4, 10, 1 - math.comb(16, 10) / math.comb(20, 10)),
    (100, 1, 10, 0.1),
])
def test_pass_at_k_known_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_rejects_bad_input():
    for args in ((0, 0, 1), (5, 6, 1), (5, 1, 0), (5, 1, 6)):
        with pytest.raises(ValueError):
            pass_at_k(*args)


def test_mean_and_bootstrap_ci():
    ns, cs = [10] * 50, [i % 11 for i in range(50)]
    m = mean_pass_at_k(ns, cs, 1)
    assert m == pytest.approx(np.mean([c / 10 for c in cs]))
    lo, hi = bootstrap_ci(ns, cs, 1, iters=3000, seed=1)
    assert lo < m < hi and hi - lo < 0.3
    assert bootstrap_ci(ns, cs, 1, iters=3000, seed=1) == (lo, hi)           # seeded
    assert bootstrap_ci([5] * 4, [5] * 4, 1) == (1.0, 1.0)                    # no spread, no interval


def test_stop_tokens_and_multipl_e_programs():
    assert stop_at_stop_tokens("  x + 1\n}\n# next", ["\n#", "\n```"]) == "  x + 1\n}"
    r = Problem("HumanEval_x_add", "r", "# add\nadd <- function(a, b) {", "stopifnot(add(1, 2) == 3)", "multipl-e",
                entry_point="add", stop=["\n#", "\n```"])
    assert multipl_e_program(r, "\n  a + b\n}\n# trailing", chat=False) == r.prompt + "\n  a + b\n}"
    chat_answer = "Sure:\n```r\nadd <- function(a, b) {\n  a + b\n}\n```"
    assert multipl_e_program(r, chat_answer, chat=True) == r.prompt + "\n  a + b\n}\n"   # body, no redefinition
    assert multipl_e_program(r, "```r\n  a + b\n```", chat=True).endswith("a + b\n}\n")  # body only: closed
    jl = Problem("HumanEval_x_add", "julia", '"""add"""\nfunction add(a::Int64, b::Int64)::Int64 \n',
                 "using Test\n@testset begin\n@test add(1, 2) == 3\nend\n", "multipl-e", entry_point="add",
                 stop=["\nfunction", "\nmacro", "\n\n"])
    got = multipl_e_program(jl, "```julia\nfunction add(a::Int64, b::Int64)::Int64\n    a + b\nend\n```", chat=True)
    assert got == jl.prompt + "\n    a + b\nend\n"
    assert multipl_e_program(jl, "I can't", chat=True) is None


def test_multipl_e_suites_load_with_protocol_fields():
    probs = multipl_e("humaneval-r", SHARED / "multipl-e")
    assert len(probs) == 161 and all(p.stop == ["\n#", "\n```"] for p in probs)
    assert probs[0].prompt.endswith("{") and "stopifnot" in probs[0].tests
    assert len(multipl_e("mbpp-jl", SHARED / "multipl-e")) == 385


def test_multipl_e_reference_protocol_through_the_sandbox(pool):
    """A correct and a wrong completion, assembled MultiPL-E's way, pass and fail."""
    p = next(x for x in multipl_e("humaneval-r", SHARED / "multipl-e") if x.entry_point == "has_close_elements")
    good = ("\n  for (i in seq_along(numbers)) for (j in seq_along(numbers))\n"
            "    if (i != j && abs(numbers[i] - numbers[j]) < threshold) return(TRUE)\n  FALSE\n}")
    gen = _StaticGenerator({p.task_id: [good, "\n  TRUE\n}"]}, chat=False)
    df = evaluate_model("m", gen, [p], "humaneval-r", {"name": "s", "n": 2, "temperature": 0.2}, pool,
                        max_tokens=10, timeout_s=10, seed=0)
    assert df["passed"].tolist() == [True, False]


def test_a_control_token_written_as_text_ends_a_completion(pool):
    """r-1.5b (2026-11-25): the dequantized Qwen2.5-Coder students wrote `<|fim_prefix|>` as text right after
    a HumanEval-R function (`}<|fim_prefix|># Given …`), so the program did not parse: 44% of the 1.5B base's
    completion-protocol answers, 82% of its syntax errors. The answer ends at the control token."""
    assert stop_at_stop_tokens("  a + b\n}<|fim_prefix|># Given a number", ["\n#"]) == "  a + b\n}"
    assert stop_at_stop_tokens("  x |> f()\n}<|output|>\n3", ["\n#"]) == "  x |> f()\n}"     # R's pipe stays
    assert stop_at_stop_tokens("  a <- 1\n}<|endoftext|>", []) == "  a <- 1\n}"
    p = next(x for x in multipl_e("humaneval-r", SHARED / "multipl-e") if x.entry_point == "has_close_elements")
    leaked = ("\n  for (i in seq_along(numbers)) for (j in seq_along(numbers))\n"
              "    if (i != j && abs(numbers[i] - numbers[j]) < threshold) return(TRUE)\n  FALSE\n}"
              "<|fim_prefix|># Check if in given list of numbers")
    gen = _StaticGenerator({p.task_id: [leaked]}, chat=False)
    df = evaluate_model("m", gen, [p], "humaneval-r", {"name": "s", "n": 1, "temperature": 0.2}, pool,
                        max_tokens=10, timeout_s=10, seed=0)
    assert df["status"].tolist() == ["passed"] and "<|" not in df["program"].iloc[0]


class _StaticGenerator:
    name = "static"

    def __init__(self, answers, chat):
        self.answers, self.chat = answers, chat

    def generate(self, prompts, n, temperature, max_tokens, stop=None, seed=0):
        return [self.answers[k] for k in self.answers][: len(prompts)]


def test_summarize_breakdown():
    df = pd.DataFrame({"task_id": ["a", "a", "b", "b"], "passed": [True, False, False, False],
                       "status": ["passed", "tests_failed", "syntax_error", "syntax_error"]})
    s = summarize(df, [1, 2], 500, 0)
    assert s["pass@1"] == pytest.approx(0.25) and s["pass@2"] == pytest.approx(0.5)
    assert s["statuses"]["syntax_error"] == 0.5 and s["problems"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("name,expected", [("r_code_output_smaller_model_baseline", 116),
                                           ("r_code_output_smaller_model", 146)])
def test_replay_reproduces_the_original_counts(pool, name, expected):
    """Independent count of the original work's R outputs: base 116/500, GRPO 146/500 (±2%)."""
    path = SHARED / "seed-data" / "results" / f"{name}.parquet"
    gen = ReplayGenerator(path, chat=False)
    problems = [Problem(t, "r", "", "", "instruct") for t in gen.df["task_id"].unique()]
    df = evaluate_model("replay", gen, problems, "seed-r", {"name": "replay", "n": 1, "temperature": 0.8}, pool,
                        max_tokens=0, timeout_s=10, seed=0, replay_is_code=True, progress=False)
    assert len(df) == 500
    assert abs(int(df["passed"].sum()) - expected) <= 0.02 * 500


def _frame(model, rates, n=10, suite="heldout", lang="r"):
    import pandas as pd
    rows = []
    for t, r in enumerate(rates):
        for i in range(n):
            rows.append({"model": model, "suite": suite, "setting": "t0.2", "lang": lang, "task_id": f"t{t}",
                         "sample": i, "passed": i < round(r * n)})
    return pd.DataFrame(rows)


def test_paired_difference_of_two_models():
    from rarelang.evaluate.compare import paired_difference
    base = _frame("base", [0.0, 0.2, 0.5, 1.0] * 10)
    better = _frame("trained", [0.1, 0.4, 0.6, 1.0] * 10)          # better on 3 of every 4 problems
    d = paired_difference(base, better, iters=500)["heldout/t0.2/r"]
    assert d["problems"] == 40 and d["difference"] == pytest.approx(0.1)
    assert d["better"] == 30 and d["worse"] == 0 and d["same"] == 10
    lo, hi = d["difference_ci95"]
    assert 0 < lo <= 0.1 <= hi and d["bootstrap_tail_le_0"] == 0.0
    assert d["sign_test_p"] == pytest.approx(2 / 2 ** 30)            # 30 better, 0 worse
    from rarelang.evaluate.compare import describe
    assert describe(d).startswith("pass@1 0.425 → 0.525, difference +0.100 [") and "30 better / 0 worse of 40" in describe(d)
    same = paired_difference(base, base.assign(model="x"), iters=200)["heldout/t0.2/r"]
    assert same["difference"] == 0 and same["difference_ci95"] == [0.0, 0.0] and same["sign_test_p"] == 1.0
    # only the problems both models answered are paired
    part = paired_difference(base, better[better.task_id.isin(["t0", "t1"])], iters=100)["heldout/t0.2/r"]
    assert part["problems"] == 2 and part["difference"] == pytest.approx(0.15)


def test_a_cells_bootstrap_ci_does_not_depend_on_the_other_cells():
    """One random stream for all cells made a cell's CI move when another suite joined the comparison
    (r-1.5b's HumanEval-R CI changed when its held-out answers were added, 2026-11-25)."""
    from rarelang.evaluate.compare import paired_difference
    base = _frame("base", [0.0, 0.2, 0.5, 1.0] * 10)
    better = _frame("trained", [0.1, 0.4, 0.6, 0.9] * 10)
    alone = paired_difference(base, better, iters=300)["heldout/t0.2/r"]
    extra_b, extra_t = _frame("base", [0.3] * 7, suite="aaa"), _frame("trained", [0.6] * 7, suite="aaa")
    pooled = paired_difference(pd.concat([extra_b, base]), pd.concat([extra_t, better]), iters=300)
    assert pooled["heldout/t0.2/r"]["difference_ci95"] == alone["difference_ci95"]
    assert pooled["aaa/t0.2/r"]["problems"] == 7


def test_problems_asked_in_another_language_are_left_out_of_the_pair():
    """A held-out Julia problem shown the R prompt (the task-id mix-up before 2026-11-25) does not test the
    model on its problem: it is left out on both sides, and counted."""
    from rarelang.evaluate.compare import paired_difference
    from rarelang.prompts import INSTRUCTION, asked_language

    def ask(lang):
        return INSTRUCTION.format(display={"julia": "Julia", "r": "R"}[lang], fence=lang, prompt="p")
    assert [asked_language(ask("julia")), asked_language(ask("r")), asked_language("def f(x):")] == ["julia", "r", None]
    base = _frame("base", [0.0, 0.0, 0.5, 0.5], lang="julia").assign(prompt=ask("julia"))
    trained = _frame("trained", [0.0, 0.0, 0.5, 1.0], lang="julia").assign(prompt=ask("julia"))
    base.loc[base.task_id.isin(["t0", "t1"]), "prompt"] = ask("r")          # asked in R on one side only
    d = paired_difference(base, trained, iters=100)["heldout/t0.2/julia"]
    assert d["problems"] == 2 and d["left_out_asked_in_another_language"] == 2
    assert d["difference"] == pytest.approx(0.25)
    clean = paired_difference(base.assign(prompt=ask("julia")), trained, iters=100)["heldout/t0.2/julia"]
    assert clean["problems"] == 4 and "left_out_asked_in_another_language" not in clean


def test_paired_report_keys_every_model_against_base():
    from rarelang.evaluate.compare import paired_report
    df = pd.concat([_frame("base", [0.0, 0.5] * 5), _frame("trained", [0.5, 0.5] * 5),
                    _frame("other", [0.0, 0.0] * 5)])
    rep = paired_report(df, iters=100)
    assert set(rep) == {"trained-vs-base/heldout/t0.2/r", "other-vs-base/heldout/t0.2/r"}
    assert rep["trained-vs-base/heldout/t0.2/r"]["difference"] == pytest.approx(0.25)
    assert rep["other-vs-base/heldout/t0.2/r"]["difference"] == pytest.approx(-0.25)
    assert paired_report(df[df.model != "base"]) == {}


class _ModeGenerator:
    """Answers like an instruct model in chat mode, and with a bare continuation in completion mode;
    records which mode each call used and the prompts it saw."""
    name = "mode"

    def __init__(self, completion=None):
        self.chat, self.calls, self.completion = True, [], completion

    def generate(self, prompts, n, temperature, max_tokens, stop=None, seed=0):
        self.calls.append((self.chat, list(prompts), stop))
        if self.chat:
            ans = "```r\nadd <- function(a, b) {\n  a + b\n}\n```"
        else:
            ans = self.completion or "\n  a + b\n}\n# a comment MultiPL-E's stop token cuts off\nstop('never run')"
        return [[ans] * n for _ in prompts]


def test_both_protocols_score_the_same_problem_and_say_which_they_are(pool):
    from rarelang.evaluate.run import metric_key, protocols_for
    p = Problem("HumanEval_x_add", "r", "# add\nadd <- function(a, b) {", "stopifnot(add(1, 2) == 3)", "multipl-e",
                entry_point="add", stop=["\n#", "\n```"])
    gen = _ModeGenerator()
    frames = {proto: evaluate_model("m", gen, [p], "humaneval-r", {"name": "s", "n": 2, "temperature": 0.2}, pool,
                                    max_tokens=10, timeout_s=10, seed=0, protocol=proto)
              for proto in ("chat", "completion")}
    assert [c[0] for c in gen.calls] == [True, False] and gen.chat is True       # the mode is restored
    assert gen.calls[1][1] == [p.prompt]                                          # the raw prompt, stop tokens
    assert gen.calls[1][2] == [p.stop]
    assert "Complete the following R function" in gen.calls[0][1][0]
    for proto, df in frames.items():
        assert df["protocol"].unique().tolist() == [proto] and df["passed"].all(), df[["status", "message"]]
        assert df["entry_point"].unique().tolist() == ["add"] and df["prompt"].str.len().min() > 0
    assert frames["completion"]["program"].iloc[0] == p.prompt + "\n  a + b\n}"
    # which protocols a model gets, and how their numbers are named
    assert protocols_for("humaneval-r", {}, ["chat", "completion"]) == ["chat", "completion"]
    assert protocols_for("humaneval-r", {"chat": False}, ["chat", "completion"]) == ["completion"]   # a base model
    assert protocols_for("heldout", {}, ["chat", "completion"]) == ["chat"]
    with pytest.raises(ValueError, match="unknown"):
        protocols_for("humaneval-r", {}, ["fewshot"])
    assert metric_key("base", "humaneval-r", "completion", "t0.2", "r") == "base/humaneval-r+completion/t0.2/r"
    assert metric_key("base", "humaneval-r", "chat", "t0.2", "r") == "base/humaneval-r/t0.2/r"


def test_sign_test_exact_values_and_protocols_are_never_pooled():
    from rarelang.evaluate.compare import paired_difference, sign_test
    assert sign_test(0, 0) == 1.0 and sign_test(3, 3) == 1.0
    assert sign_test(5, 0) == pytest.approx(2 / 32)
    assert sign_test(34, 12) == pytest.approx(2 * sum(math.comb(46, i) for i in range(13)) / 2 ** 46)
    assert sign_test(12, 34) == sign_test(34, 12)
    chat = _frame("base", [0.0, 0.5] * 5).assign(protocol="chat", suite="humaneval-r")
    comp = _frame("base", [1.0, 1.0] * 5).assign(protocol="completion", suite="humaneval-r")
    other = pd.concat([chat.assign(model="t"), comp.assign(model="t")])
    d = paired_difference(pd.concat([chat, comp]), other, iters=50)
    assert set(d) == {"humaneval-r/t0.2/r", "humaneval-r+completion/t0.2/r"}
    assert d["humaneval-r+completion/t0.2/r"]["base_pass@1"] == 1.0 and d["humaneval-r/t0.2/r"]["base_pass@1"] == 0.25


def test_attribution_classifies_programs_with_the_real_parsers():
    from rarelang.evaluate.attribution import attribution_table, classify_programs, truncated
    jl = classify_programs(["function f(x)\n  x + 1\nend\n",
                            "using Dates\nconst K = 3\nstruct P\n  a::Int\nend\ng(x) = 2x\n",
                            "function f(x)\n  x\nend\n# Example usage\nprintln(f(1))\n",
                            "function f(x\n"], "julia")
    assert jl.to_dict("list") == {"toplevel_other": [False, False, True, False], "imports": [False, True, False, False],
                                  "parsed": [True, True, True, False]}
    r = classify_programs(["f <- function(x) x + 1\n", "library(stringr)\nK <- 3\nf <- function(x) x\n",
                           "f <- function(x) x\nprint(f(2))\n", "f <- function(x {"], "r")
    assert r.to_dict("list") == {"toplevel_other": [False, False, True, False], "imports": [False, True, False, False],
                                 "parsed": [True, True, True, False]}
    assert truncated("```r\nf <- function(x) {", "chat") and not truncated("```r\nx\n```", "chat")
    # an unclosed fence after complete code is not an answer cut at the token limit
    assert not truncated("```r\nf <- function(x) x\n", "chat", parsed=True)
    assert truncated("x", "completion") is None
    df = pd.DataFrame({"model": ["base"] * 2 + ["trained"] * 2, "suite": "heldout", "lang": "r", "task_id": ["a", "b"] * 2,
                       "passed": [False, True, True, True], "protocol": "chat",
                       "prompt": ["Write `f`.", "Combine strings.", "Write `f`.", "Combine strings."],
                       "entry_point": ["f", "g", "f", "g"],
                       "completion": ["```r\nf <- function(x) x\nprint(f(1))\n```", "```r\ng <- function(x) x\n```",
                                      "```r\nf <- function(x) x\n", "```r\ng <- function(x) {\n  x +"],
                       "program": ["f <- function(x) x\nprint(f(1))\n", "g <- function(x) x\n",
                                   "f <- function(x) x\n", "g <- function(x) {\n  x +"]})
    rows = {r["model"]: r for r in attribution_table(df)}
    assert rows["base"]["share_toplevel_other"] == 0.5 and rows["base"]["pass@1"] == 0.5
    assert rows["base"]["pass@1_naming_entry"] == 0.0 and rows["base"]["pass@1_hidden_entry"] == 1.0
    assert rows["trained"]["pass@1"] == 1.0 and rows["base"]["share_truncated"] == 0.0
    assert rows["trained"]["share_truncated"] == 0.5     # the unclosed fence around code that does not parse


def test_attribution_counts_an_answer_up_to_a_control_token_written_as_text():
    # the 1.5B students ran on after `<|fim_prefix|>` (the program is cut there: programs.stop_at_stop_tokens);
    # the text after it never ran and must not lengthen the answer
    from rarelang.evaluate.attribution import attribution_table, used_chars
    from rarelang.evaluate.programs import stop_at_stop_tokens
    leaked = "  x + 1\n}<|fim_prefix|># Given a positive integer n, ...\nf <- function(n) {\n"
    assert used_chars(leaked) == len("  x + 1\n}") == len(stop_at_stop_tokens(leaked, ["\n#"]))
    assert used_chars("  x + 1\n}\n") == len("  x + 1\n}\n")
    df = pd.DataFrame({"model": ["base", "trained"], "suite": "humaneval", "lang": "r", "task_id": "HumanEval_1",
                       "passed": [True, True], "protocol": "completion", "prompt": "f <- function(x) {\n",
                       "entry_point": "f", "completion": ["  x + 1\n}\n", leaked],
                       "program": ["f <- function(x) {\n  x + 1\n}\n"] * 2})
    rows = {r["model"]: r for r in attribution_table(df)}
    assert rows["trained"]["mean_completion_chars"] == len("  x + 1\n}") == rows["base"]["mean_completion_chars"] - 1


def test_heldout_sample_is_fixed_per_language():
    from rarelang.evaluate.run import sample_per_language
    from rarelang.evaluate.suites import Problem
    probs = [Problem(f"{lang}{i}", lang, "p", "t", "instruct") for lang in ("julia", "r") for i in range(30)]
    probs += [Problem("r_only", "r", "p", "t", "instruct")]
    a = sample_per_language(probs, 10, seed=3)
    assert [sum(p.lang == lang for p in a) for lang in ("julia", "r")] == [10, 10]
    assert [p.task_id for p in a] == [p.task_id for p in sample_per_language(probs, 10, seed=3)]
    assert [p.task_id for p in a] != [p.task_id for p in sample_per_language(probs, 10, seed=4)]
    assert len(sample_per_language(probs, 100, seed=3)) == len(probs)      # fewer than n: all of them


def test_attribution_rebuilds_the_programs_of_slimmed_completions_as_the_evaluation_built_them(monkeypatch):
    import importlib.util
    monkeypatch.syspath_prepend(str(repo_root() / "scripts"))
    spec = importlib.util.spec_from_file_location("attribution_script", repo_root() / "scripts" / "attribution.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    he = next(x for x in multipl_e("humaneval-r", SHARED / "multipl-e") if x.entry_point == "has_close_elements")
    chat = "```r\nhas_close_elements <- function(numbers, threshold) {\n  FALSE\n}\n```"
    body = "\n  FALSE\n}\n\n# example\nprint(1)"
    df = pd.DataFrame({"suite": ["heldout", "humaneval-r", "humaneval-r", "heldout"],
                       "lang": "r", "task_id": ["t1", he.task_id, he.task_id, "t2"],
                       "protocol": ["chat", "chat", "completion", "chat"],
                       "completion": ["```r\nf <- function(x) x\n```", chat, body, "no code here"],
                       "program": [None, None, None, "kept as stored"]})
    missing = df["program"].isna()
    got = script.rebuild_programs(df, missing, SHARED / "multipl-e")
    assert got[0].strip() == "f <- function(x) x"
    assert got[1] == multipl_e_program(he, chat, True) and got[1].startswith(he.prompt)
    assert got[2] == multipl_e_program(he, body, False) and "print(1)" not in got[2]   # cut at MultiPL-E's stops
    assert got[3] == "kept as stored"                                                     # rows with a program stay
    nocode = script.rebuild_programs(df.assign(completion="just prose"), missing, SHARED / "multipl-e")
    assert nocode[0] == ""                                                                # the evaluation's value


def test_attribution_leaves_a_mis_asked_problem_out_for_every_model(tmp_path):
    """A problem one model was asked in another language is left out for all (as compare.py leaves it out of
    both sides of a pair): r-1.5b's Julia-only evaluation asked the 75 problems the base was asked in R, and its
    table had read the trained model over 400 problems against the base's 325."""
    import json
    import subprocess
    import sys
    from rarelang.prompts import INSTRUCTION
    ask = {lang: INSTRUCTION.format(display=d, fence=lang, prompt="Write `f`.") for lang, d in (("julia", "Julia"), ("r", "R"))}
    rows = []
    for model, asked_a in (("base", "julia"), ("trained", "r")):       # the base was asked problem a in Julia
        for task, passed in (("a", model == "trained"), ("b", True)):
            rows.append({"model": model, "suite": "heldout", "protocol": "chat", "setting": "t0.2", "lang": "r",
                         "task_id": task, "sample": 0, "passed": passed, "entry_point": "f",
                         "prompt": ask[asked_a if task == "a" else "r"],
                         "completion": "```r\nf <- function(x) x\n```", "program": "f <- function(x) x\n"})
    pd.DataFrame(rows).to_parquet(tmp_path / "c.parquet")
    r = subprocess.run([sys.executable, "scripts/attribution.py", "-q", str(tmp_path / "c.parquet"), "-o",
                        str(tmp_path / "a.json")], cwd=repo_root(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads((tmp_path / "a.json").read_text())
    got = {x["model"]: (x["problems"], x["pass@1"]) for x in out["rows"]}
    assert got == {"base": (1, 1.0), "trained": (1, 1.0)} and out["left_out_asked_in_another_language"] == 2


def test_a_cut_off_evaluation_keeps_what_it_finished(tmp_path, monkeypatch):
    """The evaluation dies in its second suite: the first suite's completions survive in
    completions.partial.parquet, and --from-partial turns them into the metrics a full run writes."""
    import rarelang.evaluate.run as run

    class _Pool:
        @classmethod
        def from_params(cls, params):
            return cls()

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    class _Gen:
        name = "static"

        def close(self):
            pass

    calls = []

    def fake_evaluate_model(name, gen, probs, suite, setting, pool, **kw):
        calls.append(suite)
        if len(calls) > 1:
            raise RuntimeError("machine taken back")
        rows = [{"model": name, "suite": suite, "protocol": kw["protocol"], "setting": setting["name"],
                 "lang": p.lang, "task_id": p.task_id, "passed": i % 2 == 0,
                 "status": "passed" if i % 2 == 0 else "tests_failed"} for i, p in enumerate(probs) for _ in range(2)]
        df = pd.DataFrame(rows)
        df.attrs["timing"] = {"model": name, "suite": suite, "completions": len(df)}
        return df

    monkeypatch.setattr(run, "SandboxPool", _Pool)
    monkeypatch.setattr(run, "make_generator", lambda *a, **k: _Gen())
    monkeypatch.setattr(run, "evaluate_model", fake_evaluate_model)
    params = {"evaluate": {"languages": ["r"], "suites": ["humaneval-r", "mbpp-r"], "protocols": ["completion"],
                           "multipl_e_dir": str(SHARED / "multipl-e"), "limit": 6, "bootstrap": 50,
                           "samples": [{"name": "t0.2", "n": 2, "temperature": 0.2, "k": [1]}],
                           "models": {"m": {"engine": "transformers", "model": "x"}}}}
    with pytest.raises(RuntimeError, match="taken back"):
        run.run_evaluation(params, repo_root(), out_dir=tmp_path, progress=False)
    assert calls == ["humaneval-r", "mbpp-r"] and not (tmp_path / "completions.parquet").exists()
    part = pd.read_parquet(tmp_path / "completions.partial.parquet")
    assert set(part["suite"]) == {"humaneval-r"} and len(part) == 12

    metrics = run.metrics_from_partial(params, repo_root(), tmp_path)
    assert list(metrics) == ["m/humaneval-r+completion/t0.2/r"]
    assert metrics["m/humaneval-r+completion/t0.2/r"]["pass@1"] == pytest.approx(0.5)
    assert metrics["m/humaneval-r+completion/t0.2/r"]["problems"] == 6
    assert len(pd.read_parquet(tmp_path / "completions.parquet")) == 12
    assert not (tmp_path / "completions.partial.parquet").exists()
    with pytest.raises(FileNotFoundError, match="no partial results"):
        run.metrics_from_partial(params, repo_root(), tmp_path)


def test_each_problem_is_asked_its_own_prompt_when_two_languages_share_a_task_id(pool):
    """The held-out split translates one problem into each language, so a two-language suite holds the
    same task id twice. Prompts were looked up by task id: the Julia problem was shown the R problem's
    prompt (75 of 400 held-out Julia problems in every two-language evaluation until 2026-11-25). A
    generator that answers in the language its prompt asks for must pass in both languages."""
    from rarelang.llm.generators import Generator

    answers = {"julia": "```julia\nf(x) = x + 1\n```", "r": "```r\nf <- function(x) x + 1\n```"}

    class FollowsThePrompt(Generator):
        name = "follows"

        def generate(self, prompts, n, temperature, max_tokens, stop=None, seed=0, top_p=None):
            return [[answers["julia" if "in Julia" in p else "r"]] * n for p in prompts]

    problems = [Problem("task_1", "julia", "Solve this in Julia.", "using Test\n@test f(1) == 2\n", "instruct"),
                Problem("task_1", "r", "Solve this in R.", 'library(testthat)\ntest_that("a", expect_equal(f(1), 2))\n',
                        "instruct")]
    df = evaluate_model("m", FollowsThePrompt(), problems, "heldout", {"name": "t", "n": 2, "temperature": 0.2}, pool,
                        max_tokens=64, timeout_s=20, seed=0, progress=False)
    assert list(df["prompt"]) == ["Solve this in Julia."] * 2 + ["Solve this in R."] * 2
    assert df["passed"].all(), df[["lang", "status", "message"]]


def test_replay_finds_answers_by_language_and_task_id(tmp_path):
    """A replay file with a ``lang`` column answers each problem with its own language's rows."""
    pd.DataFrame({"task_id": ["t", "t"], "lang": ["julia", "r"], "completion": ["jl answer", "r answer"],
                  "tests": ["jl tests", "r tests"]}).to_parquet(tmp_path / "replay.parquet")
    gen = ReplayGenerator(tmp_path / "replay.parquet")
    probs = [Problem("t", "r", "", "problem tests", "instruct"), Problem("t", "julia", "", "", "instruct"),
             Problem("u", "r", "", "own", "instruct")]
    assert gen.completions_for(probs) == [["r answer"], ["jl answer"], []]
    assert [gen.tests_for(p) for p in probs] == ["r tests", "jl tests", "own"]


def test_attribution_counts_completion_programs_a_code_fence_reached():
    # julia-0.5b (2026-12-04): 97% of its Julia continuations closed a fence after `end`; Julia's stop sequences do
    # not cut it, so the program does not parse — the attribution table says so per model, suite and protocol
    from rarelang.evaluate.attribution import attribution_table, format_table
    prompt = "function f(x::Int)::Int\n"
    df = pd.DataFrame({"model": ["base"] * 2 + ["trained"] * 2, "suite": "humaneval-jl", "lang": "julia",
                       "task_id": ["a", "b"] * 2, "passed": [True, False, False, False], "protocol": "completion",
                       "prompt": prompt, "entry_point": "f",
                       "completion": ["    x + 1\nend\n", "    x\nend\n```", "    x + 1\nend\n```", "    x\nend\n```\n"]})
    df["program"] = prompt + df["completion"]
    rows = {r["model"]: r for r in attribution_table(df)}
    assert rows["base"]["share_fenced"] == 0.5 and rows["trained"]["share_fenced"] == 1.0
    assert rows["trained"]["share_unparsable"] == 1.0 and rows["base"]["share_unparsable"] == 0.5
    chat = attribution_table(df.assign(protocol="chat"))
    assert all(r["share_fenced"] is None for r in chat)      # chat answers' code is taken out of its fences
    table = format_table(list(rows.values()))
    assert "fence in program" in table.splitlines()[0] and "| 100.0% |" in table.splitlines()[-1]


def test_a_hash_sample_keeps_its_problems_whatever_else_the_split_holds():
    """evaluate.heldout_sample: hash — a problem is in or out by its own id. One row more elsewhere moves a
    positional sample (what made the v2 held-out sample differ between machines); it leaves a hash sample alone."""
    from rarelang.evaluate.run import sample_per_language
    from rarelang.evaluate.suites import Problem
    probs = [Problem(f"task_{i}", "julia", "p", "t", "instruct") for i in range(300)]
    more = probs[:150] + [Problem("task_extra", "julia", "p", "t", "instruct")] + probs[150:]
    ids = lambda ps: {p.task_id for p in ps}                                             # noqa: E731
    h, h2 = sample_per_language(probs, 40, 0, "hash"), sample_per_language(more, 40, 0, "hash")
    assert len(h) == 40 and ids(h2) - {"task_extra"} <= ids(h) and len(ids(h) - ids(h2)) <= 1
    pos, pos2 = sample_per_language(probs, 40, 0), sample_per_language(more, 40, 0)
    assert len(ids(pos) ^ ids(pos2)) > 10                       # the positional one moves
    assert [p.task_id for p in h] == [p.task_id for p in probs if p.task_id in ids(h)]      # in the suite's order
    with pytest.raises(ValueError, match="heldout_sample"):
        sample_per_language(probs, 4, 0, "random")


def test_extra_stops_cut_only_completion_protocol_answers(pool):
    """evaluate.completion_extra_stops (headline v3: a closing code fence): the completion protocol stops at it —
    generation and the program — and a chat answer, whose code sits between fences, never does."""
    from rarelang.evaluate.run import with_extra_stops
    p = Problem("HumanEval_x_add", "julia", "function add(a, b)\n", "using Test\n@test add(1, 2) == 3", "multipl-e",
                entry_point="add", stop=["\nfunction"])
    h = Problem("t1", "julia", "p", "t", "instruct")
    assert with_extra_stops([p, h], "chat", ["\n```"]) == [p, h]
    cut = with_extra_stops([p, h], "completion", ["\n```"])
    assert cut[0].stop == ["\nfunction", "\n```"] and cut[1] is h and p.stop == ["\nfunction"]
    gen = _ModeGenerator(completion="    a + b\nend\n```\n")
    df = evaluate_model("m", gen, cut[:1], "humaneval-jl", {"name": "s", "n": 1, "temperature": 0.2}, pool,
                        max_tokens=10, timeout_s=10, seed=0, protocol="completion")
    assert gen.calls[0][2] == [["\nfunction", "\n```"]]                          # generation stops there
    assert df["program"].iloc[0] == p.prompt + "    a + b\nend" and df["passed"].all(), df[["status", "message"]]
    plain = evaluate_model("m", gen, [p], "humaneval-jl", {"name": "s", "n": 1, "temperature": 0.2}, pool,
                           max_tokens=10, timeout_s=10, seed=0, protocol="completion")
    assert not plain["passed"].any()                                     # MultiPL-E's stops alone: the fence stays
