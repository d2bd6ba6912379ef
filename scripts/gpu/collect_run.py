#!/usr/bin/env python3
"""Put what a headline-v2 run's bundle brought back into results/headline/<run>/, and check its manifests.

    python scripts/gpu/collect_run.py RUN DIR [DIR ...] [--out results/headline] [--data-root .gpu/data]

Each DIR is a folder the device tool filled from $OUT; the pieces bundle-RUN.tar.partNN and
bundle-RUN.sha256 (`headline.sh RUN bundle`) are joined and checked. Written (added to what is there:
another machine's evaluation, the README, stay):
  train/        the training's log_history.{csv,json}, summary.json, config.json, validation.csv,
                completions.parquet, the newest checkpoint's trainer_state.json, FINGERPRINT
  eval/<name>/  each evaluation's metrics.json, timings.json, completions.parquet (heldout-trained →
                trained, multipl-e-trained → trained-multipl-e, other tags keep their name)
  logs/         train.log (its last 200 kB) and each evaluation's log as eval-<tag>.log
  adapter/      the bundled adapter (bf16)
  manifests/    every manifest-*.json the run wrote, and CHECK.txt: what `scripts/manifest.py check`
                finds different in this repository (and under --data-root) from what made the run
Exit 1 when a manifest check finds a difference (the files are written all the same).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))   # scripts/gpu: collect.py beside this file

from collect import join_bundle  # noqa: E402
from rarelang import manifest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EVAL_NAMES = {"heldout-trained": "trained", "multipl-e-trained": "trained-multipl-e"}
EVAL_FILES = ("metrics.json", "timings.json", "completions.parquet")
LOG_TAIL = 200_000


def read_bundle(run: str, dirs: list[Path]) -> dict[str, bytes]:
    """The bundle's files; its pieces may come from several calls' folders (4 pieces per call)."""
    with tarfile.open(fileobj=io.BytesIO(join_bundle(dirs, run))) as tar:
        return {m.name.removeprefix("./"): tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def place(run: str, files: dict[str, bytes], dest: Path) -> list[str]:
    """Write the bundle's files into dest; returns what was written (relative to dest)."""
    written = []

    def put(rel: str, blob: bytes) -> None:
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(blob)
        written.append(rel)

    res = f"results/{run}/"
    train = f"{res}train/{run}/"
    for name, blob in files.items():
        if name.startswith(train) and "/" not in name[len(train):]:
            put(f"train/{name[len(train):]}", blob)
        elif name in ("trainer_state.json", "FINGERPRINT"):
            put(f"train/{name}", blob)
        elif name.startswith("adapter/"):
            put(name, blob)
        elif name.startswith(res) and name.endswith(".log"):
            tag = name[len(res):-len(".log")]
            put("logs/train.log" if tag == "train" else f"logs/eval-{tag}.log", blob[-LOG_TAIL:])
        elif name.startswith(res + "manifest-") and name.endswith(".json"):
            put(f"manifests/{name[len(res):]}", blob)
        elif name.startswith(res) and name.count("/") == 3 and Path(name).name in EVAL_FILES:
            tag = name[len(res):].split("/")[0]
            put(f"eval/{EVAL_NAMES.get(tag, tag)}/{Path(name).name}", blob)
    return sorted(written)


def check_manifests(dest: Path, data_root: Path | None) -> list[str]:
    lines, differences = [], 0
    for mpath in sorted((dest / "manifests").glob("manifest-*.json")):
        problems = manifest.check(json.loads(mpath.read_text()), REPO, data_root)
        differences += len(problems)
        lines.append(f"{mpath.name}: " + ("the repository holds what made it" if not problems
                                          else f"{len(problems)} difference(s)"))
        lines += [f"  {p}" for p in problems]
    if lines:
        (dest / "manifests" / "CHECK.txt").write_text("\n".join(lines) + "\n")
    return lines if differences else [ln for ln in lines if not ln.startswith("  ")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="the run's name (configs/gpu-headline-RUN.yaml)")
    ap.add_argument("dirs", nargs="+", type=Path, help="folders holding the bundle pieces")
    ap.add_argument("--out", type=Path, default=REPO / "results" / "headline")
    ap.add_argument("--data-root", type=Path, help="the carried data (e.g. .gpu/data) to check the manifests' data against")
    a = ap.parse_args(argv)
    files = read_bundle(a.run, a.dirs)
    dest = a.out / a.run
    written = place(a.run, files, dest)
    print(f"collect_run: {len(written)} file(s) → {dest}", file=sys.stderr)
    for rel in written:
        print(f"  {rel}", file=sys.stderr)
    report = check_manifests(dest, a.data_root)
    for line in report:
        print(line)
    if not report:
        print("collect_run: the bundle has no manifest (runs before 2026-11-25)", file=sys.stderr)
    return 1 if any(ln.startswith("  ") for ln in report) else 0


if __name__ == "__main__":
    sys.exit(main())
