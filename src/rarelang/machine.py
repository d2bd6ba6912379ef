"""params.yaml's ``machine`` section: where and how fast programs run (sandbox backend, workers, interpreter
paths and environment, binds, Apptainer images), kept apart from what they compute (``sandbox``: limits,
interpreter modes), so that no DVC stage depends on it.

One table says which SandboxConfig setting each ``machine`` key sets. The same table names the
``sandbox.*`` key each setting had before it moved here: ``SandboxConfig.from_params`` and
``params_check`` refuse an old key by its new name from it, so the list of moved keys cannot lag the keys.
"""

from __future__ import annotations

from typing import Any

from .params import dotted

# machine key → SandboxConfig field
MACHINE_FIELDS = {"sandbox_backend": "backend", "workers": "workers", "spare_workers": "spare_workers",
                  "max_jobs_per_worker": "max_jobs_per_worker", "extra_binds": "extra_binds",
                  "apptainer": "apptainer", "scratch_dir": "scratch_dir"}
# machine key → (SandboxConfig field, key in it); the interpreters' paths and environment (library paths)
MACHINE_NESTED = {"julia_bin": ("julia", "bin"), "rscript_bin": ("r", "bin"),
                  "julia_env": ("julia", "env"), "r_env": ("r", "env")}

# machine keys that say where things lie and how work is launched, not how the sandbox runs: read by the
# experiment runner (rarelang.experiments.place, rarelang.runner), never by SandboxConfig
PLACEMENT = {"model_dirs", "shared_dir", "launcher", "max_wall_s", "generation"}

# the old place of each machine setting (``sandbox.workers``, ``sandbox.julia.bin``, …) → its key now
MOVED_FROM_SANDBOX = {**{f"sandbox.{k}": f"machine.{m}" for m, k in MACHINE_FIELDS.items()},
                      **{f"sandbox.{n}.{k}": f"machine.{m}" for m, (n, k) in MACHINE_NESTED.items()}}


def machine_settings(machine: dict[str, Any]) -> dict[str, Any]:
    """The ``machine`` section as SandboxConfig keyword arguments (``julia_bin`` → ``julia: {bin: …}``)."""
    out: dict[str, Any] = {}
    for k, v in machine.items():
        if k in MACHINE_FIELDS:
            out[MACHINE_FIELDS[k]] = v
        elif k in MACHINE_NESTED:
            nested, key = MACHINE_NESTED[k]
            out.setdefault(nested, {})[key] = v
        elif k in PLACEMENT:
            continue
        else:
            raise ValueError(f"params.yaml machine: unknown key {k!r}; known: {sorted({**MACHINE_FIELDS, **MACHINE_NESTED, **dict.fromkeys(PLACEMENT)})}")
    return out


def moved_keys(sandbox: dict[str, Any]) -> dict[str, str]:
    """The machine settings a ``sandbox`` section still holds: old dotted key → new one."""
    absent = object()
    return {old: new for old, new in MOVED_FROM_SANDBOX.items()
            if dotted(sandbox, old.split(".", 1)[1], absent) is not absent}
