"""Demo data: plans for the demo users (guest on Free, user on Basic, manager on Pro), an override, 30 days of
metered usage for the charts and quota bars, two compute pools with reservations, a pending limit request and one
host sample. Idempotent: a second run adds nothing."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.core.roles import ADMIN, GUEST, MANAGER, USER

from .choices import Meter, PoolKind, Priority
from .models import ApprovalRequest, Plan, PoolReservation, ResourcePool, UsageDaily
from .services.approvals import approval_request
from .services.metering import UsageLine, usage_write
from .services.monitoring import host_sample_take
from .services.plans import RAISE_LIMIT, plan_assign, quota_override_set
from .services.pools import pool_save, reservation_create

PLANS = {GUEST: "free", USER: "basic", MANAGER: "pro"}
MODELS = ("gpt-4o-mini", "qwen-plus", "deepseek-chat")


def _usage(user: Any, rng: random.Random, scale: int) -> None:
    """One line per meter and day, as the systems would have reported them."""
    today = timezone.now().date()
    for back in range(29, -1, -1):
        day = today - dt.timedelta(days=back)
        at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
        busy = 0.4 if day.weekday() >= 5 else 1.0
        lines = [UsageLine(Meter.API_CALLS, Decimal(int(rng.randint(20, 60) * scale * busy)), user.pk, None, "", 1)]
        for model in MODELS[: 1 + scale % 3]:
            tokens_in = int(rng.randint(800, 4000) * scale * busy)
            tokens_out = int(tokens_in * rng.uniform(0.2, 0.6))
            calls = max(1, tokens_in // 900)
            lines += [
                UsageLine(Meter.LLM_TOKENS_IN, Decimal(tokens_in), user.pk, None, model, calls),
                UsageLine(Meter.LLM_TOKENS_OUT, Decimal(tokens_out), user.pk, None, model, calls),
                UsageLine(Meter.LLM_TOKENS, Decimal(tokens_in + tokens_out), user.pk, None, model, calls),
                UsageLine(Meter.LLM_COST, Decimal(tokens_in + 3 * tokens_out) / 1_000_000, user.pk, None, model, calls),
                UsageLine(Meter.AI_CALLS, Decimal(calls), user.pk, None, model, calls),
            ]
        if day.weekday() < 5:
            lines.append(
                UsageLine(Meter.COMPUTE_SECONDS, Decimal(rng.randint(5, 90) * scale), user.pk, None, "backtest")
            )
        usage_write(lines, at=at)


def seed(*, stdout: Any = None) -> None:
    users = {u.username: u for u in get_user_model().objects.filter(username__in=[ADMIN, MANAGER, USER, GUEST])}
    if len(users) < 4 or UsageDaily.objects.filter(user__in=users.values()).exists():
        return
    admin, manager = users[ADMIN], users[MANAGER]
    rng = random.Random(14)
    with transaction.atomic():
        for username, code in PLANS.items():
            plan = Plan.objects.filter(code=code).first()
            if plan is not None:
                plan_assign(plan=plan, user=users[username], actor=admin)
        quota_override_set(
            user=users[GUEST], meter=Meter.AI_CALLS, period="month", limit=50, reason="Trial account", actor=admin
        )
        for scale, username in ((1, GUEST), (3, USER), (5, MANAGER), (2, ADMIN)):
            _usage(users[username], rng, scale)
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        cpu = pool_save(
            pool=ResourcePool(
                name="Backtest hosts", kind=PoolKind.HOST, capacity=16, unit="cores", queue_name="backtest"
            ),
            actor=admin,
        )
        gpu = pool_save(
            pool=ResourcePool(
                name="Inference GPUs", kind=PoolKind.GPU, capacity=4, unit="GPUs", gpu_memory_gb=Decimal(80)
            ),
            actor=admin,
        )
        for pool, user, amount, start, hours, priority, purpose in (
            (cpu, users[USER], 8, 0, 6, Priority.HIGH, "Quarter-end parameter sweep"),
            (cpu, manager, 4, 2, 10, Priority.MEDIUM, "Nightly strategy backtests"),
            (gpu, manager, 2, 1, 24, Priority.HIGH, "Embedding the policy archive"),
            (gpu, users[USER], 1, 30, 8, Priority.LOW, "Fine-tuning experiment"),
        ):
            reservation_create(
                pool=pool,
                user=user,
                amount=Decimal(amount),
                starts_at=now + dt.timedelta(hours=start),
                ends_at=now + dt.timedelta(hours=start + hours),
                priority=priority,
                purpose=purpose,
                actor=admin,
            )
        if not ApprovalRequest.objects.exists():
            approval_request(
                action=RAISE_LIMIT,
                payload={"meter": Meter.AI_CALLS, "period": "month", "limit": "2000", "reason": "Quarter-end reports"},
                requester=users[USER],
            )
    host_sample_take()  # each probe that fails leaves its readings empty
    if stdout is not None:
        stdout.write(
            f"  resources: plans for {len(PLANS)} users, 30 days of usage, "
            f"{PoolReservation.objects.count()} reservations, 1 pending approval"
        )
