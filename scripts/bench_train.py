#!/usr/bin/env python3
"""Benchmark GRPO steps split into generation / reward / loss+backward, on whatever device is
present, with the configured student (default: the packaged Qwen2.5-Coder-0.5B-Instruct).

Runs `--steps` optimizer steps (the first `--warmup` are not measured) and adds one record to a
JSON list: results/bench/train_cpu.json on a CPU, results/bench/train_gpu.json on a GPU (or -o).
A record has the step's shape (prompts × generations × max tokens, vLLM or not, backend, GPUs)
and the medians of its timings; a record with the same --label is replaced.

    python scripts/bench_train.py --label vllm-r --set grpo.use_vllm=true --set languages=[r]

Uses data/processed/train.parquet (run `dvc repro split` first) unless --data points elsewhere.
"""

import datetime
import json
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from _common import setup, stage_parser
from rarelang.train.bench import append_record, bench_record, reward_workers
from rarelang.train.run import train


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps to run, warm-up included")
    ap.add_argument("--warmup", type=int, default=1, help="first steps left out of the medians")
    ap.add_argument("--label", default=None, help="names the record (default: backend, vllm or not, languages)")
    ap.add_argument("--data", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override train.KEY")
    ap.add_argument("--keep-adapter", default=None, metavar="DIR", help="copy the trained adapter here")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()
    if args.steps <= args.warmup:
        ap.error(f"--steps ({args.steps}) must exceed --warmup ({args.warmup})")
    params, repo = setup(args)
    from rarelang.train.modeling import import_backend_first
    framework_set = [i.split("=", 1)[1].strip() for i in args.set if i.split("=", 1)[0].strip() == "framework"]
    import_backend_first(framework_set[-1] if framework_set else (params.get("train") or {}).get("framework", "transformers"))
    import torch
    import yaml
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if cuda else "cpu"
    gpus = torch.cuda.device_count() if cuda else 0
    with tempfile.TemporaryDirectory() as tmp:
        overrides = {"run_name": "bench", "output_root": tmp, "results_root": tmp, "resume": "never",
                     "grpo.max_steps": args.steps, "grpo.save_steps": 10_000, "grpo.logging_steps": 1}
        if args.data:
            overrides["data"] = args.data
        for item in args.set:
            if "=" not in item:
                ap.error(f"--set expects KEY=VALUE, got {item!r}")
            k, v = item.split("=", 1)
            overrides[k.strip()] = yaml.safe_load(v)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        res = train(params, repo, overrides=overrides)
        history = res["trainer"].state.log_history
        cfg = json.loads((Path(tmp) / "bench" / "config.json").read_text())
        if args.keep_adapter:
            shutil.rmtree(args.keep_adapter, ignore_errors=True)
            shutil.copytree(res["out_dir"] / "adapter", args.keep_adapter)
    grpo = cfg["grpo_args"]
    langs = cfg["train"]["languages"]
    backend = cfg["train"].get("framework", "transformers")
    label = args.label or f"{backend}-{'vllm' if grpo.get('use_vllm') else 'generate'}-{'+'.join(langs)}"
    record = bench_record(
        history, grpo, device=device, gpus=gpus, backend=backend, langs=langs,
        warmup=args.warmup, label=label, startup_s=res["summary"].get("startup_s"),
        peak_memory_gib=round(torch.cuda.max_memory_reserved() / 2**30, 1) if cuda else None,
        vllm={k: grpo.get(k) for k in ("vllm_mode", "vllm_gpu_memory_utilization", "vllm_enable_sleep_mode")}
        if grpo.get("use_vllm") else None,
        unsloth={k: (cfg["train"].get("unsloth") or {}).get(k) for k in ("fast_inference", "load_in_4bit",
                                                                         "gpu_memory_utilization")}
        if backend == "unsloth" else None,
        reward_workers=reward_workers(cfg) or os.cpu_count(), model=cfg["train"]["model"],
        date=datetime.date.today().isoformat(),
        command="python scripts/bench_train.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    out = Path(args.output) if args.output else repo / "results" / "bench" / f"train_{'gpu' if cuda else 'cpu'}.json"
    append_record(out, record)
    print(json.dumps(record, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
