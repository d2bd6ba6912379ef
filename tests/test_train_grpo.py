"""Real GRPO steps on CPU: tiny random model built offline, real sandbox rewards, LoRA, resume."""

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny_model import build_tiny  # noqa: E402

from rarelang.params import load_params
from rarelang.schema import frame_from_records, write_table
from rarelang.sandbox.outcome import STATUSES

JL_TESTS = "using Test\n@test f(1) == 2\n@test f(2) == 3\n"
R_TESTS = "library(testthat)\ntest_that('a', { expect_equal(f(1), 2); expect_equal(f(2), 3) })\n"


def _params(tmp: Path, model_dir: Path, max_steps: int) -> dict:
    rows = []
    for i in range(4):
        rows.append(dict(task_id=f"t{i}", lang="julia", prompt="Write f.", solution="f(x) = x + 1", tests=JL_TESTS,
                         source="test"))
        rows.append(dict(task_id=f"t{i}", lang="r", prompt="Write f.", solution="f <- function(x) x + 1",
                         tests=R_TESTS, source="test"))
    write_table(frame_from_records(rows, "processed"), tmp / "train.parquet", "processed")
    params = load_params()
    params["train"] = {
        "model": str(model_dir), "languages": ["julia", "r"], "data": str(tmp / "train.parquet"), "seed": 1,
        "output_root": str(tmp / "models"), "results_root": str(tmp / "results"), "run_name": "tiny",
        "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "grpo": {"num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 8,
                 "max_steps": max_steps, "learning_rate": 0.05, "save_steps": 1, "logging_steps": 1}}
    return params


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, pool):
    from rarelang.train.run import train
    tmp = tmp_path_factory.mktemp("grpo")
    model_dir = build_tiny(tmp / "tiny", seed=0)
    res = train(_params(tmp, model_dir, 2), tmp, pool=pool)
    return tmp, model_dir, res


def test_two_real_steps_with_rewards_that_flowed(first_run):
    tmp, _, res = first_run
    assert res["summary"]["global_step"] == 2
    calls = res["reward"].history
    assert len(calls) == 2 and all(len(c) == 8 for c in calls)        # 2 prompts × 4 generations per step
    logged = [h for h in res["trainer"].state.log_history if "reward" in h]
    assert len(logged) == 2
    table = res["reward"].rewards
    for entry, outcomes in zip(logged, calls):
        for s in STATUSES:   # the logged fractions are exactly what the sandbox returned
            assert entry[f"status/{s}"] == pytest.approx(sum(o.status.value == s for o in outcomes) / len(outcomes))
        assert entry["reward"] == pytest.approx(sum(table.score(o) for o in outcomes) / len(outcomes))
        for key in ("frac_reward_zero_std", "kl" if "kl" in entry else "entropy", "timing/generation_s",
                    "timing/loss_backward_s", "completions/mean_length"):
            assert key in entry
    seen = {o.status.value for c in calls for o in c}
    assert len(seen) >= 2, seen            # the tiny vocabulary gives reward variance


def test_outputs_written(first_run):
    tmp, _, res = first_run
    rdir = tmp / "results" / "tiny"
    hist = json.loads((rdir / "log_history.json").read_text())
    assert any("reward" in h for h in hist)
    assert (rdir / "log_history.csv").read_text().startswith(("loss", "reward")) or "reward" in (rdir / "log_history.csv").read_text().splitlines()[0]
    cfg = json.loads((rdir / "config.json").read_text())
    assert cfg["train"]["grpo"]["loss_type"] == "dr_grpo" and cfg["train"]["include_first_test"] is False \
        if "include_first_test" in cfg["train"] else cfg["train"]["grpo"]["loss_type"] == "dr_grpo"
    assert (tmp / "models" / "tiny" / "adapter" / "adapter_config.json").exists()


def test_rewarded_completions_are_logged_for_audit(first_run):
    """Every completion of every 10th reward call (the first included), exactly as the sandbox scored it."""
    import pandas as pd
    tmp, _, res = first_run
    log = pd.read_parquet(tmp / "results" / "tiny" / "completions.parquet")
    first = res["reward"].history[0]
    assert len(log) == len(first) == 8 and set(log["call"]) == {0} and set(log["step"]) == {0}
    assert log["status"].tolist() == [o.status.value for o in first]
    assert log["reward"].tolist() == pytest.approx([res["reward"].rewards.score(o) for o in first])
    assert set(log["task_id"]) <= {f"t{i}" for i in range(4)} and set(log["lang"]) <= {"julia", "r"}
    assert log["completion"].map(type).eq(str).all()


