"""``rarelang solve``: ask a model — a packaged base model, or one with a trained LoRA adapter — for
``n`` candidate programs for a task, run them in the sandbox, and return the first that passes, with
a short report (how many candidates passed, their statuses, the time taken).

A task is one JSON object (a JSONL file holds one per line; MultiPL-E's rows are tasks as they are):

    id            a name for it (``task_id`` or ``name`` are read too; default ``line-N``)
    lang          julia | r (``language``; MultiPL-E's ``jl`` is read too)
    prompt        a description of the problem, or a MultiPL-E-style prompt: the function's docstring or
                  comments and its header, for the model to complete
    signature     optional: the signature of the function to write (``function f(x::Int)``, ``f <- function(x)``)
    tests         optional: unit tests (Julia ``@test``, R testthat/stopifnot). Without tests a candidate
                  passes when it parses, loads, and defines the function (the signature's, the entry
                  point's, or for a description without either, any function)
    entry_point   optional: the name of the function to define
    style         optional: instruct | multipl-e (default: multipl-e when the prompt ends with a
                  function's header, instruct otherwise)
    stop_tokens   optional, MultiPL-E style under the completion protocol (default: MultiPL-E's for the language)

The prompt is built and the program extracted exactly as training and evaluation do
(``rarelang.prompts.build_prompt``, ``rarelang.evaluate.programs.ask`` / ``program_for``).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from .languages import canonical_language, get_language
from .prompts import build_prompt
from .sandbox import Job, Outcome, SandboxPool, Status

if TYPE_CHECKING:      # evaluate's modules import pandas: loaded when a task is solved, not for `rarelang --help`
    from .evaluate.suites import Problem

STYLES = ("instruct", "multipl-e")
PROTOCOLS = ("chat", "completion")
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"
# MultiPL-E's stop tokens per language (the suites' rows carry the same)
MULTIPLE_STOP = {"julia": ["\nfunction", "\nmacro", "\n\n"], "r": ["\n#", "\n```"]}
TASK_FIELDS = {"id", "task_id", "name", "lang", "language", "prompt", "signature", "tests", "entry_point",
               "style", "stop_tokens"}


# ---------------------------------------------------------------------------------------------- tasks
def _header_name(prompt: str, lang: str) -> str | None:
    """The function a MultiPL-E-style prompt ends with the header of (no body yet), else None."""
    lines = [ln for ln in prompt.rstrip().split("\n") if ln.strip()]
    if not lines:
        return None
    last = lines[-1].rstrip()
    defs = get_language(lang).definitions(last.lstrip())
    if not defs:
        return None
    open_header = (last.lstrip().startswith("function") and not re.search(r"\bend\s*$", last)) if lang == "julia" \
        else last.endswith("{")
    return next(iter(defs)) if open_header else None


def _signature_name(signature: str, lang: str) -> str:
    """The function a signature names (``function f(x)``, ``f(x)``, ``f <- function(x)``)."""
    language = get_language(lang)
    for text in (signature, f"function {signature}" if lang == "julia" else signature):
        defs = language.definitions(text.strip())
        if defs:
            return next(iter(defs))
    m = re.match(r"\s*(?:function\s+)?`?([A-Za-z_.][\w.!]*)`?\s*(?:\(|<-|=)", signature)
    if not m:
        raise ValueError(f"cannot read a function name from the signature {signature!r}")
    return m.group(1)


def task_problem(obj: Any, default_id: str = "task", default_lang: str | None = None) -> Problem:
    """One task (a JSON object) as the problem evaluation would pose; ValueError says what is wrong."""
    from .evaluate.repair import repair_problem
    from .evaluate.suites import Problem
    if not isinstance(obj, dict):
        raise ValueError(f"a task is a JSON object, not {type(obj).__name__}")
    unknown = sorted(set(obj) - TASK_FIELDS)
    task_id = str(next((obj[k] for k in ("id", "task_id", "name") if obj.get(k) not in (None, "")), default_id))
    for k in ("prompt", "signature", "tests", "entry_point", "style"):
        if obj.get(k) is not None and not isinstance(obj[k], str):
            raise ValueError(f"task {task_id}: {k!r} must be a string")
    lang = obj.get("lang") or obj.get("language") or default_lang
    if not lang:
        raise ValueError(f"task {task_id}: no language ('lang': julia or r)")
    lang = canonical_language(lang)
    prompt = (obj.get("prompt") or "").strip("\n")
    if not prompt.strip():
        raise ValueError(f"task {task_id}: empty 'prompt' (a description of the problem, or a MultiPL-E-style prompt)")
    tests = obj.get("tests") or ""
    signature = (obj.get("signature") or "").strip()
    entry = (obj.get("entry_point") or "").strip()
    style = obj.get("style") or ("multipl-e" if _header_name(prompt, lang) and not signature else "instruct")
    if style not in STYLES:
        raise ValueError(f"task {task_id}: style must be one of {', '.join(STYLES)}, not {style!r}")
    if unknown and "stop_tokens" not in obj:      # a MultiPL-E row carries more fields than a task reads
        raise ValueError(f"task {task_id}: unknown field(s) {unknown}; known: {sorted(TASK_FIELDS)}")
    if style == "multipl-e":
        header = _header_name(prompt, lang)
        if header is None:
            raise ValueError(f"task {task_id}: a multipl-e prompt must end with the header of the function to "
                             f"complete (Julia `function f(x)`, R `f <- function(x) {{`)")
        entry = entry or header
        stop = obj.get("stop_tokens")
        if stop is None:
            stop = MULTIPLE_STOP[lang]
        if not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
            raise ValueError(f"task {task_id}: 'stop_tokens' must be a list of strings")
        prompt, tests, repairs = repair_problem(lang, prompt + "\n", tests, entry)
        return Problem(task_id, lang, prompt, tests, "multipl-e", entry_point=entry, stop=list(stop), repairs=repairs)
    if signature and not entry:
        entry = _signature_name(signature, lang)
    return Problem(task_id, lang, build_prompt(prompt, lang, signature=signature), tests, "instruct",
                   entry_point=entry)


def definition_check(lang: str, name: str) -> str:
    """Tests that pass when the program defines a function ``name`` (and parses and loads: the sandbox
    runs the program first). R: a closure of the program's, not a base R function of that name."""
    if lang == "julia":
        sym = f"Symbol({json.dumps(name)})"
        return f"using Test\n@test isdefined(@__MODULE__, {sym}) && getfield(@__MODULE__, {sym}) isa Function\n"
    q = json.dumps(name)
    return ("library(testthat)\n"
            f"test_that({json.dumps('the program defines ' + name)}, expect_true(exists({q}, mode = \"function\") && "
            f"is.environment(environment(get({q}, mode = \"function\"))) && "
            f"!isNamespace(environment(get({q}, mode = \"function\")))))\n")


