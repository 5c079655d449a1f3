"""The suite's tool registry: functions that models (through the chat gateway) and agents may call for a user.

Each app registers the tools it owns from its ``AppConfig.ready()``; the lower layers (chat, agents) only consume the
registry, so they never import the apps whose data the tools read::

    class ErpConfig(AppConfig):
        def ready(self) -> None:
            from apps.core.tools import register_tool
            from . import tools

            register_tool(name="erp_lookup", description="...", parameters={"type": "object", ...},
                          permission="erp.read", handler=tools.erp_lookup_tool)

A run (``tool_run``) is checked the way the REST API checks a request: the calling user must hold the tool's
permission and, when they act through an API key limited to scopes, the key must allow it. The arguments are
validated against the tool's JSON schema before the handler runs, the handler runs with the caller's ``ToolContext``
(so every read it makes is narrowed to what that user may see), and every run, refused or not, is audited.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.utils.translation import gettext
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .choices import AuditAction, AuditOutcome
from .exceptions import ApplicationError, Forbidden, NotFound, ValidationFailed
from .models import ApiKey
from .permissions import request_api_key, user_has_perm
from .roles import PERMISSIONS
from .services import MASK, audit_record, is_sensitive_field

# OpenAI's rule for function names, which every upstream we speak to follows.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SUMMARY_KEYS = 20
_SUMMARY_CHARS = 200


@dataclass
class ToolContext:
    """Who is calling: the user and, for API-key calls, the key (whose scopes narrow the user's permissions)."""

    user: Any
    api_key: ApiKey | None = None

    def has_perm(self, perm: str) -> bool:
        return user_has_perm(self.user, perm, api_key=self.api_key)


ToolHandler = Callable[[ToolContext, dict[str, Any]], Any]


@dataclass(frozen=True, eq=False)
class Tool:
    """One registered tool. ``parameters`` is the JSON schema of its arguments (an object); ``handler(ctx, args)``
    gets arguments that passed it and returns JSON-safe data, raising ``ApplicationError`` for domain errors."""

    name: str
    description: str
    parameters: dict[str, Any]
    permission: str
    handler: ToolHandler
    validator: Draft202012Validator

    @property
    def permissions(self) -> tuple[str, ...]:
        return (self.permission,)

    def allowed(self, ctx: ToolContext) -> bool:
        return ctx.has_perm(self.permission)

    def spec(self) -> dict[str, Any]:
        """The tool as offered in an OpenAI ``tools`` list."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


class ToolFailed(ApplicationError):
    """The tool ran and its handler refused (an unknown record, an invalid value): the handler's code, message and
    details, as a 400 (a 404 from this registry always means the tool itself is unknown)."""

    default_code = "tool_failed"


_REGISTRY: dict[str, Tool] = {}


# --- registration ---------------------------------------------------------------------------------------------------


def register_tool(
    *, name: str, description: str, parameters: dict[str, Any], permission: str, handler: ToolHandler
) -> Tool:
    """Add a tool to the registry (from the owning app's ``AppConfig.ready()``). A name already taken, an unknown
    permission or a schema that is not a valid JSON schema of an object is a configuration error."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ImproperlyConfigured(f"Tool name {name!r} must be 1-64 letters, digits, '_' or '-'.")
    if name in _REGISTRY:
        raise ImproperlyConfigured(f"A tool named {name!r} is already registered.")
    if not isinstance(description, str) or not description.strip():
        raise ImproperlyConfigured(f"Tool {name!r} needs a description (the model reads it to choose the tool).")
    if permission not in PERMISSIONS:
        raise ImproperlyConfigured(f"Tool {name!r} needs a permission of the suite; {permission!r} is not one.")
    if not callable(handler):
        raise ImproperlyConfigured(f"Tool {name!r}: the handler is not callable.")
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        raise ImproperlyConfigured(f"Tool {name!r}: parameters must be the JSON schema of an object.")
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as exc:
        raise ImproperlyConfigured(f"Tool {name!r}: parameters are not a valid JSON schema: {exc.message}") from exc
    tool = Tool(
        name=name,
        description=description.strip(),
        parameters=parameters,
        permission=permission,
        handler=handler,
        validator=Draft202012Validator(parameters),
    )
    _REGISTRY[name] = tool
    return tool


def unregister_tool(name: str) -> None:
    """Remove a tool (for tests and for an app being unloaded); an unknown name is ignored."""
    _REGISTRY.pop(name, None)


# --- reads ----------------------------------------------------------------------------------------------------------


def registered_tools() -> list[Tool]:
    """Every registered tool, by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_tool(name: str) -> Tool | None:
    return _REGISTRY.get(name)


def tools_available_to(request: Any = None, *, user: Any = None, api_key: ApiKey | None = None) -> list[Tool]:
    """The registered tools the caller may run, by name: from a DRF ``request`` (its user and API key) or from a
    ``user`` and the ``api_key`` they act through."""
    ctx = _context(request, user=user, api_key=api_key)
    return [tool for tool in registered_tools() if tool.allowed(ctx)]


def _context(request: Any, *, user: Any, api_key: ApiKey | None) -> ToolContext:
    if request is not None:
        return ToolContext(user=request.user, api_key=request_api_key(request))
    return ToolContext(user=user, api_key=api_key)


# --- running --------------------------------------------------------------------------------------------------------


def tool_run(*, name: str, arguments: str | dict[str, Any] | None, user: Any, api_key: ApiKey | None = None) -> Any:
    """Run one tool as ``user`` (through ``api_key`` when given) and return what its handler returns.

    Raises ``NotFound`` for an unknown tool, ``Forbidden`` when the caller lacks the tool's permission (or the key
    lacks the scope), ``ValidationFailed`` (code ``invalid_arguments``, the schema errors in ``details``) for
    arguments that are not a JSON object matching the schema, and ``ToolFailed`` for a domain error of the handler.
    Each run is audited with the tool's name, a summary of the arguments and the outcome.
    """
    ctx = ToolContext(user=user, api_key=api_key)
    tool = _REGISTRY.get(name)
    if tool is None:
        _audit(ctx, name, arguments, AuditOutcome.FAILURE, "unknown tool")
        raise NotFound(gettext("Unknown tool '%(name)s'.") % {"name": name}, code="unknown_tool")
    if not tool.allowed(ctx):
        _audit(ctx, name, arguments, AuditOutcome.DENIED, f"refused: needs {tool.permission}")
        raise Forbidden(
            gettext("Permission denied: the tool '%(name)s' needs %(permission)s.")
            % {"name": name, "permission": tool.permission},
            code="permission_denied",
        )
    try:
        parsed = parse_arguments(tool, arguments)
    except ValidationFailed:
        _audit(ctx, name, arguments, AuditOutcome.FAILURE, "refused: invalid arguments")
        raise
    try:
        result = tool.handler(ctx, parsed)
    except ApplicationError as exc:
        _audit(ctx, name, parsed, AuditOutcome.FAILURE, f"failed: {exc.code}")
        raise ToolFailed(exc.message, code=exc.code, details=exc.details) from exc
    except Exception as exc:
        # a database error may have broken the surrounding transaction: the audit row is lost then, the error is not
        with contextlib.suppress(DatabaseError):
            _audit(ctx, name, parsed, AuditOutcome.FAILURE, f"failed: {exc.__class__.__name__}")
        raise
    _audit(ctx, name, parsed, AuditOutcome.SUCCESS, "ran")
    return result


def parse_arguments(tool: Tool, arguments: str | dict[str, Any] | None) -> dict[str, Any]:
    """The arguments as a dict that satisfies the tool's schema (JSON text is parsed first); ValidationFailed with
    every schema error (path and message) otherwise."""
    parsed: Any = arguments
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        parsed = {}
    elif isinstance(arguments, str | bytes):
        try:
            parsed = json.loads(arguments)
        except ValueError as exc:
            raise ValidationFailed(
                gettext("The arguments are not valid JSON."),
                code="invalid_arguments",
                details=[{"path": "", "message": str(exc)}],
            ) from exc
    if not isinstance(parsed, dict):
        raise ValidationFailed(
            gettext("The arguments must be a JSON object."),
            code="invalid_arguments",
            details=[
                {"path": "", "message": gettext("Expected an object, got %(type)s.") % {"type": type(parsed).__name__}}
            ],
        )
    errors = sorted(tool.validator.iter_errors(parsed), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        details = [{"path": "/".join(str(p) for p in e.absolute_path), "message": e.message} for e in errors]
        raise ValidationFailed(
            gettext("The arguments do not match the schema of '%(name)s': %(error)s")
            % {"name": tool.name, "error": details[0]["message"]},
            code="invalid_arguments",
            details=details,
        )
    return parsed


def arguments_summary(arguments: Any) -> Any:
    """What the audit keeps of the arguments: at most 20 keys, long strings cut, secret-looking keys masked."""
    if isinstance(arguments, str | bytes):
        text = arguments.decode(errors="replace") if isinstance(arguments, bytes) else arguments
        return {"raw": text[:_SUMMARY_CHARS]}
    if not isinstance(arguments, dict):
        return {"raw": repr(arguments)[:_SUMMARY_CHARS]}
    summary: dict[str, Any] = {}
    for key in list(arguments)[:_SUMMARY_KEYS]:
        value = arguments[key]
        if is_sensitive_field(str(key)):
            summary[str(key)] = MASK
        elif isinstance(value, bool | int | float) or value is None:
            summary[str(key)] = value
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            summary[str(key)] = text if len(text) <= _SUMMARY_CHARS else text[:_SUMMARY_CHARS] + "..."
    if len(arguments) > _SUMMARY_KEYS:
        summary["..."] = f"{len(arguments) - _SUMMARY_KEYS} more"
    return summary


def _audit(ctx: ToolContext, name: str, arguments: Any, outcome: str, what: str) -> None:
    user = ctx.user if getattr(ctx.user, "is_authenticated", False) else None
    audit_record(
        action=AuditAction.ACTION,
        actor=user,
        api_key=ctx.api_key,
        outcome=outcome,
        target_type="tool",
        target_id=name[:64],
        changes={"tool": name[:_SUMMARY_CHARS], "arguments": arguments_summary(arguments)},
        message=f"tool {name}: {what}",
    )
