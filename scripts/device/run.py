#!/usr/bin/env python3
"""The rented-GPU executor: runs the one command there and moves files. Nothing here decides what is computed
(the experiment does) or where things lie on that machine (configs/profiles/device.yaml does); the limits of
what one device call brings back (OUT_FILES files, OUT_MIB MiB) live only here.

    bash scripts/device/run.sh start EXPERIMENT STAGE [--max-wall-s S]
                                                        `rarelang run EXPERIMENT STAGE --profile device` in the
                                                        background (it outlives the call; log and pid in $STAGE/jobs);
                                                        S: a training part's budget for this machine, over the
                                                        profile's machine.max_wall_s (500 s: one call's worth)
    bash scripts/device/run.sh wait [SECONDS]           until every background job ended, or SECONDS (540) passed
    bash scripts/device/run.sh pack EXPERIMENT [FROM]   the experiment's results folder (train, adapter, eval,
                                                        resolved params; no checkpoints) as pieces into $OUT: the
                                                        first call hands out pieces 0.., FROM the next ones
    bash scripts/device/run.sh state EXPERIMENT [FROM]  the run's newest checkpoint (optimizer included), likewise
    bash scripts/device/run.sh restore                  unpack state pieces carried under .gpu/state*/ (another
                                                        machine's `state`) into models/

Here, `python scripts/device/collect.py FOLDER [FOLDER ...]` joins what came back (pieces of one pack may come in
several calls' folders), checks it and unpacks it into the checkout. docs/GPU.md has the calls of one machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("RARELANG_CHECKOUT") or Path(__file__).resolve().parents[2])   # tests: another checkout
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from rarelang.experiments import PROFILE_ENV, Experiment, Profile  # noqa: E402


def env_int(name: str) -> int:
    v = os.environ.get(name)
    if not v:
        sys.exit(f"run: ${name} is not set (source scripts/device/profile.sh: the device profile's `device` section)")
    return int(v)


def stage_dir() -> Path:
    s = os.environ.get("STAGE")
    if not s:
        sys.exit("run: $STAGE is not set (source scripts/device/profile.sh)")
    return Path(s)


def jobs_dir() -> Path:
    d = stage_dir() / "jobs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text()), 0)
        return True
    except (OSError, ValueError):
        return False


def wall_profile(max_wall_s: float, tag: str) -> Path:
    """The device profile with a training part's budget for this machine (machine.max_wall_s), as a file beside the
    job's log: a background job outlives its call, not the machine. The resolved params record the budget and the
    profile's name (``<profile>-wall<S>``)."""
    if max_wall_s <= 0:
        sys.exit(f"run: --max-wall-s {max_wall_s:g}: the machine has no time left for a training part")
    import yaml
    base = os.environ.get(PROFILE_ENV) or "device"
    path = Path(base) if base.endswith(".yaml") else ROOT / "configs" / "profiles" / f"{base}.yaml"
    data = yaml.safe_load(path.read_text())
    data.setdefault("machine", {})["max_wall_s"] = float(max_wall_s)
    out = jobs_dir() / f"{Path(base).stem}-wall{max_wall_s:g}.yaml"
    out.write_text(f"# {path.name} with machine.max_wall_s for {tag} (scripts/device/run.py start --max-wall-s)\n"
                   + yaml.safe_dump(data, sort_keys=False))
    Profile.load(str(out), ROOT)         # still a valid profile: fails here, not in the background
    return out


def start(experiment: str, stage: str, max_wall_s: float | None = None) -> int:
    Experiment.load(experiment, ROOT)       # a wrong name fails here, not in the background
    tag = f"{experiment}-{stage}"
    pid, log = jobs_dir() / f"{tag}.pid", jobs_dir() / f"{tag}.log"
    if pid.exists() and alive(pid):
        print(f"run: {tag} already running (pid {pid.read_text().strip()})")
        return 0
    cmd = [sys.executable, "-m", "rarelang.watchdog", "--startup-timeout", os.environ.get("STARTUP_TIMEOUT", "240"),
           "--retries", "1", "--", sys.executable, "-m", "rarelang.cli", "run", experiment, stage, "-q"]
    env = dict(os.environ)
    if max_wall_s is not None:
        env[PROFILE_ENV] = str(wall_profile(max_wall_s, tag))
    with open(log, "ab") as out:
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, env=env)
    pid.write_text(f"{p.pid}\n")
    t0 = jobs_dir() / "T0"
    if not t0.exists():
        t0.touch()          # what `pack` hands out: files written since the machine's first job started
    print(f"run: {tag} started (pid {p.pid}, log {log})")
    return 0


def wait(seconds: float) -> int:
    deadline = time.time() + seconds
    while True:
        running = [p.stem for p in sorted(jobs_dir().glob("*.pid")) if alive(p)]
        for log in sorted(jobs_dir().glob("*.log")):
            lines = log.read_text(errors="replace").replace("\r", "\n").strip().splitlines()
            print(f"[{time.strftime('%H:%M:%S')}] {log.stem}: {lines[-1][:200] if lines else ''}")
        if not running:
            print("run: nothing running")
            return 0
        left = deadline - time.time()
        if left <= 0:
            print(f"run: still running: {' '.join(running)}")
            return 0
        time.sleep(min(60.0, left))


