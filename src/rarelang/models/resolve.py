"""Model resolution, for every stage that loads a model (train, evaluate): a transformers directory
from a directory, a .gguf file or a packaged model name (made once, under ``models_dir``), and
whether vLLM can serve it here (what ``backend: auto`` / ``use_vllm: auto`` mean)."""

from __future__ import annotations

from pathlib import Path


def resolve_model_dir(model: str, models_dir: Path) -> Path:
    """A transformers directory for ``model`` (dir, .gguf file, or packaged name; made if needed)."""
    p = Path(model)
    if p.is_dir() and (p / "config.json").exists():
        return p
    from .hf import gguf_to_hf
    from .registry import MODELS, assemble
    if p.suffix == ".gguf":
        if not p.exists():
            raise FileNotFoundError(f"GGUF file not found: {p}")
        return gguf_to_hf(p, models_dir / "base" / p.stem)
    if model in MODELS:
        out = models_dir / "base" / model
        if (out / "config.json").exists():
            return out
        return gguf_to_hf(assemble(model, models_dir / "gguf"), out)
    raise FileNotFoundError(f"model {model!r} is neither a transformers directory, a .gguf file nor a packaged "
                            f"model ({', '.join(sorted(MODELS))}); there is no model hub here")


def vllm_available() -> bool:
    """A GPU and an importable vllm: where `use_vllm: auto` / `backend: auto` mean vLLM."""
    import importlib.util

    import torch
    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


def adapter_base(adapter: Path) -> str | None:
    """The packaged model a peft adapter was trained on, read from its ``adapter_config.json``
    (``base_model_name_or_path`` holds the packaged name, e.g. ``…/qwen2.5-coder-0.5b-instruct-q4_k_m``);
    None when it names none of them."""
    import json

    from .registry import MODELS
    cfg = Path(adapter) / "adapter_config.json"
    if not cfg.exists():
        raise FileNotFoundError(f"{adapter} is not a peft adapter directory (no adapter_config.json)")
    base = str(json.loads(cfg.read_text()).get("base_model_name_or_path") or "")
    name = Path(base).name.lower()
    found = [m for m in MODELS if m in name]
    return max(found, key=len) if found else None
