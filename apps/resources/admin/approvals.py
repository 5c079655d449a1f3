"""Back office of approval requests: read, and approve or reject through the same services as the API (the same
rules: resources.manage, never one's own request)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core.admin_base import ReadOnlyModelAdmin
from apps.core.exceptions import ApplicationError

from ..models import ApprovalRequest
from ..services.approvals import approval_approve, approval_reject

MANAGE = "resources.manage"


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyModelAdmin):
    permission_read = MANAGE
    list_display = ["id", "action", "summary", "requester", "status", "decided_by", "created_at"]
    list_filter = ["status", "action"]
    search_fields = ["summary", "action", "requester__username"]
    list_select_related = ["requester", "decided_by"]
    actions = ["approve_requests", "reject_requests"]

    def _decide(self, request: HttpRequest, queryset: Any, decide: Any, done_message: str) -> None:
        done = 0
        for approval in queryset:
            try:
                result = decide(approval=approval, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"#{approval.pk}: {exc.message}", messages.ERROR)
                continue
            done += 1
            if result.error:
                self.message_user(request, f"#{approval.pk}: {result.error}", messages.WARNING)
        self.message_user(request, done_message % {"n": done})

    @admin.action(description=_("Approve and execute the selected requests"))
    def approve_requests(self, request: HttpRequest, queryset: Any) -> None:
        count = queryset.count()
        self._decide(
            request, queryset, approval_approve, ngettext("%(n)d request approved.", "%(n)d requests approved.", count)
        )

    @admin.action(description=_("Reject the selected requests"))
    def reject_requests(self, request: HttpRequest, queryset: Any) -> None:
        count = queryset.count()
        self._decide(
            request, queryset, approval_reject, ngettext("%(n)d request rejected.", "%(n)d requests rejected.", count)
        )
