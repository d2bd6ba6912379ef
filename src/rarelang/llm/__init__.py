"""One LLM layer for translate (the teacher) and evaluate (train generates through TRL's own vLLM
path and shares only the model resolution, rarelang.models.resolve): model resolution
(``resolve_model_dir``, ``local_model``) and one generator interface, ``Generator.generate(prompts,
n, temperature, max_tokens, stop, seed, top_p) -> n texts per prompt``, where a prompt is a user
message (str) or a whole chat (a list of messages). Engines: transformers, vLLM, llama.cpp, any
OpenAI-compatible server, and replay of stored completions. ``make_generator`` builds one from a
spec (``evaluate.models.<name>``; the teacher maps ``translate.*`` onto the same spec)."""

from ..models.resolve import resolve_model_dir, vllm_available
from .factory import local_model, make_generator
from .generators import (Generator, LlamaCppGenerator, OpenAIGenerator, ReplayGenerator, TransformersGenerator,
                         VLLMGenerator, adapter_rank, start_vllm)

__all__ = ["Generator", "LlamaCppGenerator", "OpenAIGenerator", "ReplayGenerator", "TransformersGenerator",
           "VLLMGenerator", "adapter_rank", "local_model", "make_generator", "resolve_model_dir", "start_vllm",
           "vllm_available"]
