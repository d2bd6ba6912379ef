"""Experiments and machine profiles: what is computed, apart from where it runs.

An **experiment** (``configs/experiments/<name>.yaml``) says what is computed: a named dataset
(``configs/datasets/``), a named evaluation protocol (``configs/evaluations/``), optionally a shared
recipe (``configs/experiments/recipes/``), and its own parameters, nested as in params.yaml. It names no
machine path: an absolute path, a ``machine`` key or a path into ``..`` other than the shared data
folder is refused.

A **profile** (``configs/profiles/<name>.yaml``) says where an experiment runs: the ``machine`` section
(sandbox backend, workers, interpreters, where model weights and the shared data lie, the training
launcher, generation batch sizes and vLLM memory shares, a time budget per training part). Nothing in a
profile enters a stage's parameters: DVC tracks params.yaml's sections and the experiment's files, never
``machine``, so one command serves a laptop, a rented GPU and a Slurm cluster with the same cached outputs.

    resolve(experiment, profile) = params.yaml ⊕ dataset ⊕ evaluation ⊕ recipe ⊕ experiment ⊕ layout ⊕ profile

The **layout** is derived from the experiment's name alone (``train.run_name``, models/<name>/,
results/<group>/<name>/{train,eval,adapter}, the adapter evaluate reads): rename the file and every path
moves with it.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .params import dotted, load_params, repo_root
from .params_check import check, set_dotted

CONFIGS = "configs"
STATUSES = ("ran", "never-run", "planned")
CHECKPOINT_RULES = ("final", "best")        # best: the checkpoint with the best validation metric
SHARED = "../shared"                         # the shared data folder's place beside a checkout
PROFILE_ENV = "RARELANG_PROFILE"
DEFAULT_PROFILE = "laptop"
# keys whose values are paths into the shared data folder (resolved against machine.shared_dir)
SHARED_PATH_KEYS = ("prior_work.dir", "split.multipl_e_dir", "evaluate.multipl_e_dir")


class ExperimentError(ValueError):
    """A malformed experiment, dataset, evaluation or profile file."""


def _read(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        choices = sorted(p.stem for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        raise ExperimentError(f"no {what} {path.stem!r} ({path}); known: {', '.join(choices) or 'none'}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ExperimentError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ExperimentError(f"{path}: expected a mapping")
    return data


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s values set leaf by leaf (mappings merge, anything else replaces)."""
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _leaves(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out += _leaves(v, key + ".")
        else:
            out.append((key, v))
    return out


def machine_paths_in(params: dict[str, Any]) -> list[str]:
    """Dotted keys of values that name a place on one machine: an absolute path, or one that leaves the
    checkout other than into the shared data folder."""
    bad = []
    for key, v in _leaves(params):
        for s in (v if isinstance(v, list) else [v]):
            if isinstance(s, str) and (s.startswith("/") or s.startswith("~")
                                       or (s.startswith("..") and not s.startswith(SHARED + "/") and s != SHARED)):
                bad.append(f"{key}: {s}")
    return bad


@dataclass
class Part:
    """A named piece an experiment is made of: a dataset, an evaluation protocol or a recipe."""
    kind: str
    name: str
    summary: str
    params: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, kind: str, name: str, root: Path) -> "Part":
        data = _read(_part_path(kind, name, root), kind)
        meta = dict(data.get(kind) or {})
        extra = set(data) - {kind, "params"}
        if extra:
            raise ExperimentError(f"{kind} {name}: unknown top-level key(s) {sorted(extra)} ({kind}, params)")
        return cls(kind, name, str(meta.get("summary", "")).strip(), dict(data.get("params") or {}), meta)


def _part_path(kind: str, name: str, root: Path) -> Path:
    folder = {"dataset": "datasets", "evaluation": "evaluations", "recipe": "experiments/recipes",
              "profile": "profiles", "experiment": "experiments"}[kind]
    return root / CONFIGS / folder / f"{name}.yaml"


@dataclass
class Layout:
    """Where an experiment's files go, from its name (and its dataset's name) alone."""
    run_name: str
    results: str            # results/<group>/<name> (the embedded default: results)
    train_results: str      # the training logs, summary, config
    eval: str               # the evaluation answers (a folder per model)
    adapter: str            # the adapter evaluate reads as "trained"
    models: str             # checkpoints and the trained adapter (models/<run_name>)
    data: str               # the dataset's folder (data/<dataset>; the embedded default: data)

    own: str = "results"    # the experiment's own folder: derived tables, the parameters each stage ran with


