"""Sensitivity re-scorings (rarelang.analysis.sensitivity, scripts/sensitivity.py) and the device's originals
(rarelang.analysis.originals): each rule builds the program it says, today's rule rebuilds exactly the committed
re-scored programs, the committed summary re-derives from its files, and no amendment overwrites a device file."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rarelang.analysis.originals import MANIFEST, OverwriteRefused, changed, guard, originals
from rarelang.analysis.sensitivity import rule_program
from rarelang.evaluate.compare import per_problem
from rarelang.evaluate.programs import CONTROL_TOKEN
from rarelang.evaluate.suites import Problem, multipl_e

REPO = Path(__file__).resolve().parents[1]
SENS = REPO / "results" / "headline" / "sensitivity"
SHARED = REPO.parent / "shared" / "multipl-e"
R = Problem("HumanEval_0", "r", "f <- function(x) {\n", "stopifnot(f(1) == 1)", "multipl-e", "f", stop=["\n#", "\n```"])
JL = Problem("HumanEval_0", "julia", "function f(x)\n", "@test f(1) == 1", "multipl-e", "f", stop=["\nfunction", "\n\n"])


def _drop(text):            # what a tokenizer that knows <|fim_prefix|> as a special token does to the text
    return text.replace("<|fim_prefix|>", "")


def test_each_rule_builds_its_program():
    ans = "  x\n}<|fim_prefix|># Given a number\nf(2)\n# end"
    assert rule_program("control-token-cut", R, ans, None, None) == R.prompt + "  x\n}"
    # MultiPL-E: the token is dropped, "}# Given" is no stop for R, the text runs on to "\n#"
    assert rule_program("multipl-e", R, ans, None, _drop) == R.prompt + "  x\n}# Given a number\nf(2)"
    assert rule_program("control-token-fails", R, ans, None, None) is None
    # a control token after the first stop changes nothing: (c) runs rule (a)'s program
    late = "  x\n}\n# done <|fim_prefix|>"
    assert rule_program("control-token-fails", R, late, None, None) == rule_program("control-token-cut", R, late, None, None)
    # the device's program is the stored one where there is one
    assert rule_program("device", R, ans, "stored program", None) == "stored program"
    fenced = "    x\nend\n```\nfunction g()"
    assert rule_program("julia-fence-stop", JL, fenced, None, None) == JL.prompt + "    x\nend"
    assert rule_program("control-token-cut", JL, fenced, None, None) == JL.prompt + "    x\nend\n```"
    with pytest.raises(ValueError, match="tokenizer"):
        rule_program("multipl-e", R, ans, None, None)


@pytest.mark.skipif(not (REPO / "models" / "gguf" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf").exists()
                    and not (REPO / "models" / "base" / "qwen2.5-coder-0.5b-instruct" / "tokenizer_config.json").exists(),
                    reason="no packaged model (make models)")
def test_the_packaged_tokenizer_drops_the_control_tokens_the_students_wrote():
    sys.path.insert(0, str(REPO / "scripts"))
    from sensitivity import default_tokenizer
    from rarelang.analysis.sensitivity import load_tokenizer, special_token_dropper
    drop = special_token_dropper(load_tokenizer(default_tokenizer(REPO)))
    assert drop("}<|fim_prefix|># Given") == "}# Given" and drop("a<|endoftext|>b<|file_sep|>c") == "abc"
    assert drop("c<|output|>d") == "c<|output|>d"            # a look-alike is no token: MultiPL-E keeps it
    assert drop("x <- c(1, 2)  # «ü»\n") == "x <- c(1, 2)  # «ü»\n"


@pytest.mark.slow
def test_todays_rule_rebuilds_the_committed_rescored_programs():
    """Rule (a) from the device's original answer gives, row by row, the program of the committed re-scored frame."""
    problems = {(s, p.task_id): p for s in ("humaneval-r", "humaneval-jl", "mbpp-r", "mbpp-jl") for p in multipl_e(s, SHARED)}
    for dev in sorted((REPO / "results" / "headline").glob("*/eval*/*/completions-device.parquet")):
        cur = pd.read_parquet(dev.with_name("completions.parquet"), columns=["protocol", "suite", "task_id", "program"])
        old = pd.read_parquet(dev, columns=["protocol", "suite", "task_id", "completion"])
        m = (old["protocol"] == "completion").to_numpy()
        rebuilt = [rule_program("control-token-cut", problems[(s, t)], c, None, None)
                   for s, t, c in zip(old["suite"][m], old["task_id"][m], old["completion"][m])]
        assert rebuilt == cur["program"][m].tolist(), dev


