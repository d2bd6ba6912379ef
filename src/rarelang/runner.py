"""One command runs an experiment, or stages of it, on a machine profile:

    rarelang run EXPERIMENT [STAGE ...] [--profile NAME]

It resolves the experiment's parameters for the profile (rarelang.experiments.resolve), writes them
beside the results (``<results>/resolved/<stage>.yaml``: what the stage ran with, machine section
included) and runs the stage scripts (scripts/*.py) with them, on the paths the experiment's layout
gives. The DVC stages call it (dvc.yaml: the embedded default; pipelines/headline/dvc.yaml: one stage
set per experiment), and so do the Slurm jobs (slurm/run.sbatch) and the rented-GPU executor
(scripts/device/). ``rarelang experiments`` lists them; ``rarelang resolve`` prints what a stage would
run with.

Stages: sample, translate, validate, split (``data`` = the four: the experiment's dataset), train,
evaluate, compare (paired differences and attribution against the base model's answers), figures
(the embedded default's). A stage that needs a GPU stops on a profile without one and says what to run
instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .experiments import PROFILE_ENV, Experiment, ExperimentError, Layout, Part, Profile, experiment_names, resolve
from . import summary
from .params import dotted, repo_root

DATA_STAGES = ("sample", "translate", "validate", "split")
STAGES = (*DATA_STAGES, "train", "adapter", "evaluate", "compare", "figures")
GPU_STAGES = ("train", "evaluate")      # adapter (choose a checkpoint) needs none: it copies one
# the scripts each stage runs (scripts/dvc_deps.py derives a stage's code deps from them; a test checks that
# Runner.commands runs no other)
STAGE_SCRIPTS = {"sample": ["scripts/sample.py"], "translate": ["scripts/translate.py"],
                 "validate": ["scripts/validate.py"], "split": ["scripts/split.py"],
                 "train": ["scripts/warm_checkpoint.py", "scripts/train_grpo.py", "scripts/choose_checkpoint.py"],
                 "adapter": ["scripts/choose_checkpoint.py"], "evaluate": ["scripts/evaluate.py"],
                 "compare": ["scripts/compare.py", "scripts/attribution.py"], "figures": ["scripts/figures.py"]}


class StageError(RuntimeError):
    """A stage could not run here (what it needs is missing) or its command failed."""


def expand(stages: list[str], exp: Experiment) -> list[str]:
    out: list[str] = []
    for s in stages or ["all"]:
        if s == "data":
            out += DATA_STAGES
        elif s == "all":
            # a grouped experiment's dataset is made by its own stage (rarelang data), shared by the experiments
            out += ([] if exp.group else list(DATA_STAGES)) + (["train"] if exp.trains else []) + ["evaluate"] \
                + (["compare"] if exp.group else ["figures"])
        elif s in STAGES:
            out.append(s)
        else:
            raise ExperimentError(f"unknown stage {s!r}: {', '.join((*STAGES, 'data', 'all'))}")
    return out


# --smoke: the experiment's own stages, shrunk to a minute each on a CPU (what its configuration needs: the model,
# the data, the reward, the evaluation's suites and protocols), into results/smoke/<name> and models/smoke-<name>
SMOKE = {"train": {"limit": 8, "grpo": {"max_steps": 1, "num_generations": 2, "per_device_train_batch_size": 2,
                                        "gradient_accumulation_steps": 1, "max_completion_length": 32,
                                        "eval_strategy": "no", "eval_on_start": False, "save_steps": 1,
                                        "num_generations_eval": 2,
                                        "per_device_eval_batch_size": 2}},
         "evaluate": {"limit": 1, "heldout_per_language": 1, "max_tokens": 32,
                      "samples": [{"name": "smoke", "n": 1, "temperature": 0.2, "k": [1]}]}}


class Runner:
    def __init__(self, exp: Experiment, profile: Profile, root: Path | None = None, *, quiet: bool = False,
                 dry_run: bool = False, allow_cpu: bool = False, smoke: bool = False):
        self.root = root or repo_root()
        self.exp, self.profile = exp, profile
        self.layout: Layout = exp.layout(self.root)
        self.dataset = Part.load("dataset", exp.dataset, self.root)
        self.params = resolve(exp, profile, self.root)
        self.quiet, self.dry_run, self.allow_cpu = quiet, dry_run, allow_cpu or smoke
        self.smoke = False
        if smoke:
            self.smoke_layout()

    def smoke_layout(self) -> None:
        """A smoke run's own places: never the experiment's results or checkpoints."""
        from .experiments import merge
        own, run = f"results/smoke/{self.exp.name}", f"smoke-{self.exp.name}"
        self.layout = Layout(run_name=run, results=own, train_results=f"{own}/train", eval=f"{own}/eval",
                             adapter=f"{own}/adapter", models=f"models/{run}", data=self.layout.data, own=own)
        self.params = merge(self.params, SMOKE)
        # no validation pass in a smoke run (150 problems per language): its adapter is the last step's
        self.params["train"]["grpo"].update(metric_for_best_model=None, greater_is_better=None)
        self.smoke = True
        t = self.params["train"]
        t.update(run_name=run, output_root="models", results_dir=self.layout.train_results, resume="never")
        trained = (self.params.get("evaluate", {}).get("models") or {}).get("trained")
        if isinstance(trained, dict) and trained.get("adapter"):
            trained["adapter"] = self.layout.adapter

    # ---------------------------------------------------------------- paths
    @property
    def data(self) -> str:
        return self.layout.data

    @property
    def data_results(self) -> str:
        return str(self.dataset.meta.get("results", f"results/datasets/{self.exp.dataset}"))

    def resolved_path(self, stage: str) -> Path:
        base = f"{self.data_results}/resolved" if stage in DATA_STAGES else f"{self.layout.own}/resolved"
        return self.root / base / f"{stage}.yaml"

    # ---------------------------------------------------------------- running
    def write_resolved(self, stage: str) -> Path:
        path = self.resolved_path(stage)
        path.parent.mkdir(parents=True, exist_ok=True)
        head = (f"# what `rarelang run {self.exp.name} {stage} --profile {self.profile.name}` ran with\n"
                f"# (params.yaml + configs/datasets/{self.exp.dataset}.yaml + configs/evaluations/"
                f"{self.exp.evaluation}.yaml" + (f" + configs/experiments/recipes/{self.exp.recipe}.yaml"
                                                  if self.exp.recipe else "")
                + f" + configs/experiments/{self.exp.name}.yaml + its layout + configs/profiles/"
                f"{self.profile.name}.yaml)\n")
        path.write_text(head + yaml.safe_dump(self.params, sort_keys=False, width=110))
        return path

    def check_runnable(self, stage: str) -> None:
        if stage in GPU_STAGES and self.exp.needs_gpu and not self.profile.gpu and not self.allow_cpu:
            raise StageError(
                f"{stage} of {self.exp.name} needs a GPU, and profile {self.profile.name!r} has none. "
                f"Run it on a GPU machine with a GPU profile: `rarelang run {self.exp.name} {stage} --profile device` "
                f"(the rented GPU, scripts/device/), or through Slurm: `slurm/submit.sh {self.exp.name} slurm` "
                "(docs/HPC.md). Its committed outputs are kept; `dvc status` says whether they are stale.")
        if stage == "compare" and not self.exp.group:
            raise StageError("compare is a stage of the grouped experiments (the embedded default's evaluate "
                             "writes its own paired.json)")
        if stage == "figures" and self.exp.group:
            raise StageError(f"figures is the embedded default's stage; the headline's tables and figures are "
                             "made by pipelines/headline/dvc.yaml's `figures` stage")

    def commands(self, stage: str, p: Path) -> list[list[str]]:
        py, d, r = sys.executable, self.data, self.data_results
        rel = str(p.relative_to(self.root)) if p.is_relative_to(self.root) else str(p)
        base = ["--params", rel] + (["-q"] if self.quiet else [])
        if stage == "sample":
            return [[py, "scripts/sample.py", *base, "-o", f"{d}/interim/problems.parquet"]]
        if stage == "translate":
            return [[py, "scripts/translate.py", *base, "--problems", f"{d}/interim/problems.parquet",
                     "-o", f"{d}/interim/translations.parquet", "--rejects", f"{d}/interim/translate_rejects.parquet",
                     "--stats", f"{r}/translate.json"]]
        if stage == "validate":
            return [[py, "scripts/validate.py", *base, "--problems", f"{d}/interim/problems.parquet",
                     "--translations", f"{d}/interim/translations.parquet", "-o", f"{d}/interim/validated.parquet",
                     "--outcomes", f"{d}/interim/validation_outcomes.parquet", "--metrics", f"{r}/validation.json",
                     "--environment", f"{r}/env/validate.json"]]
        if stage == "split":
            return [[py, "scripts/split.py", *base, "--validated", f"{d}/interim/validated.parquet",
                     "--train", f"{d}/processed/train.parquet", "--validation", f"{d}/processed/validation.parquet",
                     "--test", f"{d}/processed/test.parquet", "--metrics", f"{r}/split.json"]]
        if stage == "train":
            launcher = shlex.split(str(dotted(self.params, "machine.launcher") or "python"))
            if launcher == ["python"]:
                launcher = [py]
            cmds = []
            if self.exp.warm_start:     # another experiment's adapter and step as this run's first checkpoint
                other = Experiment.load(self.exp.warm_start, self.root).layout(self.root)
                cmds.append([py, "scripts/warm_checkpoint.py", "--adapter", other.adapter, "--trainer-state",
                             f"{other.train_results}/trainer_state.json", "-o", f"{self.layout.models}/checkpoints"])
            cmds.append([*launcher, "scripts/train_grpo.py", *base])
            if self.exp.group:          # the checkpoint the experiment's rule names becomes the adapter evaluate reads
                cmds += self.commands("adapter", p)
            return cmds
        if stage == "adapter":
            rule = "final" if self.smoke else str(self.exp.checkpoint)
            return [[py, "scripts/choose_checkpoint.py", "--params", rel, "--rule", rule, "-o", self.layout.adapter]]
        if stage == "evaluate":
            if not self.exp.group:
                return [[py, "scripts/evaluate.py", *base, "-o", self.layout.eval]]
            return [[py, "scripts/evaluate.py", *base, "--models", m, "-o", f"{self.layout.eval}/{m}"]
                    for m in self.exp.evaluates]
        if stage == "compare":
            inputs = self.compare_inputs()
            heldout = f"{d}/processed/test.parquet"
            att = [py, "scripts/attribution.py", *inputs, "-o", f"{self.layout.own}/attribution.json", "-q"]
            if (self.root / heldout).exists():
                att[-3:-3] = ["--heldout", heldout]
            return [[py, "scripts/compare.py", "-q", *inputs, "-o", f"{self.layout.own}/paired.json"], att]
        if stage == "figures":
            return [[py, "scripts/figures.py", "--params", rel, "--only", "pipeline"]]
        raise ExperimentError(f"unknown stage {stage!r}")

    def eval_folders(self, exp: Experiment, base: bool) -> list[str]:
        """The answer folders of an experiment's evaluation: the base model's (``base*``) or the others."""
        lay = exp.layout(self.root)
        root = self.root / lay.eval
        found = sorted(p.name for p in root.iterdir() if (p / "completions.parquet").exists()) if root.is_dir() else []
        return [f"{lay.eval}/{n}/completions.parquet" for n in found if n.startswith("base") == base]

    def compare_inputs(self) -> list[str]:
        base_exp = Experiment.load(self.exp.base_answers, self.root) if self.exp.base_answers else self.exp
        base = self.eval_folders(base_exp, base=True)
        trained = self.eval_folders(self.exp, base=False)
        if not base or not trained:
            raise StageError(f"compare of {self.exp.name}: no answers to pair (base: {len(base)} folder(s) under "
                             f"{base_exp.layout(self.root).eval}, trained: {len(trained)} under {self.layout.eval}); "
                             "run its evaluate stage first")
        return base + trained

    def summarize(self, stage: str) -> None:
        """The stage's few comparable numbers (rarelang.summary): DVC's metrics."""
        root = self.root
        if stage == "split":
            summary.write(root / self.data_results / "metrics-data.json", summary.summarize_data(root / self.data_results))
        elif (stage == "compare") or (stage == "evaluate" and not self.exp.group):
            paired = root / (f"{self.layout.own}/paired.json" if self.exp.group else f"{self.layout.eval}/paired.json")
            tr = root / self.layout.train_results
            train = (summary.train_summary(json.loads((tr / "summary.json").read_text()), tr / "validation.csv")
                     if (tr / "summary.json").exists() else {})
            summary.write(root / self.layout.own / "metrics.json",
                          {"train": train, "eval": summary.summarize_paired(paired)})

    def run(self, stages: list[str]) -> int:
        for stage in expand(stages, self.exp):
            self.check_runnable(stage)
            p = self.write_resolved(stage) if not self.dry_run else self.resolved_path(stage)
            for cmd in self.commands(stage, p):
                print(f"rarelang run {self.exp.name} {stage}: {shlex.join(cmd)}", file=sys.stderr)
                if self.dry_run:
                    continue
                t0 = time.time()
                rc = subprocess.call(cmd, cwd=self.root,
                                     env={**os.environ, **self.profile.env, PROFILE_ENV: self.profile.name})
                if rc != 0:
                    raise StageError(f"{stage} of {self.exp.name} failed (exit {rc}): {shlex.join(cmd)}")
                print(f"rarelang run {self.exp.name} {stage}: done in {time.time() - t0:.0f} s", file=sys.stderr)
            if not self.dry_run:
                self.summarize(stage)
        return 0


def dataset_experiment(name: str, root: Path | None = None) -> Experiment:
    """A dataset on its own (``rarelang data NAME``): its data stages, no model."""
    root = root or repo_root()
    ds = Part.load("dataset", name, root)
    return Experiment(name=name, summary=ds.summary, status="ran", dataset=name, evaluation="smoke", recipe=None,
                      group="", checkpoint="final", base_answers=None, results_of=None, trains=False, warm_start=None,
                      evaluates=[],
                      needs_gpu=False, params={}, meta={})


# ---------------------------------------------------------------------------- command line
def cmd_data(args: argparse.Namespace) -> int:
    try:
        stages = args.stages or ["data"]
        if any(s not in (*DATA_STAGES, "data") for s in stages):
            raise ExperimentError(f"a dataset's stages are {', '.join(DATA_STAGES)} (or data: all four)")
        runner = Runner(dataset_experiment(args.dataset), Profile.load(args.profile), quiet=args.quiet,
                        dry_run=args.dry_run)
        return runner.run(stages)
    except (ExperimentError, StageError) as e:
        print(f"rarelang data: {e}", file=sys.stderr)
        return 2


def cmd_run(args: argparse.Namespace) -> int:
    try:
        exp = Experiment.load(args.experiment)
        runner = Runner(exp, Profile.load(args.profile), quiet=args.quiet, dry_run=args.dry_run,
                        allow_cpu=args.allow_cpu, smoke=args.smoke)
        return runner.run(args.stages)
    except (ExperimentError, StageError) as e:
        print(f"rarelang run: {e}", file=sys.stderr)
        return 2


def cmd_experiments(args: argparse.Namespace) -> int:
    root = repo_root()
    if args.write_pipeline:
        from .experiments import PIPELINE_VARS, pipeline_vars_text
        (root / PIPELINE_VARS).parent.mkdir(parents=True, exist_ok=True)
        (root / PIPELINE_VARS).write_text(pipeline_vars_text(root))
        print(f"wrote {PIPELINE_VARS}", file=sys.stderr)
        return 0
    rows = []
    for name in experiment_names(root):
        try:
            e = Experiment.load(name, root)
            rows.append((name, e.status, e.dataset, e.evaluation, e.summary))
        except ExperimentError as err:
            rows.append((name, "INVALID", "", "", str(err)))
    w = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:<9}  {r[2]:<8}  {r[3]:<8}  {r[4]}")
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    try:
        exp = Experiment.load(args.experiment)
        params = resolve(exp, Profile.load(args.profile))
    except ExperimentError as e:
        print(f"rarelang resolve: {e}", file=sys.stderr)
        return 2
    if args.key:
        print(yaml.safe_dump(dotted(params, args.key), sort_keys=False).rstrip())
    else:
        print(yaml.safe_dump(params, sort_keys=False, width=110), end="")
    return 0


def dvc_targets(experiment: str, stage: str, root: Path | None = None) -> list[str]:
    """The DVC stages that make ``stage`` of ``experiment`` (what a Slurm job runs with ``dvc repro -s``)."""
    root = root or repo_root()
    exp = Experiment.load(experiment, root)
    if not exp.group:
        return [f"dvc.yaml:{s}" for s in (DATA_STAGES if stage == "data" else [stage])]
    pipe = "pipelines/headline/dvc.yaml"
    if exp.group != "headline":
        raise ExperimentError(f"{experiment}: group {exp.group!r} has no pipeline yet (only headline and the embedded "
                              "default do); run it with `rarelang run` directly")
    return [f"{pipe}:data"] if stage == "data" else [f"{pipe}:{stage}@{experiment}"]


def sbatch_options(profile: Profile, stage: str) -> list[str]:
    """The profile's sbatch options for a stage (its ``slurm`` section: the stage's, else ``default``)."""
    opts = profile.slurm.get(stage, profile.slurm.get("default")) or {}
    out = []
    for k, v in opts.items():
        if v is True:
            out.append(f"--{k}")
        elif v not in (False, None):
            out.append(f"--{k}={v}")
    return out


def cmd_slurm(args: argparse.Namespace) -> int:
    try:
        if args.what == "targets":
            print(" ".join(dvc_targets(args.name, args.stage)))
        else:
            print(" ".join(sbatch_options(Profile.load(args.name), args.stage)))
    except ExperimentError as e:
        print(f"rarelang slurm: {e}", file=sys.stderr)
        return 2
    return 0


def add_commands(sub: Any) -> None:
    r = sub.add_parser(
        "run", help="run an experiment, or stages of it, on a machine profile",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("experiment", help="a name under configs/experiments/ (rarelang experiments lists them) or a file")
    r.add_argument("stages", nargs="*", metavar="STAGE",
                   help=f"stages to run, in order: {', '.join(STAGES)}, data (the four data stages) or all (default)")
    r.add_argument("--profile", default=None,
                   help=f"a name under configs/profiles/ or a file (default: ${PROFILE_ENV}, else laptop)")
    r.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    r.add_argument("--allow-cpu", action="store_true",
                   help="run a GPU experiment's train/evaluate on a profile without a GPU anyway (a smoke test)")
    r.add_argument("--smoke", action="store_true",
                   help="a smoke run on this machine: the experiment's stages shrunk to a step and a problem or two "
                        "(results/smoke/<name>, models/smoke-<name>; never its own results)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_run)
    d = sub.add_parser("data", help="make a named dataset (configs/datasets/): sample, translate, validate, split",
                       description="Run a dataset's stages (default: all four) on a machine profile; its files go to "
                                   "data/<dataset>/ and results/datasets/<dataset>/ (the embedded default: data/, results/).")
    d.add_argument("dataset", help="a name under configs/datasets/")
    d.add_argument("stages", nargs="*", metavar="STAGE", help=f"{', '.join(DATA_STAGES)} or data (default)")
    d.add_argument("--profile", default=None, help=f"a name under configs/profiles/ (default: ${PROFILE_ENV}, else laptop)")
    d.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=cmd_data)
    e = sub.add_parser("experiments", help="list the experiments (configs/experiments/) and their status")
    e.add_argument("--write-pipeline", action="store_true",
                   help="write pipelines/headline/experiments.yaml (the paths the headline pipeline's stages use)")
    e.set_defaults(func=cmd_experiments)
    s = sub.add_parser("slurm", help="what slurm/run.sbatch and slurm/submit.sh ask: DVC targets, sbatch options",
                       description="targets EXPERIMENT STAGE: the DVC stages a job runs (dvc repro -s); "
                                   "options PROFILE STAGE: the profile's sbatch options for that stage")
    s.add_argument("what", choices=["targets", "options"])
    s.add_argument("name", help="an experiment (targets) or a profile (options)")
    s.add_argument("stage")
    s.set_defaults(func=cmd_slurm)
    v = sub.add_parser("resolve", help="print the parameters an experiment runs with on a profile")
    v.add_argument("experiment")
    v.add_argument("--profile", default=None)
    v.add_argument("--key", default=None, help="only this dotted key (e.g. train.grpo)")
    v.set_defaults(func=cmd_resolve)


def main(argv: list[str] | None = None) -> int:
    """``python -m rarelang.runner run|data|experiments|resolve|slurm …``: the same commands as ``rarelang …``
    without the rest of the command line's imports (what dvc.yaml's stages call, so their code deps are the
    runner's and the stage scripts', not every subcommand's)."""
    ap = argparse.ArgumentParser(prog="python -m rarelang.runner", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_commands(ap.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = ap.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
