"""How much the completion-protocol results depend on where an answer is cut: every completion-protocol answer
re-scored under each rule below, in the real sandbox, from the device's originals.

Rules (MultiPL-E problems under the completion protocol only; chat answers never hold a control token):

* ``device``              the program the device ran, as generated (1.5B answers; before the control-token rule)
* ``control-token-cut``   (a) today's rule: the answer ends at MultiPL-E's stop sequences and at the first control
                          token written as text (``<|fim_prefix|>``, …; rarelang.evaluate.programs)
* ``multipl-e``           (b) MultiPL-E's own pipeline: the tokenizer drops the special tokens (the Qwen2.5 tokenizer
                          of the packaged model: encode, then decode with skip_special_tokens), then its stop
                          sequences alone cut the answer
* ``control-token-fails`` (c) an answer that holds a control token before its first stop sequence fails
* ``julia-fence-stop``    every Julia answer (0.5B and 1.5B) under rule (a) with a closing code fence (a line starting
                          with ```) added to the stop sequences

(a)–(c) and ``device`` apply to the 1.5B students' answers (no 0.5B answer holds a control token). MultiPL-E also
strips the prompt before generation; our completion protocol does not, and stored answers cannot be re-asked.

A verdict is the sandbox's: a row whose program under the rule is the one the device ran keeps the device's verdict;
any other program is looked up among verdicts the sandbox already gave the same program of the same problem (the
device's, the committed CPU re-scores', earlier runs of this module) and run in the sandbox otherwise (``fresh``:
every program is run again). Outputs are separate files derived from the originals; nothing is overwritten.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from ..evaluate.compare import cell_parts, paired_difference, per_problem, suite_name
from ..evaluate.programs import CONTROL_TOKEN, stop_at_stop_tokens
from ..evaluate.suites import MULTIPLE_SUITES, Problem, multipl_e
from .originals import guard
from .plan import Plan

FENCE_STOP = "\n```"
VERDICT = ["status", "passed", "tests_passed", "tests_total", "duration_s", "message"]
READ = ["model", "suite", "protocol", "setting", "lang", "task_id", "sample", "completion", "program", *VERDICT]


@dataclass(frozen=True)
class Rule:
    name: str
    what: str
    students: tuple[str, ...] | None      # the plan's bases whose answers it applies to (None: every one)
    languages: tuple[str, ...] | None     # None: both


def rules(plan: Plan) -> dict[str, Rule]:
    big = tuple(k for k in plan.bases if "1.5b" in k)
    return {r.name: r for r in (
        Rule("device", "the program the device ran, as generated (no control-token rule)", big, None),
        Rule("control-token-cut", "(a) cut at the stop sequences and at the first control token written as text "
             "(today's rule)", big, None),
        Rule("multipl-e", "(b) MultiPL-E's pipeline: special tokens dropped by the tokenizer, then its stop "
             "sequences", big, None),
        Rule("control-token-fails", "(c) an answer with a control token before its first stop sequence fails",
             big, None),
        Rule("julia-fence-stop", "rule (a) with a closing code fence (\\n```) added to Julia's stop sequences",
             None, ("julia",)))}


# ------------------------------------------------------------------------------------------------ the answers
@dataclass(frozen=True)
class Source:
    label: str                  # the model: a test's label, or base:<student>
    role: str                   # base | trained
    student: str                # the plan's base key
    original: str               # the device's frame (repository-relative)
    amended: str | None         # the committed frame that amends it (scripts/rescore.py), if any


def device_original(path: str, root: Path) -> tuple[str, str | None]:
    """(the device's original of a committed frame, the amended frame or None)."""
    p = Path(path)
    dev = p.with_name(p.name.replace("completions", "completions-device", 1))
    return (str(dev), path) if (root / dev).exists() else (path, None)


def _has_completion_rows(path: Path) -> bool:
    df = pd.read_parquet(path, columns=["suite", "protocol"])
    return bool(((df["protocol"] == "completion") & df["suite"].isin(MULTIPLE_SUITES)).any())


def sources(plan: Plan, root: Path) -> list[Source]:
    """Every frame of the plan that holds completion-protocol answers of a MultiPL-E suite, each base frame once."""
    out: list[Source] = []
    for key, files in plan.bases.items():
        out += [Source(f"base:{key}", "base", key, *device_original(f, root)) for f in files]
    for t in plan.tests:
        out += [Source(t.label, "trained", t.base, *device_original(f, root)) for f in t.trained]
    return [s for s in out if _has_completion_rows(root / s.original)]


def read_completion_rows(path: Path) -> pd.DataFrame:
    """A frame's completion-protocol MultiPL-E rows (with their row number in the file) and what scoring needs."""
    import pyarrow.parquet as pq
    have = set(pq.read_schema(path).names)
    df = pd.read_parquet(path, columns=[c for c in READ if c in have])
    df["row"] = np.arange(len(df))
    df = df[(df["protocol"] == "completion") & df["suite"].isin(MULTIPLE_SUITES)].reset_index(drop=True)
    for c in READ:
        if c not in df:
            df[c] = None
    return df


# ------------------------------------------------------------------------------------------------ the programs
def load_tokenizer(path: Path):
    """The packaged model's tokenizer, from a transformers folder or straight from its GGUF file."""
    from transformers import AutoTokenizer
    path = Path(path)
    if path.suffix == ".gguf":
        return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    return AutoTokenizer.from_pretrained(str(path))


def special_token_dropper(tok) -> Callable[[str], str]:
    """What MultiPL-E's decoding does to an answer: special tokens dropped (encode the text, in which the tokenizer
    finds its added tokens, and decode with skip_special_tokens)."""
    def drop(text: str) -> str:
        return tok.decode(tok.encode(text, add_special_tokens=False), skip_special_tokens=True)
    return drop


def rule_program(rule: str, p: Problem, completion: str, device_program: str | None,
                 drop: Callable[[str], str] | None) -> str | None:
    """The program an answer becomes under a rule; None: the rule fails it without running it."""
    if rule == "device":
        return device_program if device_program else p.prompt + stop_at_stop_tokens(completion, p.stop)
    if rule == "control-token-cut":
        return p.prompt + stop_at_stop_tokens(completion, p.stop)
    if rule == "multipl-e":
        if drop is None:
            raise ValueError("rule multipl-e needs the tokenizer (special_token_dropper)")
        return p.prompt + stop_at_stop_tokens(drop(completion), p.stop, control_tokens=False)
    if rule == "control-token-fails":
        text = stop_at_stop_tokens(completion, p.stop, control_tokens=False)
        return None if CONTROL_TOKEN.search(text) else p.prompt + text
    if rule == "julia-fence-stop":
        return p.prompt + stop_at_stop_tokens(completion, [*p.stop, FENCE_STOP])
    raise ValueError(f"unknown rule {rule!r}")


def job_key(lang: str, suite: str, task_id: str, program: str) -> str:
    return hashlib.sha256("\0".join((lang, suite, task_id, program)).encode()).hexdigest()


# ------------------------------------------------------------------------------------------------ the verdicts
class Verdicts:
    """Verdicts the sandbox gave a program of a problem (key: job_key), with where each came from."""

    def __init__(self):
        self.known: dict[str, tuple[dict[str, Any], str]] = {}
        self.conflicts = 0

    def add(self, key: str, verdict: dict[str, Any], source: str) -> None:
        if verdict["status"] == "sandbox_error":         # not a verdict: the harness could not judge
            return
        old = self.known.get(key)
        if old is None:
            self.known[key] = (verdict, source)
        elif bool(old[0]["passed"]) != bool(verdict["passed"]):
            self.conflicts += 1                          # the same program judged both ways (timeouts): first kept

    def add_frame(self, df: pd.DataFrame, programs: Iterable[str], source: str) -> None:
        for r, prog in zip(df.itertuples(index=False), programs):
            if prog:
                self.add(job_key(r.lang, r.suite, r.task_id, prog), {c: getattr(r, c) for c in VERDICT}, source)


def _frame_programs(df: pd.DataFrame) -> list[str]:
    return [p if isinstance(p, str) else "" for p in df["program"]]


@dataclass
class Work:
    source: Source
    rule: str
    frame: pd.DataFrame         # the source's completion rows
    programs: list[str | None]
    device_programs: list[str]


def plan_work(plan: Plan, root: Path, problems: dict[tuple[str, str], Problem], selected: Iterable[str],
              drop: Callable[[str], str] | None, progress: Callable[[str], None] = lambda s: None) -> list[Work]:
    table = rules(plan)
    out = []
    frames: dict[str, pd.DataFrame] = {}
    for s in sources(plan, root):
        for name in selected:
            rule = table[name]
            if rule.students is not None and s.student not in rule.students:
                continue
            if s.original not in frames:
                frames[s.original] = read_completion_rows(root / s.original)
            df = frames[s.original]
            df = df if rule.languages is None else df[df["lang"].isin(rule.languages)].reset_index(drop=True)
            if df.empty:
                continue
            dev = [rule_program("device", problems[(r.suite, r.task_id)], r.completion, r.program, None)
                   for r in df.itertuples(index=False)]
            progs = [rule_program(name, problems[(r.suite, r.task_id)], r.completion, d, drop)
                     for r, d in zip(df.itertuples(index=False), dev)]
            out.append(Work(s, name, df, progs, dev))
            progress(f"{name}: {s.label} {s.original} ({len(df)} answers)")
    return out


def known_verdicts(work: list[Work], root: Path, runs: pd.DataFrame | None, fresh: bool) -> Verdicts:
    """Verdicts already given: the device's (each frame's own programs), the committed re-scores' and earlier runs
    of this module. ``fresh``: only the runs of this module (every program is run again)."""
    v = Verdicts()
    if runs is not None and len(runs):
        for r in runs.itertuples(index=False):
            v.add(r.key, {c: getattr(r, c) for c in VERDICT}, "sandbox")
    if fresh:
        return v
    seen = set()
    for w in work:
        if w.source.original in seen:
            continue
        seen.add(w.source.original)
        v.add_frame(w.frame, w.device_programs, "device")
        if w.source.amended:
            cur = read_completion_rows(root / w.source.amended)
            if len(cur) == len(w.frame) and (cur["task_id"].to_numpy() == w.frame["task_id"].to_numpy()).all():
                v.add_frame(cur, _frame_programs(cur), "re-scored")
    return v


def jobs_to_run(work: list[Work], verdicts: Verdicts, problems: dict) -> dict[str, tuple[str, str, str, str, str]]:
    """key → (lang, suite, task_id, program, tests) of every program no verdict is known for."""
    todo: dict[str, tuple[str, str, str, str, str]] = {}
    for w in work:
        for r, prog in zip(w.frame.itertuples(index=False), w.programs):
            if prog is None:
                continue
            key = job_key(r.lang, r.suite, r.task_id, prog)
            if key not in verdicts.known and key not in todo:
                todo[key] = (r.lang, r.suite, r.task_id, prog, problems[(r.suite, r.task_id)].tests)
    return todo


def run_jobs(todo: dict[str, tuple], pool, timeout_s: float | None, partial: Path, chunk: int = 500,
             progress: bool = True) -> list[dict[str, Any]]:
    """Run the programs in the sandbox, ``chunk`` at a time, each chunk's outcomes appended to ``partial`` (jsonl)
    as soon as it finishes: a crash loses at most one chunk, and a new call resumes."""
    from ..sandbox import Job
    done = []
    items = list(todo.items())
    partial.parent.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(items), chunk):
        part = items[start:start + chunk]
        jobs = [Job(lang, prog, tests, id=key, timeout_s=timeout_s) for key, (lang, _s, _t, prog, tests) in part]
        outs = pool.run_all(jobs, progress=progress, desc=f"sandbox {start + len(part)}/{len(items)}")
        rows = [{"key": key, "lang": lang, "suite": suite, "task_id": task, "status": o.status.value,
                 "passed": bool(o.passed), "tests_passed": int(o.tests_passed), "tests_total": int(o.tests_total),
                 "duration_s": float(o.duration_s), "message": o.message[:300]}
                for (key, (lang, suite, task, _p, _t)), o in zip(part, outs)]
        with open(partial, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        done += rows
    return done


def read_runs(out: Path) -> pd.DataFrame | None:
    """The sandbox's outcomes so far: the committed runs file and the partial file of an interrupted call."""
    frames = []
    if (out / "sandbox-runs.parquet").exists():
        frames.append(pd.read_parquet(out / "sandbox-runs.parquet"))
    if (out / ".partial" / "runs.jsonl").exists():
        lines = [json.loads(x) for x in (out / ".partial" / "runs.jsonl").read_text().splitlines() if x.strip()]
        if lines:
            frames.append(pd.DataFrame(lines))
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True).drop_duplicates("key", keep="last")


