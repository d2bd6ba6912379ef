"""Evaluation: pass@k on the held-out split and MultiPL-E (HumanEval/MBPP, R and Julia)."""
