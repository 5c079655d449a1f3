"""Plain Django views of the platform: health probes, guarded metrics, JSON error pages for API paths."""

from __future__ import annotations

import prometheus_client
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.defaults import bad_request, page_not_found, permission_denied, server_error

from . import context
from .exceptions import error_response
from .health import run_checks
from .metrics import export_registry, metrics_client_allowed


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
        return error_response(403, "permission_denied", "Metrics are not available to this client.")
    body = prometheus_client.generate_latest(export_registry())
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if context.is_api_path(request.path):
        return error_response(400, "bad_request", "Bad request.")
    return bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Refusals outside DRF (the admin, plain views) are audited like the API's own."""
    from .services import audit_permission_denied

    audit_permission_denied(request=request, reason=str(exception) or "Permission denied")
    if context.is_api_path(request.path):
        return error_response(403, "permission_denied", "You do not have permission to perform this action.")
    return permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if context.is_api_path(request.path):
        return error_response(404, "not_found", f"No endpoint at {request.path}.")
    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if context.is_api_path(request.path):
        return error_response(500, "server_error", "An unexpected error occurred; it has been logged.")
    return server_error(request)
