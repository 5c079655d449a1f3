"""JWT refresh-token housekeeping."""

from __future__ import annotations

from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken


def tokens_flush_expired() -> int:
    """Delete expired refresh tokens (and their blacklist rows); returns how many were removed."""
    deleted, _ = OutstandingToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
