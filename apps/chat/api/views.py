"""Back-office chat API: providers and models (administration), conversations and their messages, feedback, usage."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any, ClassVar

from django.db import models
from django.db.models import ProtectedError
from django.http import StreamingHttpResponse
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from apps.core.models import ApiKey
from apps.core.permissions import (
    ActionPermission,
    InteractiveLoginToWrite,
    RequirePermission,
    request_api_key,
    request_has_perm,
)
from apps.core.tools import tool_run as core_tool_run
from apps.core.tools import tools_available_to
from apps.core.viewsets import BaseModelViewSet, OwnedModelViewSet

from ..filtersets import ChatModelFilterSet, ConversationFilterSet, ProviderFilterSet
from ..models import ChatModel, Conversation, Message, Provider
from ..selectors import chat_model_for, models_usable_by, usage_summary
from ..services import (
    conversation_create,
    conversation_delete,
    conversation_send,
    conversation_update,
    feedback_set,
    provider_test_connection,
)
from ..tools import ToolContext
from .serializers import (
    ChatModelSerializer,
    ConnectionTestSerializer,
    ConversationSerializer,
    FeedbackSerializer,
    MessageSerializer,
    ProviderSerializer,
    SendSerializer,
    ToolResultSerializer,
    ToolRunSerializer,
    ToolSerializer,
    UsageQuerySerializer,
    UsageRowSerializer,
)
from .sse import sse_event

ADMIN_PERM = "core.audit"  # inspecting other people's conversations
# Providers (upstream credentials), models (prices, visibility) and everyone's usage are the suite's AI resources:
# managed by holders of resources.manage (admins and managers).
MANAGE_PERM = "resources.manage"


class ProviderViewSet(BaseModelViewSet):
    """Upstream LLM servers, managed by holders of resources.manage signed in as a person (a key may only read them:
    the upstream API key and URL are credentials); the API key is write-only."""

    queryset = Provider.objects.order_by("name")
    serializer_class = ProviderSerializer
    filterset_class = ProviderFilterSet
    search_fields: ClassVar[list[str]] = ["name"]
    ordering_fields: ClassVar[list[str]] = ["name", "created_at"]
    permission_classes: ClassVar[list[Any]] = [InteractiveLoginToWrite, ActionPermission]
    required_permissions: ClassVar[dict[str, str | tuple[str, ...]]] = {"read": MANAGE_PERM, "write": MANAGE_PERM}

    @extend_schema(request=None, responses=ConnectionTestSerializer)
    @action(detail=True, methods=["post"], url_path="test-connection")
    def test_connection(self, request: Request, pk: Any = None) -> Response:
        provider = self.get_object()
        outcome = provider_test_connection(provider=provider)
        self.audit_action(provider, message=f"connection test: {'ok' if outcome.ok else outcome.error}")
        return Response({"ok": outcome.ok, "models": outcome.models, "error": outcome.error})

    def destroy_object(self, instance: models.Model) -> None:
        try:
            super().destroy_object(instance)
        except ProtectedError as exc:
            raise Conflict(
                gettext("The provider still serves models; delete them or move them to another provider first."),
                code="provider_in_use",
                details={"models": sorted(str(obj) for obj in exc.protected_objects)[:50]},
            ) from exc


class ChatModelViewSet(BaseModelViewSet):
    """Models: chat users list the ones they may use; holders of resources.manage manage all of them."""

    queryset = ChatModel.objects.select_related("provider").prefetch_related("knowledge_bases", "visible_to_groups")
    serializer_class = ChatModelSerializer
    filterset_class = ChatModelFilterSet
    search_fields: ClassVar[list[str]] = ["slug", "display_name"]
    ordering_fields: ClassVar[list[str]] = ["slug", "created_at"]
    required_permissions: ClassVar[dict[str, str | tuple[str, ...]]] = {"read": "chat.use", "write": MANAGE_PERM}

    def get_queryset(self) -> Any:
        queryset = super().get_queryset().order_by("slug")
        if request_has_perm(self.request, MANAGE_PERM):
            return queryset
        return queryset.filter(pk__in=models_usable_by(self.request.user).values("pk"))

    def destroy_object(self, instance: models.Model) -> None:
        try:
            super().destroy_object(instance)
        except ProtectedError as exc:
            raise Conflict(
                gettext("The model has conversations; disable it instead of deleting it."),
                code="model_in_use",
                details={"conversations": len(exc.protected_objects)},
            ) from exc


def _ctx(request: Request) -> ToolContext:
    return ToolContext(user=request.user, api_key=request.auth if isinstance(request.auth, ApiKey) else None)


class ConversationViewSet(OwnedModelViewSet):
    """Own conversations (holders of core.audit may inspect everyone's). Others' conversations are 404."""

    queryset = Conversation.objects.select_related("owner", "model").order_by("-updated_at", "-id")
    serializer_class = ConversationSerializer
    filterset_class = ConversationFilterSet
    search_fields: ClassVar[list[str]] = ["title"]
    ordering_fields: ClassVar[list[str]] = ["updated_at", "created_at", "title"]
    required_permissions: ClassVar[dict[str, str | tuple[str, ...]]] = {"read": "chat.use", "write": "chat.use"}
    manage_permission = ADMIN_PERM

    def create_object(self, serializer: Any, **extra: Any) -> models.Model:
        model = chat_model_for(user=self.request.user, slug=serializer.validated_data["model"].slug)
        return conversation_create(
            owner=self.request.user, model=model, title=serializer.validated_data.get("title", "")
        )

    def update_object(self, serializer: Any) -> models.Model:
        conversation = serializer.instance
        if conversation.owner_id != self.request.user.pk:
            raise Forbidden(gettext("Only the owner can change a conversation."))
        data = dict(serializer.validated_data)
        if "model" in data:
            data["model"] = chat_model_for(user=self.request.user, slug=data["model"].slug)
        return conversation_update(conversation=conversation, actor=self.request.user, **data)

    def destroy_object(self, instance: models.Model) -> None:
        if getattr(instance, "owner_id", None) != self.request.user.pk:
            raise Forbidden(gettext("Only the owner can delete a conversation."))
        conversation_delete(conversation=instance, actor=self.request.user)  # type: ignore[arg-type]

    @extend_schema(responses=MessageSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="messages")
    def messages(self, request: Request, pk: Any = None) -> Response:
        conversation = self.get_object()
        queryset = (
            Message.objects.filter(conversation=conversation).select_related("model").order_by("created_at", "id")
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(
        request=SendSerializer,
        responses={201: MessageSerializer},
        description="Send a turn; with `stream: true` the answer arrives as Server-Sent Events "
        "(`event: delta` with text pieces, then `event: done` with the stored message, or `event: error`).",
    )
    @messages.mapping.post
    def send(self, request: Request, pk: Any = None) -> Any:
        conversation = self.get_object()
        serializer = SendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        completion, pieces = conversation_send(
            conversation=conversation,
            ctx=_ctx(request),
            content=serializer.validated_data["content"],
            stream=serializer.validated_data["stream"],
        )
        if serializer.validated_data["stream"]:
            first = next(pieces, None)
            if first is None and completion.result.error is not None:
                raise completion.result.error  # failed before the first token: a plain error with its status
            response = StreamingHttpResponse(_stream_turn(completion, first, pieces), content_type="text/event-stream")
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"
            return response
        for _ in pieces:
            pass
        if completion.result.error is not None:
            raise completion.result.error
        return Response(MessageSerializer(completion.recorded).data, status=status.HTTP_201_CREATED)  # type: ignore[attr-defined]


def _stream_turn(completion: Any, first: str | None, pieces: Generator[str, None, None]) -> Iterator[bytes]:
    finished = False
    try:
        if first is not None:
            yield sse_event("delta", {"content": first})
        for piece in pieces:
            yield sse_event("delta", {"content": piece})
        finished = True
    finally:
        if not finished:
            completion.cancel()
            pieces.close()  # records the partial answer, marked incomplete
    message = MessageSerializer(completion.recorded).data
    error = completion.result.error
    if error is not None:
        yield sse_event("error", {"code": error.code, "message": error.message, "message_id": message["id"]})
    else:
        yield sse_event("done", message)


class MessageFeedbackView(APIView):
    permission_classes = [RequirePermission("chat.use")]

    @extend_schema(request=FeedbackSerializer, responses={200: FeedbackSerializer})
    def post(self, request: Request, pk: int) -> Response:
        message = Message.objects.filter(pk=pk, conversation__owner=request.user).first()
        if message is None:
            raise NotFound(gettext("Message not found."))
        serializer = FeedbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feedback = feedback_set(message=message, user=request.user, **serializer.validated_data)
        return Response(FeedbackSerializer(feedback).data)


class UsageView(APIView):
    permission_classes = [RequirePermission("chat.use")]

    @extend_schema(
        parameters=[
            OpenApiParameter("date_from", str, description="YYYY-MM-DD"),
            OpenApiParameter("date_to", str, description="YYYY-MM-DD"),
            OpenApiParameter("group_by", str, enum=["model", "user", "day", "user_model"]),
            OpenApiParameter("everyone", bool, description="All users (needs core.audit)."),
        ],
        responses=UsageRowSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        everyone = params.pop("everyone")
        if everyone and not request_has_perm(request, MANAGE_PERM):
            raise Forbidden(gettext("Usage of everyone needs resources.manage."))
        rows = usage_summary(user=None if everyone else request.user, **params)
        return Response(UsageRowSerializer(rows, many=True).data)


class ToolListView(APIView):
    """The registered tools the caller may run (by permission and, for an API key, its scopes), each with the JSON
    schema of its arguments: what models can call on the caller's behalf."""

    permission_classes = [RequirePermission("chat.use")]

    @extend_schema(responses=ToolSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = [
            {
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
                "permissions": list(t.permissions),
            }
            for t in tools_available_to(request)
        ]
        return Response(ToolSerializer(rows, many=True).data)


class ToolRunView(APIView):
    """Run one tool directly with the caller's permissions (used by the Open WebUI tools file and scripts): 404 for
    an unknown tool, 403 without its permission, 400 for arguments that do not match its schema or a record the
    tool cannot find."""

    permission_classes = [RequirePermission("chat.use")]

    @extend_schema(request=ToolRunSerializer, responses=ToolResultSerializer)
    def post(self, request: Request, name: str) -> Response:
        if not isinstance(request.data, dict):
            raise ValidationFailed(
                gettext("The body must be a JSON object."), details={"arguments": [gettext("Send an object.")]}
            )
        result = core_tool_run(
            name=name, arguments=request.data.get("arguments"), user=request.user, api_key=request_api_key(request)
        )
        return Response({"tool": name, "result": result})
