"""Experiments apart from machines (rarelang.experiments, rarelang.runner).

* every headline experiment is the run as it ran: resolved for the device profile, its parameters equal what
  the run recorded (train/config.json; every manifest's resolved params), where-things-lie keys aside;
* no machine path outside the device profile, and a profile never sets what is computed;
* renaming an experiment moves every path with it (the adapter evaluate reads included);
* the pipeline's vars file is what the experiments give; a GPU stage stops on a CPU profile with a clear error.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rarelang.experiments import (PIPELINE_VARS, Experiment, ExperimentError, Profile, experiment_names,
                                  machine_paths_in, pipeline_vars_text, resolve)
from rarelang.params import repo_root
from rarelang.runner import STAGE_SCRIPTS, Runner, StageError, expand

ROOT = repo_root()
HEADLINE = [n for n in experiment_names(ROOT) if Experiment.load(n, ROOT).group == "headline"]
RAN = [n for n in HEADLINE if Experiment.load(n, ROOT).status == "ran"]
# train keys that say where things lie or how a part was scheduled, not what a step computes
PLACEMENT = {"data", "validation", "output_root", "results_root", "results_dir", "launcher", "max_wall_s",
             "resume", "dtype", "backend", "framework"}
# evaluate keys that say where the inputs lie, or which part of the protocol one device call ran
EVAL_PLACEMENT = {"heldout", "multipl_e_dir", "suites", "languages", "models"}


# keys added since the runs, whose absence meant exactly this (the code's behaviour before the key existed)
ADDED_SINCE = {"evaluate": {"heldout_sample": "positional", "completion_extra_stops": []}}


def flat(d, prefix=""):
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict) and v:
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def differences(mine, recorded, ignore):
    a, b = flat(mine), flat(recorded)
    return {k: (a.get(k, "<absent>"), b.get(k, "<absent>")) for k in set(a) | set(b)
            if k.split(".")[0] not in ignore and a.get(k, "<absent>") != b.get(k, "<absent>")}


def device(e):
    return resolve(e, Profile.load("device", ROOT), ROOT)


def test_the_headline_experiments_are_there():
    assert {"unified-0.5b", "r-0.5b", "r-0.5b-long", "r-0.5b-g16", "r-0.5b-lr1e4", "r-0.5b-binary", "julia-0.5b",
            "unified-1.5b", "unified-1.5b-step300", "r-1.5b"} <= set(HEADLINE)
    assert Experiment.load("scaleup-3b", ROOT).status == "never-run"


@pytest.mark.parametrize("name", RAN)
def test_each_experiment_is_the_run_as_it_ran(name):
    e = Experiment.load(name, ROOT)
    mine = device(e)
    lay = e.layout(ROOT)
    checked = 0
    cfg = ROOT / lay.train_results / "config.json"
    if e.trains and cfg.exists():
        rec = json.loads(cfg.read_text())["train"]
        diff = differences(mine["train"], rec, PLACEMENT)
        diff = {k: v for k, v in diff.items() if not (k == "grpo.use_vllm" and v == ("auto", True))}  # auto on a GPU
        assert not diff, f"{name}: train differs from {cfg}: {diff}"
        # the same data file (by name: the device kept it elsewhere), the same model on that machine
        assert Path(mine["train"]["data"]).name == Path(rec["data"]).name
        assert mine["train"]["model"] == rec["model"]
        assert rec.get("dtype") in ("auto", "bfloat16") and mine["train"]["dtype"] == "auto"
        checked += 1
    for mf in sorted((ROOT / lay.results / "manifests").glob("manifest-*.json")):
        rec = json.loads(mf.read_text())["params"]["resolved"]
        assert not differences(mine["train"], rec["train"], PLACEMENT), mf
        assert not differences(mine["reward"], rec["reward"], set()), mf
        assert not differences(mine["prompt"], rec.get("prompt"), set()), mf
        if "train" in mf.name:
            continue                      # a training part: its evaluate section was never used
        assert not differences(mine["evaluate"], {**ADDED_SINCE["evaluate"], **rec["evaluate"]}, EVAL_PLACEMENT), mf
        # the suites and languages one call asked are a part of the protocol's
        assert set(rec["evaluate"]["suites"]) <= set(mine["evaluate"]["suites"])
        assert set(rec["evaluate"]["languages"]) <= set(mine["evaluate"]["languages"])
        checked += 1
    if e.trains:
        assert checked, f"{name}: nothing recorded to check it against"


def test_a_changed_lever_is_caught():
    """The check above is able to fail: the run's learning rate changed in the experiment is a difference."""
    e = Experiment.load("r-0.5b-lr1e4", ROOT)
    rec = json.loads((ROOT / e.layout(ROOT).train_results / "config.json").read_text())["train"]
    mine = device(e)
    mine["train"]["grpo"]["learning_rate"] = 5e-5
    assert "grpo.learning_rate" in differences(mine["train"], rec, PLACEMENT)


