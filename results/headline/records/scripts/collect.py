#!/usr/bin/env python3
"""Put what a headline run brought back from the GPU machine into results/headline/<lang>/.

    python scripts/gpu/collect.py DIR [DIR ...] [--out results/headline] [--models-dir models]

Each DIR is a folder the device tool filled from $OUT; the bundle pieces
(bundle-<lang>.tar.partNN + bundle-<lang>.sha256, from `headline.sh <lang> bundle`) are
reassembled and checked. Written per language:
  train/<run>/{log_history.csv,log_history.json,config.json,summary.json}
  eval/{metrics.json (base + trained), paired.json, completions_base.parquet, completions_trained.parquet}
The trained adapter goes to <models-dir>/<run>/adapter (weights are not committed).
Logs from before `timing_per` was recorded in config.json averaged the timings over the
micro-steps of an optimizer step; they are scaled by gradient_accumulation_steps here (noted in the
summary as timing_corrected_by).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path

import pandas as pd

from rarelang.evaluate.compare import describe, paired_report
from rarelang.train.run import summarize, write_history

TIMING = ("timing/generation_s", "timing/reward_s_total", "timing/scoring_other_s", "timing/loss_backward_s")


def join_pieces(dirs: Path | list[Path], stem: str, sha_name: str) -> bytes:
    """The pieces STEM.partNN, joined in name order and checked against the sha256 in SHA_NAME. What is larger
    than one device call brings back (64 MiB) comes in several calls, so the pieces may lie in several of the
    folders; a piece found twice must be the same bytes."""
    dirs = [dirs] if isinstance(dirs, Path) else list(dirs)
    pieces: dict[str, bytes] = {}
    sha = None
    for d in dirs:
        for p in d.glob(f"{stem}.part*"):
            data = p.read_bytes()
            if pieces.setdefault(p.name, data) != data:
                raise SystemExit(f"{p}: differs from the piece of the same name in another folder")
        if sha is None and (d / sha_name).is_file():
            sha = (d / sha_name).read_text().split()[0]
    where = ", ".join(map(str, dirs))
    if sha is None:
        raise SystemExit(f"no {sha_name} in {where}")
    data = b"".join(pieces[k] for k in sorted(pieces))
    if hashlib.sha256(data).hexdigest() != sha:
        raise SystemExit(f"{stem}: incomplete or corrupt (sha256 mismatch; {len(pieces)} piece(s): "
                         f"{', '.join(sorted(pieces)) or 'none'}; in {where})")
    return data


def join_bundle(dirs: Path | list[Path], name: str) -> bytes:
    """The pieces bundle-NAME.tar.partNN (`headline.sh … bundle`, `bundle-more`), checked against bundle-NAME.sha256."""
    return join_pieces(dirs, f"bundle-{name}.tar", f"bundle-{name}.sha256")


def bundles(dirs: list[Path]) -> dict[str, bytes]:
    names = sorted({sha.name[len("bundle-"):-len(".sha256")] for d in dirs for sha in d.glob("bundle-*.sha256")})
    return {lang: join_bundle(dirs, lang) for lang in names}


def correct_timing(history: list[dict], config: dict) -> int:
    """Scale the per-micro-step averages of old logs to per optimizer step; returns the factor."""
    if config.get("timing_per") == "optimizer step":
        return 1
    ga = int((config.get("grpo_args") or {}).get("gradient_accumulation_steps", 1))
    if ga > 1:
        for h in history:
            for k in TIMING:
                if k in h:
                    h[k] *= ga
    return ga


def collect(lang: str, data: bytes, out: Path, models: Path) -> dict:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    root = f"results/{lang}/"
    runs = {n.split("/")[3] for n in files if n.startswith(root + "train/")}
    if len(runs) != 1:
        raise SystemExit(f"bundle-{lang}: expected one training run, found {sorted(runs)}")
    (run,) = runs
    dest = out / lang
    if dest.exists():
        shutil.rmtree(dest)
    tdir, edir = dest / "train" / run, dest / "eval"
    tdir.mkdir(parents=True)
    edir.mkdir(parents=True)
    src = f"{root}train/{run}/"
    history = json.loads(files[src + "log_history.json"])
    config = json.loads(files[src + "config.json"])
    factor = correct_timing(history, config)
    summary = json.loads(files[src + "summary.json"])
    summary.update(summarize(history))
    if factor > 1:
        summary["timing_corrected_by"] = factor
    write_history(tdir, history)           # (+ validation.csv where the run validated; the first headline did not)
    (tdir / "config.json").write_bytes(files[src + "config.json"])
    (tdir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    metrics, frames = {}, []
    for model in ("base", "trained"):
        m = f"{root}eval_{model}/"
        if m + "metrics.json" not in files:
            print(f"bundle-{lang}: no {model} evaluation", file=sys.stderr)
            continue
        metrics.update(json.loads(files[m + "metrics.json"]))
        (edir / f"completions_{model}.parquet").write_bytes(files[m + "completions.parquet"])
        frames.append(pd.read_parquet(edir / f"completions_{model}.parquet"))
    (edir / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    paired = paired_report(pd.concat(frames, ignore_index=True)) if frames else {}
    (edir / "paired.json").write_text(json.dumps(paired, indent=1) + "\n")
    adir = models / run / "adapter"
    adir.mkdir(parents=True, exist_ok=True)
    for name, blob in files.items():
        if name.startswith(f"models/{run}/adapter/"):
            (adir / Path(name).name).write_bytes(blob)
    return {"run": run, "steps": summary.get("global_step"), "paired": paired}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("results/headline"))
    ap.add_argument("--models-dir", type=Path, default=Path("models"))
    args = ap.parse_args()
    found = bundles(args.dirs)
    if not found:
        raise SystemExit("no bundle-<lang>.sha256 in " + ", ".join(map(str, args.dirs)))
    for lang, data in found.items():
        r = collect(lang, data, args.out, args.models_dir)
        print(f"{lang}: {r['run']}, {r['steps']} steps → {args.out / lang}", file=sys.stderr)
        for key, d in r["paired"].items():
            print(f"  {key}: {describe(d)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
