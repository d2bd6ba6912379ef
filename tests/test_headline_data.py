"""The headline runs' training data is a DVC output reproducible row for row: the md5 that
`dvc repro pipelines/headline/dvc.yaml:data` (and prepass_filter@r) recorded in the committed lock equals the md5
that every headline run's manifest recorded for the file it trained and validated on, on the rented GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "pipelines" / "headline" / "dvc.lock"
# the name a manifest gave the file on the GPU machine -> the DVC output that is that file now
OUTPUT_OF = {
    "train.parquet": ("data", "data/seed-v2/processed/train.parquet"),
    "validation.parquet": ("data", "data/seed-v2/processed/validation.parquet"),
    "train-r-filtered.parquet": ("prepass_filter@r", "data/seed-v2/processed/train-r-filtered.parquet"),
}


def lock_md5(stage: str, path: str) -> str | None:
    stages = yaml.safe_load(LOCK.read_text())["stages"]
    if stage not in stages:
        return None
    return next((o["md5"] for o in stages[stage].get("outs", []) if o["path"] == path), None)


def manifest_data_files() -> list[tuple[str, str, str]]:
    """(manifest, file name on the GPU machine, md5) for every training/validation file a manifest names."""
    found = []

    def walk(obj, manifest):
        if isinstance(obj, dict):
            name = Path(str(obj.get("path", ""))).name
            if name in OUTPUT_OF and "md5" in obj:
                found.append((manifest, name, obj["md5"]))
            for v in obj.values():
                walk(v, manifest)
        elif isinstance(obj, list):
            for v in obj:
                walk(v, manifest)

    for f in sorted((ROOT / "results" / "headline").glob("*/manifests/manifest-*.json")):
        walk(json.loads(f.read_text()), f.relative_to(ROOT).as_posix())
    return found


def test_manifests_name_the_training_data():
    files = manifest_data_files()
    if not (ROOT / "results" / "headline").is_dir():
        pytest.skip("results/headline is not on disk (scripts/device/slim.sh on)")
    # every run since 2026-11-25 wrote manifests; each names at least its validation split
    assert {n for _, n, _ in files} >= {"train.parquet", "validation.parquet", "train-r-filtered.parquet"}


@pytest.mark.parametrize("name", sorted(OUTPUT_OF))
def test_the_dvc_output_is_the_file_the_runs_used(name):
    if not (ROOT / "results" / "headline").is_dir():
        pytest.skip("results/headline is not on disk (scripts/device/slim.sh on)")
    stage, path = OUTPUT_OF[name]
    got = lock_md5(stage, path)
    assert got is not None, f"{LOCK.name} records no {path} for stage {stage}: run dvc repro -s pipelines/headline/dvc.yaml:{stage}"
    used = {(m, md5) for m, n, md5 in manifest_data_files() if n == name}
    assert used, f"no manifest names {name}"
    wrong = sorted(m for m, md5 in used if md5 != got)
    assert not wrong, f"{path} in the lock is {got}; these runs used another file: {wrong}"
