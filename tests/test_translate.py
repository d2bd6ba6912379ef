"""Translate stage: cache hits/misses, resume after a kill (no duplicate or lost rows)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from rarelang.data.sample import normalize_acecode
from rarelang.translate.backends import TeacherBackend
from rarelang.translate.cache import ResponseCache, cache_key
from rarelang.translate.run import run_translate

ANSWER = {"julia": "### PROMPT\nWrite `{e}`.\n### SOLUTION\n```julia\n{e}(x) = x\n```\n### TESTS\n```julia\n"
                   "using Test\n@test {e}(1) == 1\n```\n",
          "r": "### PROMPT\nWrite `{e}`.\n### SOLUTION\n```r\n{e} <- function(x) x\n```\n### TESTS\n```r\n"
               "library(testthat)\ntest_that('a', expect_equal({e}(1), 1))\n```\n"}


class FakeTeacher(TeacherBackend):
    """Answers from the entry point in the user message; counts calls; optional delay."""

    name = "fake"
    model = "fake-1"

    def __init__(self, delay: float = 0.0, broken: set[str] = frozenset()):
        self.calls = 0
        self.delay = delay
        self.broken = broken

    def sampling(self):
        return {"temperature": 0.0, "top_p": 1.0, "max_tokens": 100, "seed": 0}

    def generate(self, batch):
        out = []
        for messages in batch:
            self.calls += 1
            time.sleep(self.delay)
            user = messages[-1]["content"]
            entry = user.split("implementation of `")[1].split("`")[0]
            lang = "julia" if "into Julia" in user else "r"
            out.append("garbage" if entry in self.broken else ANSWER[lang].format(e=entry))
        return out


def problems(n: int) -> pd.DataFrame:
    raw = pd.DataFrame({"id": [f"p{i}" for i in range(n)], "source": "test",
                        "question": [f"Write f{i}." for i in range(n)],
                        "test_cases": [[f"assert f{i}(1) == 1"] for i in range(n)]})
    return normalize_acecode(raw, "test")


def params(tmp_path: Path) -> dict:
    return {"data": {"languages": ["julia", "r"]},
            "translate": {"cache_path": str(tmp_path / "cache.jsonl"), "batch_size": 3}}


def test_cache_miss_then_hit(tmp_path):
    probs = problems(5)
    t1 = FakeTeacher()
    good, bad, stats = run_translate(probs, params(tmp_path), tmp_path, backend=t1, progress=False)
    assert (stats.requests, stats.cache_hits, stats.generated, t1.calls) == (10, 0, 10, 10)
    assert len(good) == 10 and bad.empty
    t2 = FakeTeacher()
    good2, _, stats2 = run_translate(probs, params(tmp_path), tmp_path, backend=t2, progress=False)
    assert (stats2.cache_hits, stats2.generated, t2.calls) == (10, 0, 0)
    pd.testing.assert_frame_equal(good, good2)


def test_key_changes_with_model_sampling_and_input():
    base = dict(backend="local", model="m", template_version="v1", sampling={"temperature": 0.0},
                messages=[{"role": "user", "content": "x"}])
    k = cache_key(**base)
    assert k == cache_key(**base)
    for change in ({"model": "m2"}, {"backend": "openai"}, {"template_version": "v2"},
                   {"sampling": {"temperature": 0.7}}, {"messages": [{"role": "user", "content": "y"}]}):
        assert cache_key(**{**base, **change}) != k


def test_rejects_are_kept_with_reason(tmp_path):
    good, bad, stats = run_translate(problems(3), params(tmp_path), tmp_path,
                                     backend=FakeTeacher(broken={"f1"}), progress=False)
    assert len(good) == 4 and len(bad) == 2
    assert set(bad["task_id"]) == {"p1"} and all(bad["response"] == "garbage")
    assert all(bad["reason"] != "")


def test_torn_cache_line_is_ignored_and_not_glued(tmp_path):
    p = params(tmp_path)
    run_translate(problems(2), p, tmp_path, backend=FakeTeacher(), progress=False)
    cache_file = Path(p["translate"]["cache_path"])
    lines = cache_file.read_text().splitlines()
    cache_file.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])      # crash mid-write
    t = FakeTeacher()
    good, _, stats = run_translate(problems(2), p, tmp_path, backend=t, progress=False)
    assert t.calls == 1 and len(good) == 4
    assert len(ResponseCache(cache_file)) == 4


KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_translate import FakeTeacher, problems, params
from rarelang.translate.run import run_translate
tmp = Path({tmp!r})
run_translate(problems(12), params(tmp), tmp, backend=FakeTeacher(delay=0.15), progress=False)
"""


