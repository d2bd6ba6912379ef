import json
import time

import pandas as pd

from rarelang.figures import funnel_table, make_all, passk_table

VALIDATION = {"julia": {"sampled": 10, "parsed": 9, "syntax_ok": 7, "runs": 6, "passes": 4, "yield": 0.4,
                        "pass_rate_of_parsed": 0.44, "statuses": {"passed": 4}},
              "r": {"sampled": 10, "parsed": 8, "syntax_ok": 6, "runs": 5, "passes": 3, "yield": 0.3,
                    "pass_rate_of_parsed": 0.375, "statuses": {"passed": 3}}}
STATUSES = {"passed": 0.5, "tests_failed": 0.25, "syntax_error": 0.25, "runtime_error": 0.0, "timeout": 0.0,
            "memory_exceeded": 0.0, "output_exceeded": 0.0, "sandbox_error": 0.0}
METRICS = {f"{m}/humaneval-r/t0.2/r": {"problems": 20, "completions": 200, "samples_per_problem": 10,
                                       "pass@1": v, "pass@1_ci95": [v - 0.05, v + 0.06], "statuses": STATUSES}
           for m, v in (("base", 0.213), ("trained", 0.287))}


def fixture(tmp_path):
    res = tmp_path / "results"
    (res / "train" / "grpo").mkdir(parents=True)
    (res / "eval").mkdir()
    (res / "validation.json").write_text(json.dumps({**VALIDATION, "all": {"sampled": 20, "parsed": 17, "syntax_ok": 13, "runs": 11, "passes": 7, "yield": 0.35}}))
    pd.DataFrame({"step": [1, 2, 3], "reward": [-0.5, -0.2, 0.1], "reward_std": [0.3, 0.4, 0.5],
                  "frac_reward_zero_std": [0.6, 0.5, 0.4], "status/passed": [0.1, 0.2, 0.3],
                  "status/syntax_error": [0.9, 0.8, 0.7]}).to_csv(res / "train" / "grpo" / "log_history.csv", index=False)
    (res / "train" / "grpo" / "summary.json").write_text(json.dumps({"global_step": 3, "mean_reward": -0.2}))
    (res / "eval" / "metrics.json").write_text(json.dumps(METRICS))
    return res


def test_all_figures_and_tables_from_a_fixture(tmp_path):
    res = fixture(tmp_path)
    made = make_all(res, tmp_path / "fig", tmp_path / "tab")
    assert not made["skipped"]
    for name in ("validation_funnel", "train_reward", "train_statuses", "passk_t0_2_passat1", "eval_error_breakdown"):
        for ext in ("pdf", "png"):
            p = tmp_path / "fig" / f"{name}.{ext}"
            assert p.exists() and p.stat().st_size > 1000, p
    assert sorted(made["tables"]) == ["passk", "train_summary", "validation_funnel"]
    assert "0.287 [0.237, 0.347]" in (tmp_path / "tab" / "passk.tex").read_text()
    # drawn again from the same results: the same bytes (no creation date in the PDF), so a re-run changes no file
    first = {p.name: p.read_bytes() for p in (tmp_path / "fig").iterdir()}
    time.sleep(1.1)                                 # a creation date (to the second) would differ now
    make_all(res, tmp_path / "fig", tmp_path / "tab")
    assert {p.name: p.read_bytes() for p in (tmp_path / "fig").iterdir()} == first


def test_missing_inputs_are_skipped(tmp_path):
    (tmp_path / "results").mkdir()
    made = make_all(tmp_path / "results", tmp_path / "fig", tmp_path / "tab")
    assert len(made["skipped"]) == 3 and not made["figures"]


def test_latex_tables_hold_the_numbers():
    t = funnel_table({**VALIDATION, "all": {"sampled": 20, "parsed": 17, "syntax_ok": 13, "runs": 11, "passes": 7,
                                            "yield": 0.35}})
    assert r"julia & 10 & 9 & 7 & 6 & 4 & 40.0\% \\" in t and r"all & 20 & 17 & 13 & 11 & 7 & 35.0\% \\" in t
    assert t.count(r"\\") == 4 and r"\toprule" in t
    p = passk_table(METRICS)
    assert r"humaneval-r & r & t0.2 & base & 10 & 20 & pass@1 = 0.213 [0.163, 0.273] \\" in p


