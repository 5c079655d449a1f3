"""Structure-aware chunking. Sections (headings, pages) are never merged; inside a section the text is cut at
paragraph, then sentence boundaries into pieces of at most ``size`` units, consecutive pieces sharing ``overlap``
units. A unit is a word, or one CJK character (Chinese has no spaces), so a cut never falls inside a word."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .extraction import Section

CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_UNIT = re.compile(rf"[{CJK}]|[^\s{CJK}]+")
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

    pieces = []
    start = 0
    while start < n:
        end = min(start + size, n)
        if end < n:
            floor = start + max(1, size // 2)
            cut = next((i for i in range(end, floor, -1) if paragraph_break(i)), None)
            if cut is None:
                cut = next((i for i in range(end, floor, -1) if sentence_break(i)), None)
            end = cut or end
        pieces.append((text[units[start][0] : units[end - 1][1]], end - start))
        if end >= n:
            break
        start = max(end - overlap, start + 1)
    return pieces


def chunk_sections(sections: list[Section], *, size: int, overlap: int) -> list[ChunkPiece]:
    """Chunks of the sections in order; a heading or page change always starts a new chunk."""
    if overlap >= size:
        raise ValueError("overlap must be smaller than size")
    chunks: list[ChunkPiece] = []
    for section in sections:
        for text, count in _split_section(section.text, size, overlap):
            chunks.append(ChunkPiece(text=text, token_count=count, heading=section.heading, page=section.page))
    return chunks
