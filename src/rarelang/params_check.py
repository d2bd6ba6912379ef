"""Checking a params file (and overlays such as configs/*.yaml) against the repository's params.yaml,
the one place every knob and its default is written down.

* A key that params.yaml does not have is an error naming the nearest valid key
  (``train.lora.rank`` → ``did you mean train.lora.r?``): a typo must never be silently ignored.
* ``train.grpo`` is passed to TRL's ``GRPOConfig`` as is: its keys are checked against that class's
  fields (when TRL is installed).
* Below a few keys the names are free (``evaluate.models``: model names; ``…env``: environment
  variables; ``prior_work.sets``: languages); the values of a model under ``evaluate.models`` are checked
  against the keys models may have.
* A mapping where params.yaml has a mapping, a list where it has a list (or null).
* A value of the type of its default (``TYPES`` lists the knobs that take more than one): params.yaml is
  the typed schema, so types and defaults have one source (``train.grpo.max_steps: "300"`` is refused).

``rarelang check-params [FILE] [--overlay F ...]`` runs it; every stage script checks its params file
at start (scripts/_common.py; train.grpo there by GRPOConfig itself, so data stages need not import TRL).
"""

from __future__ import annotations

import copy
import difflib
import functools
from pathlib import Path
from typing import Any

import yaml

from .machine import MOVED_FROM_SANDBOX
from .params import dotted

# dotted paths whose children are names chosen by the user
FREE_NAMES = {"evaluate.models", "prior_work.sets", "machine.r_env", "machine.julia_env", "machine.apptainer.images",
              "machine.model_dirs"}
# what a model under evaluate.models may set (scripts/evaluate.py, rarelang.llm.make_generator)
MODEL_KEYS = {"engine", "model", "adapter", "chat", "protocols", "suites", "batch_size", "vllm", "base_url",
              "api_key_env", "path", "column", "replay_is_code", "dtype", "device", "threads", "concurrency",
              "timeout_s", "max_retries", "seed", "progress"}
# free-form mappings handed to a library as keyword arguments
PASS_THROUGH = {"translate.vllm", "evaluate.models.*.vllm", "machine.generation.vllm"}
# names that changed: an old params file gets the new name, not a guess ("seed" was both the prior
# work's data and every RNG seed)
RENAMED = {"seed": "prior_work",
           # "backend" meant four things; only the sandbox's is left (machine.sandbox_backend: bwrap | apptainer | none)
           "translate.backend": "translate.provider", "translate.replay_backend": "translate.replay_provider",
           "train.backend": "train.framework",
           # how the train stage is launched is the machine's (configs/profiles/), not the experiment's
           "train.launcher": "machine.launcher",
           # where and how fast programs run moved to `machine` (no DVC stage depends on it); one table
           # (rarelang.machine) lists those keys for this check and for SandboxConfig
           **MOVED_FROM_SANDBOX}
RENAMED_MODEL_KEYS = {"backend": "engine"}      # under evaluate.models.<name>
RENAMED_VALUES = {("data.source", "seed"): "prior_work"}
# keys that may be set although params.yaml leaves them out (documented where they are read)
OPTIONAL = {"machine.scratch_dir": None, "machine.r_env": {}, "machine.julia_env": {},
            "train.output_root": "models", "train.results_root": "results/train",
            # set by the experiment runner (rarelang.experiments.resolve): the run's results folder, and the
            # profile's time budget per training part (machine.max_wall_s)
            "train.results_dir": None, "train.max_wall_s": None}


# A knob's type is the type of its default in params.yaml (the one place defaults are written):
# a bool stays a bool, an integer an integer (a float knob takes an integer too), a string a string;
# null is always accepted (it means "unset": all problems, no limit, the library's default), and a knob
# whose default is null takes anything. Knobs that take more than their default's type:
TYPES = {"train.grpo.use_vllm": ("string", "boolean"),        # "auto" (vLLM where it is installed) or a bool
         "machine.workers": ("string", "integer"),            # "auto" (the CPUs) or a number
         }


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    return "mapping" if isinstance(v, dict) else type(v).__name__


def _kinds(ref: Any) -> tuple[str, ...]:
    """The kinds a value may have where params.yaml's default is ``ref`` (empty: any)."""
    k = _kind(ref)
    if k == "null":
        return ()
    if k == "number":
        return ("number", "integer")
    return (k,)


@functools.lru_cache(maxsize=None)
def _grpo_fields() -> frozenset[str] | None:
    try:
        import dataclasses

        from trl import GRPOConfig
    except Exception:          # TRL not installed (a data-only checkout): train.grpo is not checked
        return None
    return frozenset(f.name for f in dataclasses.fields(GRPOConfig))


def _nearest(key: str, options: list[str], prefix: str) -> str:
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.5)
    return f"; did you mean {prefix}{close[0]}?" if close else f"; valid here: {', '.join(sorted(options))}"


