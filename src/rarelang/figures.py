"""Figures (PDF + PNG) and LaTeX tables generated from results/ — never typed by hand.

Inputs (each optional; a missing one skips its figure/table with a message):
  results/validation.json              the translate/validate funnel
  results/train/<run>/log_history.csv  GRPO log (reward, status fractions, …)
  results/eval/metrics.json            pass@k with CIs and status fractions
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


log = logging.getLogger(__name__)
FUNNEL = ("sampled", "parsed", "syntax_ok", "runs", "passes")
STATUS_ORDER = ("passed", "tests_failed", "runtime_error", "syntax_error", "timeout", "memory_exceeded",
                "output_exceeded", "sandbox_error")
STATUS_COLORS = dict(zip(STATUS_ORDER, ("#2e7d32", "#9ccc65", "#ef6c00", "#c62828", "#6a1b9a", "#1565c0",
                                        "#00838f", "#757575")))


def _save(fig, out: Path, name: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.pdf", out / f"{name}.png"]
    # no creation date: the same results draw byte-identical files (a re-run changes nothing in git)
    fig.savefig(paths[0], bbox_inches="tight", metadata={"CreationDate": None})
    fig.savefig(paths[1], bbox_inches="tight", dpi=150)
    plt.close(fig)
    return paths


def _tex_escape(s: str) -> str:
    return (str(s).replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("%", r"\%")
            .replace("&", r"\&").replace("#", r"\#"))


# ---------------------------------------------------------------- validation funnel
def funnel_figure(validation: dict[str, Any], out: Path) -> list[Path]:
    langs = [k for k in validation if k != "all"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / max(1, len(langs))
    x = np.arange(len(FUNNEL))
    for i, lang in enumerate(langs):
        vals = [validation[lang][s] for s in FUNNEL]
        bars = ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=lang)
        for b, v in zip(bars, vals):
            ax.annotate(str(v), (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, ["sampled", "parsed", "syntax ok", "runs", "passes"])
    ax.set_ylabel("problems")
    ax.set_title("Translation yield funnel")
    ax.legend()
    return _save(fig, out, "validation_funnel")


def funnel_table(validation: dict[str, Any]) -> str:
    rows = [r"\begin{tabular}{lrrrrrr}", r"\toprule",
            r"Language & Sampled & Parsed & Syntax ok & Runs & Passes & Yield \\", r"\midrule"]
    for lang, f in validation.items():
        rows.append(f"{_tex_escape(lang)} & " + " & ".join(str(f[s]) for s in FUNNEL) + f" & {100 * f['yield']:.1f}\\% \\\\")
    rows += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------- training curves
def training_figures(log: pd.DataFrame, out: Path) -> list[Path]:
    paths: list[Path] = []
    step = log["step"] if "step" in log else np.arange(1, len(log) + 1)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(step, log["reward"], marker="o", ms=3, label="mean reward")
    if "reward_std" in log:
        ax.fill_between(step, log["reward"] - log["reward_std"], log["reward"] + log["reward_std"], alpha=0.2,
                        label="± std within step")
    handles, labels = ax.get_legend_handles_labels()
    if "frac_reward_zero_std" in log:
        ax2 = ax.twinx()
        ax2.plot(step, log["frac_reward_zero_std"], color="grey", ls="--", label="zero-variance groups (right)")
        ax2.set_ylabel("fraction of groups with zero reward variance")
        ax2.set_ylim(0, 1)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("execution reward")
    ax.set_title("Reward during GRPO")
    ax.legend(handles, labels, loc="upper left", fontsize=7)
    paths += _save(fig, out, "train_reward")
    cols = [f"status/{s}" for s in STATUS_ORDER if f"status/{s}" in log]
    if cols:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.stackplot(step, *[log[c] for c in cols], labels=[c.split("/")[1] for c in cols],
                     colors=[STATUS_COLORS[c.split("/")[1]] for c in cols], alpha=0.85)
        ax.set_xlabel("GRPO step")
        ax.set_ylabel("fraction of completions")
        ax.set_ylim(0, 1)
        ax.set_title("Execution outcomes during GRPO")
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5))
        paths += _save(fig, out, "train_statuses")
    return paths


# ---------------------------------------------------------------- evaluation
def _eval_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for key, m in metrics.items():
        model, suite, setting, lang = key.split("/")
        for k in [x for x in m if x.startswith("pass@") and not x.endswith("_ci95")]:
            lo, hi = m[f"{k}_ci95"]
            rows.append({"model": model, "suite": suite, "setting": setting, "lang": lang, "metric": k,
                         "value": m[k], "lo": lo, "hi": hi, "problems": m["problems"],
                         "n": m["samples_per_problem"], **{f"status/{s}": v for s, v in m["statuses"].items()}})
    return pd.DataFrame(rows)


def passk_figure(metrics: dict[str, Any], out: Path) -> list[Path]:
    df = _eval_frame(metrics)
    paths: list[Path] = []
    for (setting, metric), g in df.groupby(["setting", "metric"]):
        groups = sorted({(r.suite, r.lang) for r in g.itertuples()})
        models = list(dict.fromkeys(g["model"]))
        fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(groups)), 3.2))
        width = 0.8 / max(1, len(models))
        x = np.arange(len(groups))
        for i, model in enumerate(models):
            sub = g[g["model"] == model].set_index(["suite", "lang"])
            vals = np.array([sub.loc[gr, "value"] if gr in sub.index else np.nan for gr in groups])
            lo = np.array([sub.loc[gr, "lo"] if gr in sub.index else np.nan for gr in groups])
            hi = np.array([sub.loc[gr, "hi"] if gr in sub.index else np.nan for gr in groups])
            ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=model,
                   yerr=[vals - lo, hi - vals], capsize=3)
        ax.set_xticks(x, [f"{s}\n{lg}" for s, lg in groups], fontsize=7)
        ax.set_ylabel(metric)
        ax.set_ylim(0, 1)
        ax.set_title(f"{metric} ({setting}), 95% bootstrap CI")
        ax.legend(fontsize=7)
        paths += _save(fig, out, f"passk_{setting}_{metric.replace('@', 'at')}".replace(".", "_"))
    return paths


def error_breakdown_figure(metrics: dict[str, Any], out: Path) -> list[Path]:
    labels, fracs = [], []
    for key, m in metrics.items():
        model, suite, setting, lang = key.split("/")
        labels.append(f"{model}\n{suite}/{lang}")
        fracs.append([m["statuses"].get(s, 0.0) for s in STATUS_ORDER])
    if not labels:
        return []
    fracs = np.array(fracs)
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(labels)), 3.4))
    bottom = np.zeros(len(labels))
    for j, s in enumerate(STATUS_ORDER):
        if fracs[:, j].any():
            ax.bar(labels, fracs[:, j], bottom=bottom, label=s, color=STATUS_COLORS[s])
            bottom += fracs[:, j]
    ax.set_ylabel("fraction of completions")
    ax.set_title("Outcome of every evaluated completion")
    ax.tick_params(axis="x", labelsize=6)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5))
    return _save(fig, out, "eval_error_breakdown")


def passk_table(metrics: dict[str, Any]) -> str:
    df = _eval_frame(metrics)
    rows = [r"\begin{tabular}{llllrrl}", r"\toprule",
            r"Suite & Lang. & Setting & Model & $n$ & Problems & pass@$k$ [95\% CI] \\", r"\midrule"]
    for r in df.sort_values(["suite", "lang", "setting", "metric", "model"]).itertuples():
        rows.append(f"{_tex_escape(r.suite)} & {_tex_escape(r.lang)} & {_tex_escape(r.setting)} & "
                    f"{_tex_escape(r.model)} & {r.n} & {r.problems} & "
                    f"{_tex_escape(r.metric)} = {r.value:.3f} [{r.lo:.3f}, {r.hi:.3f}] \\\\")
    rows += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(rows) + "\n"


def train_table(summary: dict[str, Any]) -> str:
    keys = [("global_step", "GRPO steps"), ("mean_reward", "mean reward"), ("first_reward", "reward, first step"),
            ("last_reward", "reward, last step"), ("mean_frac_reward_zero_std", "zero-variance groups"),
            ("mean_step_time", "s / step"), ("mean_timing/generation_s", "generation s / step"),
            ("mean_timing/reward_s_total", "reward s / step"), ("mean_timing/loss_backward_s", "loss+backward s / step")]
    rows = [r"\begin{tabular}{lr}", r"\toprule", r"Quantity & Value \\", r"\midrule"]
    for k, label in keys:
        if k in summary:
            v = summary[k]
            rows.append(f"{label} & {v:.3f} \\\\" if isinstance(v, float) else f"{label} & {v} \\\\")
    rows += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(rows) + "\n"


def paired_table(paired: dict[str, Any]) -> str:
    """The paired pass@1 comparison (rarelang.evaluate.compare): base, trained, difference [CI]."""
    rows = [r"\begin{tabular}{lllrrrrlr}", r"\toprule",
            r"Suite & Lang. & Comparison & Problems & Base & Trained & Better/worse & Difference [95\% CI] & Sign test $p$ \\",
            r"\midrule"]
    for key in sorted(paired, key=lambda k: (k.split("/")[3], k.split("/")[1], k)):
        d = paired[key]
        comp, suite, _setting, lang = key.split("/")
        k = d.get("k", 1)
        lo, hi = d["difference_ci95"]
        rows.append(f"{_tex_escape(suite)} & {_tex_escape(lang)} & {_tex_escape(comp)} & {d['problems']} & "
                    f"{d[f'base_pass@{k}']:.3f} & {d[f'other_pass@{k}']:.3f} & {d['better']}/{d['worse']} & "
                    f"{d['difference']:+.3f} [{lo:+.3f}, {hi:+.3f}] & "
                    + (f"{d['sign_test_p']:.3g}" if "sign_test_p" in d else "--") + " \\\\")
    rows += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(rows) + "\n"


def train_runs_table(summaries: dict[str, dict[str, Any]]) -> str:
    """Several GRPO runs side by side (one column per run)."""
    keys = [("global_step", "GRPO steps", "{}"), ("reward_first_quarter", "reward, first quarter", "{:.3f}"),
            ("reward_last_quarter", "reward, last quarter", "{:.3f}"), ("mean_pass_rate", "pass rate (training)", "{:.3f}"),
            ("mean_frac_reward_zero_std", "zero-variance groups", "{:.3f}"), ("mean_step_time", "s / step", "{:.1f}"),
            ("mean_timing/generation_s", "generation s / step", "{:.1f}"),
            ("mean_timing/reward_s_total", "reward s / step", "{:.1f}"),
            ("mean_timing/loss_backward_s", "loss+backward s / step", "{:.1f}")]
    names = list(summaries)
    rows = [r"\begin{tabular}{l" + "r" * len(names) + "}", r"\toprule",
            "Quantity & " + " & ".join(_tex_escape(n) for n in names) + r" \\", r"\midrule"]
    for k, label, fmt in keys:
        if any(k in s for s in summaries.values()):
            rows.append(label + " & " + " & ".join(fmt.format(s[k]) if k in s else "--" for s in summaries.values())
                        + r" \\")
    rows += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(rows) + "\n"


_DIGIT_NAMES = {"0": "Zero", "1": "One", "2": "Two", "3": "Three", "4": "Four", "5": "Five", "6": "Six",
                "7": "Seven", "8": "Eight", "9": "Nine"}


def _macro(*parts: str) -> str:
    """A LaTeX command name from parts (letters only: each dash-separated word capitalized, digits
    spelled out, other characters dropped: 'r-0.5b-lr1e4' → RZeroFivebLrOneeFour)."""
    words = (w for p in parts for w in p.split("-"))
    name = "".join(_DIGIT_NAMES.get(c, c) for c in "".join(w[:1].upper() + w[1:] for w in words))
    return "".join(c for c in name if c.isalpha())


def headline_numbers(paired: dict[str, Any], summaries: dict[str, dict[str, Any]],
                     attribution: dict[str, list[dict[str, Any]]]) -> str:
    """LaTeX macros for every number the headline text quotes (\\Hl<Lang><Suite><Quantity>), so
    the paper types none by hand: differences with CIs, better/worse counts, sign tests, steps,
    rewards, and the attribution shares (top-level code, truncation, hidden entry points)."""
    out = ["% generated by rarelang.figures.headline_numbers from results/headline: do not edit"]

    def cmd(name: str, value: str) -> None:
        out.append(f"\\newcommand{{\\{name}}}{{{value}}}")
    for key, d in sorted(paired.items()):
        _comp, suite, _setting, lang = key.split("/")
        base = _macro("hl", lang, suite.split("-")[0].replace("+", ""), "completion" if "+completion" in suite else "")
        lo, hi = d["difference_ci95"]
        k = d.get("k", 1)
        cmd(base + "Base", f"{d[f'base_pass@{k}']:.3f}")
        cmd(base + "Trained", f"{d[f'other_pass@{k}']:.3f}")
        cmd(base + "Diff", f"{d['difference']:+.3f}")
        cmd(base + "CI", f"[{lo:+.3f}, {hi:+.3f}]")
        cmd(base + "Better", str(d["better"]))
        cmd(base + "Worse", str(d["worse"]))
        if "sign_test_p" in d:
            cmd(base + "SignP", f"{d['sign_test_p']:.2g}")
    for run, sm in sorted(summaries.items()):
        base = _macro("hl", run.split("-")[1] if "-" in run else run)
        cmd(base + "Steps", str(sm.get("global_step", "--")))
        for q, name in (("reward_first_quarter", "RewardFirst"), ("reward_last_quarter", "RewardLast")):
            if q in sm:
                cmd(base + name, f"{sm[q]:+.2f}")
    for lang, rows in sorted(attribution.items()):
        for r in rows:
            if r["suite"] != "heldout":
                continue
            base = _macro("hl", lang, r["model"])
            for q, name in (("share_toplevel_other", "TopLevel"), ("share_truncated", "Truncated")):
                if r.get(q) is not None:
                    cmd(base + name, f"{100 * r[q]:.0f}\\%")
            for q, name in (("pass@1_naming_entry", "NamedPass"), ("pass@1_hidden_entry", "HiddenPass")):
                if r.get(q) is not None:
                    cmd(base + name, f"{r[q]:.3f}")
            cmd(base + "Hidden", str(r["problems"] - r["problems_naming_entry"]))
    return "\n".join(out) + "\n"


def make_headline(headline: Path, figures: Path, tables: Path) -> dict[str, list[str]]:
    """The GPU headline runs: one sub-directory per run (results/headline/<lang>/{train/<run>,eval}).
    Per run: its training curves and pass@k figure (<figures>/<lang>/); over all runs: one pass@k
    table, one paired-difference table, one training table and one pass@1 figure."""
    made: dict[str, list[str]] = {"figures": [], "tables": [], "skipped": []}
    tables.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, Any] = {}
    paired: dict[str, Any] = {}
    summaries: dict[str, dict[str, Any]] = {}
    attribution: dict[str, list[dict[str, Any]]] = {}
    # the first headline's layout (<lang>/train/<run>/, <lang>/eval/metrics.json); headline v2 runs
    # (<run>/train/summary.json, <run>/eval/{base,trained,paired.json}) are make_headline_v2's
    for d in sorted(p for p in headline.iterdir()
                    if (p / "eval" / "metrics.json").exists() or any((p / "train").glob("*/summary.json"))):
        runs = sorted((d / "train").iterdir()) if (d / "train").is_dir() else []
        run = runs[0].name if len(runs) == 1 else "none"
        sub = make_all(d, figures / d.name, tables / d.name, run=run)
        sub["skipped"] = [x for x in sub["skipped"] if not x.endswith("validation.json")]   # one for all runs
        for k in made:
            made[k] += sub[k] if k != "tables" else [f"{d.name}/{t}" for t in sub[k]]
        if (d / "eval" / "metrics.json").exists():
            metrics.update(json.loads((d / "eval" / "metrics.json").read_text()))
        if (d / "eval" / "paired.json").exists():
            paired.update(json.loads((d / "eval" / "paired.json").read_text()))
        if run != "none" and (d / "train" / run / "summary.json").exists():
            summaries[run] = json.loads((d / "train" / run / "summary.json").read_text())
        if (d / "eval" / "attribution.json").exists():
            attribution[d.name] = json.loads((d / "eval" / "attribution.json").read_text())["rows"]
    vpath = headline / "validation.json"           # the data the runs trained on
    if vpath.exists():
        v = json.loads(vpath.read_text())
        made["figures"] += [str(p) for p in funnel_figure(v, figures)]
        (tables / "validation_funnel.tex").write_text(funnel_table(v))
        made["tables"].append("validation_funnel")
    if metrics:
        made["figures"] += [str(p) for p in passk_figure(metrics, figures)]
        (tables / "passk.tex").write_text(passk_table(metrics))
        made["tables"].append("passk")
    if paired:
        (tables / "paired.tex").write_text(paired_table(paired))
        made["tables"].append("paired")
    if summaries:
        (tables / "train_runs.tex").write_text(train_runs_table(summaries))
        made["tables"].append("train_runs")
    if paired or summaries:
        (tables / "numbers.tex").write_text(headline_numbers(paired, summaries, attribution))
        made["tables"].append("numbers")
    return made


# ---------------------------------------------------------------- headline v2 (issue 15)
V2_SUITES = ("heldout", "humaneval", "mbpp")


def v2_runs(headline: Path) -> dict[str, dict[str, Any]]:
    """The headline-v2 runs under ``headline``: <run>/train/summary.json (+ config.json,
    validation.csv) and <run>/paired.json (the experiment's compare stage, base vs trained). A run with a
    learning curve but no test evaluation (a lever judged on validation alone) is kept with no pairs:
    it is in the runs table and the learning curves, not in the paired table."""
    runs: dict[str, dict[str, Any]] = {}
    # further test evaluations of a run's training (an experiment <run>-<tag> with a paired.json and no training of
    # its own, e.g. unified-1.5b-step300: another checkpoint): rows "<run>-<tag>" in the paired table and its
    # macros, not another run
    trained = {p.name for p in headline.iterdir() if (p / "train" / "summary.json").exists()}
    extras: dict[str, dict[str, Any]] = {}
    for d in sorted(p for p in headline.iterdir() if p.is_dir() and p.name not in trained):
        owner = max((r for r in trained if d.name.startswith(r + "-")), key=len, default=None)
        if owner and (d / "paired.json").exists():
            extras.setdefault(owner, {})[d.name[len(owner) + 1:]] = \
                json.loads((d / "paired.json").read_text()).get("pairs", {})
    for d in sorted(p for p in headline.iterdir() if p.is_dir()):
        spath, ppath = d / "train" / "summary.json", d / "paired.json"
        if not spath.exists():
            continue
        cfg_path = d / "train" / "config.json"
        cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
        vpath = d / "train" / "validation.csv"
        val = pd.read_csv(vpath) if vpath.exists() and vpath.stat().st_size else None
        if val is not None and not {"step", "eval_pass_rate"} <= set(val.columns):
            val = None                      # no learning curve in it
        if not ppath.exists() and val is None:
            continue                        # neither tested nor validated: nothing to show yet
        paired = json.loads(ppath.read_text()).get("pairs", {}) if ppath.exists() else {}
        # eval/CHECKPOINT names the checkpoint the test evaluation used where it is neither the one
        # validation chose nor the last (e.g. a run trained on after its evaluation)
        ck = d / "eval" / "CHECKPOINT"
        apath = d / "attribution.json"      # style vs correctness (scripts/attribution.py)
        attribution = json.loads(apath.read_text()).get("rows", []) if apath.exists() else []
        # the outcome shares of the held-out answers (metrics.json): which statuses a gain came from
        statuses: dict[tuple[str, str], dict[str, float]] = {}
        for mpath in sorted(d.glob("eval*/*/metrics.json")):
            tag = mpath.parent.parent.name[len("eval-"):] if mpath.parent.parent.name != "eval" else ""
            for key, m in json.loads(mpath.read_text()).items():
                model, suite, _setting, lang = key.split("/")
                if suite == "heldout" and "statuses" in m:
                    statuses[(model if model == "base" else "-".join(filter(None, [d.name, tag])), lang)] = m["statuses"]
        runs[d.name] = {"summary": json.loads(spath.read_text()), "config": cfg.get("train", {}),
                        "paired": paired, "validation": val, "extra": extras.get(d.name, {}),
                        "attribution": attribution,
                        "checkpoint": ck.read_text().strip() if ck.exists() else None, "statuses": statuses}
    return runs


def _prompts_per_step(cfg: dict[str, Any]) -> int | None:
    g = cfg.get("grpo") or {}
    try:
        return int(g["per_device_train_batch_size"]) * int(g.get("gradient_accumulation_steps", 1)) \
            // int(g["num_generations"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def _student(cfg: dict[str, Any]) -> str | None:
    """The student's size from its model path ('…/qwen2.5-coder-1.5b-instruct-q4_k_m' → '1.5B')."""
    m = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)b(?![a-z])", Path(str(cfg.get("model") or "")).name.lower())
    return f"{m.group(1)}B" if m else None