def verdict_rows(work: list[Work], verdicts: Verdicts) -> pd.DataFrame:
    """One row per answer and rule: its verdict under the rule and where the verdict came from."""
    rows = []
    for w in work:
        for r, prog, dev in zip(w.frame.itertuples(index=False), w.programs, w.device_programs):
            base = {"rule": w.rule, "model": w.source.label, "source": w.source.original, "row": int(r.row),
                    "suite": r.suite, "lang": r.lang, "task_id": r.task_id, "sample": int(r.sample),
                    "setting": r.setting, "program_changed": prog != dev}
            if prog is None:
                rows.append({**base, "status": "control_token", "passed": False, "judged": "rule"})
                continue
            own = (prog == dev and r.status != "sandbox_error")
            if own:
                rows.append({**base, "status": r.status, "passed": bool(r.passed), "judged": "device"})
                continue
            got = verdicts.known.get(job_key(r.lang, r.suite, r.task_id, prog))
            if got is None:
                rows.append({**base, "status": "sandbox_error", "passed": False, "judged": "unjudged"})
            else:
                rows.append({**base, "status": got[0]["status"], "passed": bool(got[0]["passed"]), "judged": got[1]})
    df = pd.DataFrame(rows)
    for c in ("rule", "model", "source", "suite", "lang", "setting", "status", "judged"):
        df[c] = df[c].astype("category")
    return df


