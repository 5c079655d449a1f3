from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from . import context
from .exceptions import error_response


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


class BodySizeLimitMiddleware:
    """Refuses request bodies over AISTACK_MAX_BODY_BYTES with 413 before any view reads them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.AISTACK_MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "bad_request", "Content-Length is not a number.")
        if length > limit:
            return error_response(
                413,
                "payload_too_large",
                f"Request body of {length} bytes exceeds the limit of {limit} bytes.",
                {"limit": limit, "size": length},
            )
        return self.get_response(request)
