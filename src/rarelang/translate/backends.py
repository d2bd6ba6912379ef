"""Teacher backends behind one interface: ``generate(list of chat messages) -> list of texts``.

* ``vllm``   — offline ``vllm.LLM`` (tensor parallel), for the 70B teacher on HPC GPUs.
* ``openai`` — any OpenAI-compatible server (vLLM serve, llama.cpp server, a hosted API).
* ``local``  — a small packaged model on CPU (the embedded default): llama.cpp when
               ``llama_cpp`` is installed, else transformers (dequantized from GGUF once).
* ``cache``  — replay only: answers must already be in the cache.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from ..params import default

log = logging.getLogger(__name__)
Messages = list[dict[str, str]]


class TeacherBackend:
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
        raise LookupError("not in the cache (backend: cache only replays)")


class OpenAIBackend(TeacherBackend):
    name = "openai"

    def __init__(self, model: str, sampling: dict[str, Any], base_url: str, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 16, timeout_s: float = 300.0):
        from openai import OpenAI
        self.model, self._sampling = model, sampling
        self.client = OpenAI(base_url=base_url, api_key=os.environ.get(api_key_env, "EMPTY"), timeout=timeout_s,
                             max_retries=3)
        self.concurrency = concurrency

    def sampling(self) -> dict[str, Any]:
        return self._sampling

    def _one(self, messages: Messages) -> str:
        s = self._sampling
        r = self.client.chat.completions.create(model=self.model, messages=messages,
                                                temperature=s["temperature"], top_p=s["top_p"],
                                                max_tokens=s["max_tokens"], seed=s.get("seed"))
        return r.choices[0].message.content or ""

    def generate(self, batch: list[Messages]) -> list[str]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as ex:
            return list(ex.map(self._one, batch))


class VLLMBackend(TeacherBackend):
    name = "vllm"

    def __init__(self, model: str, sampling: dict[str, Any], tensor_parallel_size: int = 1,
                 max_model_len: int | None = None, gpu_memory_utilization: float = 0.9, **kw: Any):
        from vllm import LLM, SamplingParams
        self.model, self._sampling = model, sampling
        self.llm = LLM(model=model, tensor_parallel_size=tensor_parallel_size, max_model_len=max_model_len,
                       gpu_memory_utilization=gpu_memory_utilization, **kw)
        self.params = SamplingParams(temperature=sampling["temperature"], top_p=sampling["top_p"],
                                     max_tokens=sampling["max_tokens"], seed=sampling.get("seed"))

    def sampling(self) -> dict[str, Any]:
        return self._sampling

    def generate(self, batch: list[Messages]) -> list[str]:
        outs = self.llm.chat(batch, self.params, use_tqdm=False)
        return [o.outputs[0].text for o in outs]


class LocalBackend(TeacherBackend):
    """A small model on CPU. ``model`` is a packaged model name (see rarelang.models.registry),
    a GGUF file, or a transformers model directory."""

    name = "local"

    def __init__(self, model: str, sampling: dict[str, Any], models_dir: Path, engine: str = "auto",
                 threads: int | None = None):
        self.model, self._sampling = model, sampling
        self.threads = threads or os.cpu_count() or 1
        self.engine = engine
        if engine == "auto":
            try:
                import llama_cpp  # noqa: F401
                self.engine = "llama_cpp"
            except ImportError:
                self.engine = "transformers"
        self._gen: Callable[[list[Messages]], list[str]]
        if self.engine == "llama_cpp":
            self._setup_llama_cpp(models_dir)
        elif self.engine == "transformers":
            self._setup_transformers(models_dir)
        else:
            raise ValueError(f"translate.local.engine must be auto, llama_cpp or transformers, not {engine!r}")

    def sampling(self) -> dict[str, Any]:
        return self._sampling

    def _gguf(self, models_dir: Path) -> Path:
        p = Path(self.model)
        if p.suffix == ".gguf" and p.exists():
            return p
        from ..models.registry import assemble
        return assemble(self.model, models_dir / "gguf")

    def _setup_llama_cpp(self, models_dir: Path) -> None:
        from llama_cpp import Llama
        llm = Llama(model_path=str(self._gguf(models_dir)), n_ctx=4096, n_threads=self.threads,
                    seed=int(self._sampling.get("seed") or 0), verbose=False)
        s = self._sampling

        def gen(batch: list[Messages]) -> list[str]:
            out = []
            for messages in batch:
                r = llm.create_chat_completion(messages=messages, temperature=s["temperature"], top_p=s["top_p"],
                                               max_tokens=s["max_tokens"])
                out.append(r["choices"][0]["message"]["content"] or "")
            return out
        self._gen = gen

    def _setup_transformers(self, models_dir: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ..models.resolve import resolve_model_dir
        # one resolution for teacher and student: the same transformers directory for the same model
        hf_dir = resolve_model_dir(self.model, models_dir)
        torch.set_num_threads(self.threads)
        tok = AutoTokenizer.from_pretrained(hf_dir)
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32)
        model.eval()
        s = self._sampling

        def gen(batch: list[Messages]) -> list[str]:
            texts = [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in batch]
            enc = tok(texts, return_tensors="pt", padding=True)
            kw: dict[str, Any] = {"max_new_tokens": s["max_tokens"], "pad_token_id": tok.pad_token_id}
            if s["temperature"] > 0:
                torch.manual_seed(int(s.get("seed") or 0))
                kw.update(do_sample=True, temperature=s["temperature"], top_p=s["top_p"])
            else:
                kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            with torch.no_grad():
                out = model.generate(**enc, **kw)
            new = out[:, enc["input_ids"].shape[1]:]
            return [tok.decode(row, skip_special_tokens=True) for row in new]
        self._gen = gen

    def generate(self, batch: list[Messages]) -> list[str]:
        return self._gen(batch)


def make_backend(tp: dict[str, Any], repo: Path) -> TeacherBackend:
    backend = tp.get("backend", "local")
    model = str(tp.get("model", ""))
    # what the params leave out is params.yaml's (one set of defaults)
    sampling = {k: cast(tp.get(k, default(f"translate.{k}", fb))) for k, cast, fb in
                (("temperature", float, 0.0), ("top_p", float, 1.0), ("max_tokens", int, 640), ("seed", int, 0))}
    if backend == "cache":
        return CacheOnlyBackend(str(tp.get("replay_backend", "local")), model, sampling)
    if backend == "openai":
        o = tp.get("openai") or {}
        return OpenAIBackend(model, sampling, base_url=o.get("base_url", "http://localhost:8000/v1"),
                             api_key_env=o.get("api_key_env", "OPENAI_API_KEY"),
                             concurrency=int(o.get("concurrency", 16)), timeout_s=float(o.get("timeout_s", 300)))
    if backend == "vllm":
        v = dict(tp.get("vllm") or {})
        return VLLMBackend(model, sampling, **v)
    if backend == "local":
        loc = tp.get("local") or {}
        return LocalBackend(model, sampling, repo / "models", engine=loc.get("engine", "auto"),
                            threads=loc.get("threads"))
    raise ValueError(f"translate.backend must be vllm, openai, local or cache, not {backend!r}")