def test_completion_log_keeps_every_kth_call_and_appends_on_resume(tmp_path):
    from types import SimpleNamespace as NS
    import pandas as pd
    from rarelang.train.completion_log import CompletionLog
    o = NS(status=NS(value="passed"), tests_passed=1, tests_total=1, message="")
    log = CompletionLog(tmp_path / "c.parquet", every=2, per_call=1)
    for step in range(5):
        log.step = step
        log.record(["a", "b"], [o, o], [1.0, 1.0], ["t1", "t2"], ["r", "r"])
        if step == 2:
            log.flush()
    log.flush()
    df = pd.read_parquet(tmp_path / "c.parquet")
    assert df["step"].tolist() == [0, 2, 4] and df["index"].tolist() == [0, 0, 0]
    resumed = CompletionLog(tmp_path / "c.parquet", every=2)       # a later part from step 3 on
    resumed.step = 3
    resumed.record(["x"], [o], [1.0], ["t9"], ["julia"])
    resumed.flush()
    df = pd.read_parquet(tmp_path / "c.parquet")
    assert df["step"].tolist() == [0, 2, 3]                         # the part's own rows replace later ones
    with pytest.raises(ValueError):
        CompletionLog(tmp_path / "x.parquet", every=0)


def test_lora_weights_changed(first_run):
    import torch
    from safetensors.torch import load_file
    tmp, _, _ = first_run
    weights = load_file(tmp / "models" / "tiny" / "adapter" / "adapter_model.safetensors")
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b, list(weights)
    # LoRA B starts at zero: any non-zero entry means gradients reached the adapter
    assert any(torch.count_nonzero(v) > 0 for v in lora_b)


def test_resume_from_last_checkpoint(first_run, pool):
    from rarelang.train.run import train
    tmp, model_dir, _ = first_run
    assert (tmp / "models" / "tiny" / "checkpoints" / "checkpoint-2").is_dir()
    res = train(_params(tmp, model_dir, 3), tmp, pool=pool)
    assert res["summary"]["resumed_from"].endswith("checkpoint-2")
    assert res["summary"]["global_step"] == 3
    assert len(res["reward"].history) == 1           # only the one new step ran


def _checkpoint(path):
    """A checkpoint folder as the Trainer leaves it once whole: trainer_state.json is written last."""
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text("{}")
    return path


def test_the_adapter_config_does_not_depend_on_the_hash_seed(tmp_path):
    """peft writes target_modules in a set's order; saved under four hash seeds, one adapter must give one file."""
    import subprocess
    code = ("import sys; from pathlib import Path; from peft import LoraConfig; "
            "from rarelang.train.run import stable_adapter_config; out = Path(sys.argv[1]); "
            "LoraConfig(r=8, target_modules=['q_proj','k_proj','v_proj','o_proj','up_proj','down_proj','gate_proj'])"
            ".save_pretrained(out); raw = (out / 'adapter_config.json').read_text(); stable_adapter_config(out); "
            "print(raw == (out / 'adapter_config.json').read_text())")
    written, raw_same = [], []
    for seed in ("1", "2", "3", "4"):
        out = tmp_path / seed
        r = subprocess.run([sys.executable, "-c", code, str(out)], env={**os.environ, "PYTHONHASHSEED": seed},
                           capture_output=True, text=True, check=True)
        raw_same.append(r.stdout.strip() == "True")
        written.append((out / "adapter_config.json").read_text())
    assert len(set(written)) == 1
    assert not all(raw_same)                       # peft's own order did vary under these seeds: the test can fail


def test_a_checkpoint_cut_off_mid_save_is_skipped(tmp_path):
    """A job killed while the Trainer was saving (a requeue, a preemption) leaves a checkpoint folder without
    trainer_state.json; resuming from it failed (seen on Slurm, 2026-12-06). The last whole one is used."""
    from rarelang.train.run import choose_resume
    ck = tmp_path / "checkpoints"
    assert choose_resume("auto", ck, "fp") is None
    _checkpoint(ck / "checkpoint-1")
    (ck / "checkpoint-2").mkdir()
    (ck / "checkpoint-2" / "adapter_config.json").write_text("{}")          # weights not yet written
    assert choose_resume("auto", ck, "fp") == str(ck / "checkpoint-1")
    assert choose_resume("auto", ck, "fp", writer=False) == str(ck / "checkpoint-1")
    (ck / "checkpoint-1" / "trainer_state.json").unlink()                      # none whole: start afresh
    assert choose_resume("auto", ck, "fp") is None


