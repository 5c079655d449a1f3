"""Chat centre: LLM providers, models with knowledge and tools, conversations, OpenAI-compatible API."""