# ------------------------------------------------------------------------------------------------ the report
def _frame_for(df: pd.DataFrame, model: str) -> pd.DataFrame:
    return pd.DataFrame({"model": model, "suite": df["suite"].astype(str), "protocol": "completion",
                         "setting": df["setting"].astype(str), "lang": df["lang"].astype(str),
                         "task_id": df["task_id"], "sample": df["sample"], "passed": df["passed"].astype(bool)})


def summarize(verdicts: pd.DataFrame, work: list[Work], plan: Plan, draws: int, seed: int) -> dict[str, Any]:
    """pass@1 per model, suite, language and rule; the paired difference of every test against its base under each
    rule; the share of answers with a control token; how each rule's verdicts were obtained."""
    passk, paired, shares, counts = [], [], [], {}
    for (rule, model), g in verdicts.groupby(["rule", "model"], observed=True, sort=False):
        for (suite, lang), h in g.groupby(["suite", "lang"], observed=True):
            pp = per_problem(_frame_for(h, model), 1)
            passk.append({"rule": rule, "model": model, "suite": suite_name(suite), "language": lang,
                          "problems": int(len(pp)),
                          "answers": int(len(h)), "pass@1": float(pp.mean()),
                          "programs_changed": int(h["program_changed"].sum())})
    for rule, g in verdicts.groupby("rule", observed=True, sort=False):
        counts[rule] = {k: int(v) for k, v in g["judged"].value_counts().items() if v}
        for t in plan.tests:
            base = g[g["model"] == f"base:{t.base}"]
            trained = g[g["model"] == t.label]
            if base.empty or trained.empty:
                continue
            rep = paired_difference(_frame_for(base, "base"), _frame_for(trained, "trained"), iters=draws, seed=seed)
            for key, d in rep.items():
                suite, _protocol, lang = cell_parts(key)
                paired.append({"rule": rule, "run": t.label, "suite": suite, "language": lang,
                               "problems": d["problems"], "base": d["base_pass@1"], "trained": d["other_pass@1"],
                               "diff": d["difference"], "ci_low": d["difference_ci95"][0],
                               "ci_high": d["difference_ci95"][1], "better": d["better"], "worse": d["worse"],
                               "sign_test_p": d["sign_test_p"]})
    for w in work:
        if w.rule != "control-token-cut":
            continue
        has = [bool(CONTROL_TOKEN.search(stop_at_stop_tokens(c, [], control_tokens=False)))
               for c in w.frame["completion"]]
        f = w.frame.assign(has=has)
        for (suite, lang), h in f.groupby(["suite", "lang"]):
            shares.append({"model": w.source.label, "suite": suite_name(suite), "language": lang,
                           "answers": int(len(h)),
                           "with_control_token": int(h["has"].sum()), "share": float(h["has"].mean())})
    return {"pass@1": passk, "paired": paired, "control_token_share": shares, "judged": counts}


