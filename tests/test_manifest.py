"""Run manifests: written from a resolved params file, checked against the repository."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from rarelang import manifest

sys.path.insert(0, str(Path(__file__).parent))
from bundle_pieces import tar_bytes, write_bundle  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _repo(tmp: Path) -> Path:
    repo = tmp / "repo"
    (repo / "src" / "rarelang" / "sub").mkdir(parents=True)
    (repo / "scripts").mkdir()
    (repo / "configs").mkdir()
    (repo / "src" / "rarelang" / "a.py").write_text("x = 1\n")
    (repo / "src" / "rarelang" / "sub" / "b.py").write_text("y = 2\n")
    (repo / "scripts" / "run.sh").write_text("echo run\n")
    (repo / "scripts" / "notes.txt").write_text("not code\n")
    (repo / "configs" / "over.yaml").write_text("train.grpo.max_steps: 3\n")
    return repo


def _params(tmp: Path) -> Path:
    data = tmp / "data"
    (data / "mpe").mkdir(parents=True)
    (data / "train.parquet").write_bytes(b"train rows")
    (data / "mpe" / "humaneval-r.jsonl").write_text("{}\n")
    # on the device the MultiPL-E folder is the whole stage folder: model pieces, adapters, logs
    (data / "mpe" / "model-pieces").mkdir()
    (data / "mpe" / "model-pieces" / "part00").write_bytes(b"gguf piece")
    (data / "mpe" / "convert.log").write_text("not an input\n")
    p = tmp / "params.yaml"
    p.write_text(yaml.safe_dump({"train": {"data": str(data / "train.parquet"), "validation": str(data / "gone.parquet")},
                                 "evaluate": {"multipl_e_dir": str(data / "mpe")},
                                 "machine": {"sandbox_backend": "none"}}))
    return p


def test_manifest_records_code_params_data_and_environment(tmp_path):
    repo, params = _repo(tmp_path), _params(tmp_path)
    m = manifest.build(repo, params, [Path("configs/over.yaml")], what="train", command="train-bg")
    assert set(m["code"]["files"]) == {"src/rarelang/a.py", "src/rarelang/sub/b.py", "scripts/run.sh"}
    assert m["code"]["md5"].endswith(".dir")
    assert m["params"]["overlays"] == {"configs/over.yaml": manifest.md5_file(repo / "configs" / "over.yaml")}
    assert m["params"]["resolved"]["train"]["data"].endswith("train.parquet")
    d = m["data"]
    assert d["train.data"]["md5"] == manifest.md5_file(tmp_path / "data" / "train.parquet")
    assert d["train.validation"] == {"path": str(tmp_path / "data" / "gone.parquet"), "missing": True}
    assert set(d["evaluate.multipl_e_dir"]["files"]) == {"humaneval-r.jsonl"}
    env = m["environment"]
    assert env["python"] and "pandas" in env["packages"] and "interpreters" in env
    assert manifest.check(m, repo, tmp_path / "data") == []            # nothing changed


def test_check_names_what_changed_since_the_run(tmp_path):
    repo, params = _repo(tmp_path), _params(tmp_path)
    m = manifest.build(repo, params, [Path("configs/over.yaml")])
    (repo / "src" / "rarelang" / "a.py").write_text("x = 2\n")
    (repo / "src" / "rarelang" / "sub" / "b.py").unlink()
    (repo / "scripts" / "new.py").write_text("pass\n")
    (repo / "configs" / "over.yaml").write_text("train.grpo.max_steps: 4\n")
    carried = tmp_path / "carried"
    carried.mkdir()
    (carried / "train.parquet").write_bytes(b"other rows")
    problems = manifest.check(m, repo, carried)
    assert "code: src/rarelang/a.py changed since the run" in problems
    assert "code: src/rarelang/sub/b.py was in the run, not in the repository" in problems
    assert "code: scripts/new.py is new since the run" in problems
    assert "params: overlay configs/over.yaml changed since the run" in problems
    assert any(p.startswith("data: train.data") and "differs" in p for p in problems)
    assert manifest.check({**m, "manifest_version": 99}, repo)[0].startswith("manifest version 99")


def test_cli_write_then_check_on_this_repository(tmp_path):
    params = _params(tmp_path)
    out = tmp_path / "m.json"
    run = [sys.executable, str(REPO / "scripts" / "manifest.py")]
    w = subprocess.run(run + ["write", "--params", str(params), "--overlay", "configs/gpu-headline.yaml",
                              "--what", "train", "-o", str(out)], capture_output=True, text=True, cwd=REPO)
    assert w.returncode == 0, w.stderr
    assert json.loads(out.read_text())["what"] == "train"
    c = subprocess.run(run + ["check", str(out)], capture_output=True, text=True, cwd=REPO)
    assert c.returncode == 0 and "holds what made it" in c.stdout, c.stdout + c.stderr
    bad = subprocess.run(run + ["write", "--params", str(tmp_path / "none.yaml"), "-o", str(out)],
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "no params file" in bad.stderr


def _collect_run_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("collect_run", REPO / "scripts" / "gpu" / "collect_run.py")
    cr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cr)
    return cr


def test_collect_run_places_a_bundle_and_checks_its_manifests(tmp_path):
    cr = _collect_run_module()
    params = _params(tmp_path)
    good = manifest.build(REPO, params, [Path("configs/gpu-headline.yaml")], what="train")
    stale = json.loads(json.dumps(good))
    stale["code"]["files"]["src/rarelang/manifest.py"] = "0" * 32
    run, res = "r-x", "./results/r-x/"
    members = {f"{res}train/r-x/summary.json": b"{}", f"{res}train/r-x/validation.csv": b"step\n",
               "./trainer_state.json": b"{}", "./FINGERPRINT": b"abc\n",
               "./adapter/adapter_config.json": b"{}", "./adapter/adapter_model.safetensors": b"w",
               f"{res}heldout-trained/metrics.json": b"{}", f"{res}heldout-trained/completions.parquet": b"p",
               f"{res}multipl-e-trained/metrics.json": b"{}", f"{res}train.log": b"x" * 300_000,
               f"{res}heldout-trained.log": b"log", f"{res}manifest-train.json": json.dumps(good).encode()}
    dev = write_bundle(tmp_path / "device", run, members)
    out = tmp_path / "headline"
    (out / run).mkdir(parents=True)
    (out / run / "README.md").write_text("kept")
    assert cr.main([run, str(dev), "--out", str(out)]) == 0
    d = out / run
    for rel in ("train/summary.json", "train/validation.csv", "train/trainer_state.json", "train/FINGERPRINT",
                "adapter/adapter_model.safetensors", "eval/trained/metrics.json", "eval/trained/completions.parquet",
                "eval/trained-multipl-e/metrics.json", "logs/eval-heldout-trained.log", "manifests/manifest-train.json"):
        assert (d / rel).is_file(), rel
    assert (d / "README.md").read_text() == "kept"                              # added to, not replaced
    assert len((d / "logs" / "train.log").read_bytes()) == 200_000              # the log's tail
    assert "holds what made it" in (d / "manifests" / "CHECK.txt").read_text()
    members[f"{res}manifest-train.json"] = json.dumps(stale).encode()
    dev2 = write_bundle(tmp_path / "again", run, members)
    assert cr.main([run, str(dev2), "--out", str(out)]) == 1                     # a changed file is named
    assert "src/rarelang/manifest.py changed since the run" in (d / "manifests" / "CHECK.txt").read_text()
    (dev / f"bundle-{run}.tar.part01").write_bytes(b"cut")
    import pytest
    with pytest.raises(SystemExit, match="corrupt"):
        cr.main([run, str(dev), "--out", str(out)])


def test_collect_run_takes_what_wait_copied_when_a_machine_ended_without_a_bundle(tmp_path):
    cr = _collect_run_module()
    run = "u-1.5b"
    m1, m2 = tmp_path / "call1", tmp_path / "call2"          # two calls' folders, as the device tool fills them
    m1.mkdir(), m2.mkdir()
    (m1 / f"{run}-heldout-base-metrics.json").write_text('{"b": 1}')
    (m1 / f"{run}-heldout-base-completions.parquet").write_bytes(b"base answers")
    (m1 / f"trainer_state-{run}.json").write_text('{"global_step": 100}')
    (m1 / f"log_history-{run}.csv").write_text("step\n1\n")
    (m1 / f"train-{run}.log").write_text("early")
    (m2 / f"trainer_state-{run}.json").write_text('{"global_step": 194}')    # a later call: newer
    (m2 / f"summary-{run}.json").write_text("{}")
    (m2 / f"{run}-heldout-trained-completions.parquet").write_bytes(b"trained answers")
    (m2 / f"{run}-he-r-base_trained-metrics.json").write_text("{}")
    (m2 / f"heldout-trained-{run}.log").write_text("log")
    (m2 / "unrelated.txt").write_text("x")
    out = tmp_path / "headline"
    assert cr.main([run, str(m1), str(m2), "--out", str(out)]) == 0
    d = out / run
    assert (d / "eval" / "base" / "metrics.json").read_text() == '{"b": 1}'
    assert (d / "eval" / "base" / "completions.parquet").read_bytes() == b"base answers"
    assert (d / "eval" / "trained" / "completions.parquet").read_bytes() == b"trained answers"
    assert (d / "eval" / "he-r-base_trained" / "metrics.json").is_file()
    assert json.loads((d / "train" / "trainer_state.json").read_text())["global_step"] == 194
    assert (d / "train" / "log_history.csv").is_file() and (d / "train" / "summary.json").is_file()
    assert (d / "logs" / "train.log").read_text() == "early" and (d / "logs" / "eval-heldout-trained.log").is_file()
    assert sorted(p.name for p in d.rglob("*") if p.is_file()) == sorted(
        ["metrics.json", "completions.parquet", "completions.parquet", "metrics.json", "trainer_state.json",
         "log_history.csv", "summary.json", "train.log", "eval-heldout-trained.log"])
    empty = tmp_path / "empty"
    empty.mkdir()
    import pytest
    with pytest.raises(SystemExit, match="anything `wait` copied"):
        cr.main([run, str(empty), "--out", str(out)])



def _hand_out(d, run, n, blob, pieces=3):
    """What `WAIT_ADAPTER=1 headline.sh RUN wait` writes for checkpoint-n: pieces, sha256, config."""
    import hashlib
    d.mkdir(exist_ok=True)
    size = -(-len(blob) // pieces)
    for i in range(pieces):
        (d / f"adapter-{run}-checkpoint-{n}.part{i:02d}").write_bytes(blob[i * size:(i + 1) * size])
    (d / f"adapter-{run}-checkpoint-{n}.sha256").write_text(hashlib.sha256(blob).hexdigest() + "\n")
    (d / f"adapter-{run}-checkpoint-{n}.config.json").write_text(f'{{"ck": {n}}}')


def test_collect_run_takes_a_results_pack_and_the_adapter_validation_chose(tmp_path):
    """r-1.5b (2026-11-25): the adapter came back as WAIT_ADAPTER pieces (one call), the run's results as one
    pack (the last call), and both were laid out by hand; collect_run now reads them."""
    import pytest
    cr = _collect_run_module()
    run = "r-9b"
    c1, c2, c3 = tmp_path / "call1", tmp_path / "call2", tmp_path / "call3"
    _hand_out(c1, run, 100, b"A" * 1000)
    _hand_out(c2, run, 200, b"B" * 1000)
    (c2 / f"summary-{run}.json").write_text('{"old": 1}')                      # superseded by the pack
    c3.mkdir()
    (c3 / f"trainer_state-{run}.json").write_text(json.dumps(
        {"global_step": 300, "best_model_checkpoint": f"/root/stage/models/{run}/checkpoints/checkpoint-100"}))
    members = {f"{run}/train/{run}/summary.json": b'{"new": 1}', f"{run}/train/{run}/completions.parquet": b"c",
               f"{run}/eval_v2r-trained/metrics.json": b"{}", f"{run}/eval_v2r-trained/completions.parquet": b"p",
               f"{run}/eval_v2r-trained.log": b"log", f"{run}/train.log": b"t"}
    pack = tar_bytes(members, "w:gz")
    (c3 / f"results-{run}.tgz").write_bytes(pack)
    out = tmp_path / "headline"
    assert cr.main([run, str(c1), str(c2), str(c3), "--out", str(out)]) == 0
    d = out / run
    # validation chose checkpoint 100 (the trainer_state says so), not the newest pieces (200)
    assert (d / "adapter" / "adapter_model.safetensors").read_bytes() == b"A" * 1000
    assert (d / "adapter" / "CHECKPOINT").read_text().strip() == "checkpoint-100"
    assert (d / "adapter" / "adapter_config.json").read_text() == '{"ck": 100}'
    assert json.loads((d / "train" / "summary.json").read_text()) == {"new": 1}
    assert (d / "train" / "completions.parquet").read_bytes() == b"c"
    assert (d / "eval" / "eval_v2r-trained" / "completions.parquet").read_bytes() == b"p"
    assert (d / "logs" / "eval-eval_v2r-trained.log").read_text() == "log"
    # without a trainer_state naming one: the highest checkpoint handed out
    out2 = tmp_path / "headline2"
    assert cr.main([run, str(c1), str(c2), "--out", str(out2)]) == 0
    assert (out2 / run / "adapter" / "adapter_model.safetensors").read_bytes() == b"B" * 1000
    # a missing piece is refused, not written as a shorter adapter
    (c2 / f"adapter-{run}-checkpoint-200.part01").unlink()
    with pytest.raises(SystemExit, match="checkpoint-200: incomplete or corrupt"):
        cr.main([run, str(c1), str(c2), "--out", str(tmp_path / "headline3")])
    (c3 / f"results-{run}.tgz").write_bytes(pack[:50])
    with pytest.raises(SystemExit, match="not a readable results pack"):
        cr.main([run, str(c3), "--out", str(tmp_path / "headline4")])


def test_collect_run_keeps_the_verdicts_of_manifests_it_did_not_bring(tmp_path):
    """Re-checking an old manifest against today's checkout lists every later code change as a difference
    (r-1.5b's CHECK.txt did, 2026-11-25): a later collect checks only the manifests it brought, keeps the
    recorded verdict of the others, and says which commit each check compared with."""
    cr = _collect_run_module()
    params = _params(tmp_path)
    good = manifest.build(REPO, params, [Path("configs/gpu-headline.yaml")], what="train")
    run, res = "r-y", "./results/r-y/"
    first = {f"{res}train/r-y/summary.json": b"{}", f"{res}manifest-train.json": json.dumps(good).encode()}
    out = tmp_path / "headline"
    assert cr.main([run, str(write_bundle(tmp_path / "d1", run, first)), "--out", str(out)]) == 0
    check = out / run / "manifests" / "CHECK.txt"
    assert "manifest-train.json: the repository holds what made it (checked against " in check.read_text()
    check.write_text("manifest-train.json: as recorded when it came\n")
    later = {f"{res}heldout-trained/metrics.json": b"{}",
             f"{res}manifest-heldout-trained.json": json.dumps({**good, "what": "heldout-trained"}).encode()}
    assert cr.main([run, str(write_bundle(tmp_path / "d2", run, later)), "--out", str(out)]) == 0
    text = check.read_text()
    assert "manifest-train.json: as recorded when it came" in text
    assert "manifest-heldout-trained.json: the repository holds what made it" in text
