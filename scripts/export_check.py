#!/usr/bin/env python3
"""pass@1 of an exported model in each of its forms, on one small fixed set: the merged transformers folder
(bf16 weights, computed in float32 on the CPU), and the GGUF files `rarelang export` wrote (f16, Q4_K_M…)
through llama.cpp. Greedy (T = 0, one answer per problem) under the chat protocol, asked and scored as the
evaluation asks and scores (rarelang.evaluate.run.evaluate_model); a fixed seeded sample of HumanEval-Julia and
HumanEval-R (MultiPL-E; evaluate.multipl_e_dir). Writes OUT (pass@1, statuses, paired counts against the
transformers model, identical answers) and OUT's -completions.jsonl (every answer, the program run, its outcome).

    python scripts/export_check.py models/export/unified-0.5b -o results/export/unified-0.5b.json

Resumable: a form whose answers are already in the completions file is not asked again. A benchmark-like
result, not the headline's pass@1 (n = 20 at T = 0.2 there): it compares the forms with each other.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

from _common import setup, stage_parser, write_json
import pandas as pd

from rarelang.evaluate.run import evaluate_model, sample_per_language, summarize
from rarelang.evaluate.suites import load_suite
from rarelang.llm.generators import LlamaCppGenerator, TransformersGenerator
from rarelang.manifest import environment
from rarelang.sandbox import SandboxPool

SUITES = ("humaneval-jl", "humaneval-r")


def problems(params, repo: Path, per_language: int, seed: int):
    mdir = Path((params.get("evaluate") or {}).get("multipl_e_dir") or "../shared/multipl-e")
    mdir = mdir if mdir.is_absolute() else repo / mdir
    probs = [p for s in SUITES for p in load_suite(s, heldout_path=Path("-"), languages=["julia", "r"],
                                                   multipl_e_dir=mdir)]
    return sample_per_language(probs, per_language, seed)


def paired(df: pd.DataFrame, ref: str, other: str) -> dict:
    a = df[df["model"] == ref].set_index(["lang", "task_id"])["passed"]
    b = df[df["model"] == other].set_index(["lang", "task_id"])["passed"]
    j = pd.concat({"ref": a, "other": b}, axis=1).dropna()
    out = {}
    for lang, g in j.groupby(level=0):
        out[lang] = {"both": int((g["ref"] & g["other"]).sum()), f"only_{ref}": int((g["ref"] & ~g["other"]).sum()),
                     f"only_{other}": int((~g["ref"] & g["other"]).sum()), "neither": int((~g["ref"] & ~g["other"]).sum())}
    return out


def base_identity(made: dict, repo: Path) -> dict | None:
    """For each quantized file: the share of its quantized tensors' bytes equal to the packaged base model's GGUF
    (the tensors both files quantize to the same type; F32 tensors left out), and how many tensors that covers.
    Near 1: quantizing the merged weights rounded the adapter's changes away, back onto the base's grid."""
    import numpy as np
    from gguf import GGUFReader, GGMLQuantizationType

    from rarelang.models.registry import MODELS
    m = MODELS.get(made["base_model"])
    base_file = repo / "models" / "gguf" / m.filename if m else None
    if base_file is None or not base_file.exists():
        return None
    base = {t.name: t for t in GGUFReader(base_file).tensors}
    out = {"base_gguf": m.filename}
    for name, f in made["files"].items():
        if name == "f16":
            continue
        same = total = tensors = 0
        for t in GGUFReader(f["path"]).tensors:
            b = base.get(t.name)
            if b is None or b.tensor_type != t.tensor_type or t.tensor_type in (GGMLQuantizationType.F32,):
                continue
            x, y = np.asarray(b.data).view(np.uint8).ravel(), np.asarray(t.data).view(np.uint8).ravel()
            same, total, tensors = same + int((x == y).sum()), total + x.size, tensors + 1
        out[name] = {"bytes_equal": round(same / max(1, total), 4), "tensors_compared": tensors}
    return out


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("export_dir", help="a folder `rarelang export` wrote (merged/, *.gguf, export.json)")
    ap.add_argument("-o", "--out", required=True, help="results JSON (its -completions.jsonl beside it)")
    ap.add_argument("--per-language", type=int, default=20, help="problems per language (default 20)")
    ap.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    ap.add_argument("--max-tokens", type=int, default=768, help="new tokens per answer (default 768, the headline's)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for generation")
    ap.add_argument("--forms", default=None, help="comma-separated forms to ask, in this order (default: transformers "
                                                   "and every GGUF of export.json)")
    args = ap.parse_args()
    params, repo = setup(args)
    export_dir = Path(args.export_dir)
    made = json.loads((export_dir / "export.json").read_text())
    probs = problems(params, repo, args.per_language, args.seed)
    out = Path(args.out)
    comp_path = out.with_name(out.stem + "-completions.jsonl")
    done = pd.read_json(comp_path, lines=True) if comp_path.exists() and comp_path.stat().st_size else pd.DataFrame()
    forms = {"transformers": Path(made["merged"]), **{k: Path(v["path"]) for k, v in made["files"].items()}}
    if args.forms:
        unknown = set(args.forms.split(",")) - set(forms)
        if unknown:
            sys.exit(f"--forms: unknown {sorted(unknown)}; this export has {sorted(forms)}")
        forms = {k: forms[k] for k in args.forms.split(",")}
    setting = {"name": "greedy", "n": 1, "temperature": 0.0}
    timings = {}
    with SandboxPool.from_params(params) as pool:
        for name, path in forms.items():
            if len(done) and (done["model"] == name).sum() == len(probs):
                continue
            t0 = time.perf_counter()
            gen = (TransformersGenerator(path, chat=True, batch_size=4, dtype="float32", device="cpu",
                                         threads=args.threads, progress=not args.quiet) if name == "transformers"
                   else LlamaCppGenerator(path, chat=True, threads=args.threads))
            frames = [evaluate_model(name, gen, [p for p in probs if p.lang == lang], suite, setting, pool,
                                     max_tokens=args.max_tokens, timeout_s=None, seed=args.seed,
                                     progress=not args.quiet, protocol="chat")
                      for suite, lang in (("humaneval-jl", "julia"), ("humaneval-r", "r"))]
            gen.close()
            df = pd.concat(frames, ignore_index=True)
            timings[name] = {"seconds": round(time.perf_counter() - t0, 1),
                             "generation_s": sum(f.attrs["timing"]["generation_s"] for f in frames)}
            done = pd.concat([d for d in (done, df) if len(d)], ignore_index=True)
            tmp = comp_path.with_suffix(".tmp")
            done.to_json(tmp, orient="records", lines=True, force_ascii=False)
            tmp.replace(comp_path)
    df = done[done["model"].isin(forms)]
    result = {
        "command": "python " + shlex.join(sys.argv),
        "what": "pass@1 of one exported model in each form, greedy, chat protocol, on a fixed seeded sample of "
                "HumanEval-Julia and HumanEval-R; compares the forms with each other (not the headline's n=20, T=0.2)",
        "export": {"name": made["name"], "adapter": made["adapter"], "base_model": made["base_model"],
                   "llama_cpp_python": made.get("llama_cpp_python"),
                   "files": {k: {kk: v[kk] for kk in ("bytes", "sha256")} for k, v in made["files"].items()},
                   "greedy_agreement_check": {k: {kk: made["check"][k][kk] for kk in ("prompts", "identical",
                                                                                   "common_prefix_share")}
                                              for k in made["files"]} if made.get("check") else None},
        "set": {"suites": list(SUITES), "per_language": args.per_language, "seed": args.seed,
                "task_ids": {lang: sorted(p.task_id for p in probs if p.lang == lang) for lang in ("julia", "r")}},
        "setting": {"protocol": "chat", "temperature": 0.0, "n": 1, "max_tokens": args.max_tokens,
                    "transformers": "float32 on the CPU, batch 4", "gguf": "llama.cpp on the CPU"},
        "pass@1": {}, "statuses": {}, "paired_with_transformers": {}, "identical_answers_to_transformers": {},
        "timing_s": timings or None,
        "environment": environment(params),
    }
    result["quantized_bytes_equal_to_base_gguf"] = base_identity(made, repo)
    ref = df[df["model"] == "transformers"].set_index(["lang", "task_id"])["completion"]
    for name in forms:
        g = df[df["model"] == name]
        result["pass@1"][name] = {"all": round(float(g["passed"].mean()), 4),
                                  **{lang: round(float(x["passed"].mean()), 4) for lang, x in g.groupby("lang")}}
        result["statuses"][name] = {lang: {k: round(v, 4) for k, v in summarize(x, [1], 10, 0)["statuses"].items() if v}
                                    for lang, x in g.groupby("lang")}
        if name != "transformers" and (df["model"] == "transformers").any():
            result["paired_with_transformers"][name] = paired(df, "transformers", name)
            mine = g.set_index(["lang", "task_id"])["completion"]
            result["identical_answers_to_transformers"][name] = round(float((mine == ref.reindex(mine.index)).mean()), 4)
    write_json(out, result)
    print(json.dumps(result["pass@1"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
