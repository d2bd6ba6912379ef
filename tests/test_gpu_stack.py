"""The GPU stack's CPU-testable parts: the device lock, the start-up watchdog, the benchmark
records, and the vLLM evaluation wiring (against a stand-in `vllm` module: no GPU here)."""

import json
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "device"))


# ------------------------------------------------------------------ device lock
def test_device_lock_pins_every_carried_package_with_a_hash():
    from check_stack import read_lock
    carried, provided = read_lock(REPO / "requirements" / "device.lock")
    assert carried["vllm"] == "0.26.0" and carried["trl"] == "1.15.0"
    assert provided["torch"] == "2.11.0" and provided["transformers"] == "5.17.0"
    lines = [ln for ln in (REPO / "requirements" / "device.lock").read_text().splitlines()
             if ln and not ln.startswith("#")]
    assert len(lines) == len(carried)
    assert all(" --hash=sha256:" in ln and len(ln.split("sha256:")[1]) == 64 for ln in lines)


def test_check_stack_reports_a_version_mismatch(tmp_path):
    from check_stack import check
    import yaml
    lock = tmp_path / "lock"
    lock.write_text(f"# provided: pyyaml=={yaml.__version__}\npytest==0.0.1 --hash=sha256:{'0' * 64}\n")
    report = check(lock, imports=())
    assert not report["ok"]
    assert any(p.startswith("pytest: ") and "0.0.1" in p for p in report["problems"])
    assert not any(p.startswith("pyyaml") for p in report["problems"])


def test_unsloth_lock_agrees_with_the_device_lock_and_checks_if_missing_pins_loosely(tmp_path):
    from check_stack import check, read_lock
    carried, provided = read_lock(REPO / "requirements" / "device-unsloth.lock")
    base, _ = read_lock(REPO / "requirements" / "device.lock")
    assert carried["unsloth"] == carried["unsloth-zoo"]
    # Unsloth accepts trl <= 1.15.0: the device lock's TRL must be one it accepts
    assert tuple(int(x) for x in base["trl"].split(".")) <= (1, 15, 0)
    assert provided["torchvision"] == "*" and "torchvision" not in carried
    lines = [ln for ln in (REPO / "requirements" / "device-unsloth.lock").read_text().splitlines()
             if ln and not ln.startswith("#")]
    assert all(" --hash=sha256:" in ln for ln in lines) and len(lines) == len(carried) + len(provided)
    # an `if-missing` pin is satisfied by any installed version, but not by none
    import yaml
    lock = tmp_path / "lock"
    lock.write_text(f"pyyaml==0.0.1 --hash=sha256:{'0' * 64}  # if-missing: yaml\n"
                    f"no-such-dist==1.0 --hash=sha256:{'0' * 64}  # if-missing: no_such_dist\n")
    problems = check(lock, imports=())["problems"]
    assert not any(p.startswith("pyyaml") for p in problems), (yaml.__version__, problems)
    assert any(p.startswith("no-such-dist: not installed") for p in problems)