def test_no_machine_path_outside_the_device_profile():
    offenders = []
    for path in sorted((ROOT / "configs").rglob("*.yaml")) + [ROOT / "dvc.yaml", ROOT / "params.yaml",
                                                             ROOT / "pipelines/headline/dvc.yaml"]:
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("configs/profiles/"):
            continue
        if re.search(r"/root/|/opt/rdeb", path.read_text()):     # (/opt/julia-1.5.3 is where make setup puts Julia)
            offenders.append(rel)
    for path in sorted((ROOT / "scripts").rglob("*")) + sorted((ROOT / "slurm").rglob("*")) + \
            sorted((ROOT / "src").rglob("*.py")):
        if path.is_file() and "/root/stage" in path.read_text(errors="replace"):
            offenders.append(path.relative_to(ROOT).as_posix())
    assert not offenders, f"device paths outside configs/profiles/device.yaml: {offenders}"
    assert "/root/stage" in (ROOT / "configs/profiles/device.yaml").read_text()


def test_an_experiment_naming_a_machine_path_is_refused(tmp_path):
    root = _copy_configs(tmp_path)
    p = root / "configs/experiments/r-0.5b.yaml"
    d = yaml.safe_load(p.read_text())
    d["params"]["train"]["data"] = "/root/stage/train-r-filtered.parquet"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(ExperimentError, match="machine path"):
        Experiment.load("r-0.5b", root)
    d["params"]["machine"] = {"workers": 4}
    del d["params"]["train"]["data"]
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(ExperimentError, match="profile"):
        Experiment.load("r-0.5b", root)
    assert machine_paths_in({"a": {"b": "../shared/multipl-e", "c": "data/x"}}) == []
    assert machine_paths_in({"a": ["../elsewhere/x"]}) == ["a: ../elsewhere/x"]


def test_a_profile_sets_only_where_things_run(tmp_path):
    root = _copy_configs(tmp_path)
    (root / "configs/profiles/bad.yaml").write_text("profile: {gpu: false}\ntrain:\n  model: x\n")
    with pytest.raises(ExperimentError, match="only profile, machine"):
        Profile.load("bad", root)
    (root / "configs/profiles/bad.yaml").write_text("machine:\n  wrokers: 3\n")
    with pytest.raises(ExperimentError, match="did you mean machine.workers"):
        Profile.load("bad", root)


def test_the_profile_never_enters_a_stage_s_params():
    """DVC tracks params.yaml's sections and the experiment files; what a profile sets is `machine` only, and no
    stage of either pipeline lists `machine` (or a profile file) among its params or deps."""
    for pipeline in ("dvc.yaml", "pipelines/headline/dvc.yaml"):
        for name, st in yaml.safe_load((ROOT / pipeline).read_text())["stages"].items():
            st = st.get("do", st)
            params = [p if isinstance(p, str) else next(iter(p)) for p in st.get("params", [])]
            assert not any(p == "machine" or p.startswith("machine.") for p in params), (pipeline, name)
            assert not any("configs/profiles" in str(d) for d in st.get("deps", [])), (pipeline, name)
    for name in ("laptop", "device", "slurm"):
        prof = yaml.safe_load((ROOT / f"configs/profiles/{name}.yaml").read_text())
        assert set(prof) <= {"profile", "machine", "slurm", "device", "env"}


