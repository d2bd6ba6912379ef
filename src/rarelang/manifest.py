"""Run manifests: what a result was made from, where DVC cannot run (the GPU machine).

The headline runs are made by scripts/gpu/headline.sh on a machine without dvc; a manifest written
next to their results records the same kinds of facts DVC's lock file would — the code (md5 of every
file under src/rarelang and scripts/), the parameters (the resolved params file and each overlay
applied to it), the data (md5 of every input file the params name) and the environment (Python,
package versions, GPU, the R and Julia interpreters) — so that ``check`` can later say whether the
repository still holds what made them, and name what differs.

    python scripts/manifest.py write --params P --overlay configs/gpu-headline.yaml ... -o manifest.json
    python scripts/manifest.py check results/headline/RUN/manifest-train.json [--data-root .gpu/data]
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import yaml

from .params import dotted

VERSION = 1
CODE_ROOTS = ("src/rarelang", "scripts")
CODE_SUFFIXES = (".py", ".sh")
PACKAGES = ("torch", "transformers", "trl", "vllm", "peft", "datasets", "accelerate", "pandas", "pyarrow")
# the params keys that name input files (a folder: every file in it)
DATA_KEYS = ("train.data", "train.validation", "evaluate.heldout", "evaluate.multipl_e_dir", "train.model",
             "evaluate.models.trained.adapter")
# folders of which only some files are inputs: the MultiPL-E folder is the device's whole stage folder
# (/root/stage), whose model pieces and adapters made hashing it take 78 s and list 1 GB of non-inputs
DIR_GLOBS = {"evaluate.multipl_e_dir": "*.jsonl"}


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def code_files(repo: Path) -> dict[str, str]:
    """md5 of every code file, by path relative to the repository."""
    out = {}
    for root in CODE_ROOTS:
        for p in sorted((repo / root).rglob("*")):
            if p.is_file() and p.suffix in CODE_SUFFIXES and "__pycache__" not in p.parts:
                out[p.relative_to(repo).as_posix()] = md5_file(p)
    return out


def tree_hash(files: dict[str, str]) -> str:
    """One hash for a set of files (as DVC hashes a folder: over the sorted list of path + md5)."""
    listing = json.dumps([{"md5": files[k], "relpath": k} for k in sorted(files)], sort_keys=True)
    return hashlib.md5(listing.encode()).hexdigest() + ".dir"


def data_files(params: dict[str, Any], keys: Iterable[str] = DATA_KEYS) -> dict[str, dict[str, Any]]:
    """The input files the params name: a file's md5, or a folder's files and their tree hash."""
    out: dict[str, dict[str, Any]] = {}
    for key in keys:
        value = dotted(params, key)
        if not isinstance(value, str) or not value:
            continue
        p = Path(value)
        if p.is_file():
            out[key] = {"path": value, "md5": md5_file(p), "bytes": p.stat().st_size}
        elif p.is_dir():
            found = p.glob(DIR_GLOBS[key]) if key in DIR_GLOBS else p.rglob("*")
            files = {f.relative_to(p).as_posix(): md5_file(f) for f in sorted(found) if f.is_file()}
            out[key] = {"path": value, "md5": tree_hash(files), "files": files}
        else:
            out[key] = {"path": value, "missing": True}
    return out


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


def build(repo: Path, params_file: Path, overlays: list[Path] | None = None, *, what: str = "",
          command: str = "") -> dict[str, Any]:
    """The manifest of a run made from ``params_file`` (already resolved: overlays applied)."""
    params = yaml.safe_load(params_file.read_text()) or {}
    code = code_files(repo)
    return {
        "manifest_version": VERSION, "what": what, "command": command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code": {"md5": tree_hash(code), "files": code},
        "params": {"file": str(params_file), "md5": md5_file(params_file),
                   "overlays": {str(o): md5_file(repo / o if not Path(o).is_absolute() else Path(o))
                                for o in overlays or []},
                   "resolved": params},
        "data": data_files(params),
        "environment": environment(params),
    }


def check(manifest: dict[str, Any], repo: Path, data_root: Path | None = None) -> list[str]:
    """What in the repository (and under ``data_root``, matched by file name) differs from what made
    the run. Empty: the code, the overlays and the data found are those of the run."""
    if manifest.get("manifest_version") != VERSION:
        return [f"manifest version {manifest.get('manifest_version')!r}: this checker reads version {VERSION}"]
    problems = []
    now = code_files(repo)
    then = manifest["code"]["files"]
    for path in sorted(set(then) | set(now)):
        if path not in now:
            problems.append(f"code: {path} was in the run, not in the repository")
        elif path not in then:
            problems.append(f"code: {path} is new since the run")
        elif now[path] != then[path]:
            problems.append(f"code: {path} changed since the run")
    for path, md5 in manifest["params"]["overlays"].items():
        p = repo / path
        if not p.is_file():
            problems.append(f"params: overlay {path} is not in the repository")
        elif md5_file(p) != md5:
            problems.append(f"params: overlay {path} changed since the run")
    if data_root is not None:
        for key, d in manifest["data"].items():
            if d.get("missing") or "files" in d:
                continue                    # folders (the model, the MultiPL-E files) are not carried back
            local = data_root / Path(d["path"]).name
            if not local.is_file():
                problems.append(f"data: {key} ({Path(d['path']).name}) not under {data_root}")
            elif md5_file(local) != d["md5"]:
                problems.append(f"data: {key} ({local}) differs from the run's {d['path']}")
    return problems


def write(manifest: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(manifest, indent=1, sort_keys=False, default=str) + "\n")
