"""The teacher: ``generate(list of chat messages) -> list of texts`` with fixed sampling, and the
name/model/sampling that key the response cache. Generation itself is rarelang.llm's (the same
generators evaluate uses); this module maps ``translate.*`` onto an llm spec.

* ``vllm``   — offline ``vllm.LLM`` (tensor parallel), for the 70B teacher on HPC GPUs.
* ``openai`` — any OpenAI-compatible server (vLLM serve, llama.cpp server, a hosted API).
* ``local``  — a small packaged model on CPU (the embedded default): llama.cpp when
               ``llama_cpp`` is installed, else transformers (dequantized from GGUF once).
* ``cache``  — replay only: answers must already be in the cache.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..llm import Generator, make_generator
from ..llm.generators import Messages
from ..params import default

log = logging.getLogger(__name__)


class TeacherBackend:
    """``name``, ``model`` and ``sampling()`` are part of every cache key (translate.cache)."""

    name = "base"
    model = ""

    def sampling(self) -> dict[str, Any]:
        return {}

    def generate(self, batch: list[Messages]) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class CacheOnlyBackend(TeacherBackend):
    """Replays a cache written by another backend (its name/model are part of the key)."""

    name = "cache"

    def __init__(self, replay_backend: str, model: str, sampling: dict[str, Any]):
        self.replay_backend, self.model, self._sampling = replay_backend, model, sampling

    def sampling(self) -> dict[str, Any]:
        return self._sampling

    def generate(self, batch: list[Messages]) -> list[str]:
        raise LookupError("not in the cache (translate.provider: cache only replays)")


class GeneratorTeacher(TeacherBackend):
    """One answer per chat from an llm generator, at the teacher's sampling."""

    def __init__(self, name: str, model: str, sampling: dict[str, Any], generator: Generator):
        self.name, self.model, self._sampling, self.generator = name, model, sampling, generator

    def sampling(self) -> dict[str, Any]:
        return self._sampling

    def generate(self, batch: list[Messages]) -> list[str]:
        s = self._sampling
        out = self.generator.generate(batch, 1, s["temperature"], s["max_tokens"], seed=int(s.get("seed") or 0),
                                      top_p=s["top_p"])
        return [texts[0] for texts in out]

    def close(self) -> None:
        self.generator.close()


def local_engine(engine: str) -> str:
    """translate.local.engine: auto = llama.cpp when llama_cpp is installed, else transformers."""
    if engine == "auto":
        try:
            import llama_cpp  # noqa: F401
            return "llama_cpp"
        except ImportError:
            return "transformers"
    if engine not in ("llama_cpp", "transformers"):
        raise ValueError(f"translate.local.engine must be auto, llama_cpp or transformers, not {engine!r}")
    return engine


def teacher_spec(tp: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """The llm spec (rarelang.llm.factory) for the ``translate`` params of a generating provider."""
    provider, model = tp.get("provider", "local"), str(tp.get("model", ""))
    if provider == "openai":
        o = tp.get("openai") or {}
        return {"engine": "openai", "model": model, "base_url": o.get("base_url", "http://localhost:8000/v1"),
                "api_key_env": o.get("api_key_env", "OPENAI_API_KEY"), "concurrency": int(o.get("concurrency", 16)),
                "timeout_s": float(o.get("timeout_s", 300)), "max_retries": 3}
    if provider == "vllm":
        v = {"gpu_memory_utilization": 0.9, **dict(tp.get("vllm") or {})}
        return {"engine": "vllm", "model": model, "vllm": v, "progress": False}
    if provider == "local":
        loc = tp.get("local") or {}
        threads = loc.get("threads") or os.cpu_count() or 1
        if local_engine(loc.get("engine", "auto")) == "llama_cpp":
            return {"engine": "local", "model": model, "threads": threads, "seed": seed}
        # on the CPU in float32, one batch per call (seeded once per call), as the teacher always ran
        return {"engine": "transformers", "model": model, "device": "cpu", "dtype": "float32", "threads": threads,
                "batch_size": 1 << 30, "progress": False}
    raise ValueError(f"translate.provider must be vllm, openai, local or cache, not {provider!r}")


def make_backend(tp: dict[str, Any], repo: Path) -> TeacherBackend:
    provider = tp.get("provider", "local")
    model = str(tp.get("model", ""))
    # what the params leave out is params.yaml's (one set of defaults)
    sampling = {k: cast(tp.get(k, default(f"translate.{k}", fb))) for k, cast, fb in
                (("temperature", float, 0.0), ("top_p", float, 1.0), ("max_tokens", int, 640), ("seed", int, 0))}
    if provider == "cache":
        return CacheOnlyBackend(str(tp.get("replay_provider", "local")), model, sampling)
    spec = teacher_spec(tp, sampling["seed"])
    return GeneratorTeacher(provider, teacher_model(model, spec), sampling, make_generator(spec, repo))


def teacher_model(model: str, spec: dict[str, Any]) -> str:
    """The teacher's name in the cache keys and the translations' teacher column. llama.cpp and transformers answer
    differently at the same settings, so llama.cpp's answers carry the engine in the name: one engine's cached
    answers are never replayed as the other's (transformers keeps the key it always had)."""
    return f"{model}@llama_cpp" if spec.get("engine") == "local" else model