@dataclass
class Experiment:
    name: str
    summary: str
    status: str
    dataset: str
    evaluation: str
    recipe: str | None
    group: str                      # results/<group>/<name>; "" puts them at results/ (the embedded default)
    checkpoint: str                 # final | best: which checkpoint becomes the adapter evaluate reads
    base_answers: str | None        # the experiment whose evaluation holds the base model's answers
    results_of: str | None          # keeps its train/eval files in another experiment's folder (its training's)
    trains: bool                    # has a train stage of its own
    warm_start: str | None          # starts from another experiment's adapter and step (no optimizer state)
    evaluates: list[str]            # the models its evaluate stage asks: base, trained
    needs_gpu: bool
    params: dict[str, Any]
    meta: dict[str, Any]
    eval_dir: str = "eval"
    adapter_dir: str = "adapter"

    @classmethod
    def load(cls, name: str, root: Path | None = None) -> "Experiment":
        root = root or repo_root()
        path = Path(name) if name.endswith(".yaml") else _part_path("experiment", name, root)
        data = _read(path, "experiment")
        extra = set(data) - {"experiment", "params"}
        if extra:
            raise ExperimentError(f"{path}: unknown top-level key(s) {sorted(extra)} (experiment, params)")
        m = dict(data.get("experiment") or {})
        known = {"summary", "status", "dataset", "evaluation", "recipe", "group", "checkpoint", "base_answers",
                 "results_of", "trains", "evaluates", "needs_gpu", "ran", "notes", "eval_dir", "adapter_dir",
                 "warm_start"}
        unknown = set(m) - known
        if unknown:
            raise ExperimentError(f"{path}: unknown experiment key(s) {sorted(unknown)}; known: {sorted(known)}")
        exp = cls(name=path.stem, summary=str(m.get("summary", "")).strip(), status=str(m.get("status", "planned")),
                  dataset=str(m.get("dataset", "embedded")), evaluation=str(m.get("evaluation", "smoke")),
                  recipe=m.get("recipe"), group=str(m.get("group", "headline")),
                  checkpoint=str(m.get("checkpoint", "final")), base_answers=m.get("base_answers"),
                  results_of=m.get("results_of"), trains=bool(m.get("trains", True)), warm_start=m.get("warm_start"),
                  evaluates=list(m.get("evaluates") or
                                 (["base"] if m.get("base_answers") in (None, path.stem) else [])
                                 + (["trained"] if m.get("trains", True) or m.get("results_of") else [])),
                  needs_gpu=bool(m.get("needs_gpu", False)),
                  params=dict(data.get("params") or {}), meta=m,
                  eval_dir=str(m.get("eval_dir", "eval")), adapter_dir=str(m.get("adapter_dir", "adapter")))
        exp.validate(root)
        return exp

    def validate(self, root: Path) -> None:
        where = f"experiment {self.name}"
        if self.status not in STATUSES:
            raise ExperimentError(f"{where}: status {self.status!r} (one of {', '.join(STATUSES)})")
        if self.checkpoint not in CHECKPOINT_RULES and not str(self.checkpoint).isdigit():
            raise ExperimentError(f"{where}: checkpoint {self.checkpoint!r} (final, best or a step number)")
        bad_models = set(self.evaluates) - {"base", "trained"}
        if bad_models:
            raise ExperimentError(f"{where}: evaluates {sorted(bad_models)} (base, trained)")
        if self.checkpoint == "best" and not dotted(self.merged_params(root), "train.grpo.metric_for_best_model"):
            raise ExperimentError(f"{where}: checkpoint: best needs train.grpo.metric_for_best_model")
        for part in self.parts(root):
            if "machine" in part.params:
                raise ExperimentError(f"{part.kind} {part.name}: sets machine.* — where an experiment runs "
                                      "belongs in a profile (configs/profiles/)")
            bad = machine_paths_in(part.params)
            if bad:
                raise ExperimentError(f"{part.kind} {part.name} names machine paths (a profile's job): "
                                      + "; ".join(bad))
        if "machine" in self.params:
            raise ExperimentError(f"{where}: sets machine.* — that belongs in a profile (configs/profiles/)")
        bad = machine_paths_in(self.params)
        if bad:
            raise ExperimentError(f"{where} names machine paths (a profile's job): " + "; ".join(bad))
        reference = load_params(root / "params.yaml")
        errors = check(self.merged_params(root), reference, check_grpo=False)
        if errors:
            raise ExperimentError(f"{where}: " + "; ".join(errors))

    def parts(self, root: Path) -> list[Part]:
        parts = [Part.load("dataset", self.dataset, root), Part.load("evaluation", self.evaluation, root)]
        if self.recipe:
            parts.append(Part.load("recipe", self.recipe, root))
        return parts

    def merged_params(self, root: Path) -> dict[str, Any]:
        """params.yaml ⊕ dataset ⊕ evaluation ⊕ recipe ⊕ the experiment's own parameters (no layout, no machine)."""
        params = load_params(root / "params.yaml")
        for part in self.parts(root):
            params = merge(params, part.params)
        params = merge(params, self.params)
        # the evaluated models are the student unless the experiment names others
        student = dotted(params, "train.model")
        for m, spec in (dotted(params, "evaluate.models") or {}).items():
            if isinstance(spec, dict) and spec.get("model") == "student":
                spec["model"] = student
        return params

    def layout(self, root: Path | None = None) -> Layout:
        root = root or repo_root()
        ds = Part.load("dataset", self.dataset, root)
        data = str(ds.meta.get("folder", f"data/{self.dataset}"))
        if self.group:
            results = f"results/{self.group}/{self.name}"
            base = self
            if self.results_of:          # another experiment's training: its results folder and run
                base = Experiment.load(self.results_of, root)
                results = f"results/{base.group}/{base.name}"
            run = base.name
            return Layout(run_name=run, results=results, train_results=f"{results}/train",
                          eval=f"{results}/{self.eval_dir}", adapter=f"{results}/{self.adapter_dir}",
                          models=f"models/{run}", data=data, own=f"results/{self.group}/{self.name}")
        # the embedded default keeps the pipeline's historical places (results/train/<run>, results/eval)
        run = str(dotted(self.merged_params(root), "train.run_name") or self.name)
        return Layout(run_name=run, results="results", train_results=f"results/train/{run}", eval="results/eval",
                      adapter=f"models/{run}/adapter", models=f"models/{run}", data=data)


