"""Structure-aware chunking. Sections (headings, pages) are never merged; inside a section the text is cut at
paragraph, then sentence boundaries into pieces of at most ``size`` units, consecutive pieces sharing about ``overlap``
units. A unit is a word, or one CJK character (Chinese has no spaces, so sizes are counted in characters); in CJK
text the cuts and the overlaps fall on jieba's word boundaries, so neither a word nor a Chinese word is ever cut."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .extraction import Section
from .lexical import CJK, jieba_tokens

_UNIT = re.compile(rf"[{CJK}]|[^\s{CJK}]+")
_CJK_CHAR = re.compile(f"[{CJK}]")
_SENTENCE_END = re.compile(r"[.!?;:。\uff01\uff1f\uff1b…]['\")\]」』]*$")


@dataclass
class ChunkPiece:
    text: str
    token_count: int
    heading: str = ""
    page: int | None = None


def count_units(text: str) -> int:
    return sum(1 for _ in _UNIT.finditer(text))


def _split_section(text: str, size: int, overlap: int) -> list[tuple[str, int]]:
    units = [(m.start(), m.end()) for m in _UNIT.finditer(text)]
    n = len(units)
    if n == 0:
        return []
    if n <= size:
        return [(text[units[0][0] : units[-1][1]], n)]

    def paragraph_break(i: int) -> bool:  # a break between unit i-1 and unit i
        return "\n\n" in text[units[i - 1][1] : units[i][0]]

    def sentence_break(i: int) -> bool:
        return (
            bool(_SENTENCE_END.search(text[units[i - 1][0] : units[i - 1][1]]))
            or "\n" in text[units[i - 1][1] : units[i][0]]
        )

    word_starts = _cjk_word_starts(text)

    def word_break(i: int) -> bool:  # False only between two characters of one Chinese (or Japanese...) word
        return not word_starts or i in (0, n) or units[i][0] in word_starts or not _is_cjk_unit(text, units[i])

    pieces = []
    start = 0
    while start < n:
        end = min(start + size, n)
        if end < n:
            floor = start + max(1, size // 2)
            cut = next((i for i in range(end, floor, -1) if paragraph_break(i)), None)
            if cut is None:
                cut = next((i for i in range(end, floor, -1) if sentence_break(i)), None)
            if cut is None:
                cut = next((i for i in range(end, floor, -1) if word_break(i)), None)
            end = cut or end
        pieces.append((text[units[start][0] : units[end - 1][1]], end - start))
        if end >= n:
            break
        start = _overlap_start(max(end - overlap, start + 1), start, end, word_break)
    return pieces


def _overlap_start(target: int, start: int, end: int, word_break: Callable[[int], bool]) -> int:
    """The next piece's first unit: the word boundary nearest to ``target`` (the later one on a tie) after the
    current piece's start and before its end, so an overlap never begins inside a word."""
    if word_break(target):
        return target
    before = next((i for i in range(target - 1, start, -1) if word_break(i)), None)
    after = next((i for i in range(target + 1, end + 1) if word_break(i)), None)
    if before is None:
        return after if after is not None else target
    if after is None or target - before < after - target:
        return before
    return after


def _is_cjk_unit(text: str, unit: tuple[int, int]) -> bool:
    return unit[1] - unit[0] == 1 and bool(_CJK_CHAR.match(text, unit[0]))


def _cjk_word_starts(text: str) -> set[int]:
    """Character offsets where a word starts in the text's CJK runs, from jieba (empty for text without CJK)."""
    if not _CJK_CHAR.search(text):
        return set()
    return {start for _, start, _ in jieba_tokens(text)}


def chunk_sections(sections: list[Section], *, size: int, overlap: int) -> list[ChunkPiece]:
    """Chunks of the sections in order; a heading or page change always starts a new chunk."""
    if overlap >= size:
        raise ValueError("overlap must be smaller than size")
    chunks: list[ChunkPiece] = []
    for section in sections:
        for text, count in _split_section(section.text, size, overlap):
            chunks.append(ChunkPiece(text=text, token_count=count, heading=section.heading, page=section.page))
    return chunks
