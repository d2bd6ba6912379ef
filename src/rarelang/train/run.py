"""The train stage: GRPO on the split's train set, rewarded by the sandbox.

Writes (``out_dir`` = models/<run_name>, ``results_dir`` = results/train/<run_name>):
  out_dir/adapter/            the final LoRA adapter (+ tokenizer), out_dir/merged/ if train.merge
  out_dir/checkpoints/        trainer checkpoints (resume: train.resume: auto)
  results_dir/log_history.json, log_history.csv   every logged step (reward, status fractions, KL,
                              completion length, frac_reward_zero_std, timing/*)
  results_dir/config.json     the exact resolved configuration
  results_dir/summary.json    steps, mean timings, zero-variance fraction, final reward
  results_dir/environment.json  the R and Julia versions that scored the rewards, packages, machine
  results_dir/validation.csv  the learning curve: eval_* metrics (reward, pass rate, statuses) on the
                              validation split every grpo.eval_steps (when grpo.eval_strategy is steps)
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .. import distributed as dist
from ..languages import canonical_language
from ..manifest import environment
from ..params import default
from ..rewards import RewardTable
from ..sandbox import SandboxPool
from ..watchdog import engine_starting
from .dataset import to_dataset, training_frame
from ..models.resolve import resolve_model_dir, vllm_available
from .modeling import import_backend_first, load_student
from .completion_log import CompletionLog, completion_log_callback
from .rewards import ExecutionReward, FormatReward, reward_runner

log = logging.getLogger(__name__)

# GRPO settings a partial params dict leaves out come from the repository's params.yaml (one set of defaults)
DEFAULT_GRPO = default("train.grpo", {"loss_type": "dr_grpo", "beta": 0.0, "logging_steps": 1,
                                      "use_vllm": "auto", "report_to": "none"})


def _timed_trainer_class():
    from trl import GRPOTrainer

    class TimedGRPOTrainer(GRPOTrainer):
        """GRPOTrainer that logs where a step's time goes: generation / reward / the rest of
        scoring (reference log-probs, advantages) / loss + backward."""

        def _generate(self, *a, **kw):
            t0 = time.perf_counter()
            try:
                return super()._generate(*a, **kw)
            finally:
                self._rl_gen = getattr(self, "_rl_gen", 0.0) + time.perf_counter() - t0

        def _prepare_inputs(self, *a, **kw):
            t0 = time.perf_counter()
            try:
                return super()._prepare_inputs(*a, **kw)
            finally:
                self._rl_prep = getattr(self, "_rl_prep", 0.0) + time.perf_counter() - t0

        def evaluate(self, *a, **kw):
            # validation (learning curves): its reward seconds and completions are not the training step's
            fn = self._rl_reward_fn
            fn.log_completions = False
            try:
                return super().evaluate(*a, **kw)
            finally:
                fn.log_completions = True
                fn.take_seconds()

        def training_step(self, model, inputs, num_items_in_batch=None):
            self._rl_gen = self._rl_prep = 0.0
            t0 = time.perf_counter()
            out = super().training_step(model, inputs, num_items_in_batch)
            total = time.perf_counter() - t0
            reward_s = self._rl_reward_fn.take_seconds()
            m = self._metrics["train"]
            # one value per micro-step, averaged at logging: scaled by the accumulation steps, the
            # average is the time per optimizer step (generation happens in one micro-step of it)
            ga = max(1, int(self.args.gradient_accumulation_steps))
            m["timing/generation_s"].append(ga * self._rl_gen)
            m["timing/reward_s_total"].append(ga * reward_s)
            m["timing/scoring_other_s"].append(ga * max(0.0, self._rl_prep - self._rl_gen - reward_s))
            m["timing/loss_backward_s"].append(ga * max(0.0, total - self._rl_prep))
            return out

    return TimedGRPOTrainer


def _wall_clock_callback(max_wall_s: float):
    """Stop (and checkpoint) after max_wall_s seconds: long runs go in resumable parts."""
    from transformers import TrainerCallback

    class WallClock(TrainerCallback):
        def __init__(self):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            if time.perf_counter() - self.t0 > max_wall_s:
                control.should_training_stop = True
                control.should_save = True
            return control

    return WallClock()


def _step_settings_callback():
    """A resumed part logs, validates and checkpoints at *its own* logging/eval/save steps.

    The Trainer replaces those with the values stored in the checkpoint's trainer_state.json (it only
    warns), so a part that changes them — they are continuable settings, see _CONTINUABLE_GRPO — went
    on at the old ones: r-0.5b-long (warm start from r-0.5b, saved every 20 steps) validated every 50
    steps but kept saving every 20, so the best validation step (350) had no checkpoint and
    best_model_checkpoint stayed at 300. Set them again from the arguments before each step."""
    from transformers import TrainerCallback

    class StepSettings(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            state.compute_steps(args, state.max_steps)
            return control

    return StepSettings()


def resolve_config(params: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    tp = dict(params.get("train") or {})
    for k, v in (overrides or {}).items():
        section, dot, key = k.partition(".")
        if dot and isinstance(tp.get(section, {}), dict):     # grpo.x, lora.x, unsloth.x, reward.x
            tp[section] = {**(tp.get(section) or {}), key: v}
        else:
            tp[k] = v
    grpo = {**DEFAULT_GRPO, **(tp.get("grpo") or {})}
    langs = [canonical_language(x) for x in tp.get("languages", ["julia", "r"])]
    run_name = tp.get("run_name") or f"grpo-{'-'.join(langs)}"
    return {**tp, "grpo": grpo, "languages": langs, "run_name": run_name}


def _json_safe(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


# Settings that do not change what a step computes: a run may go on from its checkpoint under new values
# (a longer max_steps, another time budget, other logging). Anything else starts the run afresh.
_CONTINUABLE = {"max_wall_s", "resume", "launcher", "merge", "output_root", "results_root", "results_dir",
                "data", "validation"}   # data: its bytes are hashed, not its path
_CONTINUABLE_GRPO = {"max_steps", "save_steps", "save_total_limit", "logging_steps", "report_to", "log_completions",
                     "eval_strategy", "eval_steps", "eval_on_start", "per_device_eval_batch_size",
                     "num_generations_eval", "metric_for_best_model", "greater_is_better"}


# settings renamed since fingerprints were first stamped (train.backend is train.framework): hashed under
# their old name, so a run's fingerprint (committed runs' FINGERPRINT files, checkpoints to resume) does
# not change with a key's spelling
_FINGERPRINT_NAMES = {"framework": "backend"}


def run_fingerprint(cfg: dict[str, Any], data_path: Path, reward_values: dict[str, Any] | None) -> str:
    """What a checkpoint was trained with: settings (less the continuable ones), the training data's
    bytes and the reward table. Resuming under a different fingerprint would mix two runs."""
    c = {_FINGERPRINT_NAMES.get(k, k): v for k, v in cfg.items() if k not in _CONTINUABLE}
    c["grpo"] = {k: v for k, v in (cfg.get("grpo") or {}).items() if k not in _CONTINUABLE_GRPO}
    h = hashlib.sha256(json.dumps(_json_safe({"train": c, "reward": reward_values}), sort_keys=True).encode())
    with open(data_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def whole_checkpoints(ckpt_dir: Path) -> list[Path]:
    """A run's checkpoints that can be resumed, oldest first. The Trainer writes trainer_state.json last: a
    checkpoint without it was cut off mid-save (a preemption, a requeue, a killed job or machine) and is left
    out; the Trainer writes it again when it reaches that step."""
    ckpts = sorted(ckpt_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    cut = [p for p in ckpts if not (p / "trainer_state.json").is_file()]
    if cut:
        log.warning("skipping %s: cut off while being saved (no trainer_state.json)", ", ".join(p.name for p in cut))
    return [p for p in ckpts if p not in cut]


def choose_resume(resume: Any, ckpt_dir: Path, fingerprint: str, writer: bool = True) -> str | None:
    """The checkpoint to resume from. ``auto``: the last whole one, if it was written under the same
    fingerprint; checkpoints of other settings are moved aside (``checkpoints.replaced``), not deleted.
    Under DDP only the main process (``writer``) moves and stamps; the others decide after it (a
    barrier), from what it left, and so reach the same decision."""
    ckpts = whole_checkpoints(ckpt_dir)
    stamp = ckpt_dir / "FINGERPRINT"
    same = stamp.exists() and stamp.read_text().strip() == fingerprint    # written by this run's settings

    def put_aside(why: str | None) -> None:       # another setting's checkpoints: kept, not deleted
        if why:
            log.warning("the checkpoints in %s were written with other settings or data: %s (kept in %s.replaced)",
                        ckpt_dir, why, ckpt_dir.name)
        aside = ckpt_dir.with_name(ckpt_dir.name + ".replaced")
        shutil.rmtree(aside, ignore_errors=True)
        ckpt_dir.rename(aside)

    def stamp_run() -> None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint + "\n")

    if isinstance(resume, str) and resume not in ("auto", "never"):
        # a named checkpoint (e.g. a warm start, scripts/warm_checkpoint.py) starts the run once; a later
        # part of the same run goes on from the run's own newest checkpoint, not from the named one again
        if ckpts and same:
            return str(ckpts[-1])
        if writer:
            named_inside = Path(resume).resolve().parent == ckpt_dir.resolve()
            if ckpts and stamp.exists() and not named_inside:
                put_aside("starting from the named checkpoint")
            stamp_run()
        return resume
    go_on = resume == "auto" and same
    if not writer:
        return str(ckpts[-1]) if ckpts and go_on else None
    if ckpts and not go_on:
        put_aside("starting afresh" if resume == "auto" else None)
        ckpts = []
    stamp_run()
    return str(ckpts[-1]) if ckpts else None


def stable_adapter_config(adapter_dir: Path) -> None:
    """peft keeps target_modules as a set and writes it in the set's order, which changes with the interpreter's
    hash seed: the same adapter then got another adapter_config.json on every save, and DVC re-ran the evaluation
    of an unchanged model (seen 2026-12-06). Its lists are written sorted, in peft's own layout."""
    path = adapter_dir / "adapter_config.json"
    cfg = json.loads(path.read_text())
    for key in ("target_modules", "modules_to_save", "exclude_modules"):
        if isinstance(cfg.get(key), list):
            cfg[key] = sorted(cfg[key])
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True))