@dataclass
class Profile:
    name: str
    summary: str
    gpu: bool
    machine: dict[str, Any]
    slurm: dict[str, Any]
    device: dict[str, Any]
    env: dict[str, str]                 # environment variables the stages run with (NCCL, vLLM settings)

    @classmethod
    def load(cls, name: str | None = None, root: Path | None = None) -> "Profile":
        root = root or repo_root()
        name = name or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
        path = Path(name) if name.endswith(".yaml") else _part_path("profile", name, root)
        data = _read(path, "profile")
        extra = set(data) - {"profile", "machine", "slurm", "device", "env"}
        if extra:
            raise ExperimentError(f"{path}: a profile sets only profile, machine, slurm, device and env; not {sorted(extra)} "
                                  "(what is computed belongs in an experiment)")
        meta = dict(data.get("profile") or {})
        prof = cls(path.stem, str(meta.get("summary", "")).strip(), bool(meta.get("gpu", False)),
                   dict(data.get("machine") or {}), dict(data.get("slurm") or {}), dict(data.get("device") or {}),
                   {str(k): str(v) for k, v in (data.get("env") or {}).items()})
        reference = load_params(root / "params.yaml")
        errors = check({"machine": prof.machine}, reference, check_grpo=False)
        if errors:
            raise ExperimentError(f"profile {prof.name}: " + "; ".join(errors))
        return prof


def resolve(exp: Experiment, profile: Profile, root: Path | None = None) -> dict[str, Any]:
    """The parameters a stage of ``exp`` runs with on ``profile``'s machine."""
    root = root or repo_root()
    params = exp.merged_params(root)
    lay = exp.layout(root)
    t = params.setdefault("train", {})
    t["run_name"] = lay.run_name
    t["output_root"] = str(Path(lay.models).parent)
    t["results_dir"] = lay.train_results
    if not exp.params.get("train", {}).get("data"):
        t["data"] = f"{lay.data}/processed/train.parquet"
    if not exp.params.get("train", {}).get("validation"):
        t["validation"] = f"{lay.data}/processed/validation.parquet"
    if exp.warm_start:                   # the checkpoint scripts/warm_checkpoint.py makes from the other's adapter
        other = Experiment.load(exp.warm_start, root).layout(root)
        state = root / other.train_results / "trainer_state.json"
        if state.exists():
            step = int(json.loads(state.read_text())["global_step"])
            t["resume"] = f"{lay.models}/checkpoints/checkpoint-{step}"
    ev = params.setdefault("evaluate", {})
    if not exp.params.get("evaluate", {}).get("heldout"):
        ev["heldout"] = f"{lay.data}/processed/test.parquet"
    trained = (ev.get("models") or {}).get("trained")
    if isinstance(trained, dict) and trained.get("adapter") in (None, "auto"):
        trained["adapter"] = lay.adapter
    params["machine"] = merge(params.get("machine") or {}, profile.machine)
    return place(params)