def test_headline_runs_side_by_side(tmp_path):
    from rarelang.figures import make_headline
    head = tmp_path / "headline"
    head.mkdir()
    for lang, run, steps in (("r", "grpo-r", 39), ("julia", "grpo-julia", 16)):
        res = fixture(tmp_path / lang)
        (res / "validation.json").unlink()
        (res / "train" / "grpo").rename(res / "train" / run)
        (res / "train" / run / "summary.json").write_text(json.dumps(
            {"global_step": steps, "mean_step_time": 26.3, "reward_first_quarter": -0.4}))
        metrics = {k.replace("/r", f"/{lang}").replace("-r/", f"-{lang}/"): v for k, v in METRICS.items()}
        (res / "eval" / "metrics.json").write_text(json.dumps(metrics))
        (res / "eval" / "paired.json").write_text(json.dumps({f"trained-vs-base/heldout/t0.2/{lang}": {
            "problems": 20, "k": 1, "base_pass@1": 0.213, "other_pass@1": 0.287, "difference": 0.074,
            "difference_ci95": [0.01, 0.15], "better": 7, "worse": 2, "same": 11}}))
        res.rename(head / lang)
    made = make_headline(head, tmp_path / "fig", tmp_path / "tab")
    assert not made["skipped"]
    for f in ("r/train_reward.png", "julia/train_reward.png", "passk_t0_2_passat1.png"):
        assert (tmp_path / "fig" / f).stat().st_size > 1000, f
    paired = (tmp_path / "tab" / "paired.tex").read_text()
    assert r"heldout & julia & trained-vs-base & 20 & 0.213 & 0.287 & 7/2 & +0.074 [+0.010, +0.150] & -- \\" in paired
    assert paired.count("trained-vs-base") == 2
    runs = (tmp_path / "tab" / "train_runs.tex").read_text()
    assert r"Quantity & grpo-julia & grpo-r \\" in runs and r"GRPO steps & 16 & 39 \\" in runs
    assert r"s / step & 26.3 & 26.3 \\" in runs
    passk = (tmp_path / "tab" / "passk.tex").read_text()
    assert "humaneval-julia & julia" in passk and "humaneval-r & r" in passk


def test_the_paper_types_no_number_by_hand_and_every_macro_it_uses_is_generated(tmp_path):
    """Every \\Hl... macro main.tex uses is produced from results/headline, and the text holds no
    decimal number of its own (figure widths aside)."""
    import re
    from pathlib import Path
    from rarelang.figures import make_headline
    repo = Path(__file__).resolve().parents[1]
    tex = (repo / "paper" / "main.tex").read_text()
    body = re.sub(r"\\figureorplaceholder\{[^}]*\}\{[0-9.]+\}", "", tex)
    body = "\n".join(ln.split("%", 1)[0] for ln in body.splitlines())
    # results look like 0.240, +0.062, [-0.008, ...] or 90\%; settings such as a reward of -0.5 or a
    # model's name (Qwen2.5) are not results
    typed = re.findall(r"(?<![\w{.])(?:[-+]\d*\.\d+|\d+\.\d{2,}|\d+\\%)", body)
    assert not typed, typed
    from rarelang.figures import make_headline_v2
    make_headline(repo / "results" / "headline", tmp_path / "f", tmp_path / "t")
    make_headline_v2(repo / "results" / "headline", tmp_path / "f2", tmp_path / "t2")
    defined = set()
    for numbers in (tmp_path / "t" / "numbers.tex", tmp_path / "t2" / "numbers.tex", tmp_path / "t2" / "claims.tex"):
        defined |= set(re.findall(r"\\newcommand\{\\(\w+)\}", numbers.read_text()))
    # \Hl/\Hv: the runs' tables; \Hc: the declared analysis (claims.json); \Hs, \Hd, \Ho: the sensitivity
    # re-scorings, the decontamination and the original work beside ours
    used = set(re.findall(r"\\(H[lvcsdo][A-Z]\w*)", body)) - {"Hlmissing"}
    assert all({u for u in used if u.startswith(p)} for p in ("Hv", "Hc", "Hs", "Hd", "Ho"))
    assert used <= defined, sorted(used - defined)


