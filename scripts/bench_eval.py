#!/usr/bin/env python3
"""Benchmark the evaluation: generation and scoring seconds per model × suite, on whatever device
is present, with the settings of `evaluate:` in params.yaml (`--params` for another file).

Runs the same evaluation as `scripts/evaluate.py` (its outputs go to --out-dir) and adds one
record per model × suite × setting to a JSON list (results/bench/eval_gpu.json on a GPU,
eval_cpu.json on a CPU, or -o); records with the same label are replaced.

    python scripts/bench_eval.py --params P --label vllm --models base,trained
"""

import datetime
import json
import shlex
import sys
from pathlib import Path

from _common import setup, stage_parser
from rarelang.evaluate.run import run_evaluation
from rarelang.params import default
from rarelang.train.bench import append_record


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--label", required=True, help="prefix of the records' labels")
    ap.add_argument("--models", default=None, help="comma-separated subset of evaluate.models")
    ap.add_argument("--out-dir", default="results/bench/tmp/eval", help="where the evaluation's own outputs go")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()
    params, repo = setup(args)
    import torch
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if cuda else "cpu"
    out_dir = Path(args.out_dir) if Path(args.out_dir).is_absolute() else repo / args.out_dir
    metrics = run_evaluation(params, repo, out_dir=out_dir, progress=not args.quiet,
                             only_models=args.models.split(",") if args.models else None)
    timings = json.loads((out_dir / "timings.json").read_text())
    starts = {t["model"]: t["start_s"] for t in timings if "start_s" in t}
    out = Path(args.output) if args.output else repo / "results" / "bench" / f"eval_{'gpu' if cuda else 'cpu'}.json"
    ep = params.get("evaluate") or {}
    command = "python scripts/bench_eval.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    for t in timings:
        if "suite" not in t:
            continue
        spec = (ep.get("models") or {}).get(t["model"], {})
        per_lang = {k.rsplit("/", 1)[1]: m.get("pass@1") for k, m in metrics.items()
                    if k.startswith(f"{t['model']}/{t['suite']}/{t['setting']}/")}
        rec = {"label": f"{args.label}/{t['model']}/{t['suite']}/{t['setting']}", "device": device,
               "backend": t["backend"], "model": t["model"], "adapter": bool(spec.get("adapter")),
               "suite": t["suite"], "setting": t["setting"], "problems": t["problems"], "n": t["n"],
               "completions": t["completions"], "max_tokens": int(ep.get("max_tokens", default("evaluate.max_tokens", 256))),
               "generation_s": t["generation_s"], "scoring_s": t["scoring_s"],
               "completions_per_s": round(t["completions"] / t["generation_s"], 1) if t["generation_s"] else None,
               "engine_start_s": starts.get(t["model"]), "pass@1": per_lang,
               "sandbox_workers": (params.get("machine") or {}).get("workers"),
               "date": datetime.date.today().isoformat(), "command": command}
        append_record(out, rec)
        print(json.dumps(rec), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
