"""scripts/gpu/pin_heldout.py: the held-out problems the headline evaluations asked are pinned by name, so that a
split staged on another machine (the seed validation differs by a row or two between machines) is evaluated on
the same problems, in the same order."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "gpu"))
from pin_heldout import apply_pin, pinned  # noqa: E402

from rarelang.evaluate.run import sample_per_language  # noqa: E402
from rarelang.evaluate.suites import Problem  # noqa: E402


def _split(ids):
    return pd.DataFrame({"task_id": [t for _, t in ids], "lang": [lang for lang, _ in ids], "prompt": "p",
                         "solution": "s", "tests": "t", "source": "x"})


def _sample(split, n):
    probs = [Problem(t, lang, "p", "t", "instruct") for lang, t in zip(split["lang"], split["task_id"])]
    return [(p.lang, p.task_id) for p in sample_per_language(probs, n, seed=0)]


def test_a_pinned_sample_survives_one_row_more_in_the_split():
    ids = [(lang, f"{lang}{i:03d}") for lang in ("julia", "r") for i in range(60)]
    old = _split(ids)
    asked = _sample(old, 20)
    frame = pd.DataFrame({"suite": "heldout", "lang": [lang for lang, _ in asked], "task_id": [t for _, t in asked]})
    pin = pinned(frame)
    new = _split(ids[:7] + [("julia", "julia007b")] + ids[7:])      # one more validated row on another machine
    assert _sample(new, 20) != asked                                  # the positional sample moves
    assert _sample(apply_pin(new, pin), 20) == asked                  # the pinned rows give the same problems, in order
    with pytest.raises(ValueError, match="not in the split"):
        apply_pin(_split(ids[1:]), {"julia": ["julia000"]})


def test_the_pin_is_what_every_committed_evaluation_asked():
    pin = json.loads((REPO / "results" / "headline" / "heldout.json").read_text())["task_ids"]
    frames = [p for p in (REPO / "results" / "headline").glob("*/eval*/*/completions.parquet")]
    seen = 0
    for p in frames:
        df = pd.read_parquet(p, columns=["suite", "lang", "task_id"])
        h = df[df["suite"] == "heldout"]
        for lang, g in h.groupby("lang"):
            assert sorted(set(g["task_id"])) == pin[lang], p
            seen += 1
    assert seen >= 10 and {k: len(v) for k, v in pin.items()} == {"julia": 400, "r": 400}


def test_apply_cli_writes_the_pinned_rows(tmp_path):
    ids = [("julia", "a"), ("r", "a"), ("julia", "b"), ("r", "c")]
    _split(ids).to_parquet(tmp_path / "split.parquet")
    (tmp_path / "pin.json").write_text(json.dumps({"task_ids": {"julia": ["b"], "r": ["a"]}}))
    r = subprocess.run([sys.executable, "scripts/gpu/pin_heldout.py", "apply", str(tmp_path / "split.parquet"),
                        "-o", str(tmp_path / "test.parquet"), "--pin", str(tmp_path / "pin.json")],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = pd.read_parquet(tmp_path / "test.parquet")
    assert list(zip(got["lang"], got["task_id"])) == [("r", "a"), ("julia", "b")]
    (tmp_path / "pin.json").write_text(json.dumps({"task_ids": {"julia": ["zz"]}}))
    r = subprocess.run([sys.executable, "scripts/gpu/pin_heldout.py", "apply", str(tmp_path / "split.parquet"),
                        "-o", str(tmp_path / "t2.parquet"), "--pin", str(tmp_path / "pin.json")],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "not in the split" in r.stderr
