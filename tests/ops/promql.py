"""Metric names referenced by a PromQL expression (enough of PromQL for our dashboards and alert rules)."""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_SELECTOR = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
_NUMBER_WORDS = {"inf", "nan", "Inf", "NaN", "e"}


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub('""', expr)
    text = _SELECTOR.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    # Numbers with exponents (1e9) and durations were removed with the ranges; drop digits-led tokens.
    text = re.sub(r"\b\d[\w.]*", "0", text)
    return {name for name in _IDENTIFIER.findall(text) if name not in _KEYWORDS | _NUMBER_WORDS}
