"""Attribution: what changed in the answers besides correctness (style vs correctness).

For each model × suite × protocol × language of a completions frame: pass@1, and the share of
programs with top-level code besides definitions (calls such as "example usage", loops, prints),
with package imports (Julia ``using``/``import``, R ``library``/``require``), answers cut at the
token limit, completion-protocol programs holding a code fence (the chat format's closing fence, which
MultiPL-E's Julia stop sequences do not cut), the mean completion length (up to a control token written as
text, where the program ends too: ``programs.stop_at_stop_tokens``), and pass@1 on the problems whose prompt names the
function the tests call. The programs are classified with the real parsers (Julia
``Meta.parse``, R ``parse``), top-level expression by top-level expression.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from ..languages import get_language
from ..sandbox import SandboxConfig
from .passk import mean_pass_at_k
from .programs import CONTROL_TOKEN

_JULIA = r'''
defhead = (:function, :macro, :struct, :abstract, :primitive, :module, :const, :global)
function kinds(ex, acc)
    if ex isa LineNumberNode || ex === nothing || ex isa String
        return acc
    elseif ex isa Expr && ex.head == :toplevel
        foreach(e -> kinds(e, acc), ex.args)
    elseif ex isa Expr && ex.head == :macrocall && ex.args[1] == GlobalRef(Core, Symbol("@doc"))
        kinds(ex.args[end], acc)
    elseif ex isa Expr && ex.head in (:using, :import)
        acc[:imports] = true
    elseif ex isa Expr && (ex.head in defhead || ex.head == :(=))
        nothing                                  # definitions, short-form functions, constants
    elseif ex isa Expr && ex.head == :macrocall && ex.args[1] in (Symbol("@kwdef"), Symbol("@enum"))
        nothing
    else
        acc[:other] = true
    end
    return acc
end
for f in sort(readdir(ARGS[1]))
    s = read(joinpath(ARGS[1], f), String)
    acc = Dict(:other => false, :imports => false)
    ok = true
    pos = 1
    try
        while pos <= ncodeunits(s)
            ex, pos = Meta.parse(s, pos; raise=true)
            if ex isa Expr && ex.head in (:incomplete, :error)     # unfinished input is not raised
                ok = false
                break
            end
            kinds(ex, acc)
        end
    catch
        ok = false
    end
    ok || (acc[:other] = false; acc[:imports] = false)
    println(f, " ", Int(acc[:other]), " ", Int(acc[:imports]), " ", Int(ok))
end
'''

_R = r'''
imports <- c("library", "require", "requireNamespace", "suppressPackageStartupMessages", "suppressWarnings",
             "suppressMessages", "invisible")
is_import <- function(e) {
  if (!is.call(e)) return(FALSE)
  f <- as.character(e[[1]])[1]
  if (f %in% c("library", "require", "requireNamespace")) return(TRUE)
  if (f %in% imports && length(e) > 1) return(is_import(e[[2]]))
  FALSE
}
for (f in sort(list.files(commandArgs(TRUE)[1], full.names = TRUE))) {
  other <- FALSE; imp <- FALSE
  ok <- tryCatch({
    for (e in parse(f, keep.source = FALSE)) {
      if (is_import(e)) imp <- TRUE
      else if (is.call(e) && as.character(e[[1]])[1] %in% c("<-", "=", "<<-", "setClass", "setGeneric", "setMethod",
                                                           "setRefClass")) NULL
      else if (is.call(e) || is.name(e)) other <- TRUE
    }
    TRUE
  }, error = function(err) FALSE)
  cat(basename(f), as.integer(other), as.integer(imp), as.integer(ok), "\n")
}
'''


def classify_programs(programs: list[str], lang: str, cfg: SandboxConfig | None = None) -> pd.DataFrame:
    """One row per program: ``toplevel_other``, ``imports`` (bool) and ``parsed`` (the parser
    accepted it; unparsable programs count as neither)."""
    language = get_language(lang)
    binary = language.find_interpreter(cfg or SandboxConfig())
    with tempfile.TemporaryDirectory() as d:
        for i, p in enumerate(programs):
            Path(d, f"{i:07d}{language.suffix}").write_text(p or "")
        cmd = ([binary, "--startup-file=no", "-e", _JULIA, d] if lang == "julia" else [binary, "-e", _R, d])
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"classifying {lang} programs failed: {out.stderr[-1500:]}")
    rows = {}
    for ln in out.stdout.splitlines():
        parts = ln.split()
        if len(parts) == 4:
            rows[int(Path(parts[0]).stem)] = (parts[1] == "1", parts[2] == "1", parts[3] == "1")
    missing = [i for i in range(len(programs)) if i not in rows]
    if missing:
        raise RuntimeError(f"{len(missing)} {lang} program(s) were not classified")
    vals = [rows[i] for i in range(len(programs))]
    return pd.DataFrame(vals, columns=["toplevel_other", "imports", "parsed"])


def names(prompt: str, entry: str) -> bool:
    """Whether ``prompt`` names the function ``entry`` (as a whole word)."""
    return bool(entry) and re.search(rf"(?<![\w.!]){re.escape(entry)}(?![\w!])", prompt or "") is not None


def truncated(completion: str, protocol: str, parsed: bool = False) -> bool | None:
    """A chat answer cut at the token limit: a fenced block opened and never closed around code that
    does not parse (``parsed``: the language's parser accepted the answer's program). An answer
    that stops after complete code without closing its fence is not cut. (The completion protocol
    has no such marker: None.)"""
    if protocol != "chat":
        return None
    return completion.count("```") % 2 == 1 and not parsed


def used_chars(completion: str) -> int:
    """The length of the part of an answer that can reach a program: up to the first control token written
    as text (``<|fim_prefix|>``…; ``programs.CONTROL_TOKEN``), where the program is cut too. The dequantized
    1.5B students write such tokens and run on after them; counting that text made their completion-protocol
    answers look several times longer than what was run."""
    m = CONTROL_TOKEN.search(completion)
    return m.start() if m else len(completion)


def _pass1(g: pd.DataFrame) -> float | None:
    per = g.groupby("task_id")["passed"].agg(["size", "sum"])
    return float(mean_pass_at_k(per["size"].tolist(), per["sum"].tolist(), 1)) if len(per) else None


def attribution_table(df: pd.DataFrame, names_entry: pd.Series | None = None) -> list[dict[str, Any]]:
    """Rows of the attribution table for a completions frame with columns model, suite, lang,
    task_id, passed, completion, program (+ protocol). ``names_entry``: per row, whether the
    prompt names the entry point (default: from the frame's ``prompt`` and ``entry_point``)."""
    df = df.copy()
    if "protocol" not in df.columns:
        df["protocol"] = "chat"
    if names_entry is None and {"prompt", "entry_point"} <= set(df.columns):
        names_entry = pd.Series([names(p, e) for p, e in zip(df["prompt"], df["entry_point"])], index=df.index)
    df["names_entry"] = names_entry if names_entry is not None else pd.NA
    flags = []
    for lang, g in df.groupby("lang"):
        c = classify_programs(g["program"].fillna("").tolist(), lang)
        c.index = g.index
        flags.append(c)
    df = df.join(pd.concat(flags))
    df["truncated"] = [truncated(c or "", p, bool(ok)) for c, p, ok in zip(df["completion"], df["protocol"], df["parsed"])]
    rows = []
    for (model, suite, protocol, lang), g in df.groupby(["model", "suite", "protocol", "lang"], sort=True):
        with_code = g[g["program"].fillna("").str.len() > 0]
        named = g[g["names_entry"] == True]  # noqa: E712 - a nullable column
        hidden = g[g["names_entry"] == False]  # noqa: E712
        rows.append({
            "model": model, "suite": suite, "protocol": protocol, "lang": lang,
            "problems": int(g["task_id"].nunique()), "completions": int(len(g)), "pass@1": _pass1(g),
            "share_toplevel_other": float(with_code["toplevel_other"].mean()) if len(with_code) else None,
            "share_imports": float(with_code["imports"].mean()) if len(with_code) else None,
            "share_unparsable": float((~with_code["parsed"]).mean()) if len(with_code) else None,
            "share_truncated": (float(g["truncated"].astype(float).mean()) if protocol == "chat" else None),
            # completion protocol: a code fence that reached the program (the chat format's closing ``` after the
            # function; MultiPL-E's Julia stop sequences do not cut it, so the program does not parse)
            "share_fenced": (float(with_code["program"].str.contains("```", regex=False).mean())
                             if protocol == "completion" and len(with_code) else None),
            "mean_completion_chars": float(g["completion"].fillna("").map(used_chars).mean()),
            "problems_naming_entry": int(named["task_id"].nunique()),
            "pass@1_naming_entry": _pass1(named) if len(named) else None,
            "pass@1_hidden_entry": _pass1(hidden) if len(hidden) else None,
        })
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of attribution rows."""
    def f(x, pct=True):
        return "–" if x is None else (f"{100 * x:.1f}%" if pct else f"{x:.3f}")
    head = ("| model | suite | protocol | lang | pass@1 | pass@1 (prompt names entry) | pass@1 (hidden) | "
            "top-level code | imports | truncated | fence in program | mean chars |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lines.append(f"| {r['model']} | {r['suite']} | {r['protocol']} | {r['lang']} | {f(r['pass@1'], False)} | "
                     f"{f(r['pass@1_naming_entry'], False)} | {f(r['pass@1_hidden_entry'], False)} | "
                     f"{f(r['share_toplevel_other'])} | {f(r['share_imports'])} | {f(r['share_truncated'])} | "
                     f"{f(r.get('share_fenced'))} | "
                     f"{r['mean_completion_chars']:.0f} |")
    return "\n".join(lines)
