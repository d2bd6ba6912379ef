"""The device's originals: what an evaluation machine wrote, which no amendment may overwrite.

An amendment (a re-score, a sensitivity rule, a filtered view) is always a separate file derived by code. Where an
amendment had to replace a frame in place (scripts/rescore.py's outputs), the device's frame was kept beside it as
``completions-device.parquet`` / ``metrics-device.json``. ``results/headline/device-originals.json`` lists every
original with its sha256; tests/test_sensitivity.py fails when one of them changes, and ``guard`` refuses to write
over one.

Originals: every ``*-device.*`` file, and the ``completions.parquet`` / ``metrics.json`` of an evaluation folder that
has no ``-device`` copy and was not re-asked (``reask.json``: scripts/reask.py replaced some of its answers).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..models.registry import sha256_file as sha256

MANIFEST = "results/headline/device-originals.json"


def originals(headline: Path) -> list[Path]:
    out = set(headline.rglob("*-device.*"))
    for ev in (d for d in headline.glob("*/eval*") if d.is_dir() and d.parent.name != "reask"):
        if (ev / "NOT_RECOMPUTABLE").exists():      # the first headline runs: eval/completions_<model>.parquet
            out |= set(ev.glob("completions_*.parquet")) | ({ev / "metrics.json"} if (ev / "metrics.json").exists()
                                                            else set())
            continue                                # (their sub-folders, e.g. rescored/, are amendments)
        for folder in {p.parent for p in ev.glob("*/completions.parquet")}:
            if (folder / "reask.json").exists() or any(folder.glob("*-device.*")):
                continue
            out |= {folder / n for n in ("completions.parquet", "metrics.json") if (folder / n).exists()}
    return sorted(out)


def manifest(root: Path, headline: str = "results/headline") -> dict[str, str]:
    return {str(p.relative_to(root)): sha256(p) for p in originals(root / headline)}


def write_manifest(root: Path) -> Path:
    path = root / MANIFEST
    path.write_text(json.dumps({"what": "the device's original files under results/headline with their sha256 "
                                        "(rarelang.analysis.originals): no amendment may change one",
                                "files": manifest(root)}, indent=1) + "\n")
    return path


def changed(root: Path) -> list[str]:
    """Originals whose bytes differ from the manifest, or that are missing from it."""
    listed = json.loads((root / MANIFEST).read_text())["files"]
    now = manifest(root)
    out = [f"{p}: changed (sha256 {h[:12]}…, listed {listed[p][:12]}…)" for p, h in now.items()
           if p in listed and listed[p] != h]
    out += [f"{p}: missing" for p in listed if not (root / p).exists()]
    out += [f"{p}: a device original not in {MANIFEST}" for p in now if p not in listed and p.endswith(
        ("-device.parquet", "-device.json"))]
    return out


class OverwriteRefused(RuntimeError):
    pass


def guard(path: Path, root: Path) -> Path:
    """``path`` if an amendment may write it; OverwriteRefused if it is one of the device's originals."""
    path = Path(path).resolve()
    if "-device." in path.name:
        raise OverwriteRefused(f"{path}: a device original (*-device.*); write the amendment beside it")
    mpath = root / MANIFEST
    if mpath.exists():
        listed = {(root / p).resolve() for p in json.loads(mpath.read_text())["files"]}
        if path in listed:
            raise OverwriteRefused(f"{path}: a device original ({MANIFEST}); write the amendment to another file")
    return path