def place(params: dict[str, Any]) -> dict[str, Any]:
    """Where the machine keeps things: model names it has already made (``machine.model_dirs``), the
    shared data folder (``machine.shared_dir``), generation batch sizes and vLLM settings
    (``machine.generation``), a training part's time budget (``machine.max_wall_s``)."""
    params = copy.deepcopy(params)
    m = params.get("machine") or {}
    dirs = m.get("model_dirs") or {}
    t = params.get("train") or {}
    if t.get("model") in dirs:
        t["model"] = dirs[t["model"]]
    tr = params.get("translate") or {}
    if tr.get("model") in dirs:
        tr["model"] = dirs[tr["model"]]
    if m.get("max_wall_s") is not None:
        t["max_wall_s"] = m["max_wall_s"]
    gen = m.get("generation") or {}
    for spec in (dotted(params, "evaluate.models") or {}).values():
        if not isinstance(spec, dict):
            continue
        if spec.get("model") in dirs:
            spec["model"] = dirs[spec["model"]]
        if spec.get("engine") in ("auto", "vllm", "transformers") and gen.get("batch_size") and "batch_size" not in spec:
            spec["batch_size"] = gen["batch_size"]
        if spec.get("engine") in ("auto", "vllm") and gen.get("vllm"):
            spec["vllm"] = merge(gen["vllm"], spec.get("vllm") or {})
    shared = m.get("shared_dir")
    if shared and shared != SHARED:
        for key in SHARED_PATH_KEYS:
            v = dotted(params, key)
            if isinstance(v, str) and (v == SHARED or v.startswith(SHARED + "/")):
                set_dotted(params, key, shared + v[len(SHARED):])
    return params


def experiment_names(root: Path | None = None, group: str | None = None) -> list[str]:
    root = root or repo_root()
    names = sorted(p.stem for p in (root / CONFIGS / "experiments").glob("*.yaml"))
    if group is None:
        return names
    return [n for n in names if Experiment.load(n, root).group == group]


PIPELINE_VARS = "pipelines/headline/experiments.yaml"


def pipeline_vars(root: Path | None = None) -> dict[str, Any]:
    """The per-experiment paths pipelines/headline/dvc.yaml's ``foreach`` stages read (its vars file): one
    entry per experiment of the headline group under each stage it has."""
    root = root or repo_root()
    train: dict[str, Any] = {}
    adapter: dict[str, Any] = {}
    evaluate: dict[str, Any] = {}
    compare: dict[str, Any] = {}
    for name in experiment_names(root, group="headline"):
        e = Experiment.load(name, root)
        lay = e.layout(root)
        p = e.merged_params(root)
        data = dotted(p, "train.data") or f"{lay.data}/processed/train.parquet"
        if e.trains:
            train[name] = {"results": lay.results, "adapter": lay.adapter, "models": lay.models, "data": data,
                           "recipe": f"configs/experiments/recipes/{e.recipe}.yaml" if e.recipe else
                           f"configs/experiments/{name}.yaml"}
        elif "trained" in e.evaluates:
            adapter[name] = {"adapter": lay.adapter, "models": lay.models}
        if e.evaluates and "trained" in e.evaluates:
            evaluate[name] = {"eval": lay.eval, "adapter": lay.adapter, "evaluation": e.evaluation,
                              "data": lay.data, "own": lay.own}
            base = Experiment.load(e.base_answers, root) if e.base_answers else e
            compare[name] = {"own": lay.own, "eval": lay.eval, "base_eval": base.layout(root).eval,
                             "train": lay.train_results, "data": lay.data}
    return {"train": train, "adapter": adapter, "evaluate": evaluate, "compare": compare}


def pipeline_vars_text(root: Path | None = None) -> str:
    return ("# Generated from configs/experiments/ by `rarelang experiments --write-pipeline` (tests/test_experiments.py\n"
            "# fails when it is out of date): the paths each headline experiment's stages read and write.\n"
            + yaml.safe_dump(pipeline_vars(root), sort_keys=True, width=200))


def shell_exports(profile: Profile) -> str:
    """A profile's ``device`` section (and its name) as shell exports, for the rented-GPU executor's scripts
    (scripts/device/profile.sh): STAGE, SITE, … in upper case."""
    import shlex
    lines = [f"export RARELANG_PROFILE={shlex.quote(profile.name)}"]
    for k, v in profile.device.items():
        lines.append(f"export {k.upper()}={shlex.quote(str(v))}")
    r_env = (profile.machine.get("r_env") or {}).get("LD_LIBRARY_PATH")
    if r_env:
        lines.append(f"export R_LD_LIBRARY_PATH={shlex.quote(r_env)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":       # python -m rarelang.experiments shell PROFILE  (scripts/device/profile.sh)
    import sys
    if len(sys.argv) != 3 or sys.argv[1] != "shell":
        sys.exit("usage: python -m rarelang.experiments shell PROFILE")
    try:
        print(shell_exports(Profile.load(sys.argv[2])), end="")
    except ExperimentError as e:
        sys.exit(f"rarelang.experiments: {e}")