# ---------------------------------------------------------------------------------------------- solving
@dataclass
class Candidate:
    completion: str
    program: str | None
    outcome: Outcome
    check: str                      # "tests", or "defines NAME"


@dataclass
class Solution:
    """What solving one problem gave: every candidate, in the order generated, and the time taken."""

    problem: Problem
    candidates: list[Candidate]
    generate_s: float
    check_s: float
    batch: int = 1                  # problems generated together (their generation time is shared evenly)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def chosen(self) -> int | None:
        return next((i for i, c in enumerate(self.candidates) if c.outcome.passed), None)

    def record(self, with_candidates: bool = True) -> dict[str, Any]:
        p, chosen = self.problem, self.chosen
        statuses = collections.Counter(c.outcome.status.value for c in self.candidates)
        rec: dict[str, Any] = {
            "id": p.task_id, "lang": p.lang, "style": p.kind, "entry_point": p.entry_point or None,
            "check": "tests" if p.tests.strip() else f"defines {p.entry_point or 'a function'}",
            "passed": chosen is not None, "chosen": chosen,
            "solution": self.candidates[chosen].program if chosen is not None else None,
            "n": len(self.candidates), "candidates_passed": statuses.get("passed", 0),
            "statuses": dict(sorted(statuses.items())),
            "time_s": {"generate": round(self.generate_s, 2), "check": round(self.check_s, 2),
                       "total": round(self.generate_s + self.check_s, 2)},
            "batch": self.batch, **self.info}
        if p.repairs:
            rec["repairs"] = p.repairs
        if with_candidates:
            rec["candidates"] = [{"status": c.outcome.status.value, "tests_passed": c.outcome.tests_passed,
                                  "tests_total": c.outcome.tests_total, "check": c.check,
                                  "message": c.outcome.message[:300], "program": c.program,
                                  "completion": c.completion} for c in self.candidates]
        return rec


