from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext

from . import context
from .exceptions import error_response, payload_too_large_message, too_large_details


class RequestContextMiddleware:
    """Gives every request an id (honouring a sane incoming X-Request-ID) and echoes it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ctx = context.begin(request)
        request.request_id = ctx.request_id  # type: ignore[attr-defined]
        try:
            response = self.get_response(request)
        finally:
            context.clear()  # nothing of this request may leak into work done later on this thread
        response["X-Request-ID"] = ctx.request_id
        return response


def body_limit(content_type: str) -> int:
    """The largest body accepted for ``content_type``: AISTACK_MAX_BODY_BYTES for multipart (file uploads; its text
    fields are still held to DATA_UPLOAD_MAX_MEMORY_SIZE while parsing), DATA_UPLOAD_MAX_MEMORY_SIZE for everything
    else (JSON, forms, raw bodies), which Django and DRF would otherwise read into memory and fail on with a 500."""
    whole: int = settings.AISTACK_MAX_BODY_BYTES
    if content_type.lower().startswith("multipart/"):
        return whole
    in_memory: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return whole if in_memory is None else min(whole, in_memory)


class BodySizeLimitMiddleware:
    """Refuses request bodies over the limit for their content type (see ``body_limit``) with 413 and the error body
    (the OpenAI shape under /v1/), before anything reads or parses them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("CONTENT_LENGTH") or "0"
        if not raw.isascii() or not raw.isdigit():
            return error_response(400, "bad_request", gettext("Content-Length is not a number."), path=request.path)
        length = int(raw)
        limit = body_limit(request.META.get("CONTENT_TYPE", ""))
        if length > limit:
            return error_response(
                413,
                "payload_too_large",
                payload_too_large_message(limit),
                too_large_details(limit=limit, size=length),
                path=request.path,
            )
        return self.get_response(request)