def test_cluster_locks_pin_what_ran_on_the_device():
    """gpu.lock / unsloth.lock (full resolutions for a cluster env) agree with the device locks."""
    import re
    from check_stack import read_lock

    def pins(path):
        return {m.group(1).lower(): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", path.read_text(), re.M)}
    carried, provided = read_lock(REPO / "requirements" / "device.lock")
    ran = {**carried, **{k: v for k, v in provided.items() if v != "*"}}
    u_carried, _ = read_lock(REPO / "requirements" / "device-unsloth.lock")
    for lock, extra in (("gpu.lock", {}), ("unsloth.lock", u_carried)):
        got = pins(REPO / "requirements" / lock)
        for name in ("vllm", "trl", "torch", "transformers", "peft", "accelerate", "datasets", *extra):
            want = {**ran, **extra}[name]
            assert got.get(name) == want, f"{lock}: {name} {got.get(name)} but the device ran {want}"


# ------------------------------------------------------------------ watchdog
def _script(tmp_path, body: str) -> list[str]:
    f = tmp_path / "child.py"
    f.write_text(textwrap.dedent(body))
    return [sys.executable, str(f)]


def test_watchdog_restarts_a_hung_engine_start(tmp_path):
    from rarelang.watchdog import supervise
    tries = tmp_path / "tries"
    cmd = _script(tmp_path, f"""
        import pathlib, sys, time
        sys.path.insert(0, {str(REPO / 'src')!r})
        from rarelang.watchdog import engine_starting
        t = pathlib.Path({str(tries)!r}); n = int(t.read_text()) if t.exists() else 0; t.write_text(str(n + 1))
        with engine_starting("fake engine"):
            time.sleep(60 if n == 0 else 0.1)      # the first start hangs, the second does not
        sys.exit(7)
        """)
    messages = []
    t0 = time.time()
    rc = supervise(cmd, startup_timeout_s=1.5, retries=1, poll_s=0.2, log=lambda *a, **k: messages.append(a[0]))
    assert rc == 7 and tries.read_text() == "2"
    assert time.time() - t0 < 30 and "hung" in messages[0]


def test_watchdog_gives_up_after_its_retries_and_leaves_finished_commands_alone(tmp_path):
    from rarelang.watchdog import supervise
    hang = _script(tmp_path, f"""
        import sys, time
        sys.path.insert(0, {str(REPO / 'src')!r})
        from rarelang.watchdog import engine_starting
        with engine_starting("always hangs"):
            time.sleep(60)
        """)
    assert supervise(hang, startup_timeout_s=0.5, retries=1, poll_s=0.1, log=lambda *a, **k: None) == 124
    slow_but_no_engine = [sys.executable, "-c", "import time; time.sleep(1.0)"]
    assert supervise(slow_but_no_engine, startup_timeout_s=0.2, retries=0, poll_s=0.1) == 0


def test_engine_marker_is_a_no_op_without_a_watchdog(monkeypatch, tmp_path):
    from rarelang.watchdog import MARKER_ENV, engine_starting
    monkeypatch.delenv(MARKER_ENV, raising=False)
    with engine_starting("x"):
        pass
    marker = tmp_path / "m"
    monkeypatch.setenv(MARKER_ENV, str(marker))
    with engine_starting("y"):
        assert json.loads(marker.read_text())["label"] == "y"
    assert not marker.exists()


# ------------------------------------------------------------------ benchmark records
HIST = [{"step": i, "step_time": t, "timing/generation_s": g, "timing/reward_s_total": 0.5,
         "timing/loss_backward_s": 1.0, "timing/scoring_other_s": 0.1, "reward": 0.0}
        for i, (t, g) in enumerate([(60.0, 50.0), (4.0, 2.0), (5.0, 3.0), (3.0, 1.0)], 1)] + [{"train_runtime": 1}]


def test_bench_record_takes_medians_after_warmup():
    from rarelang.train.bench import bench_record
    grpo = {"num_generations": 8, "per_device_train_batch_size": 32, "gradient_accumulation_steps": 2,
            "max_completion_length": 384, "use_vllm": True}
    rec = bench_record(HIST, grpo, device="H100", gpus=1, backend="transformers", langs=["r"], label="x")
    assert rec["prompts_per_step"] == 8 and rec["steps"] == 3 and rec["warmup_steps"] == 1
    assert rec["step_s"] == 4.0 and rec["generation_s"] == 2.0       # the 60 s warm-up step is left out
    assert rec["completions_per_s"] == 16.0 and rec["use_vllm"] is True
    rec2 = bench_record(HIST, grpo, device="H200", gpus=2, backend="transformers", langs=["r"])
    assert rec2["prompts_per_step"] == 16                              # per device × processes
    with pytest.raises(ValueError, match="warm-up"):
        bench_record(HIST[:1], grpo, device="H100", gpus=1, backend="transformers", langs=["r"])


def test_append_record_replaces_the_same_label(tmp_path):
    from rarelang.train.bench import append_record
    out = tmp_path / "b.json"
    append_record(out, {"label": "a", "v": 1})
    append_record(out, {"label": "b", "v": 2})
    runs = append_record(out, {"label": "a", "v": 3})
    assert [(r["label"], r["v"]) for r in runs] == [("b", 2), ("a", 3)]
    assert json.loads(out.read_text()) == runs


# ------------------------------------------------------------------ vLLM evaluation wiring
@pytest.fixture()
def fake_vllm(monkeypatch):
    """A stand-in for vllm's offline API that records engine starts and requests."""
    starts, calls = [], []

    class LLM:
        def __init__(self, model, enable_lora=False, **kw):
            starts.append({"model": model, "enable_lora": enable_lora, **kw})

        def chat(self, messages, params, lora_request=None, use_tqdm=True):
            calls.append(("chat", len(messages), lora_request))
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f"c{j}") for j in range(p.n)])
                    for p in params]

        generate = chat

    class SamplingParams:
        def __init__(self, n=1, **kw):
            self.n, self.kw = n, kw

    class LoRARequest:
        def __init__(self, name, i, path):
            self.name, self.path = name, path

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = LLM, SamplingParams
    lora_mod = types.ModuleType("vllm.lora.request")
    lora_mod.LoRARequest = LoRARequest
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.lora", types.ModuleType("vllm.lora"))
    monkeypatch.setitem(sys.modules, "vllm.lora.request", lora_mod)
    return starts, calls


