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
    # the answers' digest reads what evaluate wrote
    assert "results/eval/completions.parquet" in outs("evaluate") and "results/eval/completions.parquet" in stages["answers"]["deps"]
    for name, st in stages.items():          # every stage declares the params it reads (these two read none)
        assert st.get("params") or name in ("figures", "answers"), name


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
        assert "#SBATCH" in text and ("dvc repro" in text or "vllm-serve" in text or "rarelang serve" in text)


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
    # the interpreters the headline rewards were judged with (results/env/*.json): Julia 1.5.3, R 4.2.2
    julia = (ROOT / "containers" / "julia.def").read_text()
    assert 'VERSION == v"1.5.3"' in julia and "install_julia.sh" in julia
    assert 'getRversion() == "4.2.2"' in (ROOT / "containers" / "r.def").read_text()


def test_containers_build_explains_without_apptainer():
    r = subprocess.run(["bash", str(ROOT / "containers" / "build.sh")], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "apptainer is not installed" in r.stderr


def test_sandbox_defaults_in_code_agree_with_params_yaml(monkeypatch):
    """SandboxConfig's field defaults (used where a caller builds one without params) are the values
    params.yaml sets: one set of defaults, whichever way a sandbox is made."""
    monkeypatch.delenv("RARELANG_SANDBOX_BACKEND", raising=False)
    assert SandboxConfig() == SandboxConfig.from_params(load_params(ROOT / "params.yaml"))
