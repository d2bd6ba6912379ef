"""GGUF → transformers: dequantize once, save as safetensors, fix the tokenizer's special tokens."""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

# tokenizer fixes per architecture (from ../shared/models.md)
_EOS_FIX = {"qwen2": ("<|im_end|>", "<|endoftext|>"), "llama": ("<|im_end|>", "<|endoftext|>")}


def gguf_to_hf(gguf_path: Path, out_dir: Path, dtype: str = "bfloat16") -> Path:
    """Dequantize a GGUF file into a transformers model directory (idempotent)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir = Path(out_dir)
    if (out_dir / "config.json").exists() and any(out_dir.glob("*.safetensors")):
        return out_dir
    gguf_path = Path(gguf_path)
    log.info("dequantizing %s (takes a minute or two on CPU)", gguf_path)
    tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                 dtype=getattr(torch, dtype))
    arch = getattr(model.config, "model_type", "")
    eos, pad = _EOS_FIX.get(arch, (None, None))
    vocab = tok.get_vocab()
    if eos and eos in vocab:
        tok.eos_token = eos
        model.config.eos_token_id = vocab[eos]
        if model.generation_config is not None:
            ids = model.generation_config.eos_token_id
            ids = ids if isinstance(ids, list) else [ids] if ids is not None else []
            model.generation_config.eos_token_id = sorted(set(ids) | {vocab[eos]})
    if pad and pad in vocab and tok.pad_token is None:
        tok.pad_token = pad
    # transformers refuses to save a GGUF-loaded model while it carries the quantizer
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    (out_dir / "rarelang_source.json").write_text(json.dumps({"gguf": gguf_path.name, "dtype": dtype}) + "\n")
    return out_dir