def _v2_run(root, name, langs, steps, pairs, validation=None, paired=True, best=None, lr=5e-5,
            model="/root/stage/models/hf/qwen2.5-coder-0.5b-instruct-q4_k_m", checkpoint=None):
    d = root / name
    (d / "train").mkdir(parents=True)
    (d / "train" / "summary.json").write_text(json.dumps({"global_step": steps, "mean_step_time": 3.0,
                                                          "mean_frac_reward_zero_std": 0.25, "best_checkpoint": best}))
    (d / "train" / "config.json").write_text(json.dumps({"train": {"languages": langs, "model": model, "grpo": {
        "per_device_train_batch_size": 32, "gradient_accumulation_steps": 2, "num_generations": 8,
        "learning_rate": lr}}}))
    if validation is not None:
        pd.DataFrame(validation, columns=["step", "eval_pass_rate"]).to_csv(d / "train" / "validation.csv", index=False)
    if paired:
        (d / "eval").mkdir()
        (d / "paired.json").write_text(json.dumps({"command": "x", "pairs": {
            k: {"problems": 400, "k": 1, "base_pass@1": b, "other_pass@1": t, "difference": t - b,
                "difference_ci95": [t - b - 0.03, t - b + 0.03], "better": 9, "worse": 4, "sign_test_p": 0.01}
            for k, (b, t) in pairs.items()}}))
        if checkpoint:
            (d / "eval" / "CHECKPOINT").write_text(checkpoint + "\n")