def test_a_named_checkpoint_starts_the_run_once_then_parts_go_on_from_their_own(tmp_path):
    """train.resume: <folder> (a warm start) is used by the first part only; the checkpoints dir is
    stamped, so a second part goes on from the run's newest checkpoint instead of the named one."""
    from rarelang.train.run import choose_resume
    ck = tmp_path / "checkpoints"
    warm = tmp_path / "warm" / "checkpoint-253"
    warm.mkdir(parents=True)
    assert choose_resume(str(warm), ck, "fp") == str(warm)
    assert (ck / "FINGERPRINT").read_text().strip() == "fp"
    _checkpoint(ck / "checkpoint-300")
    assert choose_resume(str(warm), ck, "fp") == str(ck / "checkpoint-300")    # part 2
    assert choose_resume(str(warm), ck, "fp", writer=False) == str(ck / "checkpoint-300")
    assert choose_resume(str(warm), ck, "other settings") == str(warm)          # not this run's: named one,
    assert (tmp_path / "checkpoints.replaced" / "checkpoint-300").is_dir()     # the others kept aside
    assert choose_resume(str(warm), ck, "other settings") == str(warm)
    # the warm checkpoint copied into the run's own (unstamped) checkpoints folder, as on the GPU machine
    ck2 = tmp_path / "run2" / "checkpoints"
    _checkpoint(ck2 / "checkpoint-253")
    assert choose_resume(str(ck2 / "checkpoint-253"), ck2, "fp") == str(ck2 / "checkpoint-253")
    _checkpoint(ck2 / "checkpoint-300")
    assert choose_resume(str(ck2 / "checkpoint-253"), ck2, "fp") == str(ck2 / "checkpoint-300")


def test_changed_settings_start_afresh_instead_of_resuming(tmp_path):
    """resume: auto must not continue a checkpoint written under other settings or other data."""
    from rarelang.train.run import choose_resume, run_fingerprint
    data = tmp_path / "d.parquet"
    data.write_bytes(b"rows")
    cfg = {"model": "m", "languages": ["r"], "grpo": {"learning_rate": 1e-5, "max_steps": 2}, "max_wall_s": 60}
    fp = run_fingerprint(cfg, data, {"passed": 1.0})
    # continuable: a longer run, another time budget
    longer = {**cfg, "grpo": {**cfg["grpo"], "max_steps": 9}, "max_wall_s": None}
    assert run_fingerprint(longer, data, {"passed": 1.0}) == fp
    # not continuable: learning rate, reward table, data
    assert run_fingerprint({**cfg, "grpo": {**cfg["grpo"], "learning_rate": 2e-5}}, data, {"passed": 1.0}) != fp
    assert run_fingerprint(cfg, data, {"passed": 2.0}) != fp
    ck = tmp_path / "checkpoints"
    assert choose_resume("auto", ck, fp) is None and (ck / "FINGERPRINT").read_text().strip() == fp
    _checkpoint(ck / "checkpoint-2")
    _checkpoint(ck / "checkpoint-10")
    assert choose_resume("auto", ck, fp) == str(ck / "checkpoint-10")        # same run: go on
    data.write_bytes(b"other rows")
    fp2 = run_fingerprint(cfg, data, {"passed": 1.0})
    assert fp2 != fp and choose_resume("auto", ck, fp2) is None              # other data: afresh
    assert (tmp_path / "checkpoints.replaced" / "checkpoint-10").is_dir()   # kept aside, not lost
    assert not list(ck.glob("checkpoint-*"))
    _checkpoint(ck / "checkpoint-1")
    assert choose_resume("never", ck, fp2) is None and not list(ck.glob("checkpoint-*"))
    assert choose_resume(str(tmp_path / "x"), ck, fp2) == str(tmp_path / "x")



