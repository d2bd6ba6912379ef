"""What DVC cannot record about a result: the environment that made it — Python, the versions of the
packages that compute (torch, transformers, TRL, vLLM, …), the GPUs, and the R and Julia interpreters that
judged the programs. Each stage writes it beside its outputs (``environment.json``); dvc.lock records the
code, the parameters and the data.

(Until the headline runs went through DVC, ``manifest-*.json`` files beside their results also recorded the
code and data hashes a lock file would; they are kept as records, under results/headline/<run>/manifests/, and
the script that wrote them under results/headline/records/scripts/.)
"""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from typing import Any

PACKAGES = ("torch", "transformers", "trl", "vllm", "peft", "datasets", "accelerate", "pandas", "pyarrow")


def environment(params: dict[str, Any] | None = None) -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(), "packages": {}}
    for name in PACKAGES:
        try:
            env["packages"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30)
        env["gpus"] = [ln.strip() for ln in gpu.stdout.splitlines() if ln.strip()] if gpu.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired):
        env["gpus"] = []
    if params is not None:
        try:
            from rarelang.sandbox.bench import machine_info
            from rarelang.sandbox.config import SandboxConfig
            info = machine_info(SandboxConfig.from_params(params))
            env["interpreters"] = {"julia": info["julia"], "r": info["r"], "sandbox_backend": info["backend"]}
        except Exception as e:          # an interpreter that cannot be found is a fact, not a failure
            env["interpreters"] = {"error": f"{type(e).__name__}: {e}"}
    return env
