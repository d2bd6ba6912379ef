"""GRPO training with execution rewards from the sandbox (TRL's GRPOTrainer, peft LoRA)."""
