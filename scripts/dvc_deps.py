#!/usr/bin/env python3
"""The code deps of every dvc.yaml stage, from the import graph of the script the stage runs: the
script, scripts/_common.py and every module of the package it imports directly or indirectly (a
folder when all its modules are needed). tests/test_dvc_deps.py fails when dvc.yaml lacks one.

    python scripts/dvc_deps.py            # print each stage's code deps
    python scripts/dvc_deps.py --write    # put them into dvc.yaml (data deps and comments kept)
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


def stages():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for name, st in dvc["stages"].items():
        m = re.search(r"(scripts/\S+\.py)", st["cmd"] if isinstance(st["cmd"], str) else " ".join(st["cmd"]))
        if m:
            yield name, ROOT / m.group(1), [str(d) for d in st.get("deps", [])]


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


def code_deps(script: Path) -> list[str]:
    return collapse(closure(script))


_CODE = re.compile(r"^\s*- (scripts/\S+\.py|src/\S+)\s*$")


def write(dvc_path: Path) -> None:
    lines = dvc_path.read_text().splitlines()
    wanted = {name: code_deps(script) for name, script, _ in stages()}
    out, stage, in_deps = [], None, False
    for ln in lines:
        m = re.match(r"^  ([A-Za-z0-9_]+):\s*$", ln)
        if m:
            stage, in_deps = m.group(1), False
        if stage in wanted and re.match(r"^    deps:\s*$", ln):
            out.append(ln)
            out += [f"      - {d}" for d in wanted[stage]]
            in_deps = True
            continue
        if in_deps and _CODE.match(ln):
            continue
        if in_deps and not ln.startswith("      "):
            in_deps = False
        out.append(ln)
    dvc_path.write_text("\n".join(out) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="rewrite the code deps in dvc.yaml")
    args = ap.parse_args()
    if args.write:
        write(ROOT / "dvc.yaml")
    for name, script, _ in stages():
        print(f"{name}: {' '.join(code_deps(script))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
