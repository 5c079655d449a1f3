"""The caller's language preference: GET, and PUT/PATCH to change it ("" follows Accept-Language again)."""

from __future__ import annotations

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.choices import Language
from apps.core.i18n import user_language_get, user_language_set
from apps.core.permissions import Authenticated
from apps.core.viewsets import BaseAPIView


class LanguagePreferenceSerializer(serializers.Serializer):  # type: ignore[type-arg]
    language = serializers.ChoiceField(
        choices=Language.choices,
        allow_blank=True,
        help_text=_("en or zh-hans; blank: follow the Accept-Language header (English by default)."),
    )
    active = serializers.CharField(read_only=True, help_text=_("The language this response is in."))


class LanguagePreferenceView(BaseAPIView):
    """The caller's language. It wins over Accept-Language for every request the caller makes (API and admin)."""

    permission_classes = [Authenticated]
    serializer_class = LanguagePreferenceSerializer

    def _body(self, language: str) -> dict[str, str]:
        return {"language": language, "active": translation.get_language() or ""}

    @extend_schema(responses=LanguagePreferenceSerializer)
    def get(self, request: Request) -> Response:
        return Response(self._body(user_language_get(user=request.user)))

    @extend_schema(request=LanguagePreferenceSerializer, responses=LanguagePreferenceSerializer)
    def put(self, request: Request) -> Response:
        serializer = LanguagePreferenceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        language = serializer.validated_data["language"]
        with transaction.atomic():
            user_language_set(user=request.user, language=language)
        translation.activate(language or translation.get_language_from_request(request._request))
        return Response(self._body(language))

    @extend_schema(request=LanguagePreferenceSerializer, responses=LanguagePreferenceSerializer)
    def patch(self, request: Request) -> Response:
        return self.put(request)