def newer_files(folder: Path, since: float) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.stat().st_mtime >= since
                  and not p.name.endswith(".pid"))


def pieces(src_files: list[tuple[Path, str]], name: str, first: int) -> int:
    """Pack ``src_files`` (path, name in the archive) as one tar.gz in ≤ PIECE_MIB pieces under $STAGE/out-<name>,
    and copy pieces ``first``.. into $OUT: at most OUT_FILES - 1 of them and OUT_MIB in all, with SHA256SUMS."""
    out = Path(os.environ.get("OUT", stage_dir() / "out"))
    out.mkdir(parents=True, exist_ok=True)
    piece, files, mib = env_int("PIECE_MIB") << 20, env_int("OUT_FILES"), env_int("OUT_MIB") << 20
    work = stage_dir() / f"pack-{name}"
    if first == 0 or not (work / "SHA256SUMS").exists():
        work.mkdir(parents=True, exist_ok=True)
        for old in work.glob("*"):
            old.unlink()
        tgz = work / "whole.tgz"
        with tarfile.open(tgz, "w:gz") as tar:
            for path, arc in src_files:
                tar.add(path, arcname=arc, filter=lambda ti: None if ti.name.endswith(".pid") else ti)
        data = tgz.read_bytes()
        tgz.unlink()
        sums = []
        for i in range(0, max(len(data), 1), piece):
            part = work / f"{name}.part{i // piece:03d}"
            part.write_bytes(data[i:i + piece])
            sums.append(f"{hashlib.sha256(part.read_bytes()).hexdigest()}  {part.name}")
        (work / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    parts = sorted(work.glob(f"{name}.part*"))
    (out / f"{name}.SHA256SUMS").write_text((work / "SHA256SUMS").read_text())
    handed, size = 0, (out / f"{name}.SHA256SUMS").stat().st_size
    for part in parts[first:]:
        if handed >= files - 1 or size + part.stat().st_size > mib:
            break
        (out / part.name).write_bytes(part.read_bytes())
        handed, size = handed + 1, size + part.stat().st_size
    nxt = first + handed
    print(f"run: {name}: pieces {first}..{nxt - 1} of {len(parts)} in $OUT"
          + (f"; the rest with FROM={nxt}" if nxt < len(parts) else " (all)"))
    return 0


def pack(experiment: str, first: int) -> int:
    """What the experiment's stages wrote on this machine: the files of its results folders (and its own
    folder) written since the first job started — the committed files carried with the tree stay behind."""
    lay = Experiment.load(experiment, ROOT).layout(ROOT)
    t0 = jobs_dir() / "T0"
    since = t0.stat().st_mtime if t0.exists() else 0.0
    files = []
    for folder in dict.fromkeys([ROOT / lay.results, ROOT / lay.own]):
        if folder.exists():
            files += [(f, f.relative_to(ROOT).as_posix()) for f in newer_files(folder, since)]
    if not files:
        sys.exit(f"run: nothing new under {lay.results} or {lay.own}")
    return pieces(files, f"results-{experiment}", first)


def state(experiment: str, first: int) -> int:
    lay = Experiment.load(experiment, ROOT).layout(ROOT)
    from rarelang.train.run import whole_checkpoints    # here: the other commands need no training stack (pandas…)
    ck = whole_checkpoints(ROOT / lay.models / "checkpoints")     # one cut off mid-save could not be resumed
    if not ck:
        sys.exit(f"run: {lay.models} has no whole checkpoint yet")
    files = [(ck[-1], f"{lay.models}/checkpoints/{ck[-1].name}")]
    stamp = ROOT / lay.models / "checkpoints" / "FINGERPRINT"
    if stamp.exists():
        files.append((stamp, f"{lay.models}/checkpoints/FINGERPRINT"))
    return pieces(files, f"state-{experiment}", first)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("experiment")
    s.add_argument("stage")
    s.add_argument("--max-wall-s", type=float, default=None,
                   help="stop (and checkpoint) a training part after this many seconds, over the profile's "
                        "machine.max_wall_s: a background job outlives the call, not the machine, so give it what "
                        "the machine has left minus the time to pack")
    w = sub.add_parser("wait")
    w.add_argument("seconds", nargs="?", type=float, default=540)
    for name in ("pack", "state"):
        p = sub.add_parser(name)
        p.add_argument("experiment")
        p.add_argument("first", nargs="?", type=int, default=0, metavar="FROM")
    sub.add_parser("restore")
    args = ap.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.cmd == "start":
        return start(args.experiment, args.stage, args.max_wall_s)
    if args.cmd == "wait":
        return wait(args.seconds)
    if args.cmd == "pack":
        return pack(args.experiment, args.first)
    if args.cmd == "state":
        return state(args.experiment, args.first)
    from collect import unpack          # restore: the same joining as collect.py here
    folders = sorted(str(p) for p in (ROOT / ".gpu").glob("state*") if p.is_dir())
    return unpack(folders, ROOT)


if __name__ == "__main__":
    sys.exit(main())