def _job(p: Problem, program: str, timeout_s: float | None, key: str) -> tuple[Job | None, Outcome | None, str]:
    """The sandbox job that checks one candidate program (its tests, or the definition check), or the
    outcome it gets without running (no function to check for)."""
    if p.tests.strip():
        return Job(p.lang, program, p.tests, id=key, timeout_s=timeout_s), None, "tests"
    name = p.entry_point or next(iter(get_language(p.lang).definitions(program)), "")
    if not name:
        return None, Outcome(Status.TESTS_FAILED, message="the program defines no function", lang=p.lang), "defines"
    return Job(p.lang, program, definition_check(p.lang, name), id=key, timeout_s=timeout_s), None, f"defines {name}"


def solve_problems(gen, problems: list[Problem], pool: SandboxPool, *, n: int, temperature: float,
                   max_tokens: int, seed: int = 0, timeout_s: float | None = None) -> list[Solution]:
    """Generate ``n`` candidates for each problem (one generation call for all of them), check every
    candidate in the sandbox (in parallel), and return one Solution per problem, in order."""
    from .evaluate.programs import ask, program_for
    if not problems:
        return []
    t0 = time.perf_counter()
    _, comps = ask(gen, problems, n, temperature, max_tokens, seed)
    generate_s = time.perf_counter() - t0
    cands: list[list[Candidate]] = []
    jobs, where = [], []
    for i, (p, samples) in enumerate(zip(problems, comps)):
        row = []
        for j, c in enumerate(samples):
            program = program_for(p, c, gen.chat)
            if program is None:
                row.append(Candidate(c, None, Outcome(Status.SYNTAX_ERROR, message="no code in the completion",
                                                      lang=p.lang), "tests" if p.tests.strip() else "defines"))
                continue
            job, outcome, check = _job(p, program, timeout_s, f"{i}/{j}")
            row.append(Candidate(c, program, outcome if outcome is not None else Outcome(Status.SANDBOX_ERROR), check))
            if job is not None:
                jobs.append(job)
                where.append((i, j))
        cands.append(row)
    t1 = time.perf_counter()
    for (i, j), o in zip(where, pool.run_all(jobs)):
        c = cands[i][j]
        if c.check != "tests" and o.status is Status.TESTS_FAILED:
            o.message = f"the program does not define the function {c.check.split(' ', 1)[1]}"
        c.outcome = o
    check_s = time.perf_counter() - t1
    k = len(problems)
    return [Solution(p, row, generate_s / k, check_s / k, batch=k) for p, row in zip(problems, cands)]


# ---------------------------------------------------------------------------------------------- models
def headline_adapter(name: str, repo: Path) -> Path:
    """An adapter directory, or the committed adapter of a headline run given by its name (``unified-0.5b``)."""
    p = Path(name).expanduser()
    if (p / "adapter_config.json").exists():
        return p.resolve()
    run = repo / "results" / "headline" / name / "adapter"
    if (run / "adapter_config.json").exists():
        return run
    runs = sorted(d.parent.name for d in (repo / "results" / "headline").glob("*/adapter/adapter_config.json"))
    raise FileNotFoundError(f"adapter not found: {name} (a peft adapter directory, or a committed run: "
                            f"{', '.join(runs) or 'none'})")


def model_spec(args: argparse.Namespace, repo: Path) -> dict[str, Any]:
    """The generator spec (rarelang.llm.factory) for the command line's model options."""
    from .models.resolve import adapter_base
    adapter = headline_adapter(args.adapter, repo) if args.adapter else None
    model = args.model
    trained_on = adapter_base(adapter) if adapter else None
    if model is None:
        model = trained_on or DEFAULT_MODEL
    elif trained_on and model != trained_on and not Path(model).expanduser().exists():
        raise ValueError(f"the adapter {adapter} was trained on {trained_on}, not {model}: leave --model out")
    elif Path(model).expanduser().exists():
        model = str(Path(model).expanduser().resolve())
    if adapter is not None and args.engine in ("local", "openai"):
        raise ValueError(f"engine {args.engine} cannot load a LoRA adapter: merge it first "
                         "(`rarelang export --adapter …`) and pass the merged model or GGUF as --model")
    spec: dict[str, Any] = {"engine": args.engine, "model": model, "chat": args.protocol == "chat", "progress": False}
    if adapter is not None:
        spec["adapter"] = str(adapter)
    for key in ("threads", "batch_size", "dtype", "device", "base_url"):
        if getattr(args, key, None) is not None:
            spec[key] = getattr(args, key)
    return spec


