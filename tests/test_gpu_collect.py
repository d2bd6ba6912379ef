"""scripts/gpu/collect.py: bundles from the GPU machine → results/headline/<lang>/."""

import importlib.util
import io
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from rarelang.params import repo_root

sys.path.insert(0, str(Path(__file__).parent))
from bundle_pieces import write_bundle  # noqa: E402


def _collect_module():
    spec = importlib.util.spec_from_file_location("collect", repo_root() / "scripts" / "gpu" / "collect.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _completions(model, passed):
    return pd.DataFrame([{"model": model, "suite": "heldout", "setting": "t0.2", "lang": "r", "task_id": f"t{t}",
                          "sample": i, "passed": i < p, "status": "passed" if i < p else "tests_failed"}
                         for t, p in enumerate(passed) for i in range(4)])


def _bundle(tmp_path, config):
    history = [{"step": s, "reward": r, "timing/generation_s": 10.0, "timing/reward_s_total": 0.5, "step_time": 21.0}
               for s, r in ((1, -0.5), (2, -0.3), (3, -0.1), (4, 0.1))]
    files = {
        "results/r/train/grpo-r/log_history.json": json.dumps(history),
        "results/r/train/grpo-r/config.json": json.dumps(config),
        "results/r/train/grpo-r/summary.json": json.dumps({"run_name": "grpo-r", "global_step": 4}),
        "results/r/eval_base/metrics.json": json.dumps({"base/heldout/t0.2/r": {"pass@1": 0.25}}),
        "results/r/eval_trained/metrics.json": json.dumps({"trained/heldout/t0.2/r": {"pass@1": 0.5}}),
        "models/grpo-r/adapter/adapter_config.json": "{}",
    }
    blobs = {k: v.encode() for k, v in files.items()}
    for model, passed in (("base", [1, 1, 0, 2]), ("trained", [2, 2, 1, 3])):
        buf = io.BytesIO()
        _completions(model, passed).to_parquet(buf)
        blobs[f"results/r/eval_{model}/completions.parquet"] = buf.getvalue()
    return write_bundle(tmp_path / "device", "r", blobs)


def test_collect_unpacks_checks_and_pairs(tmp_path):
    collect = _collect_module()
    d = _bundle(tmp_path, {"grpo_args": {"gradient_accumulation_steps": 2}})   # an old log: per micro-step
    found = collect.bundles([d])
    r = collect.collect("r", found["r"], tmp_path / "headline", tmp_path / "models")
    base = tmp_path / "headline" / "r"
    summary = json.loads((base / "train" / "grpo-r" / "summary.json").read_text())
    assert summary["timing_corrected_by"] == 2 and summary["mean_timing/generation_s"] == pytest.approx(20.0)
    assert summary["reward_first_quarter"] == pytest.approx(-0.5) and summary["global_step"] == 4
    metrics = json.loads((base / "eval" / "metrics.json").read_text())
    assert set(metrics) == {"base/heldout/t0.2/r", "trained/heldout/t0.2/r"}
    paired = json.loads((base / "eval" / "paired.json").read_text())["trained-vs-base/heldout/t0.2/r"]
    assert paired["difference"] == pytest.approx(0.25) and paired["better"] == 4
    assert r["paired"]["trained-vs-base/heldout/t0.2/r"]["problems"] == 4
    assert (tmp_path / "models" / "grpo-r" / "adapter" / "adapter_config.json").exists()
    assert (base / "eval" / "completions_trained.parquet").exists()


def test_new_logs_are_not_scaled_and_corrupt_bundles_refused(tmp_path):
    collect = _collect_module()
    d = _bundle(tmp_path, {"timing_per": "optimizer step", "grpo_args": {"gradient_accumulation_steps": 2}})
    collect.collect("r", collect.bundles([d])["r"], tmp_path / "h", tmp_path / "m")
    summary = json.loads((tmp_path / "h" / "r" / "train" / "grpo-r" / "summary.json").read_text())
    assert "timing_corrected_by" not in summary and summary["mean_timing/generation_s"] == pytest.approx(10.0)
    (d / "bundle-r.tar.part01").write_bytes(b"truncated")
    with pytest.raises(SystemExit, match="sha256"):
        collect.bundles([d])
