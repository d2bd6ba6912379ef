"""`dvc metrics show` is what a researcher compares experiments with: only numbers, and few of them (pass@1 and the
paired difference per suite, reward, yield). Reports with command lines, rule texts or verdict tables are plain
outputs, read in their READMEs."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def flat(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flat(v, f"{prefix}.{k}" if prefix else k)
    else:
        yield prefix, obj


def test_metrics_are_few_numbers():
    r = subprocess.run([sys.executable, "-m", "dvc", "metrics", "show", "--json"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    files = next(iter(json.loads(r.stdout).values()))["data"]
    read = {f: x["data"] for f, x in files.items() if "data" in x}
    assert "results/metrics.json" in read and any(f.startswith("results/headline/") for f in read), sorted(files)
    columns = set()
    for f, data in read.items():
        for key, value in flat(data):
            assert value is None or isinstance(value, (int, float)), f"{f}: {key} = {value!r} is not a number"
            columns.add(key)
    assert len(columns) <= 100, f"`dvc metrics show` has {len(columns)} columns"
