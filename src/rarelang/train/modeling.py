"""Loading the student: a local transformers directory, a GGUF file (dequantized once), or a
packaged model name; plain transformers + peft LoRA (CPU or GPU), or Unsloth when installed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..params import default

log = logging.getLogger(__name__)


def import_backend_first(backend: str) -> None:
    """Import Unsloth before anything imports transformers, trl or peft (it patches them at import;
    imported later it warns and leaves optimisations out). A no-op for the transformers backend."""
    if backend != "unsloth":
        return
    import os
    os.environ.setdefault("UNSLOTH_COMPILE_LOCATION", str(Path.cwd() / ".unsloth_compiled_cache"))
    try:
        import unsloth  # noqa: F401
    except ImportError as e:
        raise RuntimeError("train.framework=unsloth but unsloth is not importable (GPU machine: "
                           "`bash scripts/device/install.sh unsloth`; docs/GPU.md); use framework: transformers") from e


def lora_settings(lp: dict[str, Any]) -> dict[str, Any]:
    """train.lora with what it leaves out taken from the repository's params.yaml (one set of defaults)."""
    d = default("train.lora", {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]})
    merged = {**d, **{k: v for k, v in (lp or {}).items() if v is not None}}
    return {"r": int(merged["r"]), "alpha": int(merged["alpha"]), "dropout": float(merged.get("dropout", 0.0)),
            "target_modules": list(merged["target_modules"])}


def lora_config(lp: dict[str, Any]):
    from peft import LoraConfig
    s = lora_settings(lp)
    return LoraConfig(r=s["r"], lora_alpha=s["alpha"], lora_dropout=s["dropout"], target_modules=s["target_modules"],
                      task_type="CAUSAL_LM", bias="none")


def load_student(model_dir: Path, backend: str, dtype: str, lp: dict[str, Any], max_seq_length: int = 2048,
                 unsloth: dict[str, Any] | None = None) -> tuple[Any, Any, Any]:
    """(model, tokenizer, peft_config or None). With Unsloth the LoRA is applied here and
    peft_config is None; otherwise TRL applies ``peft_config`` to the plain model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if backend == "unsloth":
        try:
            from unsloth import FastLanguageModel
        except ImportError as e:
            raise RuntimeError("train.framework=unsloth but unsloth is not importable; use framework: transformers") from e
        u = unsloth or {}
        s = lora_settings(lp)
        model, tok = FastLanguageModel.from_pretrained(
            model_name=str(model_dir), max_seq_length=max_seq_length, load_in_4bit=bool(u.get("load_in_4bit", False)),
            fast_inference=bool(u.get("fast_inference", False)), max_lora_rank=s["r"],
            gpu_memory_utilization=float(u.get("gpu_memory_utilization", 0.6)))
        model = FastLanguageModel.get_peft_model(
            model, r=s["r"], lora_alpha=s["alpha"], target_modules=s["target_modules"],
            use_gradient_checkpointing="unsloth", random_state=int(u.get("seed", 0)))
        return model, tok, None
    if backend != "transformers":
        raise ValueError(f"train.framework must be transformers or unsloth, not {backend!r}")
    tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    torch_dtype = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16,
                   "float16": torch.float16}[dtype]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch_dtype)
    return model, tok, lora_config(lp)
