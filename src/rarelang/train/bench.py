"""GRPO step benchmarks: one record per run (medians over the steps after warm-up), kept as a
JSON list in results/bench/train_<device>.json (``results/bench/train_gpu.json`` on GPUs).

A record's fields: device, gpus, backend, use_vllm, lang, prompts_per_step, num_generations,
max_completion_length, steps (measured, after warm-up), step_s, generation_s, reward_s,
backward_s, scoring_other_s, completions_per_s, startup_s, peak_memory_gib, and the label and
command that made it.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

_TIMINGS = {"step_s": "step_time", "generation_s": "timing/generation_s", "reward_s": "timing/reward_s_total",
            "backward_s": "timing/loss_backward_s", "scoring_other_s": "timing/scoring_other_s"}


def step_medians(history: list[dict[str, Any]], warmup: int = 1) -> dict[str, Any]:
    """Medians of the per-step timings over the logged steps after the first ``warmup`` ones."""
    steps = [h for h in history if "step_time" in h]
    measured = steps[warmup:]
    if not measured:
        raise ValueError(f"no step after {warmup} warm-up step(s) was logged ({len(steps)} logged); "
                         "run more steps or log every step (grpo.logging_steps: 1)")
    out: dict[str, Any] = {"steps": len(measured), "warmup_steps": len(steps) - len(measured)}
    for key, col in _TIMINGS.items():
        vals = [float(h[col]) for h in measured if h.get(col) is not None]
        out[key] = round(statistics.median(vals), 3) if vals else None
    return out


def bench_record(history: list[dict[str, Any]], grpo: dict[str, Any], *, device: str, gpus: int, backend: str,
                 langs: list[str], warmup: int = 1, **extra: Any) -> dict[str, Any]:
    """One benchmark record: the shape of a step (from the GRPO settings) and its median timings."""
    gens = int(grpo["num_generations"])
    # completions per optimizer step: per device × accumulation × processes (one on a CPU)
    per_step = int(grpo["per_device_train_batch_size"]) * int(grpo.get("gradient_accumulation_steps", 1)) * max(1, gpus)
    if per_step % gens:
        raise ValueError(f"{per_step} completions per step is not a multiple of num_generations={gens}")
    rec: dict[str, Any] = {"device": device, "gpus": gpus, "backend": backend, "use_vllm": bool(grpo.get("use_vllm")),
                           "lang": "+".join(langs), "prompts_per_step": per_step // gens, "num_generations": gens,
                           "max_completion_length": int(grpo["max_completion_length"])}
    med = step_medians(history, warmup)
    rec.update(med)
    rec["completions_per_s"] = round(per_step / med["step_s"], 2) if med.get("step_s") else None
    rec.update(extra)
    return rec


def reward_workers(resolved: dict[str, Any]) -> int | None:
    """The sandbox workers the run's reward actually used (per language, per process), from its resolved
    config.json: the pool's own count, not machine.workers (which may say "auto"; older configs had no
    machine section, so the benchmark recorded the CPU count whatever the run used)."""
    n = resolved.get("sandbox_workers_per_rank")
    if isinstance(n, int) and n > 0:
        return n
    w = (resolved.get("machine") or {}).get("workers") or (resolved.get("sandbox") or {}).get("workers")
    return w if isinstance(w, int) and w > 0 else None


def append_record(path: Path, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Add ``record`` to the JSON list at ``path``, replacing an earlier one with the same label."""
    runs: list[dict[str, Any]] = []
    if path.exists():
        runs = json.loads(path.read_text())
        if not isinstance(runs, list):
            raise ValueError(f"{path} holds no JSON list of runs")
    runs = [r for r in runs if r.get("label") != record.get("label")] + [record]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(runs, indent=1) + "\n")
    tmp.replace(path)
    return runs
