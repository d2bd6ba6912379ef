"""A tiny random Qwen2 model and a matching tokenizer, built offline (no hub).

The vocabulary is made of whole program lines, so that whatever the random model samples is a
valid Julia or R program whose tests may pass or fail: GRPO groups then have reward variance,
and a real GRPO step has a real gradient.
"""

from __future__ import annotations

from pathlib import Path

CODE_LINES = [
    "f(x) = x + 1\n", "f(x) = x\n", "f(x) = 2x\n", "f(x) = error(\"no\")\n",
    "f <- function(x) x + 1\n", "f <- function(x) x\n", "f <- function(x) 2 * x\n",
    "f <- function(x) stop('no')\n", "# note\n", "\n",
]
SPECIALS = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }} {{ m['content'] }}<|im_end|>{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant {% endif %}")


def build_tiny(path: Path, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    vocab = {tok: i for i, tok in enumerate(SPECIALS + CODE_LINES)}   # prompt words all map to <unk>
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", bos_token=None,
                                  additional_special_tokens=["<|im_start|>"])
    tok.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<|endoftext|>"],
                      bos_token_id=None, tie_word_embeddings=False)
    model = Qwen2ForCausalLM(cfg)
    with torch.no_grad():   # make the end token unlikely, so completions hold a few lines
        model.lm_head.weight[vocab["<|im_end|>"]] -= 2.0
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
