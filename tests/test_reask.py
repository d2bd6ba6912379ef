"""scripts/reask.py: the held-out problems a stored evaluation asked in another language (the task-id mix-up
before 2026-11-25) are selected from the split, re-asked, and their answers put in place of the old ones."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from reask import merge, select  # noqa: E402

from rarelang.prompts import INSTRUCTION  # noqa: E402

ASK = {lang: INSTRUCTION.format(display=d, fence=lang, prompt="p") for lang, d in (("julia", "Julia"), ("r", "R"))}


def _frame(model, cells, asked=None):
    """cells: {(lang, task): [passed, ...]} → one row per sample, asked in its own language unless ``asked``."""
    rows = []
    for (lang, task), passes in cells.items():
        for i, ok in enumerate(passes):
            rows.append({"model": model, "suite": "heldout", "protocol": "chat", "setting": "t0.2", "lang": lang,
                         "task_id": task, "sample": i, "passed": ok, "status": "passed" if ok else "tests_failed",
                         "prompt": ASK[(asked or {}).get((lang, task), lang)], "completion": "c"})
    return pd.DataFrame(rows)


def test_select_finds_the_problems_asked_in_another_language():
    stored = _frame("base", {("julia", "a"): [0, 0], ("julia", "b"): [1, 0], ("r", "a"): [1, 1]},
                    asked={("julia", "a"): "r"})
    split = pd.DataFrame({"lang": ["julia", "julia", "r"], "task_id": ["a", "b", "a"]})
    assert select([stored], split).to_dict("records") == [{"lang": "julia", "task_id": "a"}]


def test_merge_replaces_only_the_re_asked_cells_and_keeps_the_stored_model_name():
    stored = _frame("trained", {("julia", "a"): [0, 0], ("julia", "b"): [1, 0], ("r", "a"): [1, 1]},
                    asked={("julia", "a"): "r"})
    new = pd.concat([_frame("unified-0.5b", {("julia", "a"): [1, 0]}), _frame("base", {("julia", "a"): [0, 0]})])
    merged, rep = merge(stored, new, "unified-0.5b")
    assert set(merged["model"]) == {"trained"} and len(merged) == len(stored)
    a = merged[(merged.lang == "julia") & (merged.task_id == "a")]
    assert list(a["passed"]) == [1, 0] and (a["prompt"] == ASK["julia"]).all()
    assert rep["replaced_rows"] == 2 and rep["still_asked_elsewhere"] == 0
    assert rep["heldout/julia"] == {"before": 0.25, "after": 0.5}
    with pytest.raises(ValueError, match="another number of samples"):
        merge(stored, _frame("unified-0.5b", {("julia", "a"): [1, 0, 1]}), "unified-0.5b")
    with pytest.raises(ValueError, match="asked in another language"):
        merge(stored, _frame("m", {("julia", "a"): [1, 0]}, asked={("julia", "a"): "r"}), "m")
    with pytest.raises(ValueError, match="no answers of model"):
        merge(stored, new, "nobody")


def test_merge_cli_writes_the_frame_its_metrics_and_a_report(tmp_path):
    stored = _frame("trained", {("julia", "a"): [0, 0], ("julia", "b"): [1, 0], ("r", "a"): [1, 1]},
                    asked={("julia", "a"): "r"})
    (tmp_path / "stored").mkdir()
    stored.to_parquet(tmp_path / "stored" / "completions.parquet")
    _frame("run", {("julia", "a"): [1, 1]}).to_parquet(tmp_path / "new.parquet")
    r = subprocess.run([sys.executable, "scripts/reask.py", "-q", "merge", str(tmp_path / "stored" / "completions.parquet"),
                        str(tmp_path / "new.parquet"), "--model", "run", "-o", str(tmp_path / "out")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["trained/heldout/t0.2/julia"]["pass@1"] == pytest.approx(0.75)
    assert m["trained/heldout/t0.2/r"]["pass@1"] == pytest.approx(1.0)
    assert json.loads((tmp_path / "out" / "reask.json").read_text())["replaced_problems"] == 1


def test_reasked_names_every_committed_frame_with_answers_asked_in_another_language():
    """REASKED (which stored frame each re-ask model stands in for) covers every committed evaluation frame that
    held mis-asked answers: since the re-ask was applied (2026-12-04) none holds any, and exactly REASKED's frames
    carry the reask.json that `reask.py apply` writes; the re-ask configs name exactly its models."""
    import yaml
    from reask import REASKED
    from rarelang.evaluate.compare import asked_elsewhere
    root = REPO / "results" / "headline"
    mixed = set()
    for p in root.rglob("completions.parquet"):
        df = pd.read_parquet(p)
        if {"prompt", "model", "suite"} <= set(df.columns) and "prepass" not in p.parts and asked_elsewhere(df).any():
            mixed.add(str(p.relative_to(root)))
    assert mixed == set(), mixed
    applied = {str((p.parent / "completions.parquet").relative_to(root)) for p in root.rglob("reask.json")}
    assert applied == {frame for frame, _ in REASKED.values()}
    names = set()
    for size in ("0.5b", "1.5b"):
        cfg = yaml.safe_load((REPO / "results/headline/records/configs" / f"gpu-eval-v2-reask-julia-{size}.yaml").read_text())
        models = cfg["evaluate.models"]
        names |= set(models)
        assert all(n.endswith(size) or f"-{size}-" in n for n in models), models
        for name, m in models.items():     # the adapter a model is evaluated with is the one that made its frame
            adapter = REASKED[name][1]
            assert (m.get("adapter") is None) == (adapter is None), name
            if adapter:
                assert m["adapter"] == f"/root/stage/reask-adapters/{name}", name
                assert (root / adapter / "adapter_model.safetensors").exists(), adapter
    assert names == set(REASKED)


def test_apply_merges_each_model_into_the_frame_it_stands_in_for(tmp_path, monkeypatch):
    import reask
    root = tmp_path / "headline"
    stored = {"base-0.5b": _frame("base", {("julia", "a"): [0, 0], ("r", "a"): [1, 0]}, asked={("julia", "a"): "r"}),
              "r-0.5b": _frame("trained", {("julia", "a"): [0, 0], ("r", "a"): [1, 1]}, asked={("julia", "a"): "r"})}
    full = {"base-0.5b": ("u/eval/base/completions.parquet", None),
            "r-0.5b": ("r/eval/trained/completions.parquet", "r/adapter"),
            "base-1.5b": ("v/eval/base/completions.parquet", None)}
    table = {m: frame for m, (frame, _) in full.items()}
    for model, rel in table.items():
        (root / rel).parent.mkdir(parents=True)
        stored.get(model, stored["base-0.5b"]).to_parquet(root / rel)
    (root / "r" / "adapter").mkdir()
    for f in reask.ADAPTER_FILES + ("README.md",):
        (root / "r" / "adapter" / f).write_text(f)
    monkeypatch.setattr(reask, "REASKED", full)
    # stage: the mis-asked problems' split rows and the adapters, where a device call carries them
    split = pd.DataFrame({"lang": ["julia", "julia", "r"], "task_id": ["a", "b", "a"], "prompt": "p", "solution": "s",
                          "tests": "t", "source": "x"})
    split.to_parquet(tmp_path / "test.parquet")
    monkeypatch.setattr(sys, "argv", ["reask.py", "-q", "stage", "--heldout", str(tmp_path / "test.parquet"),
                                      "--root", str(root), "-o", str(tmp_path / "gpu")])
    assert reask.main() == 0
    staged = pd.read_parquet(tmp_path / "gpu" / "data" / "test-reask-julia.parquet")
    assert staged[["lang", "task_id"]].to_dict("records") == [{"lang": "julia", "task_id": "a"}]
    assert sorted(p.name for p in (tmp_path / "gpu" / "reask-adapters").iterdir()) == ["r-0.5b"]
    assert sorted(p.name for p in (tmp_path / "gpu" / "reask-adapters" / "r-0.5b").iterdir()) == sorted(reask.ADAPTER_FILES)
    # apply: each model's answers into the frame it stands in for
    new = pd.concat([_frame("base-0.5b", {("julia", "a"): [1, 0]}), _frame("r-0.5b", {("julia", "a"): [1, 1]})])
    new.to_parquet(tmp_path / "new.parquet")
    monkeypatch.setattr(sys, "argv", ["reask.py", "-q", "apply", str(tmp_path / "new.parquet"), "--root", str(root)])
    assert reask.main() == 0
    base = pd.read_parquet(root / table["base-0.5b"])
    trained = pd.read_parquet(root / table["r-0.5b"])
    assert set(base["model"]) == {"base"} and set(trained["model"]) == {"trained"}
    assert list(base[base.lang == "julia"]["passed"]) == [1, 0] and list(trained[trained.lang == "julia"]["passed"]) == [1, 1]
    m = json.loads((root / "r/eval/trained/metrics.json").read_text())
    assert m["trained/heldout/t0.2/julia"]["pass@1"] == pytest.approx(1.0)
    assert json.loads((root / "u/eval/base/reask.json").read_text())["replaced_rows"] == 2
    untouched = pd.read_parquet(root / table["base-1.5b"])        # no base-1.5b answers: left as it was
    assert not (root / "v/eval/base/reask.json").exists() and list(untouched["passed"]) == [0, 0, 1, 0]
    # a model that stands in for no stored frame is refused before anything is written
    _frame("r-0.5b-typo", {("julia", "a"): [1, 1]}).to_parquet(tmp_path / "bad.parquet")
    monkeypatch.setattr(sys, "argv", ["reask.py", "-q", "apply", str(tmp_path / "bad.parquet"), "--root", str(root)])
    with pytest.raises(SystemExit, match="stand in for no stored frame"):
        reask.main()
