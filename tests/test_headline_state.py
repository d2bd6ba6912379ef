"""scripts/gpu/headline.sh `state` / `restore-state`: the full trainer state leaves a machine in 15 MiB
pieces, four per device call (64 MiB come back), and must join up on the next machine. On
2026-11-25 a later call re-packed a newer checkpoint mid-way and piece 0 was never fetched: checkpoint
150 of unified-1.5b was lost. These run the real script on a fake stage folder."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
RUN = "unified-0.5b"          # any run with a configs/gpu-headline-RUN.yaml


def _stage(tmp_path):
    stage = tmp_path / "stage"
    train_dir = stage / "results" / RUN / "train" / RUN
    train_dir.mkdir(parents=True)
    (train_dir / "log_history.csv").write_text("step,reward\n1,0.5\n")
    # the params file the script reads the run name and its results folder from
    (stage / f"params-{RUN}.yaml").write_text(
        f"train:\n  run_name: {RUN}\n  results_root: {stage}/results/{RUN}/train\n")
    ck_root = stage / "models" / RUN / "checkpoints"
    ck_root.mkdir(parents=True)
    (ck_root / "FINGERPRINT").write_text("abc\n")
    return stage, ck_root


def _checkpoint(ck_root, step, mib):
    ck = ck_root / f"checkpoint-{step}"
    ck.mkdir()
    with open(ck / "optimizer.pt", "wb") as f:      # 15 MiB pieces: > 4 of them
        f.write(hashlib.sha256(str(step).encode()).digest() * (mib * 32768))
    (ck / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
    return ck


def _repo(tmp_path):
    """The script's working copy: headline.sh, env.sh and the run's configs (restore-state reads the
    carried .gpu/state*/ folders from it, so it must not be this checkout with its own .gpu/)."""
    repo = tmp_path / "repo"
    for rel in ("scripts/gpu/headline.sh", "scripts/gpu/env.sh", "configs/gpu-headline.yaml",
                f"configs/gpu-headline-{RUN}.yaml"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, repo / rel)
    return repo


def _headline(repo, stage, out, *args, **env):
    out.mkdir(parents=True, exist_ok=True)
    e = {**os.environ, "STAGE": str(stage), "OUT": str(out), **env}
    return subprocess.run(["bash", "scripts/gpu/headline.sh", RUN, *args], cwd=repo, env=e,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not (REPO / f"configs/gpu-headline-{RUN}.yaml").exists(), reason="run config missing")
def test_state_pieces_come_four_per_call_from_one_pack_even_if_training_saves_meanwhile(tmp_path):
    repo = _repo(tmp_path)
    stage, ck_root = _stage(tmp_path)
    _checkpoint(ck_root, 150, 70)
    first = _headline(repo, stage, tmp_path / "out1", "state")
    assert first.returncode == 0, first.stderr
    got1 = sorted(p.name for p in (tmp_path / "out1").glob("state-*.part*"))
    assert got1 == [f"state-{RUN}.part0{i}" for i in range(4)]       # from piece 0, four of them
    assert "at checkpoint-150: 5 piece(s)" in first.stdout and "STATE_FROM=4" in first.stdout
    _checkpoint(ck_root, 194, 70)                                     # training saves a newer one
    second = _headline(repo, stage, tmp_path / "out2", "state", STATE_FROM="4")
    assert second.returncode == 0, second.stderr
    assert "at checkpoint-150" in second.stdout                      # the same pack, not re-made
    assert [p.name for p in (tmp_path / "out2").glob("state-*.part*")] == [f"state-{RUN}.part04"]

    # the next machine: the pieces carried as .gpu/state*/ (a stale piece of another state beside them
    # does not join in) become checkpoint 150 again, sha256-checked
    carried = repo / ".gpu" / "state1"
    carried.mkdir(parents=True)
    for p in [*(tmp_path / "out1").glob("state-*.part*"), *(tmp_path / "out2").glob("state-*.part*")]:
        (carried / p.name.split(".")[-1]).write_bytes(p.read_bytes())
    (carried / "SHA256SUMS").write_bytes((tmp_path / "out2" / f"state-{RUN}.SHA256SUMS").read_bytes())
    (carried / "part05").write_bytes(b"stale piece of an older state")
    new_stage, _ = _stage(tmp_path / "machine2")
    shutil.rmtree(new_stage / "models")
    restored = _headline(repo, new_stage, tmp_path / "out3", "restore-state")
    assert restored.returncode == 0, restored.stderr
    ck = new_stage / "models" / RUN / "checkpoints" / "checkpoint-150"
    assert (ck / "optimizer.pt").read_bytes() == (ck_root / "checkpoint-150" / "optimizer.pt").read_bytes()
    assert not (new_stage / "models" / RUN / "checkpoints" / "checkpoint-194").exists()
    assert (new_stage / "models" / RUN / "checkpoints" / "FINGERPRINT").read_text() == "abc\n"


@pytest.mark.parametrize("carried_pieces", [(0, 2), (0,)])   # (0,): the last listed piece missing
def test_restore_state_waits_for_every_listed_piece(tmp_path, carried_pieces):
    repo = _repo(tmp_path)
    stage, ck_root = _stage(tmp_path)
    _checkpoint(ck_root, 20, 40)
    assert _headline(repo, stage, tmp_path / "out", "state").returncode == 0
    carried = repo / ".gpu" / "state1"
    carried.mkdir(parents=True)
    (carried / "SHA256SUMS").write_bytes((tmp_path / "out" / f"state-{RUN}.SHA256SUMS").read_bytes())
    for i in carried_pieces:                                          # piece 1 not carried yet
        (carried / f"part0{i}").write_bytes((tmp_path / "out" / f"state-{RUN}.part0{i}").read_bytes())
    (carried / "part07").write_bytes(b"a piece of an older, larger state: not one of this state's 3")
    new_stage, _ = _stage(tmp_path / "machine2")
    shutil.rmtree(new_stage / "models")
    r = _headline(repo, new_stage, tmp_path / "out2", "restore-state")
    # (2026-11-25: with the last piece missing the script ended silently with status 1: set -o pipefail
    # and a loop whose last `[ -f ]` was false)
    assert r.returncode == 0 and f"{len(carried_pieces)} of 3 state piece(s) so far" in r.stdout, r.stdout + r.stderr
    assert not (new_stage / "models").exists()


def test_a_bundle_larger_than_one_call_comes_in_several_and_joins_across_their_folders(tmp_path):
    import sys

    import torch
    from safetensors.torch import save_file
    sys.path.insert(0, str(REPO / "scripts" / "gpu"))
    import collect

    repo = _repo(tmp_path)
    stage, ck_root = _stage(tmp_path)
    ck = _checkpoint(ck_root, 30, 1)
    save_file({"lora_A": torch.ones(4, 8)}, str(ck / "adapter_model.safetensors"))
    (ck / "adapter_config.json").write_text("{}")
    res = stage / "results" / RUN
    (res / "heldout-trained").mkdir(parents=True)
    (res / "heldout-trained" / "completions.parquet").write_bytes(b"\x01" * (70 * 1048576))   # > 4 pieces
    py = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}      # python3 with torch, as on the device
    first = _headline(repo, stage, tmp_path / "out1", "bundle", **py)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in (tmp_path / "out1").glob("bundle-*.part*")) == \
        [f"bundle-{RUN}.tar.part0{i}" for i in range(4)]
    assert f"BUNDLE_FROM=4 headline.sh {RUN} bundle-more" in first.stdout
    with pytest.raises(SystemExit, match="incomplete"):
        collect.join_bundle([tmp_path / "out1"], RUN)
    more = _headline(repo, stage, tmp_path / "out2", "bundle-more", BUNDLE_FROM="4")
    assert more.returncode == 0, more.stderr
    assert [p.name for p in (tmp_path / "out2").glob("bundle-*.part*")] == [f"bundle-{RUN}.tar.part04"]
    joined = collect.join_bundle([tmp_path / "out1", tmp_path / "out2"], RUN)
    assert joined == (stage / f"bundle-{RUN}.tar").read_bytes()


def test_a_last_call_stops_a_running_evaluation_and_scores_what_it_finished(tmp_path):
    """`FINISH_PARTIAL=1 headline.sh RUN wait`: an evaluation still running at WAIT_S is killed (with
    its process group: vLLM's engine is a child) and finished by evaluate.py --from-partial on its own
    params and folder; a training running beside it is left alone. Without FINISH_PARTIAL nothing is killed."""
    repo = _repo(tmp_path)
    stage, _ = _stage(tmp_path)
    res = stage / "results" / RUN
    tag = "eval_v2he-trained"
    (stage / f"params-{RUN}-{tag}.yaml").write_text("evaluate: {}\n")
    # a stand-in for evaluate.py that records how it was asked to finish
    (repo / "scripts" / "evaluate.py").write_text(
        "import json, sys, pathlib\n"
        "a = sys.argv[1:]; out = pathlib.Path(a[a.index('-o') + 1])\n"
        "assert '--from-partial' in a, a\n"
        "(out / 'metrics.json').write_text(json.dumps({'params': a[a.index('--params') + 1]}))\n")
    (res / tag).mkdir(parents=True)

    def start(name):
        p = subprocess.Popen(["setsid", "bash", "-c", "sleep 300 & wait"], stdout=subprocess.DEVNULL)
        (res / f"{name}.pid").write_text(f"{p.pid}\n")
        return p

    ev, tr = start(tag), start("train")
    try:
        plain = _headline(repo, stage, tmp_path / "out0", "wait", WAIT_S="1")
        assert plain.returncode == 0, plain.stderr
        assert ev.poll() is None and not (res / tag / "metrics.json").exists()
        done = _headline(repo, stage, tmp_path / "out1", "wait", WAIT_S="1", FINISH_PARTIAL="1")
        assert done.returncode == 0, done.stderr
        assert ev.wait(timeout=10) is not None                       # the evaluation was stopped
        assert tr.poll() is None                                      # the training was not
        assert f"{tag} stopped at WAIT_S" in done.stdout
        m = (tmp_path / "out1" / f"{RUN}-{tag}-metrics.json").read_text()
        assert f"params-{RUN}-{tag}.yaml" in m                        # finished with its own params, copied back
    finally:
        for p in (ev, tr):
            if p.poll() is None:
                os.killpg(p.pid, 9)


def test_wait_hands_out_the_chosen_adapter_once_per_checkpoint(tmp_path):
    """`WAIT_ADAPTER=1 headline.sh RUN wait`: the adapter of the checkpoint validation chose comes back
    as bf16 pieces that join to the cast weights (sha256 given), with its config and trainer_state;
    a later call hands out nothing until validation chooses another checkpoint."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file
    repo, (stage, ck_root) = _repo(tmp_path), _stage(tmp_path)

    def checkpoint(step, best):
        ck = ck_root / f"checkpoint-{step}"
        ck.mkdir()
        save_file({"lora_A.weight": torch.randn(256, 4096 * 8 + step), "lora_B.weight": torch.randn(32, 16)},
                  str(ck / "adapter_model.safetensors"))
        (ck / "adapter_config.json").write_text('{"r": 16}')
        (ck / "trainer_state.json").write_text(
            f'{{"global_step": {step}, "best_model_checkpoint": "{ck_root / f"checkpoint-{best}"}"}}')
        return ck

    py = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}     # the python with torch, as on the device
    checkpoint(100, 100)
    first = _headline(repo, stage, tmp_path / "out1", "wait", WAIT_S="1", WAIT_ADAPTER="1", **py)
    assert first.returncode == 0, first.stderr
    out1 = tmp_path / "out1"
    pieces = sorted(out1.glob(f"adapter-{RUN}-checkpoint-100.part*"))
    assert len(pieces) == 2 and "adapter of checkpoint-100 handed out" in first.stdout   # 16.8 MB in 15 MiB pieces
    joined = tmp_path / "joined.safetensors"
    joined.write_bytes(b"".join(p.read_bytes() for p in pieces))
    assert hashlib.sha256(joined.read_bytes()).hexdigest() == (out1 / f"adapter-{RUN}-checkpoint-100.sha256").read_text().strip()
    want = load_file(str(ck_root / "checkpoint-100" / "adapter_model.safetensors"))
    got = load_file(str(joined))
    assert all(got[k].dtype == torch.bfloat16 and torch.equal(got[k], want[k].to(torch.bfloat16)) for k in want)
    assert (out1 / f"adapter-{RUN}-checkpoint-100.config.json").exists()
    assert (out1 / f"trainer_state-{RUN}.json").exists() and len(list(out1.iterdir())) <= 8

    checkpoint(200, 100)                      # a newer checkpoint, validation still prefers 100
    second = _headline(repo, stage, tmp_path / "out2", "wait", WAIT_S="1", WAIT_ADAPTER="1", **py)
    assert second.returncode == 0 and not list((tmp_path / "out2").glob("adapter-*"))
    checkpoint(300, 300)                      # validation chooses 300
    third = _headline(repo, stage, tmp_path / "out3", "wait", WAIT_S="1", WAIT_ADAPTER="1", **py)
    assert third.returncode == 0, third.stderr
    assert sorted(p.name for p in (tmp_path / "out3").glob("adapter-*.part*"))[0].startswith(f"adapter-{RUN}-checkpoint-300")