def test_the_committed_sensitivity_files_agree_with_each_other_and_with_todays_metrics():
    summary = json.loads((SENS / "summary.json").read_text())
    v = pd.read_parquet(SENS / "verdicts.parquet")
    assert not summary["unjudged"] and (v["judged"] != "unjudged").all()
    assert set(v["rule"].astype(str)) == set(summary["rules"])
    # pass@1 in summary.json re-derives from verdicts.parquet
    for p in summary["pass@1"]:
        g = v[(v["rule"] == p["rule"]) & (v["model"] == p["model"]) & (v["suite"].str.split("-").str[0] == p["suite"])
              & (v["lang"] == p["language"])]
        frame = g.assign(model="m", protocol="completion").astype({"suite": str, "setting": str, "lang": str})
        assert per_problem(frame, 1).mean() == pytest.approx(p["pass@1"]), p
    # rule (a) is today's rule: its pass@1 is the committed metrics.json's
    for d in (REPO / "results" / "headline").glob("*/eval*/*/metrics-device.json"):
        metrics = json.loads(d.with_name("metrics.json").read_text())
        src = str(d.with_name("completions-device.parquet").relative_to(REPO))
        for p in summary["pass@1"]:
            if p["rule"] != "control-token-cut" or not (v.loc[v["source"] == src, "model"] == p["model"]).any():
                continue
            key = next((k for k in metrics if k.split("/")[1].startswith(p["suite"] + "-")
                        and k.endswith(f"+completion/t0.2/{p['language']}")), None)
            if key:
                assert metrics[key]["pass@1"] == pytest.approx(p["pass@1"]), (d, key)
    # a control token fails an answer under (c) exactly where the device's answer held one before its first stop
    c = v[v["rule"] == "control-token-fails"]
    assert ((c["judged"] == "rule") == (c["status"] == "control_token")).all() and not c.loc[c["judged"] == "rule", "passed"].any()


def test_no_amendment_overwrites_a_device_original(tmp_path):
    assert not changed(REPO), changed(REPO)
    listed = json.loads((REPO / MANIFEST).read_text())["files"]
    assert any(p.endswith("completions-device.parquet") for p in listed)
    # every output of the amendments is elsewhere: none of their files is an original
    for amended in ("sensitivity", "decontam", "original-work"):
        for f in (REPO / "results" / "headline" / amended).rglob("*"):
            assert str(f.relative_to(REPO)) not in listed
    with pytest.raises(OverwriteRefused):
        guard(REPO / next(iter(listed)), REPO)
    with pytest.raises(OverwriteRefused):
        guard(tmp_path / "completions-device.parquet", REPO)
    assert guard(SENS / "summary.json", REPO) == (SENS / "summary.json").resolve()
    # an amendment written over an original in a copy of the results is found
    root = tmp_path / "repo"
    (root / "results").mkdir(parents=True)
    shutil.copytree(REPO / "results" / "headline" / "unified-1.5b" / "eval", root / "results" / "headline" / "unified-1.5b" / "eval")
    (root / MANIFEST).write_text(json.dumps({"files": {p: h for p, h in listed.items() if "/unified-1.5b/eval/" in p}}))
    assert not changed(root)
    dev = root / "results" / "headline" / "unified-1.5b" / "eval" / "trained-multipl-e" / "completions-device.parquet"
    dev.write_bytes(dev.with_name("completions.parquet").read_bytes())            # "re-scored in place"
    assert [p for p in changed(root) if "trained-multipl-e/completions-device.parquet: changed" in p]
    assert originals(root / "results" / "headline")


@pytest.mark.slow
def test_a_rule_re_derives_from_the_device_originals(tmp_path):
    """scripts/sensitivity.py, one rule into a fresh folder: the same pass@1 and paired differences as committed."""
    out = tmp_path / "sens"
    r = subprocess.run([sys.executable, "scripts/sensitivity.py", "--rules", "control-token-fails", "-q", "-o", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-2000:]
    new, old = json.loads((out / "summary.json").read_text()), json.loads((SENS / "summary.json").read_text())
    for key in ("pass@1", "paired"):
        mine = [x for x in old[key] if x["rule"] == "control-token-fails"]
        assert new[key] == mine
