"""A generator from a spec — one ``evaluate.models.<name>`` entry, or the teacher's ``translate.*``
settings mapped onto the same keys (rarelang.translate.backends):

    engine        auto | vllm | transformers | local (llama.cpp on a GGUF) | openai | replay
    model         packaged model name (rarelang.models.registry), .gguf file, transformers directory,
                  or (vllm/openai) a name the engine/server knows
    adapter       a peft LoRA adapter directory (transformers, vllm)
    chat          prompts through the chat template (default true)
    batch_size, dtype, device, threads            transformers
    vllm: {…}     vLLM engine arguments (engines are shared through ``engines``)
    base_url, api_key_env, concurrency, timeout_s, max_retries                openai
    threads, seed                                 local (llama.cpp)
    path, column                                  replay
    progress      progress bars while generating (default true)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..models.resolve import resolve_model_dir, vllm_available
from .generators import (Generator, LlamaCppGenerator, OpenAIGenerator, ReplayGenerator, TransformersGenerator,
                         VLLMGenerator, adapter_rank, start_vllm)

ENGINES = ("auto", "vllm", "transformers", "local", "openai", "replay")


def make_generator(spec: dict[str, Any], repo: Path, engines: dict[Any, Any] | None = None,
                   lora_ranks: dict[str, int] | None = None) -> Generator:
    """A generator for one spec. vLLM engines are shared through ``engines`` (keyed by model and
    engine settings); ``lora_ranks`` gives, for each model some entry adapts, the largest LoRA rank
    among its adapters (the shared engine must serve them all)."""
    engine = spec.get("engine", "transformers")
    if engine == "auto":                    # vLLM on a GPU with vllm installed, else transformers
        engine = "vllm" if vllm_available() else "transformers"
    chat = bool(spec.get("chat", True))
    progress = bool(spec.get("progress", True))
    adapter = spec.get("adapter")
    adapter = (Path(adapter) if Path(adapter).is_absolute() else repo / adapter) if adapter else None
    if adapter is not None and not adapter.exists():
        raise FileNotFoundError(f"adapter not found: {adapter} (train first: dvc repro train)")
    if engine == "replay":
        path = Path(spec["path"])
        return ReplayGenerator(path if path.is_absolute() else repo / path, chat=chat,
                               completion_column=spec.get("column"))
    if engine == "openai":
        return OpenAIGenerator(spec["model"], spec.get("base_url", "http://localhost:8000/v1"),
                               spec.get("api_key_env", "OPENAI_API_KEY"), chat=chat,
                               concurrency=int(spec.get("concurrency", 16)), timeout_s=spec.get("timeout_s"),
                               max_retries=spec.get("max_retries"))
    if engine == "vllm":
        model = local_model(str(spec["model"]), repo)
        kw = dict(spec.get("vllm") or {})
        key = (model, json.dumps(kw, sort_keys=True, default=str))
        engines = {} if engines is None else engines
        if key not in engines:
            ranks = dict(lora_ranks or {})
            if adapter is not None:
                ranks[model] = max(ranks.get(model, 0), adapter_rank(adapter))
            engines[key] = start_vllm(model, enable_lora=model in ranks, max_lora_rank=ranks.get(model, 16), **kw)
        return VLLMGenerator(model, adapter=adapter, chat=chat, llm=engines[key], progress=progress)
    if engine == "local":
        return LlamaCppGenerator(gguf_file(str(spec["model"]), repo), chat=chat, threads=spec.get("threads"),
                                 seed=int(spec.get("seed") or 0))
    if engine == "transformers":
        return TransformersGenerator(resolve_model_dir(str(spec["model"]), repo / "models"), adapter=adapter,
                                     chat=chat, batch_size=int(spec.get("batch_size", 8)),
                                     dtype=str(spec.get("dtype", "auto")), device=str(spec.get("device", "auto")),
                                     threads=spec.get("threads"), progress=progress)
    raise ValueError(f"unknown generation engine {engine!r}: {', '.join(ENGINES)}")


def gguf_file(model: str, repo: Path) -> Path:
    """A GGUF file for a packaged model name (assembled from its PyPI parts once) or a .gguf path."""
    from ..models.registry import MODELS, assemble
    return assemble(model, repo / "models" / "gguf") if model in MODELS else Path(model)


def local_model(model: str, repo: Path) -> str:
    """A transformers directory for a packaged name, .gguf file or directory (converted once); any
    other string is passed on as it is (a hub id, for machines that reach a hub)."""
    from ..models.registry import MODELS
    p = Path(model)
    if model in MODELS or p.suffix == ".gguf" or p.is_dir():
        return str(resolve_model_dir(model, repo / "models"))
    return model
