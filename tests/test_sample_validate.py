import json

import pandas as pd
import pytest

from rarelang.data.sample import entry_point, normalize_acecode, run_sample, sample_problems
from rarelang.data.validate import funnel, validate
from rarelang.params import load_params, repo_root
from rarelang.translate.run import seed_passthrough


def test_embedded_problems_are_valid_python():
    path = repo_root() / "data" / "embedded" / "problems.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    assert len(rows) >= 40
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert len(r["test_cases"]) >= 3
        env = {}
        exec(r["reference_solution"], env)
        for t in r["test_cases"]:
            exec(t, env)          # every assert holds for the reference solution


def test_entry_point_rule():
    assert entry_point(["assert foo(1) == 2"]) == "foo"
    assert entry_point(["assert not bar([1])"]) == "bar"
    assert entry_point(["x = 1", "assert baz_2(x)"]) == "baz_2"
    assert entry_point(["print(1)"]) == ""


def test_sampling_is_seeded_and_stable():
    raw = pd.DataFrame({"id": [f"q{i}" for i in range(50)], "source": "s", "question": "q",
                        "test_cases": [["assert f(1)", "assert f(2)", "assert f(3)"]] * 50})
    probs = normalize_acecode(raw, "x", min_tests=3)
    a, b = sample_problems(probs, 10, 5), sample_problems(probs.iloc[::-1], 10, 5)
    assert list(a.task_id) == list(b.task_id) and len(a) == 10
    assert list(sample_problems(probs, 10, 6).task_id) != list(a.task_id)


def test_acecode_schema_errors():
    with pytest.raises(ValueError, match="test_cases"):
        normalize_acecode(pd.DataFrame({"id": ["a"], "question": ["q"]}), "local.parquet")
    with pytest.raises(ValueError, match="no problems"):
        normalize_acecode(pd.DataFrame({"id": [], "question": [], "test_cases": []}), "x")


def test_funnel_arithmetic():
    out = pd.DataFrame({"lang": ["r"] * 5 + ["julia"] * 3,
                        "status": ["passed", "passed", "tests_failed", "syntax_error", "runtime_error",
                                   "passed", "timeout", "sandbox_error"]})
    f = funnel({"r": 8, "julia": 4}, out)
    assert f["r"] == {"sampled": 8, "parsed": 5, "syntax_ok": 4, "runs": 3, "passes": 2, "yield": 0.25,
                      "pass_rate_of_parsed": 0.4,
                      "statuses": {"passed": 2, "runtime_error": 1, "syntax_error": 1, "tests_failed": 1}}
    assert f["julia"]["syntax_ok"] == 2 and f["julia"]["runs"] == 1 and f["julia"]["passes"] == 1
    assert f["all"]["sampled"] == 12 and f["all"]["passes"] == 3 and f["all"]["yield"] == 0.25
    for lang in ("r", "julia"):
        steps = [f[lang][k] for k in ("sampled", "parsed", "syntax_ok", "runs", "passes")]
        assert steps == sorted(steps, reverse=True)


@pytest.mark.slow
def test_seed_import_revalidates(pool):
    params = load_params()
    params["data"] = {"source": "prior_work", "languages": ["julia", "r"]}
    params["sample"] = {"n": 15, "seed": 3}
    problems = run_sample(params, repo_root())
    assert set(problems["seed_lang"]) == {"julia", "r"}
    assert (problems.groupby("seed_lang").size() == 15).all()
    trans = seed_passthrough(problems, ["julia", "r"])
    assert len(trans) == 30 and set(trans["prompt_origin"]) == {"seed"}
    assert trans["source"].str.startswith("seed:").all()
    outcomes = validate(trans, pool, progress=False)
    report = funnel({"julia": 15, "r": 15}, outcomes)
    assert report["julia"]["passes"] >= 14 and report["r"]["passes"] >= 14