def test_pack_hands_out_the_results_folder_as_one_file_that_collect_run_lays_out(tmp_path):
    import importlib.util
    import tarfile
    repo = _repo(tmp_path)
    stage, _ck_root = _stage(tmp_path)
    res = stage / "results" / RUN
    (res / "eval_v2r-trained").mkdir()
    (res / "eval_v2r-trained" / "metrics.json").write_text('{"m": 1}')
    (res / "eval_v2r-trained.pid").write_text("123")
    (res / "train.log").write_text("steps")
    out = tmp_path / "out"
    r = _headline(repo, stage, out, "pack")
    assert r.returncode == 0, r.stderr
    assert [p.name for p in out.iterdir()] == [f"results-{RUN}.tgz"]          # one file, whatever the run holds
    with tarfile.open(out / f"results-{RUN}.tgz") as tar:
        names = set(tar.getnames())
    assert {f"{RUN}/train.log", f"{RUN}/eval_v2r-trained/metrics.json", f"{RUN}/train/{RUN}/log_history.csv"} <= names
    assert not any(n.endswith(".pid") for n in names)
    spec = importlib.util.spec_from_file_location("collect_run", REPO / "scripts" / "gpu" / "collect_run.py")
    cr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cr)
    assert cr.main([RUN, str(out), "--out", str(tmp_path / "headline")]) == 0
    d = tmp_path / "headline" / RUN
    assert (d / "eval" / "eval_v2r-trained" / "metrics.json").read_text() == '{"m": 1}'
    assert (d / "train" / "log_history.csv").read_text() == "step,reward\n1,0.5\n"
    assert (d / "logs" / "train.log").read_text() == "steps"