def markdown(summary: dict[str, Any]) -> str:
    """The paired differences under every rule, one row per run, suite and language (a rule's column each)."""
    paired = pd.DataFrame(summary["paired"])
    order = [r for r in summary["rules"] if r in set(paired["rule"])] if len(paired) else []
    out = ["# Sensitivity of the completion-protocol results to where an answer is cut",
           "", f"Generated by `{summary['command']}` (rarelang.analysis.sensitivity); every verdict is the sandbox's "
           "(see `summary.json` → `judged`). Paired difference trained − base, pass@1 (n = 20, T = 0.2), "
           "95% bootstrap CI.", "", "Rules:", ""]
    out += [f"- `{r}`: {summary['rules'][r]}" for r in order]
    if summary.get("multipl_e_strips_the_prompt"):
        out += ["", summary["multipl_e_strips_the_prompt"]]
    out += ["", "| run | suite | language | " + " | ".join(f"`{r}`" for r in order) + " |",
            "|---|---|---|" + "---|" * len(order)]
    if len(paired):
        for (run, suite, lang), g in paired.groupby(["run", "suite", "language"], sort=False):
            cells = []
            for r in order:
                x = g[g["rule"] == r]
                cells.append("–" if x.empty else
                             f"{x['base'].iloc[0]:.3f} → {x['trained'].iloc[0]:.3f}, **{x['diff'].iloc[0]:+.3f}** "
                             f"[{x['ci_low'].iloc[0]:+.3f}, {x['ci_high'].iloc[0]:+.3f}]")
            out.append(f"| {run} | {suite} | {lang} | " + " | ".join(cells) + " |")
    shares = pd.DataFrame(summary["control_token_share"])
    if len(shares):
        out += ["", "Share of 1.5B completion-protocol answers holding a control token before their first stop "
                    "sequence:", "", "| model | suite | language | answers | with a control token |",
                "|---|---|---|---|---|"]
        out += [f"| {r.model} | {r.suite} | {r.language} | {r.answers} | {r.with_control_token} ({100 * r.share:.0f}%) |"
                for r in shares.itertuples()]
    out += ["", "How each rule's verdicts were obtained (`device`: the device's own verdict of the same program; "
                "`re-scored`: the committed CPU re-score's; `sandbox`: run here; `rule`: failed by the rule):", ""]
    out += [f"- `{r}`: " + ", ".join(f"{k} {v:,}" for k, v in c.items()) for r, c in summary["judged"].items()]
    return "\n".join(out) + "\n"


def write_outputs(out: Path, root: Path, verdicts: pd.DataFrame, runs: pd.DataFrame | None,
                  summary: dict[str, Any]) -> list[Path]:
    """verdicts.parquet, sandbox-runs.parquet, summary.json, README.md under ``out`` (never a device original)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, write in (("verdicts.parquet", lambda p: verdicts.to_parquet(p, index=False)),
                        ("sandbox-runs.parquet", lambda p: runs.to_parquet(p, index=False) if runs is not None else None),
                        ("summary.json", lambda p: p.write_text(json.dumps(summary, indent=1) + "\n")),
                        ("README.md", lambda p: p.write_text(markdown(summary)))):
        path = guard(out / name, root)
        if name == "sandbox-runs.parquet" and runs is None:
            continue
        write(path)
        written.append(path)
    return written


def problems_of(suites: Iterable[str], mdir: Path) -> dict[tuple[str, str], Problem]:
    return {(s, p.task_id): p for s in sorted(set(suites)) for p in multipl_e(s, mdir)}