def test_headline_v2_tables_from_the_runs_results(tmp_path):
    from rarelang.figures import make_headline_v2
    h = tmp_path / "headline"
    _v2_run(h, "r-0.5b", ["r"], 253, {"trained-vs-base/heldout/t0.2/r": (0.180, 0.265),
                                      "trained-vs-base/humaneval-r+completion/t0.2/r": (0.120, 0.100),
                                      "trained-vs-base/humaneval-r/t0.2/r": (0.105, 0.155)},
            validation=[(0, 0.117), (250, 0.278)])
    _v2_run(h, "unfinished", ["julia"], 10, {}, paired=False)     # no paired.json yet: left out
    _v2_run(h, "u-1.5b", ["julia", "r"], 300, {"trained-vs-base/heldout/t0.2/r": (0.337, 0.447)},
            model="/root/stage/models/hf/qwen2.5-coder-1.5b-instruct-q4_k_m",
            checkpoint="checkpoint-194")           # trained on to 300 after checkpoint 194 was evaluated
    (h / "u-1.5b-step300").mkdir()                    # and its last checkpoint tested on held-out
    (h / "u-1.5b-step300" / "paired.json").write_text(json.dumps({"pairs": {"trained-vs-base/heldout/t0.2/r": {
        "problems": 400, "k": 1, "base_pass@1": 0.337, "other_pass@1": 0.436, "difference": 0.099,
        "difference_ci95": [0.061, 0.139], "better": 104, "worse": 57, "sign_test_p": 2.6e-4}}}))
    _v2_run(h, "r-lr", ["r"], 340, {"trained-vs-base/heldout/t0.2/r": (0.180, 0.255)}, lr=1e-4,
            best="/root/stage/models/r-lr/checkpoints/checkpoint-250")     # validation chose step 250
    _v2_run(h, "r-g16", ["r"], 188, {}, paired=False, validation=[(50, 0.196), (100, 0.281), (150, 0.264)],
            best="/root/stage/models/r-g16/checkpoints/checkpoint-150")   # judged on validation alone
    _v2_run(h, "j", ["julia"], 250, {"trained-vs-base/heldout/t0.2/julia": (0.231, 0.331)},
            validation=[(0, 0.195), (200, 0.414), (250, 0.424)], checkpoint="checkpoint-200",
            best="/root/stage/models/j/checkpoints/checkpoint-250")   # tested: 200, not validation's 250
    (h / "j" / "attribution.json").write_text(json.dumps({"rows": [   # scripts/attribution.py's rows
        {"model": m, "suite": "humaneval-jl", "protocol": p, "lang": "julia", "share_fenced": f}
        for m, p, f in [("base", "completion", 0.367), ("trained", "completion", 0.97), ("trained", "chat", None)]]}))
    made = make_headline_v2(h, tmp_path / "fig", tmp_path / "tab")
    md = (tmp_path / "tab" / "summary.md").read_text()
    # validation's best point is shown where it is not the last (the checkpoint it chose is tested)
    assert "| r-g16 | 0.5B | r | 5e-05 | 188 | – | 1504 | 3.00 | 0.25 | 0.196 → 0.264 (step 150); best 0.281 (step 100) |" in md
    assert not [ln for ln in md.splitlines() if ln.startswith("| r-g16 | heldout")]
    assert "| r-0.5b | 0.5B | r | 5e-05 | 253 | 253 | 2024 | 3.00 | 0.25 | 0.117 → 0.278 (step 250) |" in md   # 253 × 32·2/8
    assert "| r-lr | 0.5B | r | 1e-04 | 340 | 250 | 2720 |" in md
    assert "| u-1.5b | 1.5B | julia+r | 5e-05 | 300 | 194 |" in md      # the student's size from its path
    assert "unfinished" not in md
    assert "| u-1.5b-step300 | heldout | chat | r | 400 | 0.337 | 0.436 | **+0.099** [+0.061, +0.139] | 104/57 |" in md
    assert not [ln for ln in md.splitlines() if ln.startswith("| u-1.5b-step300 | 1.5B")]    # not a run of its own
    rows = [ln for ln in md.splitlines() if ln.startswith("| r-0.5b | ")][1:]
    assert [r.split(" | ")[1:3] for r in rows] == [["heldout", "chat"], ["humaneval", "chat"], ["humaneval", "completion"]]
    assert "**+0.085** [+0.055, +0.115]" in rows[0] and "**-0.020**" in rows[2]
    tex = (tmp_path / "tab" / "paired.tex").read_text()
    assert "r-0.5b & humaneval & completion & r & 400 & 0.120 & 0.100 & -0.020 [-0.050, +0.010]" in tex
    nums = (tmp_path / "tab" / "numbers.tex").read_text()
    assert r"\newcommand{\HvRZeroFivebRHeldoutChatDiff}{+0.085}" in nums
    assert r"\newcommand{\HvUOneFivebStepThreeZeroZeroRHeldoutChatCI}{[+0.061, +0.139]}" in nums
    # a run judged on validation alone has its learning curve's ends as macros (the text quotes them)
    assert r"\newcommand{\HvRGOneSixValFirst}{0.196}" in nums and r"\newcommand{\HvRGOneSixValLast}{0.264}" in nums
    assert r"\newcommand{\HvRGOneSixValBest}{0.281}" in nums and r"\newcommand{\HvRGOneSixValBestStep}{100}" in nums
    assert "HvUOneFivebValFirst" not in nums                      # no learning curve, no macro
    # the zero-variance share of each run, and the validation pass rate of the checkpoint tested where
    # validation reached it (not r-0.5b's step 253, not r-g16's: never tested)
    assert r"\newcommand{\HvRZeroFivebZeroVar}{0.25}" in nums
    assert r"\newcommand{\HvJValEvaluated}{0.414}" in nums and r"\newcommand{\HvJValBest}{0.424}" in nums
    assert "HvRZeroFivebValEvaluated" not in nums and "HvRGOneSixValEvaluated" not in nums
    assert "| j | 0.5B | julia | 5e-05 | 250 | 200 |" in md
    # the share of completion-protocol programs a code fence reached, trained and base (the attribution table)
    assert r"\newcommand{\HvJJuliaHumanevalCompletionFenced}{97\%}" in nums
    assert r"\newcommand{\HvJJuliaHumanevalCompletionBaseFenced}{37\%}" in nums and "ChatFenced" not in nums
    assert any(p.endswith("learning_curves.pdf") for p in made["figures"])
    assert make_headline_v2(tmp_path / "tab", tmp_path / "f2", tmp_path / "t2")["tables"] == []