def write_history(results_dir: Path, history: list[dict[str, Any]]) -> list[str]:
    """A run's log history as results_dir/log_history.json, log_history.csv (the optimizer steps) and
    validation.csv (the validations, where there are any). Returns the names written."""
    (results_dir / "log_history.json").write_text(json.dumps(history, indent=1) + "\n")
    pd.DataFrame([h for h in history if "reward" in h]).to_csv(results_dir / "log_history.csv", index=False)
    written = ["log_history.json", "log_history.csv"]
    evals = [h for h in history if "eval_reward" in h]
    if evals:
        pd.DataFrame(evals).to_csv(results_dir / "validation.csv", index=False)
        written.append("validation.csv")
    return written


def summarize(history: list[dict[str, Any]]) -> dict[str, Any]:
    steps = [h for h in history if "reward" in h]
    df = pd.DataFrame(steps)
    out: dict[str, Any] = {"logged_steps": len(steps)}
    if df.empty:
        return out
    for col in ("reward", "reward_std", "frac_reward_zero_std", "pass_rate", "kl", "completions/mean_length",
                "step_time", "timing/generation_s", "timing/reward_s_total", "timing/scoring_other_s",
                "timing/loss_backward_s"):
        if col in df:
            out[f"mean_{col}"] = float(df[col].mean())
    out["first_reward"] = float(df["reward"].iloc[0])
    out["last_reward"] = float(df["reward"].iloc[-1])
    q = max(1, len(df) // 4)        # single steps are noisy: the first and last quarter of the run
    out["reward_first_quarter"] = float(df["reward"].iloc[:q].mean())
    out["reward_last_quarter"] = float(df["reward"].iloc[-q:].mean())
    out["status_fractions"] = {c.split("/", 1)[1]: float(df[c].mean()) for c in df if c.startswith("status/")}
    evals = [h for h in history if "eval_reward" in h]
    if evals:
        out["validation"] = [{"step": h.get("step"), "reward": h.get("eval_reward"),
                              "pass_rate": h.get("eval_pass_rate")} for h in evals]
    return out


def train(params: dict[str, Any], repo: Path, *, overrides: dict[str, Any] | None = None,
          model_dir: Path | None = None, pool: SandboxPool | None = None) -> dict[str, Any]:
    cfg = resolve_config(params, overrides)
    import_backend_first(cfg.get("framework", "transformers"))
    import torch
    from trl import GRPOConfig

    out_dir = repo / cfg.get("output_root", "models") / cfg["run_name"]
    results_dir = repo / (cfg.get("results_dir") or Path(cfg.get("results_root", "results/train")) / cfg["run_name"])
    results_dir.mkdir(parents=True, exist_ok=True)
    data_path = Path(cfg.get("data", "data/processed/train.parquet"))
    data_path = data_path if data_path.is_absolute() else repo / data_path
    signature = bool((params.get("prompt") or {}).get("signature", True))
    first_test = bool(cfg.get("include_first_test", False))
    frame = training_frame(data_path, cfg["languages"], first_test, cfg.get("limit"), int(cfg.get("seed", 0)),
                           signature=signature)
    dataset = to_dataset(frame)
    eval_dataset = None
    if str((cfg.get("grpo") or {}).get("eval_strategy", "no")) != "no":
        vpath = Path(cfg.get("validation") or "data/processed/validation.parquet")
        vpath = vpath if vpath.is_absolute() else repo / vpath
        vframe = training_frame(vpath, cfg["languages"], first_test, None, 0, signature=signature)
        eval_dataset = to_dataset(vframe)
        log.info("validation: %d problem(s) from %s, every %s step(s)", len(vframe), vpath,
                 cfg["grpo"].get("eval_steps"))

    mdir = model_dir or resolve_model_dir(str(cfg["model"]), repo / "models")
    dtype = cfg.get("dtype", "auto")
    if dtype == "auto":
        dtype = "bfloat16" if torch.cuda.is_available() else "float32"
    model, tok, peft_config = load_student(mdir, cfg.get("framework", "transformers"), dtype, cfg.get("lora") or {},
                                           unsloth=cfg.get("unsloth"))

    grpo = cfg["grpo"]
    if grpo.get("use_vllm") == "auto":      # vLLM whenever there is a GPU and vllm is installed
        grpo["use_vllm"] = vllm_available()
    grpo = dict(grpo)
    if int((cfg.get("episodes") or {}).get("max_attempts", 1)) > 1:       # draft runs: the attempts before the answer
        grpo.setdefault("max_tool_calling_iterations", int(cfg["episodes"]["max_attempts"]) - 1)
    use_cpu = not torch.cuda.is_available()
    args = GRPOConfig(output_dir=str(out_dir / "checkpoints"), seed=int(cfg.get("seed", 0)), use_cpu=use_cpu,
                      bf16=(dtype == "bfloat16" and not use_cpu), **grpo)

    own_pool = pool is None
    pool = pool or reward_runner(params)      # a local pool, or reward_service.servers (rarelang serve)
    rp = cfg.get("reward") or {}
    lc = cfg.get("completion_log") or {}
    # every rank logs the completions it scored (rank 0: completions.parquet, rank k: completions.rank<k>.parquet)
    clog_name = "completions.parquet" if dist.rank() == 0 else f"completions.rank{dist.rank()}.parquet"
    clog = CompletionLog(results_dir / clog_name, every=int(lc.get("every", 10)),
                         per_call=lc.get("per_call")) if lc.get("every", 10) else None
    table = RewardTable.from_params(params.get("reward"))
    # multi-turn (train.episodes.max_attempts > 1, e.g. --set episodes.max_attempts=3): draft runs through
    # TRL's environment_factory, the final answer paid as single-turn pays a completion (train/episodes.py)
    attempts = int((cfg.get("episodes") or {}).get("max_attempts", 1))
    extra: dict[str, Any] = {}
    if attempts > 1:
        from .episodes import CodeTaskEnvironment, EpisodeReward
        execution = EpisodeReward(pool, timeout_s=rp.get("timeout_s"), completion_log=clog, rewards=table)
        extra["environment_factory"] = lambda: CodeTaskEnvironment(pool, table, attempts, rp.get("timeout_s"))
    else:
        execution = ExecutionReward(pool, timeout_s=rp.get("timeout_s"), completion_log=clog, rewards=table)
    reward_funcs: list[Any] = [execution]
    if float(rp.get("format_weight", 0.0)) > 0:
        reward_funcs.append(FormatReward(float(rp["format_weight"])))

    Trainer = _timed_trainer_class()
    t_start = time.perf_counter()
    # with use_vllm the trainer starts a vLLM engine here (colocate); a supervising watchdog
    # (python -m rarelang.watchdog) restarts the run if that start hangs
    with engine_starting("grpo trainer" + (" + vLLM" if grpo.get("use_vllm") else "")):
        trainer = Trainer(model=model, args=args, train_dataset=dataset, eval_dataset=eval_dataset,
                          reward_funcs=reward_funcs, processing_class=tok, peft_config=peft_config, **extra)
    startup_s = time.perf_counter() - t_start
    trainer._rl_reward_fn = execution
    if clog is not None:
        trainer.add_callback(completion_log_callback(clog))
    if cfg.get("max_wall_s"):
        trainer.add_callback(_wall_clock_callback(float(cfg["max_wall_s"])))
    trainer.add_callback(_step_settings_callback())
    fingerprint = run_fingerprint(cfg, data_path, params.get("reward"))
    main = trainer.is_world_process_zero()
    if main:
        resume_from = choose_resume(cfg.get("resume", "auto"), out_dir / "checkpoints", fingerprint)
    trainer.accelerator.wait_for_everyone()
    if not main:
        resume_from = choose_resume(cfg.get("resume", "auto"), out_dir / "checkpoints", fingerprint, writer=False)
    if resume_from:
        log.info("resuming from %s", resume_from)
    t0 = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=resume_from)
    finally:
        if clog is not None:
            clog.flush()
        if own_pool:
            pool.close()
    wall = time.perf_counter() - t0

    history = _json_safe(trainer.state.log_history)
    summary = {"run_name": cfg["run_name"], "global_step": trainer.state.global_step, "wall_s": round(wall, 1),
               "startup_s": round(startup_s, 1), "resumed_from": resume_from,
               # the checkpoint with the best validation metric (grpo.metric_for_best_model), if tracked
               "best_checkpoint": trainer.state.best_model_checkpoint, **summarize(history)}
    result = {"summary": summary, "trainer": trainer, "reward": execution, "out_dir": out_dir,
              "results_dir": results_dir}
    trainer.accelerator.wait_for_everyone()
    if not main:         # only the main process writes the adapter, the logs and the summaries
        return result
    adapter_dir = out_dir / "adapter"
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.save_pretrained(adapter_dir)
    stable_adapter_config(adapter_dir)
    tok.save_pretrained(adapter_dir)
    if cfg.get("merge"):
        merged = model.merge_and_unload()
        merged.save_pretrained(out_dir / "merged")
        tok.save_pretrained(out_dir / "merged")

    write_history(results_dir, history)
    resolved = {"train": _json_safe(cfg), "model_dir": str(mdir), "dtype": dtype, "device": "cpu" if use_cpu else "cuda",
                "resumed_from": resume_from, "grpo_args": _json_safe(args.to_dict()),
                "dataset_rows": len(frame), "timing_per": "optimizer step", "fingerprint": fingerprint,   # logs before this key: per micro-step (see TimedGRPOTrainer)
                "processes": dist.world_size()}
    if isinstance(pool, SandboxPool):
        resolved.update(sandbox=_json_safe(pool.cfg.__dict__), sandbox_workers_per_rank=pool.cfg.n_workers)
    else:               # rewards scored by `rarelang serve` servers: what they ran with
        resolved["reward_servers"] = _json_safe(pool.describe())
    (results_dir / "config.json").write_text(json.dumps(resolved, indent=1) + "\n")
    (results_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (results_dir / "environment.json").write_text(json.dumps(environment(params), indent=1) + "\n")
    return result
