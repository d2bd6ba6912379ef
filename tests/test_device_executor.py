"""The rented-GPU executor (scripts/device/run.py) moves files and nothing else: what one device call brings back
stays within the device profile's limits, a pack comes home whole across several calls (collect.py joins and
checks it), and a corrupt or missing piece is refused, never half-unpacked."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN, COLLECT = ROOT / "scripts/device/run.py", ROOT / "scripts/device/collect.py"


@pytest.fixture()
def checkout(tmp_path):
    co = tmp_path / "checkout"
    shutil.copytree(ROOT / "configs", co / "configs")
    shutil.copy(ROOT / "params.yaml", co / "params.yaml")
    return co


def run(co, tmp_path, *args, out="out", files=4, mib=3, piece=1):
    env = {**os.environ, "RARELANG_CHECKOUT": str(co), "STAGE": str(tmp_path / "stage"),
           "OUT": str(tmp_path / out), "OUT_FILES": str(files), "OUT_MIB": str(mib), "PIECE_MIB": str(piece)}
    return subprocess.run([sys.executable, str(RUN), *args], env=env, capture_output=True, text=True, timeout=120)


def test_pack_hands_out_pieces_within_the_limits_and_collect_joins_them(checkout, tmp_path):
    res = checkout / "results/headline/r-0.5b"
    (res / "old").mkdir(parents=True)
    (res / "old" / "committed.json").write_text("carried with the tree\n")
    old = time.time() - 3600
    os.utime(res / "old" / "committed.json", (old, old))
    (tmp_path / "stage" / "jobs").mkdir(parents=True)
    t0 = tmp_path / "stage" / "jobs" / "T0"
    t0.touch()
    os.utime(t0, (old + 60, old + 60))
    blob = os.urandom(5 << 20)                       # incompressible: 5 pieces of 1 MiB
    (res / "eval" / "trained").mkdir(parents=True)
    (res / "eval" / "trained" / "completions.parquet").write_bytes(blob)
    (res / "train").mkdir()
    (res / "train" / "summary.json").write_text('{"global_step": 3}\n')
    (res / "train" / "x.pid").write_text("123\n")
    first = run(checkout, tmp_path, "pack", "r-0.5b", out="call1")
    assert first.returncode == 0, first.stderr
    got = sorted(p.name for p in (tmp_path / "call1").iterdir())
    assert len(got) <= 4 and sum(p.stat().st_size for p in (tmp_path / "call1").iterdir()) <= 3 << 20, got
    assert "the rest with FROM=" in first.stdout
    nxt = int(first.stdout.split("FROM=")[1].split(")")[0].split()[0])
    # one call's pieces alone are refused whole
    home = tmp_path / "home"
    home.mkdir()
    r = subprocess.run([sys.executable, str(COLLECT), str(tmp_path / "call1"), "--root", str(home)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "has not come back" in r.stderr and not any(home.rglob("*.parquet"))
    calls = [tmp_path / "call1"]
    i = 2
    while nxt is not None:
        r = run(checkout, tmp_path, "pack", "r-0.5b", str(nxt), out=f"call{i}")
        assert r.returncode == 0, r.stderr
        calls.append(tmp_path / f"call{i}")
        nxt = int(r.stdout.split("FROM=")[1].split(")")[0].split()[0]) if "FROM=" in r.stdout else None
        i += 1
    r = subprocess.run([sys.executable, str(COLLECT), *map(str, calls), "--root", str(home)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (home / "results/headline/r-0.5b/eval/trained/completions.parquet").read_bytes() == blob
    assert (home / "results/headline/r-0.5b/train/summary.json").exists()
    assert not (home / "results/headline/r-0.5b/old").exists()          # carried with the tree: stays behind
    assert not list(home.rglob("*.pid"))


def test_a_corrupt_piece_is_refused(checkout, tmp_path):
    res = checkout / "results/headline/r-0.5b/eval"
    res.mkdir(parents=True)
    (res / "a.json").write_text("x" * 1000)
    assert run(checkout, tmp_path, "pack", "r-0.5b", out="c").returncode == 0
    piece = next((tmp_path / "c").glob("*.part000"))
    piece.write_bytes(piece.read_bytes()[:-1] + b"!")
    r = subprocess.run([sys.executable, str(COLLECT), str(tmp_path / "c"), "--root", str(tmp_path / "home")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "corrupt" in r.stderr and not (tmp_path / "home" / "results").exists()


def test_state_packs_the_newest_checkpoint_and_restore_unpacks_it(checkout, tmp_path):
    ck = checkout / "models/r-0.5b/checkpoints"
    for step in (20, 40, 60):
        (ck / f"checkpoint-{step}").mkdir(parents=True)
        (ck / f"checkpoint-{step}" / "optimizer.pt").write_bytes(str(step).encode() * 100)
        if step < 60:       # 60 was cut off mid-save (trainer_state.json comes last): it could not be resumed
            (ck / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (ck / "FINGERPRINT").write_text("abc\n")
    r = run(checkout, tmp_path, "state", "r-0.5b", out="s")
    assert r.returncode == 0, r.stderr
    other = tmp_path / "other"                      # another machine's checkout, the pieces carried in .gpu/state
    shutil.copytree(tmp_path / "s", other / ".gpu" / "state")
    env = {**os.environ, "RARELANG_CHECKOUT": str(other), "STAGE": str(tmp_path / "stage2")}
    r = subprocess.run([sys.executable, str(RUN), "restore"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    got = other / "models/r-0.5b/checkpoints"
    assert sorted(p.name for p in got.iterdir()) == ["FINGERPRINT", "checkpoint-40"]
    assert (got / "checkpoint-40" / "optimizer.pt").read_bytes() == b"40" * 100


def test_the_limits_come_from_the_device_profile(tmp_path):
    out = subprocess.run(["bash", "-c", ". scripts/device/profile.sh && echo $STAGE $OUT_FILES $OUT_MIB"], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable})
    assert out.returncode == 0, out.stderr
    import yaml
    dev = yaml.safe_load((ROOT / "configs/profiles/device.yaml").read_text())["device"]
    assert out.stdout.split() == [dev["stage"], str(dev["out_files"]), str(dev["out_mib"])]
    r = run(tmp_path, tmp_path, "pack", "r-0.5b")
    assert r.returncode != 0                         # an unknown checkout: a clear error, nothing packed


def test_start_refuses_a_training_budget_the_machine_does_not_have(checkout, tmp_path):
    r = run(checkout, tmp_path, "start", "embedded", "train", "--max-wall-s", "0")
    assert r.returncode != 0 and "no time left" in r.stderr
    assert not list((tmp_path / "stage" / "jobs").glob("*.pid"))     # nothing was started
    # an experiment only this test's checkout has: the background child (which imports the installed package,
    # whose checkout is this repository) stops at once instead of running a real stage here
    shutil.copy(checkout / "configs/experiments/embedded.yaml", checkout / "configs/experiments/probe-only-here.yaml")
    r = run(checkout, tmp_path, "start", "probe-only-here", "sample", "--max-wall-s", "1200")
    assert r.returncode == 0, r.stderr
    made = tmp_path / "stage" / "jobs" / "device-wall1200.yaml"
    from rarelang.experiments import Profile
    prof = Profile.load(str(made), checkout)
    assert prof.machine["max_wall_s"] == 1200.0 and prof.gpu
    assert {k: v for k, v in prof.machine.items() if k != "max_wall_s"} == \
        {k: v for k, v in Profile.load("device", checkout).machine.items() if k != "max_wall_s"}
    r = run(checkout, tmp_path, "start", "no-such-experiment", "train")
    assert r.returncode != 0 and "no-such-experiment" in (r.stderr + r.stdout)
