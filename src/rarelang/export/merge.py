"""A LoRA adapter merged into its base model (peft ``merge_and_unload``): one transformers folder that
any tool loading transformers models (and llama.cpp's converter) reads without peft."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any


def merge_adapter(base_dir: Path, adapter: Path, out_dir: Path, dtype: str = "bfloat16",
                  provenance: dict[str, Any] | None = None) -> Path:
    """Merge ``adapter`` into the transformers model in ``base_dir`` and save it, with the base's tokenizer
    and generation settings, as ``out_dir`` (made under a temporary name and renamed when whole). The merge is
    done in float32 and the result saved in ``dtype`` (the committed adapters and their base are bfloat16)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir = Path(out_dir)
    part = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(part, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    model = model.to(getattr(torch, dtype))
    model.save_pretrained(part, safe_serialization=True)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(part)
    (part / "rarelang_merge.json").write_text(json.dumps(
        {"base": str(base_dir), "adapter": str(adapter), "dtype": dtype, **(provenance or {})}, indent=1) + "\n")
    card = Path(adapter) / "README.md"
    if card.exists():                                   # the adapter's model card travels with the merged model
        shutil.copyfile(card, part / "ADAPTER_README.md")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    part.replace(out_dir)
    return out_dir