def test_base_and_adapter_share_one_vllm_engine(fake_vllm, tmp_path):
    from rarelang.llm import make_generator
    starts, calls = fake_vllm
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 32}))
    engines: dict = {}
    lora = {str(model): 32}
    base = make_generator({"engine": "vllm", "model": str(model)}, tmp_path, engines, lora)
    trained = make_generator({"engine": "vllm", "model": str(model), "adapter": str(adapter)}, tmp_path, engines, lora)
    assert len(starts) == 1 and starts[0]["enable_lora"] is True and starts[0]["max_lora_rank"] == 32
    assert base.generate(["p1", "p2"], 3, 0.2, 16) == [["c0", "c1", "c2"]] * 2
    trained.generate(["p1"], 2, 0.2, 16)
    assert calls[0][2] is None and calls[1][2].path == str(adapter)    # base plain, trained through LoRARequest


def test_evaluation_records_generation_and_scoring_seconds(fake_vllm, tmp_path, pool):
    import pandas as pd
    from rarelang.evaluate.run import evaluate_model
    from rarelang.llm import make_generator
    from rarelang.evaluate.suites import Problem
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    gen = make_generator({"engine": "vllm", "model": str(model)}, tmp_path, {})
    probs = [Problem(task_id="t1", lang="r", prompt="Write f.", tests="stopifnot(TRUE)\n", kind="instruct")]
    df = evaluate_model("base", gen, probs, "heldout", {"name": "t", "n": 2, "temperature": 0.2}, pool,
                        max_tokens=8, timeout_s=5, seed=0, progress=False)
    t = df.attrs["timing"]
    assert isinstance(df, pd.DataFrame) and len(df) == 2
    assert t["backend"] == "vllm" and t["completions"] == 2 and t["generation_s"] >= 0 and t["scoring_s"] >= 0


def test_train_overrides_reach_every_section():
    """`--set unsloth.fast_inference=true` (bench_train, headline.sh) must change the unsloth section:
    a run on the device once measured TRL's vLLM while its record claimed Unsloth's fast_inference."""
    from rarelang.train.run import resolve_config
    params = {"train": {"languages": ["r"], "unsloth": {"fast_inference": False, "load_in_4bit": False},
                        "lora": {"r": 16, "alpha": 32}, "grpo": {"num_generations": 4}}}
    cfg = resolve_config(params, {"unsloth.fast_inference": True, "lora.r": 8, "grpo.max_steps": 3, "framework": "unsloth"})
    assert cfg["unsloth"] == {"fast_inference": True, "load_in_4bit": False}
    assert cfg["lora"] == {"r": 8, "alpha": 32}
    assert cfg["grpo"]["max_steps"] == 3 and cfg["grpo"]["num_generations"] == 4
    assert cfg["framework"] == "unsloth"
    assert params["train"]["unsloth"]["fast_inference"] is False      # the params are not modified


def test_bench_records_the_reward_workers_the_run_used_not_a_setting_or_the_cpu_count():
    from rarelang.train.bench import reward_workers
    # a run's resolved config.json: machine.workers "auto" resolved by the pool to 14
    assert reward_workers({"sandbox_workers_per_rank": 14, "machine": {"workers": "auto"}}) == 14
    assert reward_workers({"sandbox": {"workers": 6}}) == 6                 # a config from before the pool's count
    assert reward_workers({"machine": {"workers": "auto"}}) is None          # unknown: the caller says what it assumes


def device_env(tmp_path, stage):
    """What install.sh reads of the device profile, pointed at a temporary stage (scripts/device/profile.sh)."""
    import os
    prof = tmp_path / "device-test.yaml"
    prof.write_text(f"profile: {{gpu: true}}\ndevice: {{stage: {stage}, site: {tmp_path / 'site'}, r_root: {tmp_path / 'r'}, "
                    "out_files: 8, out_mib: 64, piece_mib: 15}\n")
    return {**os.environ, "DEVICE_PROFILE": str(prof), "PYTHON": sys.executable}


