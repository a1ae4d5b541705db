"""The answer stage: the answerers, the LLM's prompts and the factory."""