def test_renaming_an_experiment_moves_every_path(tmp_path):
    root = _copy_configs(tmp_path)
    shutil.copy(root / "configs/experiments/r-0.5b.yaml", root / "configs/experiments/r-0.5b-renamed.yaml")
    e = Experiment.load("r-0.5b-renamed", root)
    p = resolve(e, Profile.load("laptop", root), root)
    assert p["train"]["run_name"] == "r-0.5b-renamed"
    assert p["train"]["results_dir"] == "results/headline/r-0.5b-renamed/train"
    assert p["train"]["output_root"] == "models"
    assert p["evaluate"]["models"]["trained"]["adapter"] == "results/headline/r-0.5b-renamed/adapter"
    run = Runner(e, Profile.load("laptop", root), root, allow_cpu=True)
    cmds = [" ".join(c) for s in ("train", "evaluate") for c in run.commands(s, run.resolved_path(s))]
    assert all("r-0.5b-renamed" in c for c in cmds if "-o" in c), cmds
    assert not any("headline/r-0.5b/" in c for c in cmds), cmds
    assert str(run.resolved_path("train")).endswith("results/headline/r-0.5b-renamed/resolved/train.yaml")


def test_the_embedded_default_s_adapter_follows_its_run_name(tmp_path):
    """The latent bug: train.run_name moved the training outputs but evaluate read models/grpo/adapter."""
    from rarelang.evaluate.run import model_specs
    root = _copy_configs(tmp_path)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["run_name"] = "elsewhere"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    e = Experiment.load("embedded", root)
    resolved = resolve(e, Profile.load("laptop", root), root)
    assert resolved["evaluate"]["models"]["trained"]["adapter"] == "models/elsewhere/adapter"
    assert model_specs(params)["trained"]["adapter"] == "models/elsewhere/adapter"      # plain params too
    lay = e.layout(root)
    assert (lay.train_results, lay.models) == ("results/train/elsewhere", "models/elsewhere")


def test_the_pipeline_vars_are_generated():
    assert (ROOT / PIPELINE_VARS).read_text() == pipeline_vars_text(ROOT), \
        "run `rarelang experiments --write-pipeline`"


def test_a_gpu_stage_on_a_cpu_profile_says_what_it_needs():
    e = Experiment.load("r-0.5b", ROOT)
    run = Runner(e, Profile.load("laptop", ROOT), ROOT, dry_run=True)
    with pytest.raises(StageError, match="needs a GPU.*--profile device"):
        run.run(["train"])
    out = subprocess.run([sys.executable, "-m", "rarelang.cli", "run", "r-0.5b", "evaluate"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "needs a GPU" in out.stderr
    assert expand(["all"], e) == ["train", "evaluate", "compare"]


def test_every_stage_runs_only_its_declared_scripts():
    for name in ["embedded", *HEADLINE]:
        e = Experiment.load(name, ROOT)
        run = Runner(e, Profile.load("device", ROOT), ROOT)
        for stage in expand(["all"], e):
            if stage == "compare" and not run.layout.eval:
                continue
            try:
                cmds = run.commands(stage, run.resolved_path(stage))
            except StageError:
                continue                   # nothing to pair yet
            scripts = [c for cmd in cmds for c in cmd if c.startswith("scripts/")]
            assert scripts and set(scripts) <= set(STAGE_SCRIPTS[stage]), (name, stage, scripts)


def test_the_resolved_parameters_are_written_beside_the_results(tmp_path):
    root = _copy_configs(tmp_path)
    e = Experiment.load("embedded", root)
    run = Runner(e, Profile.load("laptop", root), root)
    p = run.write_resolved("train")
    assert p == root / "results/resolved/train.yaml"
    written = yaml.safe_load(p.read_text())
    assert written == resolve(e, Profile.load("laptop", root), root)
    assert written["machine"]["sandbox_backend"] == "bwrap" and "configs/profiles/laptop.yaml" in p.read_text()


def _copy_configs(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "configs", root / "configs")
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    for name in HEADLINE:                 # what a layout reads of another experiment (warm starts)
        st = ROOT / "results/headline" / name / "train" / "trainer_state.json"
        if st.exists():
            (root / "results/headline" / name / "train").mkdir(parents=True, exist_ok=True)
            shutil.copy(st, root / "results/headline" / name / "train" / "trainer_state.json")
    return root
