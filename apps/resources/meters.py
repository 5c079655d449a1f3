"""The meter catalogue: what each meter counts, in which unit, and over which periods it can be limited.

A counter (tokens, calls, CPU-seconds) adds up within a day or a month and starts again at the next one; a level
(knowledge storage) is an amount held at any time, limited over the period ``total`` and lowered when things are
deleted."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .choices import Meter, Period

StrOrPromise = str | Promise

MAX_QUANTITY = Decimal("1000000000000000")  # 1e15: no meter nor limit goes beyond it
QUANTITY_PLACES = 6


@dataclass(frozen=True)
class MeterSpec:
    code: str
    unit: StrOrPromise  # lazy: translated where it is shown
    level: bool = False  # a level (held at any time) rather than a counter (per day or month)
    integral: bool = True  # counted in whole units

    @property
    def periods(self) -> tuple[str, ...]:
        return (Period.TOTAL,) if self.level else (Period.DAY, Period.MONTH)

    @property
    def label(self) -> str:
        return str(Meter(self.code).label)


METERS: dict[str, MeterSpec] = {
    spec.code: spec
    for spec in (
        MeterSpec(Meter.LLM_TOKENS, _("tokens")),
        MeterSpec(Meter.LLM_TOKENS_IN, _("tokens")),
        MeterSpec(Meter.LLM_TOKENS_OUT, _("tokens")),
        MeterSpec(Meter.LLM_COST, _("currency units"), integral=False),
        MeterSpec(Meter.AI_CALLS, _("calls")),
        MeterSpec(Meter.API_CALLS, _("requests")),
        MeterSpec(Meter.STORAGE_BYTES, _("bytes"), level=True),
        MeterSpec(Meter.STORAGE_DOCUMENTS, _("documents"), level=True),
        MeterSpec(Meter.STORAGE_CHUNKS, _("chunks"), level=True),
        MeterSpec(Meter.AGENT_RUNS, _("runs")),
        MeterSpec(Meter.AGENT_STEPS, _("steps")),
        MeterSpec(Meter.COMPUTE_SECONDS, _("CPU-seconds"), integral=False),
        MeterSpec(Meter.ANALYSIS_RUNS, _("runs")),
        MeterSpec(Meter.GPU_HOURS, _("GPU hours"), integral=False),
    )
}


def meter_spec(code: str) -> MeterSpec:
    return METERS[code]