def test_resume_after_kill_loses_and_duplicates_nothing(tmp_path):
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), tmp=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script])
    cache_file = tmp_path / "cache.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline:
        if cache_file.exists() and len(cache_file.read_text().splitlines()) >= 6:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(ResponseCache(cache_file))
    assert 6 <= done_before < 24, done_before
    t = FakeTeacher()
    good, bad, stats = run_translate(problems(12), params(tmp_path), tmp_path, backend=t, progress=False)
    assert stats.cache_hits == done_before and t.calls == 24 - done_before
    assert len(good) == 24 and bad.empty
    assert not good.duplicated(["task_id", "lang"]).any()
    keys = [json.loads(x)["key"] for x in cache_file.read_text().splitlines() if x.strip()]
    assert len(keys) == len(set(keys)) == 24


def test_the_teacher_generates_through_the_llm_layer_at_its_own_sampling(tmp_path):
    """One LLM layer: the teacher is an llm generator asked for one answer per chat at the teacher's
    sampling; its name/model/sampling (the cache key) stay those of translate.*."""
    from rarelang.llm import Generator
    from rarelang.translate.backends import GeneratorTeacher, local_engine, make_backend, teacher_spec

    class Recorder(Generator):
        def __init__(self):
            self.calls = []

        def generate(self, prompts, n, temperature, max_tokens, stop=None, seed=0, top_p=None):
            self.calls.append((prompts, n, temperature, max_tokens, seed, top_p))
            return [[f"answer {i}", "unused"] for i in range(len(prompts))]

    gen = Recorder()
    sampling = {"temperature": 0.3, "top_p": 0.9, "max_tokens": 64, "seed": 5}
    chat = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    t = GeneratorTeacher("local", "qwen", sampling, gen)
    assert t.generate([chat, chat]) == ["answer 0", "answer 1"]
    assert gen.calls == [([chat, chat], 1, 0.3, 64, 5, 0.9)]          # whole chats, n = 1, the teacher's sampling
    assert (t.name, t.model, t.sampling()) == ("local", "qwen", sampling)

    spec = teacher_spec({"provider": "local", "model": "m", "local": {"engine": "transformers", "threads": 3}})
    assert spec == {"engine": "transformers", "model": "m", "device": "cpu", "dtype": "float32", "threads": 3,
                    "batch_size": 1 << 30, "progress": False}
    o = teacher_spec({"provider": "openai", "model": "llama", "openai": {"base_url": "http://h/v1", "timeout_s": 9}})
    assert (o["engine"], o["base_url"], o["timeout_s"], o["max_retries"]) == ("openai", "http://h/v1", 9.0, 3)
    v = teacher_spec({"provider": "vllm", "model": "llama", "vllm": {"tensor_parallel_size": 4}})
    assert v["vllm"] == {"gpu_memory_utilization": 0.9, "tensor_parallel_size": 4}
    import pytest
    with pytest.raises(ValueError, match="translate.local.engine"):
        local_engine("gguf")
    with pytest.raises(ValueError, match="translate.provider"):
        make_backend({"provider": "hf", "model": "m"}, tmp_path)


def test_the_local_engines_never_share_cached_answers():
    """translate.local.engine: llama.cpp's and transformers' answers differ at the same settings, so their cache keys
    differ (a cache written by one is not replayed as the other's; transformers keeps its historical key)."""
    from rarelang.translate.backends import teacher_model, teacher_spec
    tp = {"provider": "local", "model": "qwen2.5-coder-0.5b-instruct"}
    llama = teacher_model(tp["model"], teacher_spec({**tp, "local": {"engine": "llama_cpp"}}))
    hf = teacher_model(tp["model"], teacher_spec({**tp, "local": {"engine": "transformers"}}))
    assert hf == "qwen2.5-coder-0.5b-instruct" and llama != hf and "llama_cpp" in llama
