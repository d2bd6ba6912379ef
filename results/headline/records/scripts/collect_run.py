#!/usr/bin/env python3
"""Put what a headline-v2 run's bundle brought back into results/headline/<run>/, and check its manifests.

    python scripts/gpu/collect_run.py RUN DIR [DIR ...] [--out results/headline] [--data-root .gpu/data]

Each DIR is a folder the device tool filled from $OUT; the pieces bundle-RUN.tar.partNN and
bundle-RUN.sha256 (`headline.sh RUN bundle`, `bundle-more`) are joined across them and checked. Where a
machine ended without a bundle, what it did hand out is taken instead, later sources winning: the files
`headline.sh RUN wait` copied (RUN-TAG-{metrics.json,timings.json,completions.parquet},
trainer_state-RUN.json, {log_history,summary,config,validation}-RUN.{json,csv}, TAG-RUN.log,
manifest-*.json), then the run's packed results folder (results-RUN.tgz, `headline.sh RUN pack`; the
newest folder's), then a bundle. The adapter, where no bundle brings one: the pieces `WAIT_ADAPTER=1
headline.sh RUN wait` handed out (adapter-RUN-checkpoint-N.{partNN,sha256,config.json}) of the checkpoint
the newest trainer_state names as best (else the highest N), joined and checked against their sha256.
Written (added to what is there: another machine's evaluation, the README, stay):
  train/        the training's log_history.{csv,json}, summary.json, config.json, validation.csv,
                completions.parquet, the newest checkpoint's trainer_state.json, FINGERPRINT
  eval/<name>/  each evaluation's metrics.json, timings.json, completions.parquet (heldout-trained →
                trained, multipl-e-trained → trained-multipl-e, heldout-base → base, multipl-e-base →
                base-multipl-e; other tags keep their name)
  logs/         train.log (its last 200 kB) and each evaluation's log as eval-<tag>.log
  adapter/      the bundled adapter (bf16), or the one WAIT_ADAPTER handed out (adapter/CHECKPOINT names it)
  (a part whose logs did not come back, only WAIT_ADAPTER's trainer_state: train/log_history, validation.csv and
  summary.json derived from that trainer_state, config.json resolved from params.yaml + the run's overlays)
  manifests/    every manifest-*.json the run wrote, and CHECK.txt: what `scripts/manifest.py check`
                finds different in this repository (and under --data-root) from what made the run, for the
                manifests this collect brought (with the commit it compared with); the others keep the verdict
                recorded when they came
Exit 1 when a manifest check finds a difference (the files are written all the same).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))   # scripts/gpu: collect.py beside this file

import yaml  # noqa: E402
from collect import join_bundle, join_pieces  # noqa: E402
from rarelang import manifest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EVAL_NAMES = {"heldout-trained": "trained", "multipl-e-trained": "trained-multipl-e", "heldout-base": "base",
              "multipl-e-base": "base-multipl-e"}
EVAL_FILES = ("metrics.json", "timings.json", "completions.parquet")
LOG_TAIL = 200_000


def read_bundle(run: str, dirs: list[Path]) -> dict[str, bytes]:
    """The bundle's files; its pieces may come from several calls' folders (4 pieces per call)."""
    with tarfile.open(fileobj=io.BytesIO(join_bundle(dirs, run))) as tar:
        return {m.name.removeprefix("./"): tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def loose_files(run: str, dirs: list[Path]) -> dict[str, bytes]:
    """What `wait` copied to $OUT, under the names the bundle would give it (later folders win)."""
    out: dict[str, bytes] = {}
    res = f"results/{run}/"
    train = {f"{stem}-{run}.{ext}": f"{res}train/{run}/{stem}.{ext}"        # copy_train's names
             for stem in ("log_history", "summary", "config", "validation") for ext in ("json", "csv")}
    for d in dirs:
        for p in sorted(d.iterdir()):
            n = p.name
            if not p.is_file():
                continue
            evalfile = next((f for f in EVAL_FILES if n.startswith(f"{run}-") and n.endswith(f"-{f}")), None)
            if evalfile:
                out[f"{res}{n[len(run) + 1:-len(evalfile) - 1]}/{evalfile}"] = p.read_bytes()
            elif n == f"trainer_state-{run}.json":
                out["trainer_state.json"] = p.read_bytes()
            elif n.startswith("manifest-") and n.endswith(".json"):
                out[f"{res}{n}"] = p.read_bytes()
            elif n.endswith(f"-{run}.log"):
                out[f"{res}{n[:-len(run) - 5]}.log"] = p.read_bytes()
            elif n in train:
                out[train[n]] = p.read_bytes()
    return out


def read_pack(run: str, dirs: list[Path]) -> dict[str, bytes]:
    """results-RUN.tgz (`headline.sh RUN pack`: the run's results folder) of the last folder that has one,
    under the names a bundle gives the same files (results/RUN/...)."""
    packs = [d / f"results-{run}.tgz" for d in dirs if (d / f"results-{run}.tgz").is_file()]
    if not packs:
        return {}
    try:
        with tarfile.open(packs[-1], "r:gz") as tar:
            return {f"results/{m.name.removeprefix('./')}": tar.extractfile(m).read()
                    for m in tar.getmembers() if m.isfile() and m.name.removeprefix("./").startswith(f"{run}/")}
    except (tarfile.TarError, OSError, EOFError) as e:
        raise SystemExit(f"{packs[-1]}: not a readable results pack ({e})") from e


def handed_adapter(run: str, dirs: list[Path], files: dict[str, bytes]) -> dict[str, bytes]:
    """The adapter WAIT_ADAPTER handed out (adapter-RUN-checkpoint-N.partNN, joined and sha256-checked by
    join_pieces, with its .config.json) of the checkpoint the newest trainer_state names as best, else of the
    highest N handed out."""
    prefix = f"adapter-{run}-checkpoint-"
    handed = {int(n) for d in dirs for p in d.glob(f"{prefix}*")
              if (n := p.name[len(prefix):].partition(".")[0]).isdigit()}
    if not handed:
        return {}
    best = (json.loads(files["trainer_state.json"]).get("best_model_checkpoint") or "") \
        if "trainer_state.json" in files else ""
    tail = best.rsplit("checkpoint-", 1)[-1]
    n = int(tail) if "checkpoint-" in best and tail.isdigit() and int(tail) in handed else max(handed)
    out = {"adapter/adapter_model.safetensors": join_pieces(dirs, f"{prefix}{n}", f"{prefix}{n}.sha256"),
           "adapter/CHECKPOINT": f"checkpoint-{n}\n".encode()}
    config = next((d / f"{prefix}{n}.config.json" for d in dirs if (d / f"{prefix}{n}.config.json").is_file()), None)
    if config is not None:
        out["adapter/adapter_config.json"] = config.read_bytes()
    return out


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


def derive_train(run: str, dest: Path) -> list[str]:
    """A part whose own logs did not come back (the machine went back while it trained, leaving only what
    `WAIT_ADAPTER=1 wait` handed out): train/log_history.{json,csv}, validation.csv and summary.json made from
    the newest trainer_state.json (its log_history is what train/run.py writes them from; summary.json says
    ``"derived_from"``), and train/config.json resolved from params.yaml and the run's two overlays
    (``"reconstructed_from"``: the device's own resolved config did not come back). Nothing is written where the
    run's own summary is there (one derived before is renewed). Returns what was written (relative to dest)."""
    tdir = dest / "train"
    state_path = tdir / "trainer_state.json"
    own = tdir / "summary.json"
    if not state_path.exists() or (own.exists() and "derived_from" not in json.loads(own.read_text())):
        return []
    from rarelang.params_check import apply_overlay
    from rarelang.train.run import resolve_config, summarize, write_history
    state = json.loads(state_path.read_text())
    history = state.get("log_history") or []
    written = [f"train/{name}" for name in write_history(tdir, history)]

    def put(name: str, text: str) -> None:
        (tdir / name).write_text(text)
        written.append(f"train/{name}")

    # the checkpoint's own step count; wall time and start-up are not in a trainer_state
    summary = {"run_name": run, "global_step": state.get("global_step"), "wall_s": None, "startup_s": None,
               "resumed_from": None, "best_checkpoint": state.get("best_model_checkpoint"), **summarize(history),
               "derived_from": "trainer_state.json of the newest checkpoint handed out (the run's summary did "
                               "not come back)"}
    put("summary.json", json.dumps(summary, indent=1) + "\n")
    overlays = [REPO / "configs" / "gpu-headline.yaml", REPO / "configs" / f"gpu-headline-{run}.yaml"]
    if all(o.exists() for o in overlays):
        params = yaml.safe_load((REPO / "params.yaml").read_text()) or {}
        for o in overlays:
            params = apply_overlay(params, yaml.safe_load(o.read_text()) or {})
        cfg = {"train": json.loads(json.dumps(resolve_config(params), default=str)),
               "reconstructed_from": ["params.yaml"] + [str(o.relative_to(REPO)) for o in overlays]
               + [f"at {_checked_at()}"]}
        put("config.json", json.dumps(cfg, indent=1) + "\n")
    return written


def _checked_at() -> str:
    """The commit the check compares with (and whether the checkout differs from it)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.strip()
        return f"commit {head}" + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "a checkout without git"


def _blocks(text: str) -> dict[str, list[str]]:
    """CHECK.txt's entries: each manifest's verdict line and its indented differences."""
    out: dict[str, list[str]] = {}
    for ln in text.splitlines():
        if ln and not ln.startswith(" "):
            out[ln.split(":", 1)[0]] = [ln]
        elif out:
            out[list(out)[-1]].append(ln)
    return out


def check_manifests(dest: Path, data_root: Path | None, fresh: set[str] | None = None) -> list[str]:
    """Check the run's manifests against this checkout and write manifests/CHECK.txt. ``fresh``: the manifests
    just collected; the others keep the verdict CHECK.txt recorded when they came (re-checked today they would
    list every later code change as a difference). Returns the lines of the manifests checked now."""
    cpath = dest / "manifests" / "CHECK.txt"
    kept = _blocks(cpath.read_text()) if cpath.exists() else {}
    lines, now, differences = [], [], 0
    at = _checked_at()
    for mpath in sorted((dest / "manifests").glob("manifest-*.json")):
        if fresh is not None and mpath.name not in fresh and mpath.name in kept:
            lines += kept[mpath.name]
            continue
        problems = manifest.check(json.loads(mpath.read_text()), REPO, data_root)
        differences += len(problems)
        block = [f"{mpath.name}: " + ("the repository holds what made it" if not problems
                                      else f"{len(problems)} difference(s)") + f" (checked against {at})"]
        block += [f"  {p}" for p in problems]
        lines += block
        now += block
    if lines:
        cpath.write_text("\n".join(lines) + "\n")
    return now if differences else [ln for ln in now if not ln.startswith("  ")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="the run's name (configs/gpu-headline-RUN.yaml)")
    ap.add_argument("dirs", nargs="+", type=Path, help="folders the device calls filled (bundle pieces, `wait` copies)")
    ap.add_argument("--out", type=Path, default=REPO / "results" / "headline")
    ap.add_argument("--data-root", type=Path, help="the carried data (e.g. .gpu/data) to check the manifests' data against")
    a = ap.parse_args(argv)
    files = loose_files(a.run, a.dirs)
    files.update(read_pack(a.run, a.dirs))
    if any((d / f"bundle-{a.run}.sha256").is_file() for d in a.dirs):
        files.update(read_bundle(a.run, a.dirs))
    elif not files:
        raise SystemExit(f"no bundle-{a.run}.sha256, results-{a.run}.tgz or anything `wait` copied for {a.run} in "
                         + ", ".join(map(str, a.dirs)))
    if not any(k.startswith("adapter/") for k in files):
        files.update(handed_adapter(a.run, a.dirs, files))
    dest = a.out / a.run
    written = place(a.run, files, dest)
    written += derive_train(a.run, dest)
    print(f"collect_run: {len(written)} file(s) → {dest}", file=sys.stderr)
    for rel in written:
        print(f"  {rel}", file=sys.stderr)
    report = check_manifests(dest, a.data_root, {Path(w).name for w in written if w.startswith("manifests/")})
    for line in report:
        print(line)
    if not report:
        print("collect_run: the bundle has no manifest (runs before 2026-11-25)", file=sys.stderr)
    return 1 if any(ln.startswith("  ") for ln in report) else 0


if __name__ == "__main__":
    sys.exit(main())
