"""dvc.yaml must know what each stage runs: every module of the package a stage's script imports
(directly or through other modules, found from the source's import statements) is covered by one of
the stage's deps (the file itself or a folder above it). Editing the sandbox harness must re-run the
stages that use it. scripts/dvc_deps.py --write puts the generated deps into dvc.yaml."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from dvc_deps import PKG, ROOT, closure, stages  # noqa: E402

def test_import_graph_is_found():
    train = closure(ROOT / "scripts" / "train_grpo.py")
    assert PKG / "sandbox" / "pool.py" in train and PKG / "languages" / "julia.py" in train
    assert PKG / "__init__.py" in train and ROOT / "scripts" / "_common.py" in train


def test_every_stage_depends_on_every_module_it_runs():
    missing = {}
    for name, scripts, deps in stages():
        covered = [ROOT / d for d in deps]
        need = sorted(set().union(*(closure(s) for s in scripts)))
        lacking = [str(f.relative_to(ROOT)) for f in need
                   if not any(f == c or c in f.parents for c in covered)]
        if lacking:
            missing[name] = lacking
    assert not missing, f"dvc.yaml stages miss deps on modules they import: {missing}"