def test_a_manifest_begun_by_eval_bg_outlives_the_call_that_started_it(tmp_path):
    """The device tool kills whatever a call leaves running when it returns, except processes in a
    session of their own (setsid). `eval-bg` (and `train-bg`) write the manifest in the background; it
    was lost once when the call ended right after `eval-bg` (r-1.5b's Julia evaluation, 2026-11-25).
    Here the call's process group is killed as the tool does, and the manifest must still appear."""
    import signal
    import time
    repo = _repo(tmp_path)
    stage, _ = _stage(tmp_path)
    (repo / "scripts" / "apply_config.py").write_text("")                 # overlays: nothing to apply here
    (repo / "scripts" / "evaluate.py").write_text("")
    (repo / "scripts" / "manifest.py").write_text(                        # a slow manifest writer
        "import sys, time, pathlib\ntime.sleep(2)\na = sys.argv\n"
        "pathlib.Path(a[a.index('-o') + 1]).write_text('{\"what\": \"%s\"}' % a[a.index('--what') + 1])\n")
    (repo / "configs" / "eval.yaml").write_text("evaluate: {}\n")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "STAGE": str(stage), "OUT": str(out), "EVAL_MODELS": "trained",
           "EVAL_CONFIG": "configs/eval.yaml", "PATH": "/usr/bin:/bin"}          # no nvidia-smi
    call = subprocess.Popen(["bash", "scripts/gpu/headline.sh", RUN, "eval-bg"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    log = call.communicate(timeout=60)[0]
    assert call.returncode == 0, log
    try:
        os.killpg(call.pid, signal.SIGKILL)                               # what the tool does at the call's end
    except ProcessLookupError:
        pass
    manifest = stage / "results" / RUN / "manifest-eval_v2-trained.json"
    for _ in range(100):
        if manifest.exists():
            break
        time.sleep(0.1)
    assert manifest.exists(), (stage / "results" / RUN / "manifest-eval_v2-trained.txt").read_text()
    assert '"what": "eval_v2-trained"' in manifest.read_text()


def test_eval_bg_all_evaluates_every_model_of_the_evaluation_config(tmp_path):
    """EVAL_MODELS=all (a re-ask evaluates a base and five adapters with one engine): evaluate.py gets every
    model the evaluation's params name, and the results folder a name that comes back from $OUT (no commas)."""
    import time
    repo = _repo(tmp_path)
    stage, _ = _stage(tmp_path)
    with open(stage / f"params-{RUN}.yaml", "a") as f:          # what the overlays would have set
        f.write("evaluate:\n  models:\n    base-0.5b: {engine: auto}\n    r-0.5b: {engine: auto}\n")
    (repo / "scripts" / "apply_config.py").write_text("")
    (repo / "scripts" / "manifest.py").write_text("")
    (repo / "scripts" / "evaluate.py").write_text(
        "import sys, pathlib\npathlib.Path(sys.argv[sys.argv.index('-o') + 1] + '.argv').write_text(' '.join(sys.argv[1:]))\n")
    (repo / "configs" / "eval.yaml").write_text("evaluate: {}\n")
    r = _headline(repo, stage, tmp_path / "out", "eval-bg", EVAL_MODELS="all", EVAL_TAG="reask",
                  EVAL_CONFIG="configs/eval.yaml", PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin")   # no nvidia-smi
    assert r.returncode == 0 and "evaluates base-0.5b,r-0.5b" in r.stdout, r.stdout + r.stderr
    argv = stage / "results" / RUN / "reask-all.argv"
    for _ in range(100):
        if argv.exists():
            break
        time.sleep(0.1)
    assert "--models base-0.5b,r-0.5b" in argv.read_text()
    # what it wrote comes back with the next `wait`
    done = stage / "results" / RUN / "reask-all"
    done.mkdir()
    for f in ("metrics.json", "completions.parquet"):
        (done / f).write_text(f)
    r = _headline(repo, stage, tmp_path / "out", "wait", WAIT_S="5", PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "out" / f"{RUN}-reask-all-completions.parquet").read_text() == "completions.parquet"


def test_collect_run_derives_the_logs_of_a_part_whose_machine_went_back_from_its_trainer_state(tmp_path):
    """Only WAIT_ADAPTER's copies came back (julia-0.5b, 2026-12-04): the learning curve, the step log and a
    summary are made from the newest trainer_state, marked as derived; config.json is the run's overlays on
    params.yaml, marked as reconstructed; a run whose own summary came back is left as it is."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("collect_run", REPO / "scripts" / "gpu" / "collect_run.py")
    cr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cr)
    run = "julia-0.5b"
    src = tmp_path / "call"
    src.mkdir()
    history = [{"step": 0, "eval_reward": -0.1, "eval_pass_rate": 0.2},
               *({"step": s, "reward": 0.1 * s, "pass_rate": 0.05 * s} for s in (1, 2, 3, 4)),
               {"step": 4, "eval_reward": 0.3, "eval_pass_rate": 0.4}]
    (src / f"trainer_state-{run}.json").write_text(json.dumps(
        {"global_step": 4, "best_model_checkpoint": "/x/checkpoint-4", "log_history": history}))
    assert cr.main([run, str(src), "--out", str(tmp_path / "headline")]) == 0
    t = tmp_path / "headline" / run / "train"
    summary = json.loads((t / "summary.json").read_text())
    assert summary["global_step"] == 4 and summary["logged_steps"] == 4 and "derived_from" in summary
    assert summary["first_reward"] == pytest.approx(0.1) and summary["last_reward"] == pytest.approx(0.4)
    val = pd.read_csv(t / "validation.csv")
    assert list(val["step"]) == [0, 4] and list(val["eval_pass_rate"]) == [0.2, 0.4]
    assert list(pd.read_csv(t / "log_history.csv")["step"]) == [1, 2, 3, 4]
    cfg = json.loads((t / "config.json").read_text())
    assert cfg["train"]["languages"] == ["julia"] and cfg["train"]["run_name"] == run
    assert cfg["train"]["grpo"]["max_steps"] == 300 and cfg["reconstructed_from"][:3] == [
        "params.yaml", "configs/gpu-headline.yaml", f"configs/gpu-headline-{run}.yaml"]
    # a later collect with a newer trainer_state renews what was derived, but never the run's own summary
    history.append({"step": 5, "reward": 0.9, "pass_rate": 0.5})
    (src / f"trainer_state-{run}.json").write_text(json.dumps({"global_step": 5, "log_history": history}))
    assert cr.main([run, str(src), "--out", str(tmp_path / "headline")]) == 0
    assert json.loads((t / "summary.json").read_text())["global_step"] == 5
    (t / "summary.json").write_text('{"own": 1}')
    assert cr.main([run, str(src), "--out", str(tmp_path / "headline")]) == 0
    assert json.loads((t / "summary.json").read_text()) == {"own": 1}
