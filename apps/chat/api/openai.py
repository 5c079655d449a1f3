"""The OpenAI-compatible API at /v1/: models, chat completions (plain and streamed), embeddings.

Auth is the platform's (API key or JWT as ``Authorization: Bearer``) and ``chat.use`` is required. Errors use
OpenAI's body ``{"error": {"message", "type", "code"}}`` so OpenAI clients show them properly.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Generator, Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError, ValidationFailed
from apps.core.exceptions import api_exception_handler as core_handler
from apps.core.models import ApiKey
from apps.core.permissions import RequirePermission

from ..client import UpstreamError
from ..gateway import model_for, models_for
from ..knowledge import knowledge_embed
from ..services import Completion, api_call_record
from ..services.engine import PASSTHROUGH
from ..tools import ToolContext

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "server_error",
    504: "timeout",
}


def openai_error(status_code: int, message: str, code: str, type_: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": type_ or TYPES.get(status_code, "server_error"),
            "code": code,
            "param": None,
        }
    }


def openai_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """The suite's handler (status codes, audit of denials) with the body reshaped the way OpenAI clients expect."""
    response = core_handler(exc, context)
    error = (response.data or {}).get("error", {}) if isinstance(response.data, dict) else {}
    code = str(error.get("code") or "error")
    message = str(error.get("message") or gettext("Error."))
    if isinstance(exc, drf_exceptions.NotAuthenticated):
        message = gettext("Missing API key: send 'Authorization: Bearer <AI Stack API key>'.")
    details = error.get("details")
    if isinstance(details, dict) and code == "invalid":
        message = f"{message} {json.dumps(details, default=str)}"
    response.data = openai_error(response.status_code, message, code)
    return response


def _ctx(request: Request) -> ToolContext:
    return ToolContext(user=request.user, api_key=request.auth if isinstance(request.auth, ApiKey) else None)


def _model_object(model: Any) -> dict[str, Any]:
    return {
        "id": model.slug,
        "object": "model",
        "created": int(model.created_at.timestamp()),
        "owned_by": "aistack",
        "name": model.display_name,
    }


class OpenAIView(APIView):
    permission_classes = [RequirePermission("chat.use")]

    def get_exception_handler(self) -> Any:
        return openai_exception_handler


@extend_schema(exclude=True)  # documented by OpenAI's API reference
class ModelListView(OpenAIView):
    def get(self, request: Request) -> Response:
        return Response({"object": "list", "data": [_model_object(m) for m in models_for(request.user)]})


@extend_schema(exclude=True)
class ModelDetailView(OpenAIView):
    def get(self, request: Request, model_id: str) -> Response:
        return Response(_model_object(model_for(user=request.user, slug=model_id)))


def _number(data: dict[str, Any], name: str, kind: type, low: float, high: float) -> Any:
    value = data.get(name)
    if value is None:
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(
            gettext("%(name)s must be a number.") % {"name": name}, details={name: [gettext("Not a number.")]}
        ) from exc
    if isinstance(value, bool) or not low <= number <= high:
        raise ValidationFailed(
            gettext("%(name)s must be between %(low)s and %(high)s.") % {"name": name, "low": low, "high": high},
            details={name: [gettext("Out of range.")]},
        )
    return number


def _usage(result: Any) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def _sse(payload: Any) -> bytes:
    return f"data: {json.dumps(payload, default=str)}\n\n".encode()