def test_timings_are_per_optimizer_step_with_gradient_accumulation(tmp_path, pool):
    """With 2 accumulation steps generation and reward happen in one micro-step of two: the logged
    times must still be the whole optimizer step's (not the average over its micro-steps)."""
    from rarelang.train.run import train
    model_dir = build_tiny(tmp_path / "tiny", seed=0)
    params = _params(tmp_path, model_dir, 1)
    params["train"]["grpo"].update(per_device_train_batch_size=4, gradient_accumulation_steps=2)
    res = train(params, tmp_path, pool=pool)
    assert len(res["reward"].history) == 1 and len(res["reward"].history[0]) == 8   # one batch of 2 × 4
    (entry,) = [h for h in res["trainer"].state.log_history if "reward" in h]
    # the reward function's own clock for its one call of the step (halved, it would be 0.5×)
    assert entry["timing/reward_s_total"] == pytest.approx(entry["timing/reward_s"], rel=0.05)
    parts = sum(entry[f"timing/{k}"] for k in ("generation_s", "reward_s_total", "scoring_other_s",
                                                "loss_backward_s"))
    if "step_time" in entry:                                       # and not counted twice either
        assert parts <= 1.15 * entry["step_time"] + 0.05, (parts, entry["step_time"])
    assert res["summary"]["reward_first_quarter"] == pytest.approx(entry["reward"])
    cfg = json.loads((tmp_path / "results" / "tiny" / "config.json").read_text())
    assert cfg["timing_per"] == "optimizer step"


