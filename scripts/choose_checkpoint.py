#!/usr/bin/env python3
"""The end of an experiment's train stage: the checkpoint its rule names becomes the adapter its evaluate
stage reads (bf16: half the size, and what vLLM applies LoRA in), with a record of which one and why.

    python scripts/choose_checkpoint.py --params RESOLVED.yaml --rule best -o results/headline/RUN/adapter

Rules (the experiment's ``checkpoint``): ``final`` — the finished run's adapter (models/<run>/adapter),
else its newest checkpoint; ``best`` — the checkpoint with the best validation metric
(``train.grpo.metric_for_best_model``, as the newest trainer_state records it); a step number — that
checkpoint. Writes OUT/adapter_config.json, OUT/adapter_model.safetensors and OUT/CHECKPOINT.json
({rule, checkpoint, step, metric}); a model card already in OUT (README.md) is kept.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from _common import setup, stage_parser


def checkpoints(models: Path) -> list[Path]:
    return sorted((models / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))


def choose(models: Path, rule: str) -> tuple[Path, dict]:
    """The adapter folder the rule names, and what to record about it."""
    ckpts = checkpoints(models)
    if rule == "final":
        if (models / "adapter" / "adapter_config.json").exists():
            return models / "adapter", {"checkpoint": "adapter (the finished run's)"}
        if not ckpts:
            raise SystemExit(f"choose_checkpoint: {models} has no adapter and no checkpoint")
        return ckpts[-1], {"checkpoint": ckpts[-1].name}
    if rule == "best":
        if not ckpts:
            raise SystemExit(f"choose_checkpoint: {models} has no checkpoint")
        state = json.loads((ckpts[-1] / "trainer_state.json").read_text())
        best = state.get("best_model_checkpoint")
        if not best:
            raise SystemExit("choose_checkpoint: the trainer recorded no best checkpoint (set "
                             "train.grpo.metric_for_best_model and an eval strategy)")
        path = models / "checkpoints" / Path(best).name      # the recorded path may be another machine's
        if not path.is_dir():
            raise SystemExit(f"choose_checkpoint: the best checkpoint {Path(best).name} is gone (save_total_limit "
                             "too low?); never another one in its place")
        return path, {"checkpoint": path.name, "metric": state.get("best_metric")}
    if rule.isdigit():
        path = models / "checkpoints" / f"checkpoint-{rule}"
        if not path.is_dir():
            raise SystemExit(f"choose_checkpoint: no {path} (have: {', '.join(p.name for p in ckpts) or 'none'})")
        return path, {"checkpoint": path.name}
    raise SystemExit(f"choose_checkpoint: unknown rule {rule!r} (final, best or a step number)")


def write_bf16(src: Path, out: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.to(torch.bfloat16) for k, v in load_file(src / "adapter_model.safetensors").items()}
    tmp = out / ".adapter_model.safetensors.tmp"
    save_file(tensors, str(tmp))
    tmp.replace(out / "adapter_model.safetensors")
    shutil.copyfile(src / "adapter_config.json", out / "adapter_config.json")


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--rule", required=True, help="final | best | a step number")
    ap.add_argument("-o", "--out", required=True, help="the adapter folder evaluate reads")
    args = ap.parse_args()
    params, repo = setup(args)
    t = params.get("train") or {}
    models = repo / t.get("output_root", "models") / t["run_name"]
    src, record = choose(models, args.rule)
    out = repo / args.out
    write_bf16(src, out)
    (out / "CHECKPOINT.json").write_text(json.dumps({"rule": args.rule, **record}, indent=1) + "\n")
    print(f"choose_checkpoint: {args.rule} → {src.name} → {args.out} (bf16)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
