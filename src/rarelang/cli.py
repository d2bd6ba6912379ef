"""``rarelang`` command line. Stable interface: other tools call it.

    rarelang exec --lang {julia,r} --code FILE --tests FILE [--timeout S] [--json]
    rarelang exec-batch JOBS.jsonl -o RESULTS.jsonl [--workers N] [--resume]
    rarelang serve [--host H] [--port P] [--token-env VAR] ...   (docs/environments.md)
    rarelang solve [TASKS.jsonl -o RESULTS.jsonl] [--adapter RUN] [-n N] …   (src/rarelang/solve.py)
    rarelang export --adapter RUN [-o DIR] [--quant Q4_K_M]                  (src/rarelang/export/)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Iterator

from .languages import LANGUAGES, UnknownLanguage, canonical_language
from .params import load_params
from .rewards import RewardTable
from .sandbox import Job, Outcome, SandboxPool, Status
from .sandbox.outcome import STATUSES

EXIT_PASSED, EXIT_NOT_PASSED, EXIT_USAGE = 0, 1, 2


def _params(args: argparse.Namespace) -> dict[str, Any]:
    return load_params(args.params) if args.params else load_params()


def _pool(args: argparse.Namespace) -> SandboxPool:
    params = _params(args)
    overrides: dict[str, Any] = {}
    if getattr(args, "workers", None):
        overrides["workers"] = args.workers
    if getattr(args, "backend", None):
        overrides["backend"] = args.backend
    return SandboxPool.from_params(params, **overrides)


def _read_text(path: str, what: str) -> str:
    if path == "-":
        return sys.stdin.read()
    p = Path(path)
    if not p.is_file():
        raise SystemExit(_usage_error(f"{what} file not found: {path}"))
    return p.read_text(encoding="utf-8", errors="replace")


def _usage_error(msg: str) -> int:
    print(f"rarelang: error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def _reward_table(args: argparse.Namespace) -> RewardTable:
    return RewardTable.from_params(_params(args).get("reward"))


def _outcome_record(o: Outcome, table: RewardTable) -> dict[str, Any]:
    """An outcome as printed/written by `exec --json` and `exec-batch`: the sandbox's fields with the
    reward the table gives it after tests_total (the sandbox itself returns no reward)."""
    d = o.to_dict()
    keys = list(d)
    at = keys.index("tests_total") + 1
    return {**{k: d[k] for k in keys[:at]}, "reward": table.score(o), **{k: d[k] for k in keys[at:]}}


def cmd_exec(args: argparse.Namespace) -> int:
    try:
        lang = canonical_language(args.lang)
    except UnknownLanguage as e:
        return _usage_error(str(e))
    code = _read_text(args.code, "code")
    tests = _read_text(args.tests, "tests")
    with _pool(args) as pool:
        out = pool.run(Job(lang, code, tests, id=args.id or "", timeout_s=args.timeout))
    record = _outcome_record(out, _reward_table(args))     # with what training would pay for it
    if args.json:
        print(json.dumps(record, ensure_ascii=False))
    else:
        print(f"status:   {out.status.value}")
        print(f"tests:    {out.tests_passed}/{out.tests_total} passed")
        print(f"reward:   {record['reward']:+.3f}")
        print(f"duration: {out.duration_s:.3f}s")
        if out.message:
            print(f"message:  {out.message}")
        for name in ("stdout", "stderr"):
            text = getattr(out, name)
            if text:
                print(f"--- {name} ---\n{text.rstrip()}")
    return EXIT_PASSED if out.status is Status.PASSED else EXIT_NOT_PASSED


def _parse_job_line(line: str, lineno: int) -> tuple[Job | None, Outcome | None]:
    """A job, or a sandbox_error outcome explaining why the line is unusable."""
    def bad(msg: str, job_id: str = "") -> tuple[None, Outcome]:
        return None, Outcome(Status.SANDBOX_ERROR, message=f"line {lineno}: {msg}",
                             id=job_id or f"line-{lineno}")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return bad(f"not valid JSON ({e.msg})")
    if not isinstance(obj, dict):
        return bad("expected a JSON object")
    job_id = obj.get("id")
    if job_id is None or job_id == "":
        return bad("missing 'id'")
    job_id = str(job_id)
    missing = [k for k in ("lang", "code", "tests") if k not in obj]
    if missing:
        return bad(f"missing field(s) {missing}", job_id)
    if not all(isinstance(obj[k], str) for k in ("lang", "code", "tests")):
        return bad("'lang', 'code' and 'tests' must be strings", job_id)
    try:
        lang = canonical_language(obj["lang"])
    except UnknownLanguage as e:
        return bad(str(e), job_id)
    timeout = obj.get("timeout_s")
    if timeout is not None:
        try:
            timeout = float(timeout)
        except (TypeError, ValueError):
            return bad(f"timeout_s must be a number, got {timeout!r}", job_id)
        if not (0 < timeout <= 3600):
            return bad(f"timeout_s must be in (0, 3600], got {timeout}", job_id)
    return Job(lang, obj["code"], obj["tests"], id=job_id, timeout_s=timeout), None


def _read_jobs(path: str) -> Iterator[tuple[int, tuple[Job | None, Outcome | None]]]:
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="replace")
    try:
        for lineno, line in enumerate(stream, 1):
            if not line.strip():
                continue
            yield lineno, _parse_job_line(line, lineno)
    finally:
        if stream is not sys.stdin:
            stream.close()


def _done_ids(path: Path) -> set[str]:
    """Ids already in a results file; a torn last line (a crash mid-write) is cut off."""
    done: set[str] = set()
    if not path.exists():
        return done
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                done.add(str(json.loads(line)["id"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a torn last line from a crash: that job runs again
    return done


def cmd_exec_batch(args: argparse.Namespace) -> int:
    if args.jobs != "-" and not Path(args.jobs).is_file():
        return _usage_error(f"jobs file not found: {args.jobs}")
    out_path = Path(args.output)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    done = _done_ids(out_path) if args.resume else set()
    jobs: list[Job] = []
    bad: list[Outcome] = []
    seen: set[str] = set()
    for lineno, (job, err) in _read_jobs(args.jobs):
        if err is not None:
            bad.append(err)
            continue
        assert job is not None
        if job.id in seen:
            bad.append(Outcome(Status.SANDBOX_ERROR, id=f"line-{lineno}", lang=job.lang,
                               message=f"line {lineno}: duplicate id {job.id!r}: only its first line runs"))
            continue
        seen.add(job.id)
        if job.id not in done:
            jobs.append(job)
    if args.resume and done:
        print(f"rarelang: resuming: {len(done)} result(s) already in {out_path}, {len(jobs)} to run",
              file=sys.stderr)
    counts = {s: 0 for s in STATUSES}
    mode = "a" if args.resume else "w"
    table = _reward_table(args)
    with open(out_path, mode, encoding="utf-8") as out:
        def write(o: Outcome) -> None:
            counts[o.status.value] += 1
            out.write(json.dumps(_outcome_record(o, table), ensure_ascii=False) + "\n")
            out.flush()
        for o in bad:
            if o.id not in done:
                write(o)
        if jobs:
            with _pool(args) as pool:
                for o in pool.run_many(jobs, progress=not args.quiet, desc="exec-batch"):
                    write(o)
    summary = ", ".join(f"{k}={v}" for k, v in counts.items() if v)
    print(f"rarelang: wrote {sum(counts.values())} result(s) to {out_path} ({summary or 'nothing to do'})",
          file=sys.stderr)
    return 0


def cmd_check_params(args: argparse.Namespace) -> int:
    from .params import repo_root
    from .params_check import check_files
    target = Path(args.file or args.params or "params.yaml")
    reference = Path(args.reference) if args.reference else repo_root() / "params.yaml"
    for f in [target, reference, *map(Path, args.overlay)]:
        if not f.exists():
            return _usage_error(f"{f}: no such file")
    errors = check_files(target, [Path(o) for o in args.overlay], reference)
    for e in errors:
        print(e)
    if not errors:
        print(f"{target}" + "".join(f" + {o}" for o in args.overlay) + f": ok (checked against {reference})")
    return 1 if errors else 0


def _serve_cli():
    # imported by name: no pipeline stage runs `serve`, so the import graph that gives each dvc.yaml stage its
    # code deps (scripts/dvc_deps.py) does not follow it into the web server
    import importlib
    return importlib.import_module("rarelang.env.cli")


def cmd_serve(args: argparse.Namespace) -> int:
    return _serve_cli().serve_from_args(args, _params(args))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rarelang",
        description="rarelang: run Julia/R programs against their unit tests in a sandbox "
                    "(warm workers, bubblewrap isolation) and classify each outcome.")
    p.add_argument("--params", help="params.yaml to read (default: ./params.yaml, $RARELANG_PARAMS, "
                                    "or the repository's)")
    p.add_argument("-v", "--verbose", action="store_true", help="log worker life-cycle events")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    statuses = " | ".join(STATUSES)
    e = sub.add_parser(
        "exec", help="run one program against its tests",
        description="Run one program against its unit tests in the sandbox and print the outcome. "
                    f"Status is one of: {statuses}. Exit code: 0 passed, 1 not passed, 2 usage error.")
    e.add_argument("--lang", required=True, help=f"language: {', '.join(sorted(LANGUAGES))}")
    e.add_argument("--code", required=True, help="program file ('-' for stdin)")
    e.add_argument("--tests", required=True, help="tests file (testthat/stopifnot for R, Test for Julia)")
    e.add_argument("--timeout", type=float, default=None, help="wall-clock limit in seconds "
                                                               "(default: sandbox.timeout_s)")
    e.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    e.add_argument("--id", default="", help="id to put in the outcome")
    e.add_argument("--backend", choices=["bwrap", "apptainer", "none"], help="override machine.sandbox_backend")
    e.set_defaults(func=cmd_exec)

    c = sub.add_parser(
        "check-params", help="check a params file and overlays for unknown keys",
        description="Check a params file (default: params.yaml) and overlays applied to it in order "
                    "(configs/*.yaml, dotted keys) against the repository's params.yaml: an unknown key is "
                    "an error naming the nearest valid one; train.grpo keys must be fields of TRL's "
                    "GRPOConfig. Exit code: 0 ok, 1 problems found, 2 usage error.")
    c.add_argument("file", nargs="?", help="the params file to check (default: --params or ./params.yaml)")
    c.add_argument("--overlay", action="append", default=[], metavar="F", help="an overlay applied on top (repeatable)")
    c.add_argument("--reference", help="the params.yaml that defines the valid keys (default: the repository's)")
    c.set_defaults(func=cmd_check_params)

    b = sub.add_parser(
        "exec-batch", help="run many jobs from a JSONL file in parallel",
        description='Each input line: {"id", "lang", "code", "tests", "timeout_s"?}. Each output '
                    "line: the outcome (status, tests_passed, tests_total, reward, duration_s, "
                    "stdout, stderr, message) plus id, one per input line, in completion order. "
                    "Bad lines give a sandbox_error result, never a crash. Results are flushed as "
                    "they come, so --resume after an interruption runs only what is missing.")
    b.add_argument("jobs", help="JSONL file of jobs ('-' for stdin)")
    b.add_argument("-o", "--output", required=True, help="JSONL file for the results")
    b.add_argument("--workers", type=int, default=None, help="warm workers per language "
                                                             "(default: machine.workers, i.e. CPU cores)")
    b.add_argument("--resume", action="store_true", help="keep results already in OUTPUT and run only "
                                                         "the jobs whose id is not there")
    b.add_argument("--backend", choices=["bwrap", "apptainer", "none"], help="override machine.sandbox_backend")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_exec_batch)

    from .runner import add_commands as add_experiment_commands   # run, experiments, resolve
    add_experiment_commands(sub)

    _serve_cli().add_serve_parser(sub).set_defaults(func=cmd_serve)

    from .solve import add_parser as add_solve_parser        # rarelang solve: src/rarelang/solve.py
    add_solve_parser(sub)
    from .export.command import add_parser as add_export_parser      # rarelang export: src/rarelang/export/
    add_export_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:
        return _usage_error(str(e))
    except KeyboardInterrupt:
        print("rarelang: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
