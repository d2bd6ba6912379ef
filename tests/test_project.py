"""Project wiring: the DVC pipeline, HPC scripts, configs and lock files."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rarelang.params import load_params, repo_root
from rarelang.sandbox.config import SandboxConfig

ROOT = repo_root()


def test_dvc_pipeline_flows_one_way():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert list(stages)[:7] == ["sample", "translate", "validate", "split", "train", "evaluate", "figures"]

    def outs(name):
        return {next(iter(o)) if isinstance(o, dict) else o for o in stages[name].get("outs", [])}
    assert "data/interim/problems.parquet" in outs("sample") and "data/interim/problems.parquet" in stages["translate"]["deps"]
    assert "data/interim/translations.parquet" in outs("translate") and "data/interim/translations.parquet" in stages["validate"]["deps"]
    assert "data/interim/validated.parquet" in outs("validate") and "data/interim/validated.parquet" in stages["split"]["deps"]
    assert "data/processed/train.parquet" in outs("split") and "data/processed/train.parquet" in stages["train"]["deps"]
    assert "models/${train.run_name}" in outs("train") and "models/${train.run_name}" in stages["evaluate"]["deps"]
    for name, st in stages.items():          # every stage declares the params it reads
        assert st.get("params") or name == "figures", name


def test_dvc_dag_command():
    r = subprocess.run([str(Path(sys.executable).parent / "dvc"), "dag"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for stage in ("sample", "translate", "validate", "split", "train", "evaluate"):
        assert stage in r.stdout


def test_params_cover_every_section():
    p = load_params()
    for section in ("sandbox", "reward", "data", "sample", "translate", "validate", "split", "train", "evaluate"):
        assert section in p, section
    assert p["train"]["include_first_test"] is False


def test_backend_env_override(monkeypatch):
    monkeypatch.setenv("RARELANG_SANDBOX_BACKEND", "apptainer")
    assert SandboxConfig.from_params({"machine": {"sandbox_backend": "bwrap"}}).backend == "apptainer"
    monkeypatch.delenv("RARELANG_SANDBOX_BACKEND")
    assert SandboxConfig.from_params({"machine": {"sandbox_backend": "bwrap"}}).backend == "bwrap"
    with pytest.raises(ValueError, match="unknown key"):
        SandboxConfig.from_params({"sandbox": {"bakend": "bwrap"}})


def test_machine_settings_join_the_experiments_sandbox_settings():
    """params.yaml `machine` (workers, interpreter paths, binds, backend) and `sandbox` (limits,
    interpreter modes) make one SandboxConfig; a machine setting left in `sandbox` is refused by name."""
    cfg = SandboxConfig.from_params({"sandbox": {"timeout_s": 3, "julia": {"compile": "min"}},
                                     "machine": {"workers": 3, "julia_bin": "/x/julia", "rscript_bin": "/y/Rscript",
                                                 "extra_binds": ["/opt/rdeb"]}})
    assert (cfg.timeout_s, cfg.n_workers, cfg.extra_binds) == (3, 3, ["/opt/rdeb"])
    assert cfg.julia == {"bin": "/x/julia", "compile": "min"} and cfg.r["bin"] == "/y/Rscript"
    with pytest.raises(ValueError, match="sandbox.julia.bin is now called machine.julia_bin"):
        SandboxConfig.from_params({"sandbox": {"julia": {"bin": "/x/julia"}}})
    with pytest.raises(ValueError, match="sandbox.workers is now called machine.workers"):
        SandboxConfig.from_params({"sandbox": {"workers": 2}})
    with pytest.raises(ValueError, match="machine: unknown key 'wrkers'"):
        SandboxConfig.from_params({"machine": {"wrkers": 2}})


def test_no_stage_depends_on_the_machine_settings():
    """Changing workers, interpreter paths or the sandbox backend must not invalidate any DVC stage
    (they decide where programs run, not what they compute): no stage lists `machine` params."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, st in stages.items():
        for entry in st.get("params", []):
            keys = list(entry) if isinstance(entry, dict) else [entry]
            for k in keys:
                names = entry[k] if isinstance(entry, dict) else [k]
                assert not any(str(n) == "machine" or str(n).startswith("machine.") for n in names), (name, entry)


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "slurm").glob("*")))
def test_slurm_scripts_parse(script):
    r = subprocess.run(["bash", "-n", str(ROOT / "slurm" / script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    if script.endswith(".sbatch"):
        text = (ROOT / "slurm" / script).read_text()
        assert "#SBATCH" in text and ("dvc exp run" in text or "vllm-serve" in text)


def test_apply_paper_config(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text())
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "apply_config.py"), str(ROOT / "configs" / "paper.yaml"),
                        "--params", str(params)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    p = yaml.safe_load(params.read_text())
    assert p["sample"]["n"] == 2000 and p["data"]["source"] == "acecode"
    assert p["train"]["grpo"]["num_generations"] == 8 and p["train"]["grpo"]["loss_type"] == "dr_grpo"
    assert p["machine"]["sandbox_backend"] == "apptainer" and p["reward"]["passed"] == 1.0


def test_apply_config_keeps_comments_and_refuses_unknown_keys(tmp_path):
    """An overlay changes only the values it names: params.yaml keeps its comments and layout, the
    result means exactly what the plain overlay means, and a misspelled key is refused."""
    from rarelang.params_check import apply_overlay
    params = tmp_path / "params.yaml"
    original = (ROOT / "params.yaml").read_text()
    params.write_text(original)
    cfg = ROOT / "configs" / "gpu-headline.yaml"
    out = tmp_path / "out.yaml"
    run = [sys.executable, str(ROOT / "scripts" / "apply_config.py")]
    r = subprocess.run(run + [str(cfg), "--params", str(params), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert params.read_text() == original                                   # -o: the source untouched
    text = out.read_text()
    assert yaml.safe_load(text) == apply_overlay(yaml.safe_load(original), yaml.safe_load(cfg.read_text()))
    assert yaml.safe_load(text)["train"]["grpo"]["learning_rate"] == 5e-5      # a float, not the string '5e-05'
    comments = [ln.split("#", 1)[1].strip() for ln in original.splitlines() if "#" in ln]
    assert sum(c in text for c in comments) >= 0.8 * len(comments)             # replaced blocks lose theirs only
    assert "null" in text                                                      # not rewritten as empty values
    bad = tmp_path / "bad.yaml"
    bad.write_text("train.grpo.learnig_rate: 1.0e-4\n")
    r = subprocess.run(run + [str(bad), "--params", str(params)], capture_output=True, text=True)
    assert r.returncode == 2 and "learning_rate" in r.stderr, r.stderr         # names the nearest key
    assert params.read_text() == original


def test_lock_files_pin_every_package():
    for name in ("cpu.lock", "gpu.lock", "unsloth.lock"):
        lines = [x for x in (ROOT / "requirements" / name).read_text().splitlines()
                 if x.strip() and not x.lstrip().startswith("#")]
        assert lines and all("==" in x for x in lines if not x.startswith((" ", "-"))), name
    gpu = (ROOT / "requirements" / "gpu.lock").read_text()
    assert "vllm==" in gpu and "trl==" in gpu and "torch==" in gpu


def test_apptainer_definitions_have_tests_and_labels():
    for name in ("julia.def", "r.def"):
        text = (ROOT / "containers" / name).read_text()
        assert "%test" in text and "%labels" in text and "Bootstrap: docker" in text
    assert "1.10." in (ROOT / "containers" / "julia.def").read_text()
    assert "r-ver:4.4." in (ROOT / "containers" / "r.def").read_text()


def test_containers_build_explains_without_apptainer():
    r = subprocess.run(["bash", str(ROOT / "containers" / "build.sh")], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "apptainer is not installed" in r.stderr


def test_sandbox_defaults_in_code_agree_with_params_yaml(monkeypatch):
    """SandboxConfig's field defaults (used where a caller builds one without params) are the values
    params.yaml sets: one set of defaults, whichever way a sandbox is made."""
    monkeypatch.delenv("RARELANG_SANDBOX_BACKEND", raising=False)
    assert SandboxConfig() == SandboxConfig.from_params(load_params(ROOT / "params.yaml"))


def test_the_runs_paths_come_from_its_name():
    """dvc.yaml names the training's outputs by train.run_name (models/<run>, results/train/<run>/), and
    the evaluated adapter is that run's: renaming the run moves every path with it."""
    text = (ROOT / "dvc.yaml").read_text()
    assert "models/grpo" not in text and "results/train/grpo" not in text
    assert "models/${train.run_name}" in text and "results/train/${train.run_name}/log_history.csv" in text
    p = load_params(ROOT / "params.yaml")
    assert p["evaluate"]["models"]["trained"]["adapter"] == f"models/{p['train']['run_name']}/adapter"
