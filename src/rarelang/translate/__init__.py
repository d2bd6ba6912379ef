"""Stage 2: a teacher LLM turns each Python problem into a prompt, a solution and unit tests in
Julia / R. Every request goes through a content-addressed cache (re-runs and crashes cost
nothing already done)."""
