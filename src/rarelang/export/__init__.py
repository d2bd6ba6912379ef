"""Export a trained model for the tools people run models with: the adapter merged into its base
(a transformers folder, ``merge``), GGUF files by llama.cpp's own converter and quantizer (``llamacpp``),
and a check that they answer as the merged model does (``agreement``). ``rarelang export``: ``command``."""