# ---------------------------------------------------------------------------------------------- command line
def _read_tasks(path: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON or the JSONDecodeError) of each non-blank line of a JSONL file."""
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="replace")
    try:
        for lineno, line in enumerate(stream, 1):
            if line.strip():
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as e:
                    yield lineno, e
    finally:
        if stream is not sys.stdin:
            stream.close()


def _single_task(args: argparse.Namespace) -> dict[str, Any]:
    from .cli import _read_text
    if args.task:
        try:
            obj = json.loads(_read_text(args.task, "task"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{args.task}: not a JSON object ({e.msg} at line {e.lineno})") from e
        if not isinstance(obj, dict):
            raise ValueError(f"{args.task}: a task file holds one JSON object")
    else:
        obj = {}
    for key, value in (("lang", args.lang), ("signature", args.signature), ("entry_point", args.entry_point),
                       ("style", args.style), ("id", args.id)):
        if value is not None:
            obj[key] = value
    if args.prompt is not None or args.prompt_file is not None:
        obj["prompt"] = args.prompt if args.prompt is not None else _read_text(args.prompt_file, "prompt")
    if args.tests is not None:
        obj["tests"] = _read_text(args.tests, "tests")
    if not obj.get("prompt"):
        raise ValueError("no task: give --prompt TEXT (or --prompt-file FILE) and --lang, --task FILE, "
                         "or a JSONL file of tasks")
    return obj


def _report(sol: Solution, out=None) -> None:
    out = out or sys.stderr
    rec = sol.record()
    p = sol.problem
    print(f"task {p.task_id} ({get_language(p.lang).display}, {p.kind}): checked by {rec['check']}", file=out)
    print(f"{rec['n']} candidate(s) in {rec['time_s']['total']:.1f}s (generate {rec['time_s']['generate']:.1f}s, "
          f"check {rec['time_s']['check']:.1f}s); {rec['candidates_passed']} passed", file=out)
    for i, c in enumerate(sol.candidates):
        o = c.outcome
        tests = f" {o.tests_passed}/{o.tests_total}" if o.tests_total else ""
        mark = "  <- returned" if i == rec["chosen"] else ""
        msg = f": {o.message.splitlines()[0][:100]}" if o.message and not o.passed else ""
        print(f"  #{i + 1} {o.status.value}{tests}{msg}{mark}", file=out)
    if rec["chosen"] is None:
        print("no candidate passed", file=out)


def _make_generator(args: argparse.Namespace, repo: Path):
    from .llm import make_generator
    spec = model_spec(args, repo)
    if not args.quiet:
        what = spec["model"] + (f" + {Path(spec['adapter']).parent.name if Path(spec['adapter']).name == 'adapter' else spec['adapter']}"
                                if spec.get("adapter") else "")
        print(f"rarelang: loading {what} ({spec['engine']})…", file=sys.stderr)
    return make_generator(spec, repo), spec


def _sampling(args: argparse.Namespace) -> dict[str, Any]:
    if args.n < 1:
        raise ValueError(f"-n must be at least 1, got {args.n}")
    if args.temperature < 0:
        raise ValueError(f"--temperature must be ≥ 0, got {args.temperature}")
    return {"n": args.n, "temperature": args.temperature, "max_tokens": args.max_tokens, "seed": args.seed,
            "timeout_s": args.timeout}


def _check_protocol(p: Problem, protocol: str) -> None:
    if protocol == "completion" and p.kind != "multipl-e":
        raise ValueError(f"task {p.task_id}: the completion protocol completes a MultiPL-E-style prompt (one "
                         "that ends with the function's header); this task is a description: use --protocol chat")


def cmd_solve(args: argparse.Namespace) -> int:
    from .cli import EXIT_NOT_PASSED, EXIT_PASSED, _pool
    from .params import repo_root
    repo = repo_root()
    sampling = _sampling(args)
    if args.tasks is not None:
        return _solve_file(args, repo, sampling)
    p = task_problem(_single_task(args), default_id="task")
    _check_protocol(p, args.protocol)
    gen, spec = _make_generator(args, repo)
    try:
        with _pool(args) as pool:
            sol = solve_problems(gen, [p], pool, **sampling)[0]
    finally:
        gen.close()
    sol.info = _model_info(spec, gen)
    if args.json:
        print(json.dumps(sol.record(), ensure_ascii=False))
    else:
        _report(sol)
        if sol.chosen is not None:
            sys.stdout.write(sol.candidates[sol.chosen].program or "")
    return EXIT_PASSED if sol.chosen is not None else EXIT_NOT_PASSED


def _model_info(spec: dict[str, Any], gen) -> dict[str, Any]:
    return {"model": spec["model"], "adapter": spec.get("adapter"), "engine": gen.name,
            "protocol": "chat" if spec["chat"] else "completion"}


def _solve_file(args: argparse.Namespace, repo: Path, sampling: dict[str, Any]) -> int:
    from .cli import _done_ids, _pool
    if args.tasks != "-" and not Path(args.tasks).is_file():
        raise FileNotFoundError(f"tasks file not found: {args.tasks}")
    if not args.output:
        raise ValueError("a file of tasks needs -o/--output RESULTS.jsonl")
    out_path = Path(args.output)
    if out_path.exists() and out_path.stat().st_size and not (args.resume or args.force):
        raise ValueError(f"{out_path} already holds results: --resume to solve only the tasks missing from it, "
                         "--force to start over")
    done = _done_ids(out_path) if args.resume else set()
    problems: list[Problem] = []
    bad: list[dict[str, Any]] = []
    seen: set[str] = set()
    for lineno, obj in _read_tasks(args.tasks):
        default_id = f"line-{lineno}"
        try:
            if isinstance(obj, json.JSONDecodeError):
                raise ValueError(f"not valid JSON ({obj.msg})")
            p = task_problem(obj, default_id=default_id, default_lang=args.lang)
            _check_protocol(p, args.protocol)
        except ValueError as e:
            tid = obj.get("id", default_id) if isinstance(obj, dict) else default_id
            bad.append({"id": str(tid), "passed": False, "error": f"line {lineno}: {e}"})
            continue
        if p.task_id in seen:
            bad.append({"id": default_id, "passed": False,
                        "error": f"line {lineno}: duplicate id {p.task_id!r}: only its first line is solved"})
            continue
        seen.add(p.task_id)
        if p.task_id not in done:
            problems.append(p)
    if args.resume and done:
        print(f"rarelang: resuming: {len(done)} result(s) already in {out_path}, {len(problems)} to solve",
              file=sys.stderr)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    solved = failed = 0
    with open(out_path, "a" if args.resume else "w", encoding="utf-8") as out:
        def write(rec: dict[str, Any]) -> None:
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            out.flush()
        for rec in bad:
            if rec["id"] not in done:
                print(f"rarelang: {rec['error']}", file=sys.stderr)
                write(rec)
        if problems:
            gen, spec = _make_generator(args, repo)
            info = _model_info(spec, gen)
            try:
                with _pool(args) as pool:
                    for sol in _chunked_solutions(gen, problems, pool, args.chunk, sampling, progress=not args.quiet):
                        sol.info = info
                        write(sol.record(with_candidates=not args.no_candidates))
                        solved += sol.chosen is not None
                        failed += sol.chosen is None
            finally:
                gen.close()
    print(f"rarelang: {solved} of {solved + failed} task(s) solved"
          + (f", {len(bad)} bad line(s)" if bad else "") + f"; results in {out_path}", file=sys.stderr)
    return 0


def _chunked_solutions(gen, problems: list[Problem], pool: SandboxPool, chunk: int, sampling: dict[str, Any],
                       progress: bool) -> Iterable[Solution]:
    from tqdm import tqdm
    with tqdm(total=len(problems), desc="solve", unit="task", disable=not progress, dynamic_ncols=True) as bar:
        for i in range(0, len(problems), max(1, chunk)):
            part = problems[i:i + max(1, chunk)]
            yield from solve_problems(gen, part, pool, **sampling)
            bar.update(len(part))


def add_parser(sub) -> argparse.ArgumentParser:
    """The ``solve`` subcommand's parser (cli.build_parser calls this)."""
    from .languages import LANGUAGES
    s = sub.add_parser(
        "solve", help="generate candidate programs for a task and return the first that passes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Ask a model (a packaged base model, or it with a trained LoRA adapter such as a committed "
                    "headline run's) for N candidate programs, run each in the sandbox against the task's tests "
                    "(without tests: check that it parses, loads and defines the function), and return the first "
                    "that passes with a report. One task from the flags or --task FILE (solution on stdout, "
                    "report on stderr; exit 0 solved, 1 not solved, 2 usage error), or a JSONL file of tasks "
                    "(one result line per task, written as each is solved; --resume continues).",
        epilog=__doc__.split("\n\n", 1)[1] + "\nExamples:\n"
               "  rarelang solve --adapter unified-0.5b --lang julia --prompt 'Return the sum of the squares of "
               "a vector.' \\\n      --signature 'function sum_squares(v::Vector{Int})::Int' --tests tests.jl\n"
               "  rarelang solve tasks.jsonl -o solved.jsonl --adapter unified-0.5b -n 8\n")
    s.add_argument("tasks", nargs="?", help="JSONL file of tasks ('-' for stdin); leave out for one task from the flags")
    t = s.add_argument_group("one task")
    t.add_argument("--lang", help=f"language: {', '.join(sorted(LANGUAGES))} (for a JSONL file: the default of lines without one)")
    t.add_argument("--prompt", help="the problem: a description, or a MultiPL-E-style prompt ending with the function's header")
    t.add_argument("--prompt-file", help="read the prompt from a file ('-' for stdin)")
    t.add_argument("--signature", help="the signature of the function to write")
    t.add_argument("--tests", help="file of unit tests the candidates must pass ('-' for stdin)")
    t.add_argument("--entry-point", help="the name of the function to write (read from the signature when given)")
    t.add_argument("--style", choices=STYLES, help="how to pose the prompt (default: multipl-e when it ends with a "
                                                   "function header, else instruct)")
    t.add_argument("--task", help="a JSON file holding one task (flags given as well override its fields)")
    t.add_argument("--id", help="the task's id in the report")
    m = s.add_argument_group("model")
    m.add_argument("--adapter", help="a LoRA adapter directory, or a committed run's name (e.g. unified-0.5b: "
                                     "results/headline/unified-0.5b/adapter)")
    m.add_argument("--model", help="a packaged model name, transformers directory or .gguf file (default: the "
                                   f"adapter's base model, else {DEFAULT_MODEL})")
    m.add_argument("--engine", default="auto", choices=["auto", "transformers", "vllm", "local", "openai"],
                   help="auto: vLLM on a GPU with vllm installed, else transformers (CPU); local: llama.cpp on a "
                        "GGUF (e.g. one `rarelang export` wrote); openai: a server at --base-url")
    m.add_argument("--protocol", default="chat", choices=PROTOCOLS,
                   help="chat: the chat template, as in training (default); completion: complete a MultiPL-E prompt")
    m.add_argument("--threads", type=int, help="CPU threads for generation")
    m.add_argument("--batch-size", type=int, help="sequences generated together (transformers; default 8)")
    m.add_argument("--dtype", help="transformers dtype (default: float32 on CPU, bfloat16 on a GPU)")
    m.add_argument("--device", choices=["auto", "cpu"], help="transformers device")
    m.add_argument("--base-url", help="the OpenAI-compatible server (engine openai)")
    g = s.add_argument_group("sampling and checking")
    g.add_argument("-n", type=int, default=4, help="candidates per task (default 4)")
    g.add_argument("--temperature", type=float, default=0.2, help="sampling temperature (default 0.2, the "
                                                                  "evaluation's; 0 = greedy)")
    g.add_argument("--max-tokens", type=int, default=768, help="new tokens per candidate (default 768)")
    g.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    g.add_argument("--timeout", type=float, default=None, help="seconds per candidate in the sandbox "
                                                               "(default: sandbox.timeout_s)")
    g.add_argument("--workers", type=int, default=None, help="warm sandbox workers per language")
    g.add_argument("--backend", choices=["bwrap", "apptainer", "none"], help="override machine.sandbox_backend")
    o = s.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="one task: print the result as one JSON object")
    o.add_argument("-o", "--output", help="JSONL file of results (with a tasks file)")
    o.add_argument("--resume", action="store_true", help="keep the results already in OUTPUT; solve only the rest")
    o.add_argument("--force", action="store_true", help="overwrite an OUTPUT that already holds results")
    o.add_argument("--chunk", type=int, default=8, help="tasks generated together (default 8; more on a GPU)")
    o.add_argument("--no-candidates", action="store_true", help="leave each candidate's program out of the results")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress bar or loading message")
    s.set_defaults(func=cmd_solve)
    return s
