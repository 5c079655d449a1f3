"""Writes of the chat centre (see the modules)."""

from .conversations import (
    api_call_record,
    conversation_create,
    conversation_delete,
    conversation_send,
    conversation_update,
    feedback_set,
    record_turn,
)
from .engine import Completion, Result
from .providers import provider_test_connection

__all__ = [
    "Completion",
    "Result",
    "api_call_record",
    "conversation_create",
    "conversation_delete",
    "conversation_send",
    "conversation_update",
    "feedback_set",
    "provider_test_connection",
    "record_turn",
]
