"""The evaluate stage: for each model (base, trained, replayed…) × suite × sampling setting,
generate n completions per problem, run them in the sandbox, and report pass@k with bootstrap
95% CIs and a per-status breakdown. Every completion and its outcome is stored."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..languages import canonical_language
from ..params import default
from ..sandbox import Job, SandboxPool, Status
from ..llm import Generator, ReplayGenerator, adapter_rank, local_model, make_generator
from .passk import bootstrap_ci, mean_pass_at_k
from .programs import ask, asked, program_for
from .suites import Problem, load_suite

log = logging.getLogger(__name__)


PROTOCOLS = ("chat", "completion")


def metric_key(model: str, suite: str, protocol: str, setting: str, lang: str) -> str:
    """``model/suite/setting/lang``; a MultiPL-E suite under the completion protocol is named
    ``suite+completion`` (chat numbers keep the plain suite name, as before)."""
    if protocol == "completion" and suite != "heldout":
        suite = f"{suite}+completion"
    return f"{model}/{suite}/{setting}/{lang}"


def summarize(df: pd.DataFrame, ks: list[int], iters: int, seed: int) -> dict[str, Any]:
    """pass@k (+CI) and status fractions from a frame with one row per completion."""
    per = df.groupby("task_id").agg(n=("passed", "size"), c=("passed", "sum"))
    out: dict[str, Any] = {"problems": int(len(per)), "completions": int(len(df)),
                           "samples_per_problem": int(per["n"].min()) if len(per) else 0}
    for k in ks:
        if len(per) and k <= per["n"].min():
            lo, hi = bootstrap_ci(per["n"].tolist(), per["c"].tolist(), k, iters=iters, seed=seed)
            out[f"pass@{k}"] = mean_pass_at_k(per["n"].tolist(), per["c"].tolist(), k)
            out[f"pass@{k}_ci95"] = [lo, hi]
    counts = collections.Counter(df["status"])
    out["statuses"] = {s.value: counts.get(s.value, 0) / max(1, len(df)) for s in Status}
    return out


def frame_metrics(df: pd.DataFrame, ks: list[int], iters: int, seed: int) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """metrics.json's entries for one model's completions of one suite under one protocol and setting:
    (language, ``metric_key``, pass@k with CIs + status fractions + protocol), one per language."""
    for lang, g in df.groupby("lang"):
        first = g.iloc[0]
        yield lang, metric_key(first["model"], first["suite"], first["protocol"], first["setting"], lang), {
            **summarize(g, ks, iters, seed), "protocol": first["protocol"]}


def protocols_for(suite: str, spec: dict[str, Any], protocols: list[str]) -> list[str]:
    """The protocols one model is evaluated under on one suite. MultiPL-E suites: ``evaluate.protocols``
    (``completion``: MultiPL-E's own; ``chat``: our instruct adaptation), minus ``chat`` for a model
    without a chat template (``chat: false``) and limited by the model's own ``protocols``; held-out:
    one protocol, the model's own mode (its prompts are instructions)."""
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown:
        raise ValueError(f"evaluate.protocols: unknown {sorted(unknown)}; known: {list(PROTOCOLS)}")
    chat_ok = bool(spec.get("chat", True))
    if suite == "heldout":
        return ["chat" if chat_ok else "completion"]
    out = [p for p in protocols if (p != "chat" or chat_ok) and p in spec.get("protocols", PROTOCOLS)]
    return out


def with_extra_stops(problems: list[Problem], protocol: str | None, extra: list[str]) -> list[Problem]:
    """Under the completion protocol, MultiPL-E problems stop at ``evaluate.completion_extra_stops`` too (headline
    v3: a closing code fence): generation stops there and the program is cut there. Chat answers never are (their
    code sits between fences)."""
    if protocol != "completion" or not extra:
        return problems
    return [dataclasses.replace(p, stop=[*p.stop, *[x for x in extra if x not in p.stop]]) if p.kind == "multipl-e"
            else p for p in problems]


def evaluate_model(name: str, gen: Generator, problems: list[Problem], suite: str, setting: dict[str, Any],
                   pool: SandboxPool, *, max_tokens: int, timeout_s: float | None, seed: int,
                   replay_is_code: bool = False, progress: bool = True, protocol: str | None = None) -> pd.DataFrame:
    """Generate and score one model on one suite under one sampling setting and one protocol
    (``chat`` or ``completion``; default: the generator's own mode)."""
    n, temp = int(setting["n"]), float(setting["temperature"])
    own_chat = gen.chat
    if protocol is not None and not isinstance(gen, ReplayGenerator):
        gen.chat = protocol == "chat"
    try:
        return _evaluate_model(name, gen, problems, suite, setting, pool, n=n, temp=temp, max_tokens=max_tokens,
                               timeout_s=timeout_s, seed=seed, replay_is_code=replay_is_code, progress=progress)
    finally:
        gen.chat = own_chat


def _evaluate_model(name, gen, problems, suite, setting, pool, *, n, temp, max_tokens, timeout_s, seed,
                    replay_is_code, progress) -> pd.DataFrame:
    protocol = "chat" if gen.chat else "completion"
    t0 = time.perf_counter()
    if isinstance(gen, ReplayGenerator):
        comps = gen.completions_for(problems)
        keep = [(p, c) for p, c in zip(problems, comps) if c]
        if len(keep) < len(problems):
            log.warning("replay %s: %d problem(s) have no stored completion", name, len(problems) - len(keep))
        problems, comps = [p for p, _ in keep], [c for _, c in keep]
    # one prompt per problem, by position: a suite of several languages holds the same task id once per
    # language (the held-out split translates one problem into each), so a task-id key gave the Julia
    # problem the R problem's prompt (75 of 400 held-out Julia problems, every two-language evaluation
    # before 2026-11-25)
    if isinstance(gen, ReplayGenerator):
        shown = [asked(p, gen.chat) for p in problems]
    else:
        shown, comps = ask(gen, problems, n, temp, max_tokens, seed)
    generation_s = time.perf_counter() - t0
    rows, jobs, where = [], [], []
    for p, prompt, samples in zip(problems, shown, comps):
        tests = gen.tests_for(p) if isinstance(gen, ReplayGenerator) else p.tests
        for j, c in enumerate(samples):
            program = c if replay_is_code else program_for(p, c, gen.chat)
            rows.append({"model": name, "suite": suite, "protocol": protocol, "setting": setting["name"],
                         "task_id": p.task_id, "lang": p.lang, "sample": j, "temperature": temp,
                         "prompt": prompt, "entry_point": p.entry_point,
                         "repairs": ",".join(p.repairs), "completion": c, "program": program or ""})
            if program is None:
                rows[-1].update(status=Status.SYNTAX_ERROR.value, passed=False, tests_passed=0, tests_total=0,
                                message="no code in the completion", duration_s=0.0)
            else:
                jobs.append(Job(p.lang, program, tests, id=str(len(rows) - 1), timeout_s=timeout_s))
                where.append(len(rows) - 1)
    t1 = time.perf_counter()
    for i, o in zip(where, pool.run_all(jobs, progress=progress, desc=f"{name}/{suite}")):
        rows[i].update(status=o.status.value, passed=o.passed, tests_passed=o.tests_passed,
                       tests_total=o.tests_total, message=o.message[:300], duration_s=o.duration_s)
    unjudged = sum(rows[i]["status"] == Status.SANDBOX_ERROR.value for i in where)
    if unjudged:    # counted as failures: say so (scripts/rescore.py --only-status sandbox_error re-runs them)
        log.warning("%s/%s (%s): %d of %d job(s) could not be judged by the sandbox (sandbox_error); re-run them "
                    "with scripts/rescore.py --only-status sandbox_error", name, suite, protocol, unjudged, len(jobs))
    df = pd.DataFrame(rows)
    df.attrs["timing"] = {"model": name, "suite": suite, "protocol": protocol, "setting": setting["name"],
                          "problems": len(problems),
                          "n": n, "completions": len(rows), "generation_s": round(generation_s, 2),
                          "scoring_s": round(time.perf_counter() - t1, 2), "backend": gen.name}
    return df


def sample_per_language(problems: list[Problem], n: int, seed: int, how: str = "positional") -> list[Problem]:
    """A fixed seeded sample of ``n`` problems per language (all of a language with fewer), in the
    suite's order: the same problems for every model and run with this seed.

    ``positional`` (every headline-v2 evaluation): a seeded permutation of the positions — one problem more or
    less anywhere in the suite moves most of the sample. ``hash``: the ``n`` problems whose seeded hash of the
    task id ranks lowest — a problem is in or out by its own id, whatever else the suite holds."""
    if how not in ("positional", "hash"):
        raise ValueError(f"evaluate.heldout_sample: {how!r} (positional or hash)")
    out: list[Problem] = []
    for lang in sorted({p.lang for p in problems}):
        mine = [p for p in problems if p.lang == lang]
        if how == "hash":
            rank = sorted(range(len(mine)), key=lambda i: hashlib.sha256(f"heldout:{seed}:{mine[i].task_id}".encode()).digest())
            out += [mine[i] for i in sorted(rank[:n])]
            continue
        rng = np.random.default_rng(seed)
        out += [mine[i] for i in sorted(rng.permutation(len(mine))[:n])]
    return out


def load_suites(params: dict[str, Any], repo: Path) -> dict[str, list[Problem]]:
    """``evaluate.suites`` → their problems in the evaluated languages (held-out: the fixed per-language
    sample; ``evaluate.limit``: a seeded subset of every other suite)."""
    ep = params.get("evaluate") or {}
    langs = [canonical_language(x) for x in ep.get("languages", ["julia", "r"])]
    mdir = ep.get("multipl_e_dir")
    mdir = (Path(mdir) if Path(mdir).is_absolute() else repo / mdir) if mdir else None
    heldout = Path(ep.get("heldout", "data/processed/test.parquet"))
    heldout = heldout if heldout.is_absolute() else repo / heldout
    limit = ep.get("limit")
    seed = int(ep.get("seed", default("evaluate.seed", 0)))
    suites = {}
    for s in ep.get("suites", ["heldout"]):
        probs = load_suite(s, heldout_path=heldout, languages=langs, multipl_e_dir=mdir,
                           signature=bool((params.get("prompt") or {}).get("signature", True)))
        probs = [p for p in probs if p.lang in langs]
        if s == "heldout" and ep.get("heldout_per_language"):
            probs = sample_per_language(probs, int(ep["heldout_per_language"]), seed,
                                        str(ep.get("heldout_sample", "positional")))
        elif limit:
            rng = np.random.default_rng(seed)
            probs = [probs[i] for i in sorted(rng.permutation(len(probs))[: int(limit)])]
        suites[s] = probs
    return suites


def suite_metrics(df: pd.DataFrame, ks: list[int], ep: dict[str, Any], seed: int,
                  problems: list[Problem]) -> dict[str, Any]:
    """metrics.json's entries for one model × suite × protocol × setting frame (``frame_metrics``) with
    the number of the suite's prompts that were repaired, per language."""
    return {key: {**entry, "repaired_prompts": int(sum(bool(p.repairs) for p in problems if p.lang == lang))}
            for lang, key, entry in frame_metrics(df, ks, int(ep.get("bootstrap", 2000)), seed)}


def metrics_from_partial(params: dict[str, Any], repo: Path, out_dir: Path) -> dict[str, Any]:
    """An evaluation that was cut off: metrics of what ``completions.partial.parquet`` holds (each
    model × suite × protocol × setting it finished), written as the full results would have been
    (completions.parquet, timings.json; the partial files removed). Raises if there is nothing to use."""
    part = out_dir / "completions.partial.parquet"
    if not part.exists():
        raise FileNotFoundError(f"{part}: no partial results (the evaluation finished no suite, or finished all)")
    df = pd.read_parquet(part)
    ep = params.get("evaluate") or {}
    seed = int(ep.get("seed", default("evaluate.seed", 0)))
    suites = load_suites(params, repo)
    ks = {s["name"]: list(s.get("k", [1])) for s in ep.get("samples", [])}
    metrics: dict[str, Any] = {}
    for (_, suite, _, setting), g in df.groupby(["model", "suite", "protocol", "setting"], sort=False, dropna=False):
        if suite not in suites:
            raise ValueError(f"{part}: suite {suite!r} is not in evaluate.suites {list(suites)} of these params")
        metrics.update(suite_metrics(g, ks.get(setting, [1]), ep, seed, suites[suite]))
    df.to_parquet(out_dir / "completions.parquet", index=False)
    tp = out_dir / "timings.partial.json"
    (out_dir / "timings.json").write_text(tp.read_text() if tp.exists() else "[]\n")
    for f in PARTIAL_FILES:
        (out_dir / f).unlink(missing_ok=True)
    return metrics


def model_specs(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``evaluate.models``, with ``adapter: auto`` made the adapter the run trained
    (``<train.output_root>/<train.run_name>/adapter``): it follows the run's name wherever that goes."""
    tp = params.get("train") or {}
    own = f"{tp.get('output_root', 'models')}/{tp.get('run_name') or 'grpo'}/adapter"
    return {name: ({**spec, "adapter": own} if isinstance(spec, dict) and spec.get("adapter") == "auto" else spec)
            for name, spec in ((params.get("evaluate") or {}).get("models") or {}).items()}


def run_evaluation(params: dict[str, Any], repo: Path, *, out_dir: Path, progress: bool = True,
                   only_models: list[str] | None = None) -> dict[str, Any]:
    ep = params.get("evaluate") or {}
    seed = int(ep.get("seed", default("evaluate.seed", 0)))
    suites = load_suites(params, repo)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, Any] = {}
    frames, timings = [], []
    models = {k: v for k, v in model_specs(params).items() if not only_models or k in only_models}
    engines: dict[Any, Any] = {}          # one vLLM engine per model: base and adapter share it
    lora_ranks: dict[str, int] = {}
    for s in models.values():
        if s.get("engine") in ("vllm", "auto") and s.get("adapter"):
            a = Path(s["adapter"]) if Path(s["adapter"]).is_absolute() else repo / s["adapter"]
            if (a / "adapter_config.json").exists():      # a missing adapter is reported by make_generator
                m = local_model(str(s["model"]), repo)
                lora_ranks[m] = max(lora_ranks.get(m, 0), adapter_rank(a))
    protocols = list(ep.get("protocols", ["chat"]))
    extra_stops = list(ep.get("completion_extra_stops") or [])
    with SandboxPool.from_params(params) as pool:
        for name, spec in models.items():
            t_start = time.perf_counter()
            gen = make_generator(spec, repo, engines, lora_ranks)
            timings.append({"model": name, "start_s": round(time.perf_counter() - t_start, 2),
                            "backend": gen.name})
            try:
                for setting in ep.get("samples", [{"name": "pass1", "n": 1, "temperature": 0.2, "k": [1]}]):
                    for suite, probs in suites.items():
                        if spec.get("suites") and suite not in spec["suites"]:
                            continue
                        for protocol in (protocols_for(suite, spec, protocols)
                                         if not isinstance(gen, ReplayGenerator) else [None]):
                            df = evaluate_model(name, gen, with_extra_stops(probs, protocol, extra_stops), suite,
                                                setting, pool,
                                                max_tokens=int(ep.get("max_tokens", default("evaluate.max_tokens", 256))),
                                                timeout_s=ep.get("timeout_s"), seed=seed,
                                                replay_is_code=bool(spec.get("replay_is_code", False)),
                                                progress=progress, protocol=protocol)
                            frames.append(df)
                            timings.append(df.attrs["timing"])
                            write_partial(out_dir, frames, timings)
                            metrics.update(suite_metrics(df, list(setting.get("k", [1])), ep, seed, probs))
            finally:
                gen.close()
    allc = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    allc.to_parquet(out_dir / "completions.parquet", index=False)
    (out_dir / "timings.json").write_text(json.dumps(timings, indent=1) + "\n")
    for f in PARTIAL_FILES:
        (out_dir / f).unlink(missing_ok=True)
    return metrics


PARTIAL_FILES = ("completions.partial.parquet", "timings.partial.json")


def write_partial(out_dir: Path, frames: list[pd.DataFrame], timings: list[dict[str, Any]]) -> None:
    """What an evaluation has finished so far (every suite × protocol × setting done): a run cut off
    (a machine taken back, a time limit) keeps it in ``completions.partial.parquet`` (+ timings), which
    ``scripts/evaluate.py --from-partial`` turns into metrics. Written to a temporary name and renamed,
    so a kill mid-write leaves the previous partial file whole; removed once the full results are written."""
    for name, write in (("completions.partial.parquet",
                         lambda f: pd.concat(frames, ignore_index=True).to_parquet(f, index=False)),
                        ("timings.partial.json", lambda f: f.write_text(json.dumps(timings, indent=1) + "\n"))):
        tmp = out_dir / f".{name}.tmp"
        write(tmp)
        tmp.replace(out_dir / name)