def _suite_name(suite: str) -> str:
    """A suite as the v2 tables name it: 'humaneval-r+completion' → 'humaneval', 'heldout' → 'heldout'."""
    return suite.split("+")[0].split("-")[0]


def _v2_key_parts(key: str) -> tuple[str, str, str]:
    """'trained-vs-base/humaneval-r+completion/t0.2/r' → ('humaneval', 'completion', 'r')."""
    _comp, suite, _setting, lang = key.split("/")
    protocol = "completion" if suite.endswith("+completion") else "chat"
    return _suite_name(suite), protocol, lang


def v2_rows(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (run, suite, protocol, language): base and trained pass@1, the paired difference."""
    rows = []
    for name, r in runs.items():
        for run, pairs in [(name, r["paired"]), *((f"{name}-{tag}", p) for tag, p in r.get("extra", {}).items())]:
            rows += _v2_pair_rows(run, pairs)
    order = {s: i for i, s in enumerate(V2_SUITES)}
    return sorted(rows, key=lambda x: (x["run"], x["lang"], order.get(x["suite"], 9), x["protocol"]))


def _v2_pair_rows(run: str, pairs: dict[str, Any]) -> list[dict[str, Any]]:
    """paired.json's pairs as table rows of ``run``."""
    rows = []
    for key, d in pairs.items():
        suite, protocol, lang = _v2_key_parts(key)
        k = d.get("k", 1)
        rows.append({"run": run, "suite": suite, "protocol": protocol, "lang": lang, "problems": d["problems"],
                     "base": d[f"base_pass@{k}"], "trained": d[f"other_pass@{k}"], "diff": d["difference"],
                     "ci": tuple(d["difference_ci95"]), "better": d["better"], "worse": d["worse"],
                     "p": d.get("sign_test_p"), "left_out": d.get("left_out_asked_in_another_language", 0)})
    return rows


def v2_run_facts(run: dict[str, Any]) -> dict[str, Any]:
    sm, cfg = run["summary"], run["config"]
    pps = _prompts_per_step(cfg)
    steps = sm.get("global_step")
    val = run["validation"]
    curve = None
    if val is not None:
        best_row = val.loc[val["eval_pass_rate"].idxmax()]         # the checkpoint validation chooses
        curve = (float(val["eval_pass_rate"].iloc[0]), float(val["eval_pass_rate"].iloc[-1]), int(val["step"].iloc[-1]),
                 float(best_row["eval_pass_rate"]), int(best_row["step"]))
    # the model evaluated: eval/CHECKPOINT, else the checkpoint validation chose (summary
    # best_checkpoint), else the last step
    best = re.search(r"checkpoint-(\d+)$", str(run.get("checkpoint") or sm.get("best_checkpoint") or ""))
    return {"steps": steps, "prompts_seen": steps * pps if (steps is not None and pps) else None,
            "student": _student(cfg),
            "languages": "+".join(cfg.get("languages") or []), "s_per_step": sm.get("mean_step_time"),
            "zero_var": sm.get("mean_frac_reward_zero_std"), "validation": curve,
            "lr": (cfg.get("grpo") or {}).get("learning_rate"),
            # no test evaluation (validation only): no evaluated step
            "evaluated_step": (int(best.group(1)) if best else steps) if run["paired"] else None}


def _v2_run_cells(name: str, f: dict[str, Any], dash: str, arrow: str, esc: Any = str) -> list[str]:
    """A runs-table row's cells, for LaTeX (dash "--", arrow "$\\to$", esc _tex_escape) or Markdown."""
    val = dash
    if f["validation"]:             # first → last; the best point too where validation chose an earlier checkpoint
        first, last, last_step, best, best_step = f["validation"]
        val = f"{first:.3f} {arrow} {last:.3f} (step {last_step})" + \
            (f"; best {best:.3f} (step {best_step})" if best_step != last_step else "")
    return [esc(name), f["student"] or dash, esc(f["languages"]), f"{f['lr']:.0e}" if f["lr"] else dash, str(f["steps"]),
            str(f["evaluated_step"] or dash), str(f["prompts_seen"] or dash),
            f"{f['s_per_step']:.2f}" if f["s_per_step"] else dash,
            f"{f['zero_var']:.2f}" if f["zero_var"] is not None else dash, val]


def _v2_pair_cells(x: dict[str, Any], dash: str, emphasis: str = "", esc: Any = str) -> list[str]:
    """A paired-table row's cells (the difference wrapped in ``emphasis``, e.g. "**" in Markdown)."""
    lo, hi = x["ci"]
    return [esc(x["run"]), x["suite"], x["protocol"], x["lang"], str(x["problems"]), f"{x['base']:.3f}",
            f"{x['trained']:.3f}", f"{emphasis}{x['diff']:+.3f}{emphasis} [{lo:+.3f}, {hi:+.3f}]",
            f"{x['better']}/{x['worse']}", f"{x['p']:.2g}" if x["p"] is not None else dash]


def v2_runs_table(runs: dict[str, dict[str, Any]]) -> str:
    rows = [r"\begin{tabular}{llllrrrrrl}", r"\toprule",
            r"Run & Student & Trained on & LR & Steps & Evaluated & Prompts seen & s/step & Zero-var.\ groups & Validation pass rate \\",
            r"\midrule"]
    rows += [" & ".join(_v2_run_cells(name, v2_run_facts(r), "--", "$\\to$", _tex_escape)) + r" \\"
             for name, r in runs.items()]
    rows += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(rows) + "\n"


def v2_paired_table(runs: dict[str, dict[str, Any]]) -> str:
    rows = [r"\begin{tabular}{llllrrrlrr}", r"\toprule",
            r"Run & Suite & Protocol & Lang. & Problems & Base & Trained & Difference [95\% CI] & Better/worse & Sign $p$ \\",
            r"\midrule"]
    last = None
    for x in v2_rows(runs):
        if last is not None and x["run"] != last:
            rows.append(r"\midrule")
        last = x["run"]
        rows.append(" & ".join(_v2_pair_cells(x, "--", esc=_tex_escape)) + r" \\")
    rows += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(rows) + "\n"


def v2_markdown(runs: dict[str, dict[str, Any]]) -> str:
    """The same two tables in Markdown (for READMEs and closing notes)."""
    out = ["| run | student | trained on | lr | steps | evaluated step | prompts seen | s/step | zero-variance groups | validation pass rate |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    out += ["| " + " | ".join(_v2_run_cells(name, v2_run_facts(r), "–", "→")) + " |" for name, r in runs.items()]
    out += ["", "| run | suite | protocol | language | problems | base | trained | difference [95% CI] | better/worse | sign test p |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    rows = v2_rows(runs)
    out += ["| " + " | ".join(_v2_pair_cells(x, "–", "**")) + " |" for x in rows]
    left = [x for x in rows if x["left_out"]]
    if left:        # compare.py's left_out_asked_in_another_language
        out += ["", "Left out of the pairs above (a side's prompt asked for another language: the task-id mix-up of "
                "two-language evaluations before 2026-11-25): "
                + "; ".join(f"{x['run']} {x['suite']} {x['lang']}: {x['left_out']} problems" for x in left) + "."]
    return "\n".join(out) + "\n"


def v2_numbers(runs: dict[str, dict[str, Any]]) -> str:
    """Macros \\Hv<Run><Lang><Suite><Protocol><Quantity> for the numbers the v2 text quotes."""
    out = ["% generated by rarelang.figures.v2_numbers from results/headline/<run>/: do not edit"]
    for x in v2_rows(runs):
        base = _macro("hv", x["run"], x["lang"], x["suite"], x["protocol"])
        lo, hi = x["ci"]
        out += [f"\\newcommand{{\\{base}Diff}}{{{x['diff']:+.3f}}}",
                f"\\newcommand{{\\{base}CI}}{{[{lo:+.3f}, {hi:+.3f}]}}",
                f"\\newcommand{{\\{base}Base}}{{{x['base']:.3f}}}",
                f"\\newcommand{{\\{base}Trained}}{{{x['trained']:.3f}}}",
                f"\\newcommand{{\\{base}Problems}}{{{x['problems']}}}"]
    for name, r in runs.items():
        # the share of completion-protocol programs a code fence reached (attribution table): <...>Fenced for the
        # trained model, <...>BaseFenced for the base model it is paired with
        for a in r.get("attribution", []):
            cell = _macro("hv", name, a["lang"], _suite_name(a["suite"]), a["protocol"])
            who = "Base" if a.get("model") == "base" else ""
            if a.get("share_fenced") is not None and a.get("model") in ("base", "trained"):
                out.append(f"\\newcommand{{\\{cell}{who}Fenced}}{{{100 * a['share_fenced']:.0f}\\%}}")
            # held-out programs with top-level code besides definitions (mostly "example usage")
            if a.get("suite") == "heldout" and a.get("share_toplevel_other") is not None and \
                    a.get("model") in ("base", "trained"):
                out.append(f"\\newcommand{{\\{cell}{who}TopLevel}}{{{100 * a['share_toplevel_other']:.0f}\\%}}")
        f = v2_run_facts(r)
        m = _macro("hv", name)
        # held-out outcome shares, per percent: \Hv<run><Lang>Heldout<Status>, the base's as \HvBase<size>…
        for (model, lang), st in sorted(r.get("statuses", {}).items()):
            who = f"base-{f['student'] or ''}" if model == "base" else model
            for status in ("passed", "tests_failed", "runtime_error", "syntax_error", "timeout"):
                out.append(f"\\newcommand{{\\{_macro('hv', who, lang, 'heldout', status.replace('_', '-'))}}}"
                           f"{{{100 * st.get(status, 0.0):.0f}\\%}}")
        out.append(f"\\newcommand{{\\{m}Steps}}{{{f['steps']}}}")
        if f["zero_var"] is not None:       # the mean share of prompt groups with zero reward variance
            out.append(f"\\newcommand{{\\{m}ZeroVar}}{{{f['zero_var']:.2f}}}")
        if f["validation"]:                 # the learning curve's first, last and best point (validation pass rate)
            first, last, _step, best, best_step = f["validation"]
            out += [f"\\newcommand{{\\{m}ValFirst}}{{{first:.3f}}}",
                    f"\\newcommand{{\\{m}ValLast}}{{{last:.3f}}}",
                    f"\\newcommand{{\\{m}ValBest}}{{{best:.3f}}}",
                    f"\\newcommand{{\\{m}ValBestStep}}{{{best_step}}}"]
            # the validation pass rate of the checkpoint the test evaluated (where validation reached it)
            ev, val = f["evaluated_step"], r["validation"]
            at = val.loc[val["step"] == ev, "eval_pass_rate"] if ev is not None else []
            if len(at):
                out.append(f"\\newcommand{{\\{m}ValEvaluated}}{{{float(at.iloc[-1]):.3f}}}")
    return "\n".join(out) + "\n"


def v2_learning_curves(runs: dict[str, dict[str, Any]], out: Path) -> list[Path]:
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    drawn = 0
    for name, r in runs.items():
        v = r["validation"]
        if v is None:
            continue
        ax.plot(v["step"], v["eval_pass_rate"], marker="o", label=name)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return []
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("validation pass rate (T = 1.0)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))    # outside: 7 runs hid the curves
    return _save(fig, out, "learning_curves")


# ---------------------------------------------------------------- the declared analysis (issue 33)
FOREST_PANELS = (("heldout", "chat"), ("humaneval", "chat"), ("humaneval", "completion"), ("mbpp", "chat"),
                 ("mbpp", "completion"))
LANG_COLORS = {"julia": "#6a1b9a", "r": "#1565c0"}


def forest_figure(claims: dict[str, Any], out: Path) -> list[Path]:
    """Every paired difference of claims.json: its 95% CI (dark) and its family-adjusted interval (light, max-T),
    one panel per suite and protocol, one row per run (Julia above R), the pooled effect at the bottom, the goal's
    thresholds dashed."""
    cells = claims.get("cells") or []
    if not cells:
        return []
    runs = list(dict.fromkeys(c["run"] for c in cells))
    rows = runs + ["pooled"]
    goal = {e["suite"]: e["min_diff"] for e in claims.get("rule", {}).get("endpoints", [])}
    fam = next(iter(claims["correction"]["families"].values()))
    fig, axes = plt.subplots(1, len(FOREST_PANELS), figsize=(13, 0.42 * len(rows) + 1.6), sharey=True, sharex=True)
    for ax, (suite, protocol) in zip(axes, FOREST_PANELS):
        ax.axvline(0, color="black", lw=0.8)
        if suite in goal:
            ax.axvline(goal[suite], color="grey", lw=0.8, ls="--")
        for c in cells:
            if (c["suite"], c["protocol"]) != (suite, protocol):
                continue
            y = len(rows) - 1 - rows.index(c["run"]) + (0.17 if c["language"] == "julia" else -0.17)
            col = LANG_COLORS.get(c["language"], "black")
            half = c["diff"] - c["adj_low"]
            ax.plot([c["adj_low"], c["diff"] + half], [y, y], color=col, lw=5, alpha=0.22, solid_capstyle="butt")
            ax.plot([c["ci_low"], c["ci_high"]], [y, y], color=col, lw=1.4)
            ax.plot(c["diff"], y, "o", ms=4, color=col, mfc=col if c["verdict"] != "inconclusive" else "white")
        for pl in claims.get("pooled", []):
            if (pl["suite"], pl["protocol"]) == (suite, protocol):
                y = (0.17 if pl["language"] == "julia" else -0.17)
                col = LANG_COLORS.get(pl["language"], "black")
                ax.plot([pl["ci_low"], pl["ci_high"]], [y, y], color=col, lw=1.4)
                ax.plot(pl["diff"], y, "D", ms=4, color=col)
        ax.set_title(f"{suite}, {protocol}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel("pass@1 difference", fontsize=8)
    axes[0].set_yticks(range(len(rows)), list(reversed(rows)), fontsize=8)
    axes[0].set_ylim(-0.6, len(rows) - 0.4)
    handles = [plt.Line2D([], [], color=LANG_COLORS[lg], lw=1.4, marker="o", ms=4, label=f"{lg}: 95% CI")
               for lg in ("julia", "r")]
    handles += [plt.Line2D([], [], color="grey", lw=5, alpha=0.3,
                           label=f"adjusted over the family ({fam['cells']} cells, max-T)"),
                plt.Line2D([], [], color="black", marker="o", ms=4, mfc="white", lw=0, label="inconclusive (adjusted)"),
                plt.Line2D([], [], color="grey", ls="--", lw=0.8, label="goal threshold")]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, out, "forest")


def _size(model: str) -> str:
    """'base:qwen2.5-coder-1.5b' → 'base-1.5b'; a run's label stays."""
    if not model.startswith("base:"):
        return model
    m = re.search(r"(\d+(?:\.\d+)?b)", model)
    return f"base-{m.group(1)}" if m else "base"


def claims_numbers(claims: dict[str, Any], sensitivity: dict[str, Any] | None = None,
                   decontam: dict[str, Any] | None = None, cleaned: dict[str, Any] | None = None,
                   original: dict[str, Any] | None = None) -> str:
    """Macros for the numbers the paper quotes from the declared analysis (\\Hc…), the sensitivity re-scorings
    (\\Hs…), the decontamination (\\Hd…) and the original work beside ours (\\Ho…)."""
    out = ["% generated by rarelang.figures.claims_numbers from results/headline/{claims.json,sensitivity,decontam,"
           "original-work}: do not edit"]

    def cmd(name: str, value: Any) -> None:
        out.append(f"\\newcommand{{\\{name}}}{{{value}}}")

    def ci(lo: float, hi: float) -> str:
        return f"[{lo:+.3f}, {hi:+.3f}]"
    def cell(prefix: str, c: dict[str, Any]) -> None:      # a claims.json cell's difference, CI, bound, verdict
        m = _macro(prefix, c["run"], c["language"], c["suite"], c["protocol"])
        cmd(m + "Diff", f"{c['diff']:+.3f}")
        cmd(m + "CI", ci(c["ci_low"], c["ci_high"]))
        cmd(m + "AdjLow", f"{c['adj_low']:+.3f}")
        cmd(m + "Verdict", c["verdict"])
        cmd(m + "Problems", c["problems"])
    cells = claims.get("cells", [])
    for c in cells:
        cell("hc", c)
    for pl in claims.get("pooled", []):
        m = _macro("hc", "pooled", pl["language"], pl["suite"], pl["protocol"])
        cmd(m + "Diff", f"{pl['diff']:+.3f}")
        cmd(m + "CI", ci(pl["ci_low"], pl["ci_high"]))
        cmd(m + "Runs", len(pl["tests"]))
    fam = claims["correction"]["families"]
    cmd("HcCells", len(cells))
    cmd("HcFamilies", len(fam))
    cmd("HcCritical", f"{next(iter(fam.values()))['critical_value']:.2f}")
    cmd("HcDraws", f"{claims['correction']['draws']:,}".replace(",", "{,}"))
    for v in ("gain", "loss", "inconclusive"):
        cmd("Hc" + v.capitalize(), sum(c["verdict"] == v for c in cells))
    for suite in ("heldout", "humaneval", "mbpp"):
        cmd(_macro("hc", suite, "gains"), sum(c["verdict"] == "gain" and c["suite"] == suite for c in cells))
        cmd(_macro("hc", suite, "cells"), sum(c["suite"] == suite for c in cells))
    goals = [g for g in claims.get("goals", []) if g["verdict"] != "not tested"]
    cmd("HcGoals", len(goals))
    cmd("HcGoalsMet", sum(g["verdict"] == "met" for g in goals))
    for i, suite in enumerate(e["suite"] for e in claims["rule"]["endpoints"]):
        cmd(_macro("hc", suite, "endpoints", "met"), sum(bool(g["endpoints"][i]["met"]) for g in goals))
    for e in claims["rule"]["endpoints"]:                     # the goal's thresholds, as the plan declares them
        cmd(_macro("hc", e["suite"], "min", "diff"), f"{e['min_diff']:+.2f}")
    cmd("HcProtocolRule", claims["rule"]["protocol_rule"])
    cks = claims.get("checkpoints", {})
    cmd("HcCheckpointRuleFollowed", sum(bool(c["rule_followed"]) for c in cks.values()))
    cmd("HcTests", len(cks))
    det = claims.get("details", [])
    for k in ("holm_sign", "holm_bootstrap", "bonferroni_bootstrap"):
        cmd(_macro("hc", k.replace("_", "-"), "rejects"), sum(d[k] < claims["correction"]["alpha"] for d in det))
    diff = {(c["run"], c["suite"], c["protocol"], c["language"]): c["diff"] for c in cells}
    he = [d for d in det if d["suite"] == "humaneval"
          and diff[(d["run"], d["suite"], d["protocol"], d["language"])] > 0]
    cmd("HcHumanevalHolmSignGains", sum(d["holm_sign"] < claims["correction"]["alpha"] for d in he))
    cmd("HcHumanevalHolmBootstrapGains", sum(d["holm_bootstrap"] < claims["correction"]["alpha"] for d in he))
    if sensitivity:
        for x in sensitivity.get("paired", []):
            m = _macro("hs", x["run"], x["language"], x["suite"], x["rule"])
            cmd(m + "Diff", f"{x['diff']:+.3f}")
            cmd(m + "CI", ci(x["ci_low"], x["ci_high"]))
            cmd(m + "Base", f"{x['base']:.3f}")
            cmd(m + "Trained", f"{x['trained']:.3f}")
        for x in sensitivity.get("control_token_share", []):
            cmd(_macro("hs", _size(x["model"]), x["language"], x["suite"], "share"), f"{100 * x['share']:.0f}\\%")
        runs = sum(int(c.get("sandbox", 0)) for c in sensitivity.get("judged", {}).values())
        cmd("HsAnswers", f"{sum(sum(c.values()) for c in sensitivity.get('judged', {}).values()):,}".replace(",", "{,}"))
        cmd("HsSandboxJudged", f"{runs:,}".replace(",", "{,}"))
    if decontam:
        sizes = {}
        for rule, parts in decontam["removed"].items():
            for part, x in parts.items():
                cmd(_macro("hd", rule.replace("_", "-").replace(" ", "-"), part, "rows"), x["rows"])
                sizes[part] = x["of"]
        for part, n in sizes.items():
            cmd(_macro("hd", part, "of"), n)
        anyr = decontam["removed"]["any rule"]
        cmd("HdTrainShare", f"{100 * anyr['train']['rows'] / anyr['train']['of']:.1f}\\%")
        for key, tasks in decontam.get("left_out", {}).items():
            cmd(_macro("hd", *key.split("/"), "left", "out"), len(tasks))
    if cleaned:
        for c in cleaned.get("cells", []):
            cell("hd", c)
        cmd("HdGain", sum(c["verdict"] == "gain" for c in cleaned.get("cells", [])))
    if original:
        for lang, d in original.get("original", {}).items():
            m = _macro("ho", "original", lang)
            cmd(m + "Diff", f"{d['diff']:+.3f}")
            cmd(m + "CI", ci(d["ci_low"], d["ci_high"]))
            cmd(m + "Base", f"{d['base']:.3f}")
            cmd(m + "Trained", f"{d['trained']:.3f}")
            cmd(m + "Problems", d["problems"])
        for x in original.get("ours", []):
            m = _macro("ho", x["run"], x["language"])
            cmd(m + "Diff", f"{x['diff']:+.3f}")
            cmd(m + "CI", ci(x["ci_low"], x["ci_high"]))
        for lang, c in original.get("problems", {}).items():
            cmd(_macro("ho", lang, "in", "their", "training"), c["in_their_training"])
    return "\n".join(out) + "\n"


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def make_claims(headline: Path, figures: Path, tables: Path) -> dict[str, list[str]]:
    """The declared analysis's figure and macros (results/headline/claims.json and the amendments beside it)."""
    made: dict[str, list[str]] = {"figures": [], "tables": [], "skipped": []}
    claims = _json(headline / "claims.json")
    if claims is None:
        made["skipped"].append(str(headline / "claims.json"))
        return made
    tables.mkdir(parents=True, exist_ok=True)
    (tables / "claims.tex").write_text(claims_numbers(
        claims, _json(headline / "sensitivity" / "summary.json"), _json(headline / "decontam" / "report.json"),
        _json(headline / "decontam" / "claims-cleaned.json"), _json(headline / "original-work" / "summary.json")))
    made["tables"].append("claims")
    made["figures"] += [str(p) for p in forest_figure(claims, figures)]
    return made


def make_headline_v2(headline: Path, figures: Path, tables: Path) -> dict[str, list[str]]:
    """Headline v2 (issue 15): one runs table, one paired table over every run, suite, protocol and
    language (tex and Markdown), the macros the text quotes, and the validation learning curves."""
    made: dict[str, list[str]] = {"figures": [], "tables": [], "skipped": []}
    runs = v2_runs(headline)
    if not runs:
        made["skipped"].append(f"{headline}/<run>/{{train/summary.json,paired.json}}")
        return made
    tables.mkdir(parents=True, exist_ok=True)
    for name, text in (("runs", v2_runs_table(runs)), ("paired", v2_paired_table(runs)), ("numbers", v2_numbers(runs))):
        (tables / f"{name}.tex").write_text(text)
        made["tables"].append(name)
    (tables / "summary.md").write_text(v2_markdown(runs))
    made["tables"].append("summary.md")
    made["figures"] += [str(p) for p in v2_learning_curves(runs, figures)]
    extra = make_claims(headline, figures, tables)
    for k in made:
        made[k] += extra[k]
    return made


# ---------------------------------------------------------------- all
def make_all(results: Path, figures: Path, tables: Path, run: str = "grpo") -> dict[str, list[str]]:
    made: dict[str, list[str]] = {"figures": [], "tables": [], "skipped": []}
    tables.mkdir(parents=True, exist_ok=True)

    def table(name: str, text: str) -> None:
        (tables / f"{name}.tex").write_text(text)
        made["tables"].append(name)

    vpath = results / "validation.json"
    if vpath.exists():
        v = json.loads(vpath.read_text())
        made["figures"] += [str(p) for p in funnel_figure(v, figures)]
        table("validation_funnel", funnel_table(v))
    else:
        made["skipped"].append(str(vpath))
    lpath = results / "train" / run / "log_history.csv"
    if lpath.exists() and lpath.stat().st_size > 0:
        made["figures"] += [str(p) for p in training_figures(pd.read_csv(lpath), figures)]
        spath = lpath.parent / "summary.json"
        if spath.exists():
            table("train_summary", train_table(json.loads(spath.read_text())))
    else:
        made["skipped"].append(str(lpath))
    mpath = results / "eval" / "metrics.json"
    if mpath.exists():
        m = json.loads(mpath.read_text())
        made["figures"] += [str(p) for p in passk_figure(m, figures) + error_breakdown_figure(m, figures)]
        table("passk", passk_table(m))
    else:
        made["skipped"].append(str(mpath))
    ppath = results / "eval" / "paired.json"
    paired = json.loads(ppath.read_text()) if ppath.exists() else {}
    if paired:
        table("paired", paired_table(paired))
    return made
