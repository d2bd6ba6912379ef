#!/usr/bin/env python3
"""Make a trainer checkpoint from what a finished part brought back (its adapter and its
trainer_state.json), so a longer run can go on from it on another machine: `train.resume: <folder>`.

This is a *warm start*, not an exact continuation: the optimizer moments, the scheduler and the RNG
state were not brought back, so the Trainer starts them afresh (Adam re-estimates its moments; a
constant learning-rate schedule is unaffected). What it keeps: the adapter's weights (as stored:
bf16 when bundled), the global step (so the data order goes on where it stopped and the step numbers
of logs and validation continue) and the log history.

    python scripts/warm_checkpoint.py --adapter results/headline/r-0.5b/adapter \
        --trainer-state results/headline/r-0.5b/train/trainer_state.json -o .gpu/ckpt-r-0.5b-long
    # -> .gpu/ckpt-r-0.5b-long/checkpoint-<global_step>/
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def warm_checkpoint(adapter: Path, trainer_state: Path, out_root: Path) -> Path:
    for need in (adapter / "adapter_model.safetensors", adapter / "adapter_config.json", trainer_state):
        if not need.is_file():
            raise FileNotFoundError(f"warm_checkpoint: {need} is missing")
    state = json.loads(trainer_state.read_text())
    step = int(state["global_step"])
    if step <= 0:
        raise ValueError(f"warm_checkpoint: {trainer_state} records global_step {step}: nothing to go on from")
    ck = out_root / f"checkpoint-{step}"
    if ck.exists():
        shutil.rmtree(ck)
    ck.mkdir(parents=True)
    shutil.copy2(adapter / "adapter_model.safetensors", ck / "adapter_model.safetensors")
    shutil.copy2(adapter / "adapter_config.json", ck / "adapter_config.json")
    # the part stopped on its time budget: its control flags say "stop"; a fresh part must not read them
    for cb in (state.get("stateful_callbacks") or {}).values():
        if isinstance(cb, dict) and "should_training_stop" in (cb.get("args") or {}):
            cb["args"]["should_training_stop"] = False
    (ck / "trainer_state.json").write_text(json.dumps(state, indent=2) + "\n")
    (ck / "WARM_START").write_text(
        f"adapter: {adapter}\ntrainer_state: {trainer_state}\nglobal_step: {step}\n"
        "no optimizer, scheduler or RNG state: the trainer starts those afresh\n")
    return ck


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapter", type=Path, required=True, help="folder with adapter_model.safetensors + adapter_config.json")
    ap.add_argument("--trainer-state", type=Path, required=True, help="the part's trainer_state.json")
    ap.add_argument("-o", "--out", type=Path, required=True, help="folder that receives checkpoint-<step>/")
    a = ap.parse_args(argv)
    try:
        ck = warm_checkpoint(a.adapter, a.trainer_state, a.out)
    except (FileNotFoundError, ValueError) as e:
        print(e, file=sys.stderr)
        return 2
    print(ck)
    return 0


if __name__ == "__main__":
    sys.exit(main())