def test_a_run_in_two_parts_on_two_machines_continues_exactly(tmp_path, pool):
    """A 4-step run stopped by its time budget after step 1 (as a device call ends), its checkpoints
    (adapter, optimizer, scheduler, RNG, trainer_state) carried to another output root and continued
    there: the same rewards and weights as 4 steps in one go."""
    import shutil

    import torch
    from safetensors.torch import load_file

    from rarelang.train.run import train
    model_dir = build_tiny(tmp_path / "tiny", seed=0)
    whole = tmp_path / "whole"
    full = train(_params(whole, model_dir, 4), whole, pool=pool)
    first = tmp_path / "machine1"
    params1 = _params(first, model_dir, 4)
    params1["train"]["max_wall_s"] = 1e-9               # stop (and checkpoint) after the first step
    assert train(params1, first, pool=pool)["summary"]["global_step"] == 1
    second = tmp_path / "machine2"
    params2 = _params(second, model_dir, 4)            # the same data, written afresh on the other machine
    shutil.copytree(first / "models" / "tiny" / "checkpoints", second / "models" / "tiny" / "checkpoints")
    part2 = train(params2, second, pool=pool)
    assert part2["summary"]["resumed_from"].endswith("checkpoint-1") and part2["summary"]["global_step"] == 4

    def rewards(res):
        return [(h["step"], round(h["reward"], 6)) for h in res["trainer"].state.log_history if "reward" in h]
    assert rewards(part2) == rewards(full)             # step 1 from the checkpoint's state, 2-4 recomputed
    a = load_file(whole / "models" / "tiny" / "adapter" / "adapter_model.safetensors")
    b = load_file(second / "models" / "tiny" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    assert any(torch.count_nonzero(v) for k, v in a.items() if "lora_B" in k)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_validation_split_gives_a_learning_curve(tmp_path, pool):
    import pandas as pd

    from rarelang.train.run import train
    model_dir = build_tiny(tmp_path / "tiny", seed=0)
    params = _params(tmp_path, model_dir, 2)
    rows = [dict(task_id=f"v{i}", lang=lang, prompt="Write f.", solution=sol, tests=tests, source="test")
            for i in range(2) for lang, sol, tests in (("julia", "f(x) = x + 1", JL_TESTS),
                                                       ("r", "f <- function(x) x + 1", R_TESTS))]
    write_table(frame_from_records(rows, "processed"), tmp_path / "validation.parquet", "processed")
    params["train"]["validation"] = str(tmp_path / "validation.parquet")
    params["train"]["grpo"].update(eval_strategy="steps", eval_steps=1, eval_on_start=True,
                                   per_device_eval_batch_size=8, num_generations_eval=2)
    res = train(params, tmp_path, pool=pool)
    curve = pd.read_csv(tmp_path / "results" / "tiny" / "validation.csv")
    assert list(curve["step"]) == [0, 1, 2]
    assert curve["eval_pass_rate"].between(0, 1).all() and "eval_status/syntax_error" in curve
    assert [v["step"] for v in res["summary"]["validation"]] == [0, 1, 2]
    # validation calls are not training steps: two training reward calls, completions logged only for those
    assert sum(len(h) for h in res["reward"].history) == 2 * 8 + 3 * 8
    (train_entry, *_) = [h for h in res["trainer"].state.log_history if "reward" in h]
    assert "eval_reward" not in train_entry


def test_warm_start_from_a_bundled_adapter_goes_on_at_its_step(first_run, pool, tmp_path):
    """What a finished part brings back (a bf16 adapter + trainer_state, no optimizer): the trainer goes
    on at the next step from those weights, keeps the log history, and trains only the new steps."""
    import importlib.util
    import torch
    from safetensors.torch import load_file, save_file
    from rarelang.train.run import train
    tmp, model_dir, res = first_run
    spec = importlib.util.spec_from_file_location("warm_checkpoint", Path(__file__).parents[1] / "scripts" / "warm_checkpoint.py")
    wc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wc)
    bundled = tmp_path / "adapter"
    bundled.mkdir()
    src = tmp / "models" / "tiny" / "checkpoints" / "checkpoint-2"
    save_file({k: v.to(torch.bfloat16) for k, v in load_file(src / "adapter_model.safetensors").items()},
              bundled / "adapter_model.safetensors")
    (bundled / "adapter_config.json").write_text((src / "adapter_config.json").read_text())
    state = json.loads((src / "trainer_state.json").read_text())
    state.setdefault("stateful_callbacks", {})["TrainerControl"] = {"args": {"should_training_stop": True}, "attributes": {}}
    (tmp_path / "trainer_state.json").write_text(json.dumps(state))
    with pytest.raises(FileNotFoundError):
        wc.warm_checkpoint(tmp_path / "nowhere", tmp_path / "trainer_state.json", tmp_path / "ck")
    ck = wc.warm_checkpoint(bundled, tmp_path / "trainer_state.json", tmp_path / "ck")
    assert ck.name == "checkpoint-2" and not (ck / "optimizer.pt").exists()
    assert json.loads((ck / "trainer_state.json").read_text())["stateful_callbacks"]["TrainerControl"]["args"][
        "should_training_stop"] is False
    params = _params(tmp, model_dir, 4)
    # learning rate 0: the part must end on exactly the bundled weights (a fresh adapter's lora_B is 0);
    # save every 2 steps where the first part saved every step: the part's own setting must hold
    params["train"].update(run_name="warm", resume=str(ck))
    params["train"]["grpo"].update(learning_rate=0.0, save_steps=2)
    warm = train(params, tmp, pool=pool)
    assert warm["summary"]["resumed_from"] == str(ck) and warm["summary"]["global_step"] == 4
    assert len(warm["reward"].history) == 2                         # steps 3 and 4 only
    steps = [h["step"] for h in warm["trainer"].state.log_history if "reward" in h]
    assert steps == [1, 2, 3, 4]                                    # the earlier part's log goes on
    saved = sorted(p.name for p in (tmp / "models" / "warm" / "checkpoints").glob("checkpoint-*"))
    assert saved == ["checkpoint-4"] and warm["trainer"].state.save_steps == 2, saved   # not 3 (save_steps 1)
    after = load_file(tmp / "models" / "warm" / "adapter" / "adapter_model.safetensors")
    before = load_file(bundled / "adapter_model.safetensors")
    assert set(after) == set(before)
    assert any(torch.count_nonzero(v) for k, v in before.items() if "lora_B" in k)
    assert all(torch.equal(after[k].to(torch.bfloat16), before[k]) for k in before)


def test_fingerprint_does_not_change_with_the_renamed_key(tmp_path):
    """train.backend became train.framework (issue 16); fingerprints stamped before (committed runs'
    FINGERPRINT files, checkpoints waiting to be resumed) must still match the same settings."""
    import hashlib
    import json

    from rarelang.train.run import run_fingerprint
    data = tmp_path / "train.parquet"
    data.write_bytes(b"rows")
    reward = {"passed": 1.0}
    cfg = {"framework": "transformers", "languages": ["r"], "grpo": {"learning_rate": 5e-5, "max_steps": 3}}
    # the formula as it was stamped before the rename: the key under its old name
    before = hashlib.sha256(json.dumps({"train": {"backend": "transformers", "languages": ["r"],
                                                  "grpo": {"learning_rate": 5e-5}}, "reward": reward},
                                       sort_keys=True).encode())
    before.update(b"rows")
    assert run_fingerprint(cfg, data, reward) == before.hexdigest()
    assert run_fingerprint({**cfg, "framework": "unsloth"}, data, reward) != before.hexdigest()