def test_two_models_staged_on_one_machine_keep_their_pieces_apart(tmp_path):
    """`install.sh model` gathers each carried folder's pieces in a folder of its own: the 0.5B and the 1.5B
    students were staged on one machine with their pieces interleaved across calls (2026-11-25). With one
    shared folder, the second model's pieces overwrote the first's and its sha256 check failed."""
    import hashlib
    import os
    import shutil
    stage, carried = tmp_path / "stage", {}
    for name in ("model", "model-1.5b"):
        whole = f"weights of {name}\n".encode() * 1000
        d = tmp_path / "src" / name
        d.mkdir(parents=True)
        pieces = [whole[:len(whole) // 2], whole[len(whole) // 2:]]
        for i, piece in enumerate(pieces):
            (d / f"part{i:02d}").write_bytes(piece)
        (d / "SHA256SUMS").write_text("".join(f"{hashlib.sha256(p).hexdigest()}  part{i:02d}\n" for i, p in enumerate(pieces)))
        (d / "WHOLE.sha256").write_text(hashlib.sha256(whole).hexdigest() + "\n")
        (d / "NAME").write_text(f"{name}.gguf\n")
        carried[name] = (d, whole)

    def call(name, part):
        """One device call carrying one piece (and the sums) of one model's folder."""
        src, _ = carried[name]
        dest = tmp_path / "call" / ".gpu" / name
        shutil.rmtree(tmp_path / "call", ignore_errors=True)
        dest.mkdir(parents=True)
        for f in (part, "SHA256SUMS", "WHOLE.sha256", "NAME"):
            shutil.copy(src / f, dest / f)
        return subprocess.run(["bash", str(REPO / "scripts/device/install.sh"), "model"], cwd=tmp_path / "call",
                              env={**device_env(tmp_path, stage), "MODEL_PIECES": f".gpu/{name}"},
                              capture_output=True, text=True, timeout=60)

    for name, part in (("model", "part00"), ("model-1.5b", "part00"), ("model", "part01"), ("model-1.5b", "part01")):
        r = call(name, part)
        assert r.returncode == 0, r.stdout + r.stderr
    for name, (_, whole) in carried.items():
        assert (stage / "models" / "gguf" / f"{name}.gguf").read_bytes() == whole


def test_reask_adapters_gather_on_the_device_call_after_call(tmp_path):
    """`install.sh adapters`: each call carries a few of the re-ask adapters (.gpu/reask-adapters/<model>/, 17 MB
    at 0.5B, 37 MB at 1.5B: not all in one call's 64 MiB); they gather in $STAGE/reask-adapters/, where the
    re-ask configs name them. A folder without its weights is not installed."""
    import os
    import shutil
    stage = tmp_path / "stage"

    def call(**folders):
        shutil.rmtree(tmp_path / "call", ignore_errors=True)
        for name, files in folders.items():
            d = tmp_path / "call" / ".gpu" / "reask-adapters" / name
            d.mkdir(parents=True)
            for f in files:
                (d / f).write_text(f"{name}/{f}")
        return subprocess.run(["bash", str(REPO / "scripts/device/install.sh"), "adapters"], cwd=tmp_path / "call",
                              env=device_env(tmp_path, stage), capture_output=True, text=True, timeout=60)

    both = ("adapter_config.json", "adapter_model.safetensors", "README.md")
    r = call(**{"r-0.5b": both, "r-0.5b-long": ("adapter_config.json",)})
    assert r.returncode == 0 and "1 adapter(s) carried" in r.stdout, r.stdout + r.stderr
    r = call(**{"unified-0.5b": both})
    assert r.returncode == 0 and "r-0.5b unified-0.5b" in r.stdout, r.stdout + r.stderr
    assert sorted(p.name for p in (stage / "reask-adapters").iterdir()) == ["r-0.5b", "unified-0.5b"]
    assert (stage / "reask-adapters" / "r-0.5b" / "adapter_model.safetensors").read_text() == "r-0.5b/adapter_model.safetensors"
    assert not (stage / "reask-adapters" / "r-0.5b" / "README.md").exists()


def test_julia_is_unpacked_where_the_profile_says(tmp_path):
    """`install.sh julia` puts the carried prefix where the profile's machine.julia_bin points (no device path in
    the script), and refuses a julia_bin that is not the carried prefix's."""
    import hashlib
    import io
    import lzma
    import tarfile
    stage, opt = tmp_path / "stage", tmp_path / "opt"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        body = b"#!/bin/sh\necho fake julia ran\n"
        ti = tarfile.TarInfo("julia-1.5.3/usr/bin/julia")
        ti.size, ti.mode = len(body), 0o755
        tar.addfile(ti, io.BytesIO(body))
    piece = lzma.compress(buf.getvalue())
    call = tmp_path / "call"
    (call / ".gpu" / "julia").mkdir(parents=True)
    (call / ".gpu" / "julia" / "part00").write_bytes(piece)
    (call / ".gpu" / "julia" / "SHA256SUMS").write_text(f"{hashlib.sha256(piece).hexdigest()}  part00\n")
    env = device_env(tmp_path, stage)
    prof = Path(env["DEVICE_PROFILE"])
    prof.write_text(prof.read_text() + f"machine: {{julia_bin: {opt / 'julia-1.5.3/usr/bin/julia'}}}\n")
    r = subprocess.run(["bash", str(REPO / "scripts/device/install.sh"), "julia"], cwd=call, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (opt / "julia-1.5.3/usr/bin/julia").is_file() and "fake julia ran" in r.stdout
    prof.write_text(prof.read_text().replace("julia-1.5.3/usr/bin/julia", "julia/bin/julia"))
    r = subprocess.run(["bash", str(REPO / "scripts/device/install.sh"), "julia"], cwd=call, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "julia-1.5.3/usr/bin/julia" in r.stderr
