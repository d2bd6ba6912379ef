#!/usr/bin/env python3
"""Cap an evaluation's vLLM memory share at what the GPU has free, as an overlay for apply_config.py.

    python3 scripts/device/vllm_share.py PARAMS --models trained [-o OVERLAY] [--free-mib N --total-mib N]

vLLM refuses to start when the GPU's free memory is below `gpu_memory_utilization` × its total
("Free memory on device … is less than desired GPU memory utilization"). Next to a 1.5B trainer and
its colocated engine 29.8 of 79.2 GiB were free and the evaluation asked for 0.4 (31.7 GiB): it died
at start-up and the run's last device call waited for nothing (results/headline/r-1.5b/README.md).
This reads each evaluated model's share from PARAMS (`evaluate.models.<m>.vllm.gpu_memory_utilization`)
and, where it exceeds free/total − margin, writes the overlay line that lowers it (floored to 0.01);
nothing when every share fits. A share below --min (0.1) is refused: the engine would have no room
for its cache, so say so now rather than after minutes of start-up. Free and total memory come from
nvidia-smi unless given.
"""

import argparse
import math
import subprocess
import sys
from pathlib import Path

import yaml


def gpu_memory_mib() -> tuple[float, float]:
    """(free, total) MiB of GPU 0, from nvidia-smi."""
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.free,memory.total", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    free, total = (float(x) for x in out.splitlines()[0].split(","))
    return free, total


def capped_shares(params: dict, models: list[str], free_mib: float, total_mib: float,
                  margin: float = 0.03, minimum: float = 0.1) -> dict[str, float]:
    """{model: new share} for the models whose configured share does not fit in the free memory."""
    if total_mib <= 0:
        raise ValueError(f"total GPU memory {total_mib} MiB")
    fits = math.floor((free_mib / total_mib - margin) * 100) / 100
    out = {}
    for m in models:
        spec = ((params.get("evaluate") or {}).get("models") or {}).get(m)
        if spec is None:
            raise KeyError(f"evaluate.models has no {m!r}")
        if spec.get("engine", "auto") not in ("vllm", "auto"):
            continue          # no vLLM engine (transformers, an API, replayed answers): no share to cap
        share = float(((spec.get("vllm") or {}).get("gpu_memory_utilization")) or 0.9)   # vLLM's default
        if share > fits:
            if fits < minimum:
                raise RuntimeError(f"only {free_mib:.0f} of {total_mib:.0f} MiB free: a share of {fits:.2f} "
                                   f"(< {minimum}) leaves {m}'s vLLM engine no room for its cache")
            out[m] = fits
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("params", type=Path)
    ap.add_argument("--models", required=True, help="comma-separated: base, trained or base,trained")
    ap.add_argument("-o", "--output", type=Path, help="overlay file to write (default: print it)")
    ap.add_argument("--free-mib", type=float)
    ap.add_argument("--total-mib", type=float)
    ap.add_argument("--margin", type=float, default=0.03, help="share left unused (default 0.03)")
    ap.add_argument("--min", type=float, default=0.1, dest="minimum", help="smallest share worth starting (0.1)")
    args = ap.parse_args(argv)
    if (args.free_mib is None) != (args.total_mib is None):
        ap.error("give both --free-mib and --total-mib, or neither")
    free, total = (args.free_mib, args.total_mib) if args.free_mib is not None else gpu_memory_mib()
    params = yaml.safe_load(args.params.read_text()) or {}
    models = [m for m in args.models.split(",") if m]
    try:
        caps = capped_shares(params, models, free, total, args.margin, args.minimum)
    except (KeyError, RuntimeError, ValueError) as e:
        print(f"vllm_share: {e}", file=sys.stderr)
        return 1
    text = "".join(f"evaluate.models.{m}.vllm.gpu_memory_utilization: {s}\n" for m, s in caps.items())
    for m, s in caps.items():
        print(f"vllm_share: {m}'s vLLM share lowered to {s} ({free:.0f} of {total:.0f} MiB free)", file=sys.stderr)
    if args.output:
        args.output.write_text(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
