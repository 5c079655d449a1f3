"""The plans a new installation starts with. "default" applies to everyone without a plan and limits nothing but what
the chat centre's daily token quota setting says; the tiers follow the original system's plans (free: 1 GB of
knowledge storage, 1,000 API calls a month, 100 documents, 100 AI calls a month) and can be edited in the admin."""

from django.db import migrations

GB = 1024**3
PLANS = {
    "default": ("Default", "custom", True, "Everyone without a plan: no limits beyond the daily token quota setting.", {}),
    "free": (
        "Free",
        "free",
        False,
        "1 GB of knowledge storage, 100 documents, 1,000 API calls and 100 AI calls a month.",
        {
            ("storage.bytes", "total"): GB,
            ("storage.documents", "total"): 100,
            ("api.calls", "month"): 1000,
            ("ai.calls", "month"): 100,
        },
    ),
    "basic": (
        "Basic",
        "basic",
        False,
        "10 GB, 1,000 documents, 10,000 API calls, 1,000 AI calls and 2 million tokens a month.",
        {
            ("storage.bytes", "total"): 10 * GB,
            ("storage.documents", "total"): 1000,
            ("api.calls", "month"): 10000,
            ("ai.calls", "month"): 1000,
            ("llm.tokens", "month"): 2_000_000,
        },
    ),
    "pro": (
        "Pro",
        "pro",
        False,
        "100 GB, 10,000 documents, 100,000 API calls, 10,000 AI calls and 20 million tokens a month, 100 CPU-hours.",
        {
            ("storage.bytes", "total"): 100 * GB,
            ("storage.documents", "total"): 10000,
            ("api.calls", "month"): 100000,
            ("ai.calls", "month"): 10000,
            ("llm.tokens", "month"): 20_000_000,
            ("compute.cpu_seconds", "month"): 360000,
        },
    ),
    "enterprise": ("Enterprise", "enterprise", False, "No limits; usage is metered and reported.", {}),
}


def create(apps, schema_editor):
    Plan = apps.get_model("resources", "Plan")
    PlanLimit = apps.get_model("resources", "PlanLimit")
    for code, (name, tier, is_default, description, limits) in PLANS.items():
        plan, _ = Plan.objects.get_or_create(
            code=code, defaults={"name": name, "tier": tier, "is_default": is_default, "description": description}
        )
        for (meter, period), limit in limits.items():
            PlanLimit.objects.get_or_create(plan=plan, meter=meter, period=period, defaults={"limit": limit})


def remove(apps, schema_editor):
    apps.get_model("resources", "Plan").objects.filter(code__in=list(PLANS), assignments__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("resources", "0003_metering_and_plans")]
    operations = [migrations.RunPython(create, remove)]
