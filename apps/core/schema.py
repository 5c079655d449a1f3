"""The OpenAPI schema class of the API (REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]).

drf-spectacular documents the success response of each operation; this adds the error responses the API gives
(every one with the error body ``{"error": {"code", "message", "details"}}`` of apps.core.exceptions), so that a
client, and a fuzzer checking responses against the schema, knows every status an operation can answer:

- 400 ``invalid`` where the request carries anything to validate (a body or query parameters);
- 401 not signed in or bad credentials; 403 refused (a permission, a role, a CSRF check); 429 throttled or over quota;
- 404 where the path or the body names an object (one that does not exist or that the caller may not see), on
  paginated lists (a page past the end) and where ``?format=`` chooses the representation (DRF answers a format it
  does not render with 404);
- 409 on writes (a record still referenced, a unique value taken, a state that does not allow the change);
- 413 and 415 where there is a body (too large, a content type no parser reads).

An operation's own ``@extend_schema(responses=...)`` entries are kept as they are.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(help_text="A stable machine-readable code (invalid, not_found, conflict, ...).")
    message = serializers.CharField(help_text="A readable explanation.")
    details = serializers.JSONField(allow_null=True, help_text="Field errors or other structured details, or null.")


class ErrorSerializer(serializers.Serializer[Any]):
    error = ErrorDetailSerializer()


_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class AutoSchema(SpectacularAutoSchema):
    def _error_status_codes(self, operation: dict[str, Any]) -> list[str]:
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        public = any(isinstance(p, AllowAny) for p in self.view.get_permissions())
        codes = ["401", "429"]
        if has_body or any(p.get("in") == "query" for p in parameters):
            codes.append("400")
        if not public:
            codes.append("403")
        names_object = any(p.get("in") == "path" for p in parameters)
        chooses_format = any(p.get("in") == "query" and p.get("name") == "format" for p in parameters)
        paginated_list = bool(self._get_paginator()) and self._is_list_view()  # type: ignore[no-untyped-call]
        if names_object or chooses_format or has_body or paginated_list:
            codes.append("404")
        if self.method in _WRITES:
            codes.append("409")
        if has_body:
            codes.extend(["413", "415"])
        return sorted(codes)

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in self._error_status_codes(operation):
            if code not in responses:
                # errors are JSON whatever the operation renders otherwise (apps.core.exceptions)
                responses[code] = self._get_response_for_code(  # type: ignore[no-untyped-call]
                    ErrorSerializer, code, ["application/json"]
                )
        operation["responses"] = dict(sorted(responses.items()))
        return operation
