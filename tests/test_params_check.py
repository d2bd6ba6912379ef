"""params.yaml is the one list of knobs: a key it does not have (a typo) is an error naming the
nearest valid key, for params files and for every overlay in configs/."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rarelang.params import repo_root
from rarelang.params_check import apply_overlay, check, check_files

ROOT = repo_root()
REF = yaml.safe_load((ROOT / "params.yaml").read_text())


def test_params_yaml_and_every_experiment_and_profile_are_valid():
    from rarelang.experiments import Experiment, Profile, experiment_names
    assert check(REF, REF) == []
    for name in experiment_names(ROOT):          # its dataset, evaluation and recipe too: a bad key raises
        assert check(Experiment.load(name, ROOT).merged_params(ROOT), REF, check_grpo=False) == [], name
    for prof in sorted((ROOT / "configs" / "profiles").glob("*.yaml")):
        assert Profile.load(prof.stem, ROOT).name == prof.stem


@pytest.mark.parametrize("overlay, expected", [
    ({"train.lora.rank": 8}, "unknown key train.lora.rank"),
    ({"split.validation_per_lang": 3}, "did you mean split.validation_per_language?"),
    ({"train.grpo.max_step": 3}, "did you mean train.grpo.max_steps?"),
    ({"evaluate.models.base.adaptor": "x"}, "did you mean evaluate.models.base.adapter?"),
    ({"sandbox.julia": 3}, "sandbox.julia: expected a mapping"),
    ({"evaluate.suites": "heldout"}, "evaluate.suites: expected a list"),
    # renamed: "seed" was both the prior work's data and every RNG seed
    ({"seed.dir": "../shared/seed-data"}, "seed is now called prior_work"),
    ({"data.source": "seed"}, "data.source: 'seed' is now called 'prior_work'"),
    # renamed: "backend" meant four things; only the sandbox's keeps the name
    ({"translate.backend": "vllm"}, "translate.backend is now called translate.provider"),
    ({"translate.replay_backend": "local"}, "translate.replay_backend is now called translate.replay_provider"),
    ({"train.backend": "unsloth"}, "train.backend is now called train.framework"),
    ({"evaluate.models.base.backend": "vllm"}, "evaluate.models.base.backend is now called evaluate.models.base.engine"),
    # moved: where and how fast programs run is the machine's, not the experiment's
    ({"sandbox.backend": "apptainer"}, "sandbox.backend is now called machine.sandbox_backend"),
    ({"sandbox.workers": 16}, "sandbox.workers is now called machine.workers"),
    ({"sandbox.julia.bin": "/opt/j/bin/julia"}, "sandbox.julia.bin is now called machine.julia_bin"),
    ({"sandbox.r.bin": "/usr/bin/Rscript"}, "sandbox.r.bin is now called machine.rscript_bin"),
])
def test_a_typo_is_an_error_that_names_the_nearest_key(overlay, expected):
    errors = check(apply_overlay(REF, overlay), REF)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize("old, new", sorted(__import__("rarelang.machine").machine.MOVED_FROM_SANDBOX.items()))
def test_every_machine_setting_left_in_sandbox_is_refused_by_its_new_name(old, new):
    """One table (rarelang.machine) says where each machine setting lives now: the params check and
    SandboxConfig both refuse its old key by the new name (the hand-written list had no sandbox.scratch_dir)."""
    from rarelang.sandbox.config import SandboxConfig
    value = {"sandbox.apptainer": {"bin": "apptainer"}, "sandbox.extra_binds": ["/opt"]}.get(old, "x")
    errors = check(apply_overlay(REF, {old: value}), REF, check_grpo=False)
    assert f"{old} is now called {new}" in " ".join(errors), errors
    for v in (value, None):             # a key left there with no value is still a key in the wrong place
        params = apply_overlay({"sandbox": {"julia": {}, "r": {}}}, {old: v})
        with pytest.raises(ValueError, match=f"{old} is now called {new}"):
            SandboxConfig.from_params(params)


@pytest.mark.parametrize("overlay, expected", [
    ({"train.grpo.max_steps": "300"}, "train.grpo.max_steps: expected integer (as in params.yaml: 2), got string '300'"),
    ({"train.lora.r": 16.5}, "train.lora.r: expected integer"),
    ({"train.grpo.mask_truncated_completions": "yes"}, "expected boolean"),
    ({"evaluate.bootstrap": True}, "evaluate.bootstrap: expected integer"),     # a bool is not a number here
    ({"train.grpo.use_vllm": 1}, "train.grpo.use_vllm: expected string or boolean"),
    ({"machine.workers": 2.5}, "machine.workers: expected string or integer"),
])
def test_a_value_of_the_wrong_type_is_an_error(overlay, expected):
    """A knob's type is its default's in params.yaml: "300" for a step count would reach TRL as a string."""
    key = next(iter(overlay))
    node = REF
    for part in key.split("."):
        node = node[part]                       # the knob exists in params.yaml (only its type is wrong)
    errors = check(apply_overlay(REF, overlay), REF, check_grpo=False)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize("overlay", [
    {"train.lora.dropout": 0},                 # an integer where the default is a float
    {"evaluate.limit": None, "sample.n": None},  # null: unset (all problems)
    {"train.grpo.use_vllm": False}, {"machine.workers": 16},
])
def test_values_of_an_accepted_type_pass(overlay):
    assert check(apply_overlay(REF, overlay), REF, check_grpo=False) == []


def test_stage_scripts_accept_every_config_without_checking_grpo():
    """The stage scripts check without TRL (check_grpo=False): GRPOConfig fields params.yaml does not
    list (eval_strategy, …) must pass there, as the headline experiments set them (a run refused at start once)."""
    from rarelang.experiments import Experiment, experiment_names
    for name in experiment_names(ROOT, group="headline"):
        params = Experiment.load(name, ROOT).merged_params(ROOT)
        assert "eval_strategy" in params["train"]["grpo"], name
        assert check(params, REF, check_grpo=False) == [], name
    # the rest of the params is still checked
    bad = apply_overlay(REF, {"train.grpo.eval_strategy": "steps", "train.lora.alpah": 8})
    assert [e for e in check(bad, REF, check_grpo=False)] == ["unknown key train.lora.alpah; did you mean train.lora.alpha?"]


def test_free_names_and_optional_keys_are_accepted():
    ok = apply_overlay(REF, {"evaluate.models.ckpt50": {"engine": "vllm", "model": "m", "adapter": "a"},
                             "machine.extra_binds": ["/opt/x"], "train.output_root": "/tmp/m"})
    assert check(ok, REF) == []


def test_cli_and_stage_scripts_refuse_unknown_keys(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train.lora.alpah: 8\n")
    r = subprocess.run([sys.executable, "-m", "rarelang.cli", "check-params", "--overlay", str(bad)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and "did you mean train.lora.alpha?" in r.stdout, r.stdout + r.stderr
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(apply_overlay(REF, {"evaluate.max_token": 9})))
    r = subprocess.run([sys.executable, "scripts/figures.py", "--params", str(params)], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode != 0 and "did you mean evaluate.max_tokens?" in r.stderr, r.stderr


def test_code_defaults_are_params_yaml_defaults():
    """A partial params dict gets params.yaml's values, not other literals in the code."""
    from rarelang.train.modeling import lora_settings
    from rarelang.train.run import resolve_config
    cfg = resolve_config({"train": {"grpo": {"max_steps": 7}}})
    assert cfg["grpo"] == {**REF["train"]["grpo"], "max_steps": 7}
    lora = lora_settings({"r": 4})
    assert lora["r"] == 4 and lora["target_modules"] == REF["train"]["lora"]["target_modules"]
    assert lora["alpha"] == REF["train"]["lora"]["alpha"]


def test_stage_defaults_are_params_yaml_defaults():
    """Teacher sampling and the sample stage's seed/min_tests, when the params leave them out, are
    params.yaml's values (they were 768 tokens / seed 0 / min_tests 1 in the code)."""
    from rarelang.data.sample import run_sample
    from rarelang.translate.backends import make_backend
    sampling = make_backend({"provider": "cache", "model": "m"}, ROOT).sampling()
    assert sampling == {k: REF["translate"][k] for k in ("temperature", "top_p", "max_tokens", "seed")}
    emb = {"n": 4, "embedded_path": REF["sample"]["embedded_path"]}
    partial = run_sample({"data": {"source": "embedded"}, "sample": emb}, ROOT)
    full = run_sample({"data": {"source": "embedded"}, "sample": {**emb, "seed": REF["sample"]["seed"],
                                                                   "min_tests": REF["sample"]["min_tests"]}}, ROOT)
    other = run_sample({"data": {"source": "embedded"}, "sample": {**emb, "seed": 0, "min_tests": 1}}, ROOT)
    assert partial.equals(full)
    assert not partial.equals(other)       # the defaults matter: the old literals pick other problems
