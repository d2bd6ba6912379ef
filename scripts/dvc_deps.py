#!/usr/bin/env python3
"""The code deps of every dvc.yaml stage, from the import graph of the script the stage runs: the
script, scripts/_common.py and every module of the package it imports directly or indirectly (a
folder when all its modules are needed). tests/test_dvc_deps.py fails when dvc.yaml lacks one.

    python scripts/dvc_deps.py            # print each stage's code deps
    python scripts/dvc_deps.py --write    # put them into dvc.yaml and pipelines/headline/dvc.yaml (data deps
                                          # and comments kept)
"""

import argparse
import ast
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from rarelang.params import repo_root  # noqa: E402

ROOT = repo_root()
PKG = ROOT / "src" / "rarelang"


def _module_file(dotted: str) -> Path | None:
    rel = dotted.split(".")
    base = ROOT / "src" / Path(*rel)
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    return None


def _imports(path: Path) -> set[Path]:
    tree = ast.parse(path.read_text(), filename=str(path))
    # the package a relative import starts from: the folder of the module (or of the __init__)
    pkg_parts = list(path.relative_to(ROOT / "src").parts[:-1]) if path.is_relative_to(PKG) else []
    found: set[Path] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        for n in names:
            if n == "_common" or n.startswith("_common."):
                found.add(ROOT / "scripts" / "_common.py")
            if n.split(".")[0] != "rarelang":
                continue
            parts = n.split(".")
            for i in range(1, len(parts) + 1):          # the package __init__s run too
                f = _module_file(".".join(parts[:i]))
                if f is not None:
                    found.add(f)
    return found


def closure(script: Path) -> set[Path]:
    seen: set[Path] = set()
    todo = [script]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo += [g for g in _imports(f) if g not in seen]
    return seen


PIPELINES = ("dvc.yaml", "pipelines/headline/dvc.yaml")
# `python -m rarelang.runner run EXPERIMENT STAGE` / `… data DATASET [STAGE]` (or `rarelang run …`): the runner
ENTRY = (PKG / "runner.py",)


def scripts_of(cmd: str) -> list[Path] | None:
    """The scripts a stage's command runs, or None when it runs none of the project's."""
    from rarelang.runner import DATA_STAGES, STAGE_SCRIPTS
    m = re.search(r"\b(?:rarelang|rarelang\.runner) (run|data) \S+(?: (\w+))?", cmd)
    if m:
        stage = m.group(2) or "data"
        names = ([s for d in DATA_STAGES for s in STAGE_SCRIPTS[d]] if stage == "data" else STAGE_SCRIPTS[stage])
        return [*ENTRY, *(ROOT / n for n in names)]
    found = re.findall(r"(scripts/\S+\.py)", cmd)
    return [ROOT / f for f in found] or None


def stages():
    """(name, the scripts it runs, its deps) of every stage of every pipeline (a foreach stage once, by its
    template)."""
    for pipeline in PIPELINES:
        dvc = yaml.safe_load((ROOT / pipeline).read_text())
        for name, st in dvc["stages"].items():
            st = st.get("do", st)
            cmd = st["cmd"] if isinstance(st["cmd"], str) else " ".join(st["cmd"])
            scripts = scripts_of(cmd)
            if scripts:
                yield f"{pipeline}:{name}", scripts, [str(d) if not isinstance(d, dict) else str(next(iter(d)))
                                                       for d in st.get("deps", [])]


def collapse(files: set[Path]) -> list[str]:
    """Files as dep paths, a folder standing for its .py files when the stage needs all of them."""
    out: set[Path] = set(files)
    changed = True
    while changed:
        changed = False
        for folder in sorted({f.parent for f in out if f.suffix == ".py"}, key=lambda p: -len(p.parts)):
            if folder == ROOT / "scripts" or not folder.is_relative_to(PKG):
                continue
            mods = set(folder.rglob("*.py"))
            collapsed = [d for d in out if d.is_dir()]          # sub-folders already standing for their modules
            if mods and all(m in out or any(d in m.parents for d in collapsed) for m in mods):
                out = {f for f in out if folder not in f.parents and f != folder} | {folder}
                changed = True
    return sorted(str(p.relative_to(ROOT)) for p in out)


def code_deps(scripts: list[Path]) -> list[str]:
    return collapse(set().union(*(closure(s) for s in scripts)))


_CODE = re.compile(r"^\s*- (scripts/\S+\.py|src/\S+)\s*$")


def write(pipeline: str) -> None:
    """Put each stage's code deps (first in its deps list) into a pipeline file, keeping the rest."""
    path = ROOT / pipeline
    lines = path.read_text().splitlines()
    wanted = {name.split(":", 1)[1]: code_deps(scripts) for name, scripts, _ in stages() if name.startswith(pipeline + ":")}
    out, stage, deps_indent = [], None, None
    for ln in lines:
        m = re.match(r"^  ([A-Za-z0-9_]+):\s*$", ln)
        if m:
            stage, deps_indent = m.group(1), None
        d = re.match(r"^(\s+)deps:\s*$", ln)
        if stage in wanted and d:
            out.append(ln)
            deps_indent = len(d.group(1)) + 2
            out += [" " * deps_indent + f"- {x}" for x in wanted[stage]]
            continue
        if deps_indent is not None:
            if _CODE.match(ln) and ln.startswith(" " * deps_indent + "- "):
                continue
            if not ln.startswith(" " * deps_indent):
                deps_indent = None
        out.append(ln)
    path.write_text("\n".join(out) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="rewrite the code deps in dvc.yaml")
    args = ap.parse_args()
    if args.write:
        for pipeline in PIPELINES:
            write(pipeline)
    for name, scripts, _ in stages():
        print(f"{name}: {' '.join(code_deps(scripts))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
