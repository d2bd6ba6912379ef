"""GRPO under DDP on 2 CPU processes (gloo), launched the way a cluster launches it
(torchrun, as `accelerate launch` starts GPU ranks): the sandbox's workers are shared out across the local
ranks, only the main process writes the adapter and the logs, and resume works the same."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny_model import build_tiny  # noqa: E402

from rarelang.distributed import share

HERE = Path(__file__).parent


def test_share_splits_a_machine_without_oversubscription():
    assert [share(16, r, 2) for r in range(2)] == [8, 8]
    assert [share(5, r, 2) for r in range(2)] == [3, 2]
    assert [share(1, r, 4) for r in range(4)] == [1, 1, 1, 1]          # never zero workers
    assert sum(share(17, r, 8) for r in range(8)) == 17
    with pytest.raises(ValueError):
        share(4, 2, 2)


def test_sandbox_workers_are_per_machine(monkeypatch):
    from rarelang.sandbox import SandboxConfig
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert SandboxConfig(workers=5).n_workers == 2
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert SandboxConfig(workers=5).n_workers == 3


def _launch(tmp: Path, model_dir: Path, steps: int) -> list[dict]:
    from test_train_grpo import _params
    _params(tmp, model_dir, steps)               # the shared training data, written before the ranks start
    # accelerate's own launcher starts one process on CPUs (multi-CPU wants mpirun); it starts
    # GPU ranks with torchrun, which is what this does on CPUs: same env (RANK, LOCAL_RANK,
    # LOCAL_WORLD_SIZE, …), and accelerate's state picks gloo
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "ddp_worker.py"), str(tmp), str(model_dir), str(steps), "4"]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=HERE.parent, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    return [json.loads((tmp / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.slow
def test_grpo_on_two_processes_shares_the_sandbox_and_writes_once(tmp_path):
    model_dir = build_tiny(tmp_path / "tiny", seed=0)
    ranks = _launch(tmp_path, model_dir, 2)
    assert [r["world"] for r in ranks] == [2, 2] and ranks[0]["backend"] == "gloo"
    assert [r["workers"] for r in ranks] == [2, 2]                 # 4 workers per machine, 2 per rank
    assert all(r["global_step"] == 2 and r["reward_calls"] == 2 for r in ranks)
    assert all(r["completions"] == 16 for r in ranks)              # each rank scores its own 8 per step
    res = tmp_path / "results" / "tiny"
    assert (tmp_path / "models" / "tiny" / "adapter" / "adapter_config.json").exists()
    summary = json.loads((res / "summary.json").read_text())
    config = json.loads((res / "config.json").read_text())
    assert summary["global_step"] == 2 and config["processes"] == 2 and config["sandbox_workers_per_rank"] == 2
    assert (res / "completions.parquet").exists() and (res / "completions.rank1.parquet").exists()
    # a longer run with the same settings resumes on both ranks from the same checkpoint
    ranks = _launch(tmp_path, model_dir, 3)
    assert [Path(r["resumed_from"]).name for r in ranks] == ["checkpoint-2", "checkpoint-2"]
    assert all(r["global_step"] == 3 and r["reward_calls"] == 1 for r in ranks)
