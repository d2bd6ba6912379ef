"""scripts/device/vllm_share.py: an evaluation's vLLM share is lowered to what the GPU has free (r-1.5b's
evaluation asked for 0.4 of the H100 beside a 1.5B trainer, 29.8 of 79.2 GiB were free, and vLLM
refused to start)."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "device"))
import vllm_share  # noqa: E402

PARAMS = {"evaluate": {"models": {
    "base": {"engine": "auto", "vllm": {"gpu_memory_utilization": 0.25}},
    "trained": {"engine": "auto", "adapter": "a", "vllm": {"gpu_memory_utilization": 0.4}}}}}


def test_the_r15b_failure_gets_a_share_that_fits():
    # the numbers of the failed start: 29.82 of 79.18 GiB free
    caps = vllm_share.capped_shares(PARAMS, ["trained"], 29.82 * 1024, 79.18 * 1024)
    assert caps == {"trained": 0.34}
    assert caps["trained"] * 79.18 <= 29.82            # vLLM's own check passes


def test_a_share_that_fits_is_left_alone():
    assert vllm_share.capped_shares(PARAMS, ["base", "trained"], 60000, 81000) == {}
    # base fits (0.25) where trained (0.4) does not
    assert vllm_share.capped_shares(PARAMS, ["base", "trained"], 30000, 81000) == {"trained": 0.34}


def test_only_vllm_engines_are_capped():
    """A transformers engine, an API or replayed answers have no vLLM share: nothing to lower, and
    no refusal for lack of memory either."""
    params = {"evaluate": {"models": {
        "hf": {"engine": "transformers", "vllm": {"gpu_memory_utilization": 0.9}},
        "api": {"engine": "openai"}, "v": {"engine": "vllm", "vllm": {"gpu_memory_utilization": 0.9}}}}}
    assert vllm_share.capped_shares(params, ["hf", "api", "v"], 30000, 81000) == {"v": 0.34}
    assert vllm_share.capped_shares(params, ["hf", "api"], 1000, 81000) == {}


def test_too_little_free_memory_is_refused_and_unknown_models_named():
    with pytest.raises(RuntimeError, match="no room"):
        vllm_share.capped_shares(PARAMS, ["trained"], 5000, 81000)
    with pytest.raises(KeyError, match="judge"):
        vllm_share.capped_shares(PARAMS, ["judge"], 60000, 81000)


def test_cli_writes_an_overlay_apply_config_accepts(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(PARAMS))
    ov = tmp_path / "share.yaml"
    r = subprocess.run([sys.executable, str(REPO / "scripts/device/vllm_share.py"), str(p), "--models", "base,trained",
                        "--free-mib", "30535", "--total-mib", "81080", "-o", str(ov)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(ov.read_text()) == {"evaluate.models.trained.vllm.gpu_memory_utilization": 0.34}
    assert "lowered to 0.34" in r.stderr
    r = subprocess.run([sys.executable, str(REPO / "scripts/device/vllm_share.py"), str(p), "--models", "trained",
                        "--free-mib", "3000", "--total-mib", "81080"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no room" in r.stderr
