"""What the full-text index sees: Chinese text is segmented into words with jieba (PostgreSQL has no Chinese
parser), everything else is indexed as written and stemmed by the knowledge base's text-search configuration."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

# The CJK scripts (kana, CJK ideographs and their extensions, Hangul) as a regex character-class body.
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_HAS_CJK = re.compile(f"[{CJK}]")


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def segment(text: str) -> str:
    """Text with CJK runs split into space-separated words (search-engine mode: long words also as their parts)."""
    if not _HAS_CJK.search(text):
        return text
    words = _jieba().cut_for_search(text)
    return " ".join(word for word in (w.strip() for w in words) if word)


def jieba_tokens(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) of each word of ``text`` as jieba cuts it (precise mode: words do not overlap)."""
    return list(_jieba().tokenize(text))


def lexical_text(text: str, language: str) -> str:
    return segment(text) if language == "zh" or _HAS_CJK.search(text) else text