@extend_schema(exclude=True)
class ChatCompletionsView(OpenAIView):
    def post(self, request: Request) -> Any:
        data = request.data if isinstance(request.data, dict) else {}
        if not data.get("model"):
            raise ValidationFailed(
                gettext("model is required."), details={"model": [gettext("This field is required.")]}
            )
        model = model_for(user=request.user, slug=str(data["model"]))
        tools = data.get("tools")
        if tools is not None and not (isinstance(tools, list) and all(isinstance(t, dict) for t in tools)):
            raise ValidationFailed(
                gettext("tools must be a list of tool objects."), details={"tools": [gettext("Not a list.")]}
            )
        stream_options = data.get("stream_options") if isinstance(data.get("stream_options"), dict) else {}
        completion = Completion(
            ctx=_ctx(request),
            model=model,
            messages=data.get("messages"),  # type: ignore[arg-type]
            temperature=_number(data, "temperature", float, 0.0, 2.0),
            max_tokens=_number(data, "max_tokens", int, 1, 1_000_000)
            or _number(data, "max_completion_tokens", int, 1, 1_000_000),
            client_tools=tools,
            tool_choice=data.get("tool_choice"),
            stream=bool(data.get("stream")),
            options={name: data.get(name) for name in PASSTHROUGH},
        )
        ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if completion.stream:
            events = completion.events()
            first = next(events, None)
            if first is None and completion.result.error is not None:
                # failed before the first token: a plain error response with the matching status, as OpenAI does
                api_call_record(completion=completion)
                raise completion.result.error
            response = StreamingHttpResponse(
                self._stream(completion, first, events, ident, created, bool(stream_options.get("include_usage"))),
                content_type="text/event-stream",
            )
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"
            return response

        completion.run()
        api_call_record(completion=completion)
        result = completion.result
        if result.error is not None:
            raise result.error
        message: dict[str, Any] = {"role": "assistant", "content": result.content or None}
        if result.client_tool_calls:
            message["tool_calls"] = result.client_tool_calls
        body = {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": model.slug,
            "choices": [{"index": 0, "message": message, "finish_reason": result.finish_reason, "logprobs": None}],
            "usage": _usage(result),
            "citations": result.citations,
        }
        if result.notes:
            body["notes"] = result.notes
        return Response(body)

    def _stream(
        self,
        completion: Completion,
        first: str | None,
        events: Generator[str, None, None],
        ident: str,
        created: int,
        include_usage: bool,
    ) -> Iterator[bytes]:
        slug = completion.model.slug

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            return _sse(
                {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": slug,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                    **extra,
                }
            )

        finished = False
        try:
            yield chunk({"role": "assistant", "content": ""})
            if first is not None:
                yield chunk({"content": first})
            for piece in events:
                yield chunk({"content": piece})
            finished = True
        finally:
            if not finished:
                completion.cancel()
                events.close()
            api_call_record(completion=completion)
        result = completion.result
        if result.error is not None:
            error = result.error
            status_code = error.status_code if isinstance(error, ApplicationError) else 500
            yield _sse(openai_error(status_code, error.message, error.code))
            yield b"data: [DONE]\n\n"
            return
        if result.client_tool_calls:
            calls = [{"index": i, **call} for i, call in enumerate(result.client_tool_calls)]
            yield chunk({"tool_calls": calls})
        extra: dict[str, Any] = {"citations": result.citations} if result.citations else {}
        yield chunk({}, result.finish_reason, **extra)
        if include_usage:
            yield _sse(
                {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": slug,
                    "choices": [],
                    "usage": _usage(result),
                }
            )
        yield b"data: [DONE]\n\n"


@extend_schema(exclude=True)
class EmbeddingsView(OpenAIView):
    """Embeddings through the knowledge base's configured embedding backend."""

    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        raw = data.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise ValidationFailed(
                gettext("input must be a string or a list of strings."), details={"input": [gettext("Invalid.")]}
            )
        if len(texts) > 2048:
            raise ValidationFailed(
                gettext("At most %(count)s inputs per request.") % {"count": 2048},
                details={"input": [gettext("Too many.")]},
            )
        vectors, name, tokens = knowledge_embed(user=request.user, texts=texts)
        return Response(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": [float(x) for x in v]}
                    for i, v in enumerate(vectors)
                ],
                "model": name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
            status=status.HTTP_200_OK,
        )


__all__ = ["ChatCompletionsView", "EmbeddingsView", "ModelDetailView", "ModelListView", "UpstreamError"]