def check(params: dict[str, Any], reference: dict[str, Any], check_grpo: bool = True) -> list[str]:
    """Problems of ``params`` measured against ``reference`` (params.yaml), one line each.
    ``check_grpo``: also check train.grpo against TRL's GRPOConfig (imports TRL, and with it torch:
    the stage scripts leave it to GRPOConfig itself, which refuses unknown keys when train starts)."""
    errors: list[str] = []
    grpo = _grpo_fields() if check_grpo else None

    def walk(value: Any, ref: Any, path: str) -> None:
        if path in FREE_NAMES:
            if not isinstance(value, dict):
                errors.append(f"{path}: expected a mapping of names, got {type(value).__name__}")
            elif path == "evaluate.models":
                for name, spec in value.items():
                    if not isinstance(spec, dict):
                        errors.append(f"{path}.{name}: expected a mapping, got {type(spec).__name__}")
                        continue
                    for k in spec:
                        if k in RENAMED_MODEL_KEYS:
                            errors.append(f"{path}.{name}.{k} is now called {path}.{name}.{RENAMED_MODEL_KEYS[k]} "
                                          "(rename the key)")
                        elif k not in MODEL_KEYS:
                            errors.append(f"unknown key {path}.{name}.{k}" + _nearest(k, sorted(MODEL_KEYS), f"{path}.{name}."))
            return
        if path == "train.grpo" and isinstance(value, dict):
            for k, v in value.items():       # the type of what params.yaml sets (TRL does not check types)
                if isinstance(ref, dict) and k in ref:
                    type_error(v, ref[k], f"{path}.{k}")
            if grpo is None:   # not checked here: GRPOConfig refuses unknown keys when train starts
                return
            for k in value:
                if k not in grpo:
                    errors.append(f"unknown key train.grpo.{k} (not a field of trl.GRPOConfig)"
                                  + _nearest(k, sorted(grpo), "train.grpo."))
            return
        if path in PASS_THROUGH:
            return
        if isinstance(ref, dict):
            if not isinstance(value, dict):
                if value is not None:
                    errors.append(f"{path}: expected a mapping (as in params.yaml), got {type(value).__name__}")
                return
            for k, v in value.items():
                sub = f"{path}.{k}" if path else str(k)
                if k in ref:
                    walk(v, ref[k], sub)
                elif sub in OPTIONAL:
                    walk(v, OPTIONAL[sub], sub)
                elif sub in RENAMED:
                    errors.append(f"{sub} is now called {RENAMED[sub]} (rename the key)")
                else:
                    opts = [str(x) for x in ref] + [o.rsplit(".", 1)[1] for o in OPTIONAL if o.rsplit(".", 1)[0] == path]
                    errors.append(f"unknown key {sub}" + _nearest(str(k), opts, f"{path}." if path else ""))
        elif isinstance(ref, list) and value is not None and not isinstance(value, list):
            errors.append(f"{path}: expected a list (as in params.yaml), got {type(value).__name__}")
        else:
            type_error(value, ref, path)

    def type_error(value: Any, ref: Any, path: str) -> None:
        allowed = TYPES.get(path) or _kinds(ref)
        if allowed and value is not None and _kind(value) not in allowed:
            errors.append(f"{path}: expected {' or '.join(allowed)} (as in params.yaml: {ref!r}), "
                          f"got {_kind(value)} {value!r}")

    walk(params, reference, "")
    for (key, old), new in RENAMED_VALUES.items():
        if dotted(params, key) == old:
            errors.append(f"{key}: {old!r} is now called {new!r}")
    return errors


def set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for p in parts[:-1]:
        if not isinstance(d.get(p), dict):
            d[p] = {}
        d = d[p]
    d[parts[-1]] = value


def apply_overlay(params: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``params`` with an overlay's dotted keys (``train.grpo.max_steps: 320``) set, as a new dict."""
    out = copy.deepcopy(params)
    for k, v in (overlay or {}).items():
        set_dotted(out, str(k), v)
    return out


def check_files(params_file: Path, overlays: list[Path], reference_file: Path) -> list[str]:
    """Problems of a params file and of each overlay applied to it (in order), against the reference."""
    reference = yaml.safe_load(Path(reference_file).read_text()) or {}
    params = yaml.safe_load(Path(params_file).read_text()) or {}
    errors = [f"{params_file}: {e}" for e in check(params, reference)]
    for ov in overlays:
        data = yaml.safe_load(Path(ov).read_text()) or {}
        if not isinstance(data, dict):
            errors.append(f"{ov}: expected a mapping of dotted keys")
            continue
        params = apply_overlay(params, data)
        errors += [f"{ov}: {e}" for e in check(params, reference)]
    return list(dict.fromkeys(errors))
