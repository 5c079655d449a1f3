"""Plain Django views of the platform: health probes, guarded metrics, JSON error pages for API paths."""

from __future__ import annotations

import prometheus_client
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from django.views.defaults import bad_request, page_not_found, permission_denied, server_error

from . import context
from .exceptions import error_response, payload_too_large_message, too_large_details
from .health import run_checks
from .metrics import export_registry, metrics_client_allowed
from .services import audit_permission_denied


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database, migrations, cache and broker; 503 when any fails."""
    ok, checks = run_checks()
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for allow-listed addresses or a bearer token (METRICS_ALLOWED_IPS, METRICS_TOKEN)."""
    if not metrics_client_allowed(
        authorization=request.META.get("HTTP_AUTHORIZATION", ""), ip=context.client_ip(request)
    ):
        return error_response(403, "permission_denied", gettext("Metrics are not available to this client."))
    body = prometheus_client.generate_latest(export_registry())
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if context.is_api_path(request.path):
        if isinstance(exception, RequestDataTooBig):  # a form field over DATA_UPLOAD_MAX_MEMORY_SIZE, outside DRF
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return error_response(
                413,
                "payload_too_large",
                payload_too_large_message(limit),
                too_large_details(limit=limit),
                path=request.path,
            )
        return error_response(400, "bad_request", gettext("Bad request."), path=request.path)
    return bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Refusals outside DRF (the admin, plain views) are audited like the API's own."""
    audit_permission_denied(request=request, reason=str(exception) or "Permission denied")
    if context.is_api_path(request.path):
        return error_response(
            403, "permission_denied", gettext("You do not have permission to perform this action."), path=request.path
        )
    return permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if context.is_api_path(request.path):
        return error_response(
            404, "not_found", gettext("No endpoint at %(path)s.") % {"path": request.path}, path=request.path
        )
    return page_not_found(request, exception)


def _resolves_elsewhere(path: str) -> bool:
    try:
        return resolve(path).func is not api_not_found
    except Resolver404:
        return False


@csrf_exempt
def api_not_found(request: HttpRequest, unmatched: str = "") -> HttpResponse:
    """The last URL pattern under /api/ and /v1/: an unknown API path is a JSON 404 with the error body (the OpenAI
    shape under /v1/) whatever DEBUG says, instead of Django's HTML page. A GET missing its trailing slash is still
    redirected, as CommonMiddleware would; other methods are told the right address (a redirect would drop the
    body)."""
    path = request.path
    if settings.APPEND_SLASH and not path.endswith("/") and _resolves_elsewhere(f"{path}/"):
        if request.method in ("GET", "HEAD"):
            query = request.META.get("QUERY_STRING", "")
            return HttpResponsePermanentRedirect(f"{path}/" + (f"?{query}" if query else ""))
        return error_response(
            404,
            "not_found",
            gettext("No endpoint at %(path)s; did you mean %(path)s/?") % {"path": path},
            {"did_you_mean": f"{path}/"},
            path=path,
        )
    return error_response(404, "not_found", gettext("No endpoint at %(path)s.") % {"path": path}, path=path)


def handler500(request: HttpRequest) -> HttpResponse:
    if context.is_api_path(request.path):
        return error_response(
            500, "server_error", gettext("An unexpected error occurred; it has been logged."), path=request.path
        )
    return server_error(request)
