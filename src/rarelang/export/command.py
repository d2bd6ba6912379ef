"""``rarelang export``: a trained adapter merged into its base model → a transformers folder, a GGUF file
(f16) by llama.cpp's converter and quantized ones (Q4_K_M by default) by llama.cpp's quantizer, checked:
the GGUFs' greedy answers to a few prompts against the merged model's. Each step is skipped when its
output is already whole (outputs are written under temporary names), so an interrupted export resumes."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_QUANTS = ("Q4_K_M",)


def file_record(path: Path) -> dict[str, Any]:
    from ..models.registry import sha256_file
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def export_name(adapter: Path | None, model: str) -> str:
    """A committed run's name (``…/<run>/adapter``), else the adapter's or the model's."""
    if adapter is None:
        return Path(model).stem
    return adapter.parent.name if adapter.name == "adapter" else adapter.name


def export(*, adapter: Path | None, model: str, out_dir: Path, repo: Path, quants: tuple[str, ...] = DEFAULT_QUANTS,
           gguf: bool = True, dtype: str = "bfloat16", check_prompts: int = 4, check_tokens: int = 96,
           llama_cpp: str | None = None, threads: int | None = None, force: bool = False,
           name: str | None = None, command: str | None = None, say=print) -> dict[str, Any]:
    """Run the export; returns what ``export.json`` in ``out_dir`` records."""
    from ..models.resolve import resolve_model_dir
    from .agreement import check_prompts as prompts_for, compare, gguf_answers, transformers_answers
    from .llamacpp import convert, llama_cpp_version, quantize, tools_dir
    from .merge import merge_adapter

    out_dir.mkdir(parents=True, exist_ok=True)
    previous = json.loads((out_dir / "export.json").read_text()) if (out_dir / "export.json").exists() else {}
    name = name or export_name(adapter, model)
    record: dict[str, Any] = {"name": name, "adapter": str(adapter) if adapter else None, "base_model": model,
                              "command": command, "files": {}}
    t0 = time.perf_counter()
    base_dir = resolve_model_dir(model, repo / "models")
    remade = True
    if adapter is not None:
        merged = out_dir / "merged"
        if force or not (merged / "config.json").exists():
            say(f"merging {adapter} into {base_dir} …")
            merge_adapter(base_dir, adapter, merged, dtype=dtype, provenance={"name": name})
        else:
            say(f"merged model already in {merged} (--force to make it again)")
            remade = False
    else:
        merged = base_dir
    record["merged"] = str(merged)
    ggufs: dict[str, Path] = {}
    if gguf:
        record["llama_cpp_python"] = llama_cpp_version() if not llama_cpp else None
        tools = tools_dir(repo / "models" / "llama.cpp", llama_cpp)
        record["converter"] = str(tools)
        f16 = out_dir / f"{name}-f16.gguf"
        if force or not f16.exists():
            say(f"converting to GGUF (f16) with llama.cpp's converter → {f16}")
            convert(merged, f16, tools, "f16", name=f"rarelang-{name}")
        ggufs["f16"] = f16
        for q in quants:
            target = out_dir / f"{name}-{q.upper()}.gguf"
            if force or not target.exists():
                say(f"quantizing to {q.upper()} with llama.cpp's quantizer → {target}")
                quantize(f16, target, q, threads=threads or 0)
            ggufs[q.upper()] = target
        record["files"] = {k: file_record(p) for k, p in ggufs.items()}
    if ggufs and check_prompts > 0:
        say(f"checking: greedy answers to {check_prompts} prompt(s), ≤ {check_tokens} tokens, merged model vs GGUF …")
        prompts = prompts_for(check_prompts)
        # answers of an earlier run of the same check on the same files are kept, not asked again
        old = previous.get("check") or {}
        same_check = (not remade and old.get("max_tokens") == check_tokens
                      and len((old.get("answers") or {}).get("transformers") or []) == len(prompts))
        old_answers = old.get("answers", {}) if same_check else {}
        ref = old_answers.get("transformers") or transformers_answers(merged, prompts, check_tokens, threads)
        record["check"] = {"max_tokens": check_tokens, "reference": "transformers, float32, CPU",
                           "answers": {"transformers": ref}}
        for k, p in ggufs.items():
            kept = old_answers.get(k) if (previous.get("files") or {}).get(k, {}).get("sha256") == \
                record["files"][k]["sha256"] else None
            ans = kept or gguf_answers(p, prompts, check_tokens, threads)
            record["check"]["answers"][k] = ans
            record["check"][k] = compare(ref, ans)
            c = record["check"][k]
            say(f"  {k}: {c['identical']}/{c['prompts']} identical, {c['common_prefix_share']:.0%} of the text shared "
                "from the start")
    record["seconds"] = round(time.perf_counter() - t0, 1)
    (out_dir / "export.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return record


def _command_line(args: argparse.Namespace) -> str:
    """The command as typed (from a shell), else the command these arguments amount to."""
    import shlex
    if Path(sys.argv[0]).name in ("rarelang", "cli.py") and "export" in sys.argv:
        return shlex.join(["rarelang", *sys.argv[1:]])
    flags = [f"--{k.replace('_', '-')}" + ("" if v is True else f" {shlex.quote(str(v))}")
             for k, v in sorted(vars(args).items()) if k not in ("func", "command", "params", "verbose")
             and v not in (None, False) and not isinstance(v, list)]
    flags += [f"--quant {q}" for q in (args.quant or [])]
    return " ".join(["rarelang export", *flags])


def cmd_export(args: argparse.Namespace) -> int:
    from ..models.resolve import adapter_base
    from ..params import repo_root
    from ..solve import DEFAULT_MODEL, headline_adapter
    repo = repo_root()
    adapter = headline_adapter(args.adapter, repo) if args.adapter else None
    model = args.model or ((adapter_base(adapter) if adapter else None) or DEFAULT_MODEL)
    if args.model and Path(args.model).expanduser().exists():
        model = str(Path(args.model).expanduser().resolve())
    name = args.name or export_name(adapter, model)
    out = Path(args.output) if args.output else repo / "models" / "export" / name
    say = (lambda *_: None) if args.quiet else (lambda m: print(f"rarelang: {m}", file=sys.stderr))
    rec = export(adapter=adapter, model=model, out_dir=out, repo=repo, quants=tuple(args.quant or DEFAULT_QUANTS),
                 gguf=not args.no_gguf, dtype=args.dtype, check_prompts=0 if args.no_check else args.check_prompts,
                 check_tokens=args.check_tokens, llama_cpp=args.llama_cpp, threads=args.threads, force=args.force,
                 name=name, command=_command_line(args), say=say)
    say(f"done in {rec['seconds']:.0f}s: {out}/export.json")
    for k, f in rec["files"].items():
        print(f"{k}\t{f['bytes'] / 2**20:.0f} MiB\t{f['path']}")
    print(f"transformers\t\t{rec['merged']}")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """The ``export`` subcommand's parser (cli.build_parser calls this)."""
    e = sub.add_parser(
        "export", help="merge an adapter into its base model; write a transformers folder and GGUF files",
        description=__doc__.split("\n\n")[0].replace("``", "") + " Default output: models/export/<name>/ "
                    "(merged/, <name>-f16.gguf, <name>-Q4_K_M.gguf, export.json).",
        epilog="Example: rarelang export --adapter unified-0.5b   then   python -c \"from llama_cpp import Llama; "
               "llm = Llama('models/export/unified-0.5b/unified-0.5b-Q4_K_M.gguf'); ...\"  or  rarelang solve "
               "--engine local --model models/export/unified-0.5b/unified-0.5b-Q4_K_M.gguf …")
    e.add_argument("--adapter", help="a LoRA adapter directory, or a committed run's name (e.g. unified-0.5b); "
                                     "leave out to export the base model alone")
    e.add_argument("--model", help="the base model: packaged name, transformers directory or .gguf (default: the "
                                   "one the adapter was trained on)")
    e.add_argument("-o", "--output", help="output folder (default: models/export/<name>)")
    e.add_argument("--name", help="the files' name (default: the run's name)")
    e.add_argument("--quant", action="append", default=None, metavar="TYPE",
                   help="a llama.cpp quantization to make from the f16 file (repeatable; default: Q4_K_M)")
    e.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"],
                   help="dtype of the merged transformers weights (default bfloat16, the adapters')")
    e.add_argument("--no-gguf", action="store_true", help="only the merged transformers folder")
    e.add_argument("--no-check", action="store_true", help="skip the greedy agreement check")
    e.add_argument("--check-prompts", type=int, default=4, help="prompts of the agreement check (default 4, at most 4)")
    e.add_argument("--check-tokens", type=int, default=96, help="new tokens per answer in the check (default 96)")
    e.add_argument("--llama-cpp", help="a llama.cpp checkout to take the converter from (default: the source of "
                                       "the installed llama-cpp-python; also $RARELANG_LLAMA_CPP)")
    e.add_argument("--threads", type=int, help="CPU threads")
    e.add_argument("--force", action="store_true", help="make every output again")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    e.set_defaults(func=cmd_export)
    return e
