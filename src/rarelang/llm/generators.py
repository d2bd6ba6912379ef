"""Generation engines behind one interface: ``generate(prompts, n, temperature, max_tokens, stop,
seed, top_p) -> n completions per prompt``. ``chat`` says whether prompts go through the chat
template; a prompt is a user message (str) or a whole chat (list of messages, e.g. the teacher's
system + user). ``top_p`` None: 0.95 when sampling, 1.0 when greedy (the evaluation's setting).

* ``transformers`` — CPU or GPU, optionally with a LoRA adapter (peft).
* ``vllm``         — GPU; LoRA through ``LoRARequest``.
* ``local``        — a GGUF file on CPU through llama.cpp (``llama_cpp`` must be installed).
* ``openai``       — any OpenAI-compatible server.
* ``replay``       — completions already stored in a parquet (e.g. the original work's outputs).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Union

import pandas as pd

log = logging.getLogger(__name__)
Messages = list[dict[str, str]]
Prompt = Union[str, Messages]


def as_messages(prompt: Prompt) -> Messages:
    """A chat: a plain prompt is one user message."""
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt


def sampling_top_p(temperature: float, top_p: float | None) -> float:
    return top_p if top_p is not None else (0.95 if temperature > 0 else 1.0)


class Generator:
    chat = True
    name = "base"

    def generate(self, prompts: list[Prompt], n: int, temperature: float, max_tokens: int,
                 stop: list[list[str]] | None = None, seed: int = 0,
                 top_p: float | None = None) -> list[list[str]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class TransformersGenerator(Generator):
    name = "transformers"

    def __init__(self, model_dir: Path, adapter: Path | None = None, chat: bool = True, batch_size: int = 8,
                 dtype: str = "auto", device: str = "auto", threads: int | None = None, progress: bool = True):
        """``device``: auto (a GPU when there is one) or cpu; ``threads``: torch's CPU threads;
        ``batch_size``: sequences generated together (prompts × n)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        self.torch = torch
        self.chat = chat
        self.batch_size = batch_size
        self.progress = progress
        if threads:
            torch.set_num_threads(threads)
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        if dtype == "auto":
            dtype = "bfloat16" if torch.cuda.is_available() else "float32"
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype))
        if adapter:
            from peft import PeftModel
            self.model = PeftModel.from_pretrained(self.model, str(adapter))
            self.model = self.model.merge_and_unload()
        if device == "auto" and torch.cuda.is_available():
            self.model = self.model.to("cuda")
        self.model.eval()

    def _text(self, prompt: Prompt) -> str:
        if self.chat:
            return self.tok.apply_chat_template(as_messages(prompt), tokenize=False, add_generation_prompt=True)
        return prompt

    def generate(self, prompts, n, temperature, max_tokens, stop=None, seed=0, top_p=None):
        torch = self.torch
        from tqdm import tqdm
        out: list[list[str]] = []
        per_batch = max(1, self.batch_size // max(1, n))
        for i in tqdm(range(0, len(prompts), per_batch), desc="generate", unit="batch", disable=not self.progress):
            chunk = prompts[i:i + per_batch]
            enc = self.tok([self._text(p) for p in chunk], return_tensors="pt", padding=True).to(self.model.device)
            kw: dict[str, Any] = {"max_new_tokens": max_tokens, "num_return_sequences": n,
                                  "pad_token_id": self.tok.pad_token_id}
            if temperature > 0:
                torch.manual_seed(seed + i)
                kw.update(do_sample=True, temperature=temperature, top_p=sampling_top_p(temperature, top_p))
            else:
                kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            stops = sorted({s for ss in (stop or [])[i:i + per_batch] for s in ss})
            if stops and not self.chat:
                kw.update(stop_strings=stops, tokenizer=self.tok)
            with torch.no_grad():
                gen = self.model.generate(**enc, **kw)
            new = gen[:, enc["input_ids"].shape[1]:]
            texts = [self.tok.decode(row, skip_special_tokens=True) for row in new]
            out += [texts[j * n:(j + 1) * n] for j in range(len(chunk))]
        return out


class VLLMGenerator(Generator):
    """vLLM offline generation. ``model`` is a local transformers directory (or a hub id where a
    hub is reachable); a trained LoRA adapter goes through ``LoRARequest``. Several generators can
    share one engine (``llm``): the base model and its adapter are evaluated without a second start."""

    name = "vllm"

    def __init__(self, model: str, adapter: Path | None = None, chat: bool = True, llm: Any = None,
                 progress: bool = True, **kw: Any):
        self.chat = chat
        self.adapter = adapter
        self.progress = progress
        if llm is None:
            llm = start_vllm(model, enable_lora=adapter is not None, max_lora_rank=adapter_rank(adapter), **kw)
        self.llm = llm

    def generate(self, prompts, n, temperature, max_tokens, stop=None, seed=0, top_p=None):
        from vllm import SamplingParams
        lora = None
        if self.adapter:
            from vllm.lora.request import LoRARequest
            lora = LoRARequest("trained", 1, str(self.adapter))
        params = [SamplingParams(n=n, temperature=temperature, top_p=sampling_top_p(temperature, top_p),
                                 max_tokens=max_tokens, seed=seed,
                                 stop=None if self.chat else (stop[i] if stop else None))
                  for i in range(len(prompts))]
        if self.chat:
            outs = self.llm.chat([as_messages(p) for p in prompts], params, lora_request=lora,
                                 use_tqdm=self.progress)
        else:
            outs = self.llm.generate(prompts, params, lora_request=lora, use_tqdm=self.progress)
        return [[c.text for c in o.outputs] for o in outs]


def adapter_rank(adapter: Path | None) -> int:
    """The LoRA rank of a saved peft adapter (vLLM must be started with max_lora_rank ≥ it)."""
    if adapter is None:
        return 16
    import json
    cfg = Path(adapter) / "adapter_config.json"
    if not cfg.exists():
        raise FileNotFoundError(f"{adapter} is not a peft adapter directory (no adapter_config.json)")
    return int(json.loads(cfg.read_text()).get("r", 16))


def start_vllm(model: str, *, enable_lora: bool = False, max_lora_rank: int = 16, **kw: Any):
    """A vLLM engine, its start marked for the start-up watchdog (rarelang.watchdog)."""
    from vllm import LLM

    from ..watchdog import engine_starting
    if enable_lora:
        kw = {"max_lora_rank": max(8, max_lora_rank), "max_loras": 1, **kw}
    with engine_starting(f"vLLM {Path(model).name}"):
        return LLM(model=model, enable_lora=enable_lora, **kw)


class OpenAIGenerator(Generator):
    name = "openai"

    def __init__(self, model: str, base_url: str, api_key_env: str = "OPENAI_API_KEY", chat: bool = True,
                 concurrency: int = 16, timeout_s: float | None = None, max_retries: int | None = None):
        import os

        from openai import OpenAI
        extra: dict[str, Any] = {}
        if timeout_s is not None:
            extra["timeout"] = timeout_s
        if max_retries is not None:
            extra["max_retries"] = max_retries
        self.client = OpenAI(base_url=base_url, api_key=os.environ.get(api_key_env, "EMPTY"), **extra)
        self.model, self.chat, self.concurrency = model, chat, concurrency

    def _one(self, args):
        prompt, n, temperature, max_tokens, stop, seed, top_p = args
        extra = {} if top_p is None else {"top_p": top_p}     # None: the server's default
        if self.chat:
            r = self.client.chat.completions.create(model=self.model, n=n, temperature=temperature, seed=seed,
                                                    max_tokens=max_tokens, messages=as_messages(prompt), **extra)
            return [c.message.content or "" for c in r.choices]
        r = self.client.completions.create(model=self.model, prompt=prompt, n=n, temperature=temperature,
                                           max_tokens=max_tokens, stop=stop or None, seed=seed, **extra)
        return [c.text for c in r.choices]

    def generate(self, prompts, n, temperature, max_tokens, stop=None, seed=0, top_p=None):
        from concurrent.futures import ThreadPoolExecutor
        jobs = [(p, n, temperature, max_tokens, (stop or [[]] * len(prompts))[i], seed, top_p)
                for i, p in enumerate(prompts)]
        with ThreadPoolExecutor(max_workers=self.concurrency) as ex:
            return list(ex.map(self._one, jobs))


class LlamaCppGenerator(Generator):
    name = "local"

    def __init__(self, gguf: Path, chat: bool = True, threads: int | None = None, seed: int = 0):
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise RuntimeError("backend local needs llama-cpp-python (pip install '.[llamacpp]'); "
                               "or use backend transformers") from e
        import os
        self.chat = chat
        self.llm = Llama(model_path=str(gguf), n_ctx=4096, n_threads=threads or os.cpu_count(), seed=seed,
                         verbose=False)

    def generate(self, prompts, n, temperature, max_tokens, stop=None, seed=0, top_p=None):
        out = []
        tp = sampling_top_p(temperature, top_p)
        for i, p in enumerate(prompts):
            samples = []
            for j in range(n):
                if self.chat:
                    r = self.llm.create_chat_completion(messages=as_messages(p), temperature=temperature, top_p=tp,
                                                        max_tokens=max_tokens, seed=seed + j)
                    samples.append(r["choices"][0]["message"]["content"] or "")
                else:
                    r = self.llm(p, temperature=temperature, top_p=tp, max_tokens=max_tokens, seed=seed + j,
                                 stop=(stop[i] if stop else None))
                    samples.append(r["choices"][0]["text"])
            out.append(samples)
        return out


class ReplayGenerator(Generator):
    """Completions from a parquet: column ``task_id`` and the completion column (``completion`` or
    ``<lang>_code``); several rows per task = several samples. Optionally its own tests column. With a
    ``lang`` column, answers are found by (language, task id): one task id may be a problem in each language."""

    name = "replay"

    def __init__(self, path: Path, chat: bool = True, completion_column: str | None = None):
        self.chat = chat
        self.df = pd.read_parquet(path)
        col = completion_column or next((c for c in ("completion", "julia_code", "r_code") if c in self.df), None)
        if col is None or "task_id" not in self.df:
            raise ValueError(f"{path}: need task_id and a completion column (completion / julia_code / r_code)")
        self.col = col
        self.keys = ["lang", "task_id"] if "lang" in self.df else ["task_id"]
        self.by_task = self.df.groupby(self.keys)[col].apply(list).to_dict()
        test_col = next((c for c in ("tests", "julia_test", "r_test") if c in self.df), None)
        self.tests = self.df.groupby(self.keys)[test_col].first().to_dict() if test_col else {}

    def _key(self, problem):
        return (problem.lang, problem.task_id) if len(self.keys) == 2 else problem.task_id

    def generate(self, prompts, n, temperature, max_tokens, stop=None, seed=0, top_p=None):
        raise NotImplementedError("replay answers by task id: use completions_for")

    def completions_for(self, problems) -> list[list[str]]:
        """The stored answers of each problem (anything with ``lang`` and ``task_id``), in order."""
        return [list(self.by_task.get(self._key(p), [])) for p in problems]

    def tests_for(self, problem) -> str:
        """The replay file's own tests of a problem, else the problem's."""
        return self.tests.get(self._key(problem), problem.tests)
