"""The API-call meter as a DRF throttle (it runs after authentication, for every API view): each authenticated
request is counted, and refused with 429 ``quota_exceeded`` over the caller's ``api.calls`` limit. A counter store
that cannot be reached lets the request through (metering must not take the API down) and is logged."""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.core.models import ApiKey

from .services.api_calls import api_call_count

logger = logging.getLogger(__name__)


class ApiCallMeter(BaseThrottle):
    def allow_request(self, request: Request, view: Any) -> bool:
        user = request.user
        if not getattr(user, "is_authenticated", False) or not settings.RESOURCES_METER_API_CALLS:
            return True
        key = request.auth if isinstance(request.auth, ApiKey) else None
        try:
            user_id: int = user.pk  # type: ignore[assignment]  # an authenticated user is saved
            api_call_count(user_id=user_id, api_key_id=key.pk if key is not None else None)
        except (redis.RedisError, OSError):
            logger.warning("the API-call meter could not count a request", exc_info=True)
        return True
