"""Languages: English by default, Simplified Chinese on request.

The language of a request, first match wins:

1. the user's saved preference (``UserPreference.language``): for session users (the admin, the browsable API) from
   ``UserLanguageMiddleware``; for JWT and API-key users, who are authenticated inside DRF, from the base views'
   ``perform_authentication`` (``apps.core.viewsets.UserLanguageMixin``), before permissions are checked;
2. the language picked with the admin's switcher (the ``django_language`` cookie), else the ``Accept-Language`` header
   (``django.middleware.locale.LocaleMiddleware``);
3. ``settings.LANGUAGE_CODE``: English.

The admin's switcher posts to ``language_switch``, which saves the choice as the signed-in user's preference, so the
preference and the cookie never disagree. The API reads and changes the preference at ``/api/v1/auth/me/language/``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from . import caching
from .choices import AuditAction
from .exceptions import ValidationFailed
from .models import UserPreference
from .services import audit_record, model_snapshot, snapshot_diff


def user_language_get(*, user: Any) -> str:
    """The user's saved language, "" when none (follow Accept-Language). Cached until a preference changes."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""

    def compute() -> str:
        return UserPreference.objects.filter(user_id=user.pk).values_list("language", flat=True).first() or ""

    return caching.cached(f"core:language:{user.pk}", [caching.model_namespace(UserPreference)], compute)


def user_language_set(*, user: Any, language: str, actor: Any = None) -> UserPreference:
    """Save ``user``'s language ("" to follow Accept-Language again)."""
    if language and language not in dict(settings.LANGUAGES):
        raise ValidationFailed(
            translation.gettext("Unknown language %(language)s.") % {"language": language},
            code="invalid_language",
            details={
                "language": [
                    translation.gettext("One of %(languages)s, or blank.")
                    % {"languages": ", ".join(code for code, _name in settings.LANGUAGES)}
                ]
            },
        )
    preference: UserPreference
    preference, _created = UserPreference.objects.select_for_update().get_or_create(user=user)
    before = model_snapshot(preference)
    if preference.language != language:
        preference.language = language
        preference.full_clean()
        preference.save()
        audit_record(
            action=AuditAction.UPDATE,
            actor=actor or user,
            target=preference,
            changes=snapshot_diff(before, model_snapshot(preference)),
        )
    return preference


def activate_user_language(request: Any, user: Any) -> None:
    """Switch the current thread (and ``request.LANGUAGE_CODE``) to ``user``'s saved language, if any."""
    language = user_language_get(user=user)
    if language:
        translation.activate(language)
        request.LANGUAGE_CODE = language
        django_request = getattr(request, "_request", None)  # a DRF request wraps Django's
        if django_request is not None:
            django_request.LANGUAGE_CODE = language


class UserLanguageMiddleware:
    """After AuthenticationMiddleware: a session user's saved language overrides the cookie and Accept-Language.
    Looks the user up lazily, only when the session has one."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and request.session.get("_auth_user_id"):
            activate_user_language(request, user)
        response: HttpResponse = self.get_response(request)
        return response


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    """The admin's language switcher: Django's ``set_language`` (cookie, redirect to ``next``), and for a signed-in
    user the choice becomes their saved preference."""
    language = request.POST.get("language", "")
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and language in dict(settings.LANGUAGES):
        with transaction.atomic():
            user_language_set(user=user, language=language)
    return set_language(request)
