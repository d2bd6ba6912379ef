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


# ------------------------------------------------------------------ a tiny model that calls tools
# For multi-turn GRPO (TRL's environment_factory): Qwen2.5's chat template (which TRL parses tool calls
# for), a byte-level vocabulary without merges (so any rendered conversation encodes and decodes as itself), and
# whole "moves" as single tokens: code lines, fenced answers and run_tests tool calls. The model never
# samples a bare character: dimension 0 of the residual stream is held constant (embeddings' column 0,
# no layer writes it), so lm_head's column 0 is a per-token bias — very negative for characters,
# positive for the end token (short turns, so a tool call is often the last move of a turn).
TOOL_MOVES = [
    "f(x) = x + 1\n", "f <- function(x) x + 1\n", "Let me test it.\n",
    "```julia\nf(x) = x + 1\n```", "```julia\nf(x) = x\n```", "```julia\nf(x) = error(\"no\")\n```",
    "```r\nf <- function(x) x + 1\n```", "```r\nf <- function(x) x\n```", "```r\nf <- function(x) stop('no')\n```",
    '<tool_call>\n{"name": "run_tests", "arguments": {"code": "f(x) = x + 1"}}\n</tool_call>',
    '<tool_call>\n{"name": "run_tests", "arguments": {"code": "f(x) = x"}}\n</tool_call>',
    '<tool_call>\n{"name": "run_tests", "arguments": {"code": "f <- function(x) x + 1"}}\n</tool_call>',
    '<tool_call>\n{"name": "run_tests", "arguments": {"code": "f <- function(x) x"}}\n</tool_call>',
]


def build_tiny_tools(path: Path, seed: int = 0, end_bias: float = 0.25) -> Path:
    import torch
    import trl
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    chars = sorted(pre_tokenizers.ByteLevel.alphabet())       # byte-level, as Qwen's own tokenizer
    specials = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {tok: i for i, tok in enumerate(specials + chars)}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    tk.add_tokens([AddedToken(m, special=False, normalized=False) for m in TOOL_MOVES])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", bos_token=None,
                                  additional_special_tokens=["<|im_start|>"])
    tok.chat_template = (Path(trl.__file__).parent / "chat_templates" / "qwen2_5.jinja").read_text(encoding="utf-8")
    n = len(tok)
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=n, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=4096, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, bos_token_id=None, tie_word_embeddings=False)
    model = Qwen2ForCausalLM(cfg)
    with torch.no_grad():
        m = model.model
        m.embed_tokens.weight[:, 0] = 8.0                       # a constant dimension ...
        for layer in m.layers:                                   # ... that no layer writes to
            layer.self_attn.o_proj.weight[0, :] = 0.0
            layer.mlp.down_proj.weight[0, :] = 0.0
        head = model.lm_head.weight
        moves = [tok.convert_tokens_to_ids(t) for t in TOOL_MOVES]
        head[:, 0] = -20.0                                       # characters and specials: never
        head[moves, 0] = 0.0
        head[moves, 1:] *= 6.0                                   # moves: a random, context-dependent choice
        head[tok.eos_token_id, 0] = end_bias                    # the end of a turn: likely
        head[tok.eos_token_id, 1:] = 0.0
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def build_answering(path: Path, answer: list[str]) -> Path:
    """A tiny model whose greedy (and low-temperature) answer to any prompt is ``answer`` — lines of
    CODE_LINES, each at most once — then the end token: a real model, generated from through the real
    generation code, whose programs are known, so that a test can say which tests they pass.

    Every layer's output projections are zero, so the residual stream at a position is the embedding of
    its token alone; embeddings are one-hot, and the output matrix maps each token to the one after it
    (the token a prompt ends with → the first line → … → ``<|im_end|>``)."""
    import torch
    from transformers import AutoModelForCausalLM

    build_tiny(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    vocab = {tok: i for i, tok in enumerate(SPECIALS + CODE_LINES)}
    if len(set(answer)) != len(answer) or not set(answer) <= set(CODE_LINES):
        raise ValueError("the answer must be distinct lines of CODE_LINES")
    chain = [*answer, "<|im_end|>"]
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.zero_()
        model.model.embed_tokens.weight[:, :len(vocab)] = torch.eye(len(vocab))
        model.lm_head.weight.zero_()
        for t in set(vocab) - set(answer):                 # whatever the prompt ends with → the first line
            model.lm_head.weight[vocab[chain[0]], vocab[t]] = 10.0
        for a, b in zip(chain, chain[1:]):
            model.lm_head.weight[vocab[b], vocab[a]] = 10.0
    model.save_pretrained(path)
    return path


def build_tiny_qwen2(path: Path, vocab_gguf: Path, seed: int = 0) -> Path:
    """A tiny random Qwen2 model with Qwen2's real tokenizer, read from ``vocab_gguf`` (llama.cpp's
    ``ggml-vocab-qwen2.gguf``, a vocabulary without weights): what llama.cpp's converter and loader accept as
    a Qwen2 model. Its greedy choices are far apart (so that an f16 copy makes the same ones): embeddings are
    large next to what the random layers add, and the output matrix is the embedding matrix with its rows
    shuffled, so each token has one clear successor (its logit leads the next by ~25, where llama.cpp's f16
    arithmetic moves logits by ~0.01)."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tok = AutoTokenizer.from_pretrained(vocab_gguf.parent, gguf_file=vocab_gguf.name)
    tok.eos_token = "<|im_end|>"
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      tie_word_embeddings=False, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
                      bos_token_id=None, pad_token_id=tok.pad_token_id)
    model = Qwen2ForCausalLM(cfg)
    with torch.no_grad():
        emb = model.model.embed_tokens.weight
        emb.normal_(0, 1.0)
        model.lm_head.weight.copy_(emb[torch.randperm(emb.shape[0])])
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def build_tiny_lora(model_dir: Path, path: Path, seed: int = 0) -> Path:
    """A LoRA adapter for a tiny model with random, non-zero weights on every projection (peft starts B at
    zero, which would make merging it a no-op)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    cfg = LoraConfig(r=4, lora_alpha=8, init_lora_weights=False, task_type="CAUSAL_LM",
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    peft_model = get_peft_model(model, cfg)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.1)
    peft_model.save_pretrained(path)
    return path
