"""The Slurm path for real: a single-node cluster on this machine (scripts/setup/slurm_local.sh: Debian's
slurm-wlm + munge), the project's own slurm/submit.sh and slurm/run.sbatch, the embedded default experiment as
dependent jobs (data → train → evaluate → figures) on the CPU, in a clean clone of the repository.

* its outputs equal what `dvc repro` made of the same experiment (the md5s committed in dvc.lock);
* the training job, requeued (`scontrol requeue`) once its first checkpoint is written, resumes from it.

Slow (~20 min on 2 cores: it runs the whole embedded pipeline). Needs root (munge, slurmd); skipped otherwise.
"""

import json
import os
import shutil
import subprocess
import tempfile
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared").resolve()
# the outputs a run of the embedded default makes the same on any machine (timings and logs aside)
SAME = ["data/interim/problems.parquet", "data/interim/translations.parquet", "data/interim/validated.parquet",
        "data/processed/train.parquet", "data/processed/test.parquet", "results/validation.json",
        "results/split.json", "results/eval/metrics.json", "results/eval/paired.json", "results/eval/answers.json"]
# the answers themselves (completions.parquet) are not in a clean checkout and differ byte for byte on every run
# (each carries its program's wall-clock time): results/eval/answers.json, their digest without the timings, stands
# for them. Equal in content but not byte for byte: the metrics' train section summarises the training log, whose
# step 2 the requeued job sampled again after its checkpoint (the run dvc.lock records was not requeued).
METRICS = "results/metrics.json"
DEADLINE_S = 60 * 60

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="a Slurm cluster needs root"),
              pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared (the pipeline's data)")]


def sh(*cmd, cwd=ROOT, check=True, **kw):
    return subprocess.run(list(cmd), cwd=cwd, check=check, capture_output=True, text=True, **kw)


def locked_md5s() -> dict[str, str]:
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    return {o["path"]: o["md5"] for st in lock.values() for o in st.get("outs", [])}


def md5(path: Path) -> str:
    import hashlib
    return hashlib.md5(path.read_bytes()).hexdigest()


def job_states(ids: list[str]) -> dict[str, str]:
    out = {}
    for i in ids:
        r = sh("scontrol", "show", "job", i, check=False)
        state = next((w.split("=", 1)[1] for w in r.stdout.split() if w.startswith("JobState=")), "GONE")
        out[i] = state
    return out


@pytest.fixture(scope="module")
def cluster():
    r = sh("bash", "scripts/setup/slurm_local.sh", "start", check=False, timeout=900)
    if r.returncode != 0:
        pytest.fail(f"the local Slurm cluster did not start:\n{r.stdout}\n{r.stderr}")
    yield
    sh("bash", "scripts/setup/slurm_local.sh", "stop", check=False)


@pytest.fixture(scope="module")
def clone():
    """A clean clone of the committed tree beside a link to the shared data, with the project's .venv and the
    packaged model (made once here, as `make models` does)."""
    # the sandbox's workers run as an unprivileged user, which must reach the checkout's harness: not under pytest's
    # temporary folders, which are 0700 (every worker start then failed with "Permission denied"), and which any
    # other pytest session started meanwhile sets back to 0700 (seen 2026-12-06: opening them was not enough)
    top = Path(tempfile.mkdtemp(prefix="rarelang-slurm-"))
    os.chmod(top, 0o755)
    try:
        yield _clone_into(top)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _clone_into(top: Path) -> Path:
    (top / "shared").symlink_to(SHARED)
    sh("git", "clone", "-q", str(ROOT), str(top / "repo"))
    repo = top / "repo"
    (repo / ".venv").symlink_to(ROOT / ".venv")
    model = "qwen2.5-coder-0.5b-instruct"
    if not (ROOT / "models" / "base" / model / "config.json").exists():
        sh(sys.executable, "scripts/setup/fetch_model.py", model, timeout=1800)
    (repo / "models").mkdir()
    for sub in ("base", "gguf"):
        (repo / "models" / sub).symlink_to(ROOT / "models" / sub)
    return repo


def test_the_embedded_experiment_through_slurm_equals_dvc_repro_and_a_requeued_training_resumes(cluster, clone, request):
    env = {**os.environ, "RARELANG_VENV": ".venv"}
    r = sh("bash", "slurm/submit.sh", "embedded", "slurm-local", cwd=clone, env=env)
    jobs = dict(line.split() for line in r.stdout.strip().splitlines())
    assert list(jobs) == ["data", "train", "evaluate", "figures"], r.stdout
    ids = list(jobs.values())
    # a failed run leaves its dependants pending in the cluster's saved state: cancel ours whatever happens
    request.addfinalizer(lambda: sh("scancel", *ids, check=False))
    # requeue once checkpoint-1 is whole (trainer_state.json is written last): a requeue while the Trainer was still
    # writing it left a folder without weights, and the resumed job failed on it (seen 2026-12-06)
    ckpt = clone / "models" / "grpo" / "checkpoints" / "checkpoint-1"
    deadline, requeued = time.time() + DEADLINE_S, False
    seen: dict[str, str] = {}
    while time.time() < deadline:
        # a finished job leaves the controller's list after MinJobAge: its last state seen stands
        states = {i: (seen.get(i, s) if s == "GONE" else s) for i, s in job_states(ids).items()}
        seen.update(states)
        if not requeued and states[jobs["train"]] == "RUNNING" and (ckpt / "trainer_state.json").is_file():
            sh("scontrol", "requeue", jobs["train"])              # mid-training: step 1 saved, step 2 not yet
            requeued = True
        if all(s in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "GONE") for s in states.values()):
            break
        if any(s in ("FAILED", "CANCELLED", "TIMEOUT") for s in states.values()):
            break
        time.sleep(1)
    logs = {p.name: p.read_text(errors="replace") for p in (clone / "logs" / "slurm").glob("*.out")}
    assert all(s == "COMPLETED" for s in seen.values()), (seen, {k: v[-3000:] for k, v in logs.items()})
    assert requeued, "the training job finished before its first checkpoint could be seen"

    # the requeued job ran again (restart 1) and went on from its checkpoint, not from the start; the line is the
    # second run's first, so the whole log is searched (its tail alone missed it on CI, 2026-12-06)
    train_log = next(v for k, v in logs.items() if "train" in k)
    assert "restart 1" in train_log, train_log[-3000:]
    summary = json.loads((clone / "results" / "train" / "grpo" / "summary.json").read_text())
    assert str(summary["resumed_from"]).endswith("checkpoint-1") and summary["global_step"] == 2, summary

    # the answers' digest, as a reviewer makes it after the jobs (the Slurm jobs run the experiment's stages only)
    # (with the clone's code and the project's .venv, as slurm/run.sbatch runs a stage)
    dvc = str(clone / ".venv" / "bin" / "dvc")
    here = {**os.environ, "PATH": f"{clone / '.venv' / 'bin'}:{os.environ['PATH']}", "PYTHONPATH": str(clone / "src")}
    r = sh(dvc, "repro", "-s", "dvc.yaml:answers", cwd=clone, check=False, env=here)
    assert r.returncode == 0, r.stdout + r.stderr
    # the same outputs as `dvc repro` made (dvc.lock, committed from `make repro`)
    locked = locked_md5s()
    differ = {p: (h, locked.get(p)) for p in SAME if (h := md5(clone / p)) != locked.get(p)}
    if differ:      # which model and suite gave other answers, when those differ
        check = sh(sys.executable, "scripts/answers_digest.py", "results/eval/completions.parquet", "--check",
                   str(ROOT / "results" / "eval" / "answers.json"), cwd=clone, check=False, env=here)
        pytest.fail(f"Slurm's outputs differ from dvc repro's: {differ}\n{check.stderr}")
    mine, theirs = (json.loads((d / METRICS).read_text()) for d in (clone, ROOT))
    assert mine.pop("train")["steps"] == theirs.pop("train")["steps"] and mine == theirs
    # and DVC knows them: the clone's lock names the same outputs, and nothing is stale
    status = sh(dvc, "status", "--json", "dvc.yaml", cwd=clone, check=False)
    stale = {k: v for k, v in json.loads(status.stdout or "{}").items() if not k.endswith("seed_references")}
    assert not stale, stale           # (seed_references, the sandbox's own check, is not part of the chain)
