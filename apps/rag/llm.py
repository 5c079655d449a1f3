"""The OpenAI-compatible chat client used for generated answers (RAG_LLM_BASE_URL, RAG_LLM_MODEL,
RAG_LLM_API_KEY). Until the chat centre's provider layer exists this is the one LLM call of the knowledge base."""

from __future__ import annotations

from typing import Any

from . import conf
from .embeddings import EmbeddingError, post_json


class LLMError(EmbeddingError):
    default_code = "llm_unavailable"


def configured() -> bool:
    return bool(conf.llm_base_url() and conf.llm_model())


def chat(messages: list[dict[str, str]], *, temperature: float = 0.1) -> str:
    url = str(conf.llm_base_url()).rstrip("/") + "/chat/completions"
    payload: dict[str, Any] = {"model": conf.llm_model(), "messages": messages, "temperature": temperature}
    try:
        body = post_json(url, payload, api_key=conf.llm_api_key(), what="Language model endpoint")
    except EmbeddingError as exc:
        raise LLMError(exc.message, code="llm_unavailable") from exc
    try:
        return str(body["choices"][0]["message"]["content"]).strip()
    except (KeyError, IndexError, TypeError) as exc:
        raise LLMError("The language model's answer has no choices[0].message.content.") from exc
