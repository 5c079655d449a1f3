"""Text extraction per file type and normalisation. Every extractor returns sections: text with the heading path
and page it came from; structure (headings, pages, table rows) is kept so the chunker can split along it."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath

from django.utils.translation import gettext

from apps.core.exceptions import ValidationFailed

MIME_BY_EXTENSION = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".csv": "text/csv",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
}


class ExtractionError(ValidationFailed):
    """The file cannot be turned into text (empty, binary, corrupt, encrypted, unsupported)."""

    default_code = "unreadable_document"


@dataclass
class Section:
    text: str
    heading: str = ""
    page: int | None = None


def mime_for(filename: str) -> str:
    ext = PurePath(filename).suffix.lower()
    mime = MIME_BY_EXTENSION.get(ext)
    if mime is None:
        supported = ", ".join(sorted(MIME_BY_EXTENSION))
        raise ExtractionError(
            gettext("Unsupported file type '%(type)s'. Supported: %(supported)s.")
            % {"type": ext or filename, "supported": supported},
            code="unsupported_type",
            details={"file": filename},
        )
    return mime


# --- normalisation --------------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_BLANKS = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """NFKC, no control characters, one space between words, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def decode_text(data: bytes, filename: str = "") -> str:
    """Decode text bytes (UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252), refusing binary content."""
    if not data.strip():
        raise ExtractionError(gettext("The file is empty."), code="empty_document", details={"file": filename})
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    sample = data[:65536]
    if b"\x00" in sample:
        raise ExtractionError(
            gettext("The file does not contain text (binary content)."),
            code="binary_content",
            details={"file": filename},
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    controls = sum(1 for ch in text[:65536] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text[:65536]) // 100) or text[:65536].count("\ufffd") > len(text[:65536]) // 20 + 8:
        raise ExtractionError(
            gettext("The file does not contain text (binary content)."),
            code="binary_content",
            details={"file": filename},
        )
    return text


# --- extractors -----------------------------------------------------------------------------------------------------


def _plain(data: bytes, filename: str) -> list[Section]:
    return [Section(text=decode_text(data, filename))]


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def sections_from_headings(lines: list[tuple[int, str] | str]) -> list[Section]:
    """Build sections from a stream of body lines (str) and headings ((level, title)), tracking the heading path."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []

    def flush() -> None:
        text = "\n".join(body).strip()
        if text:
            sections.append(Section(text=text, heading=" > ".join(title for _, title in path)))
        body.clear()

    for line in lines:
        if isinstance(line, tuple):
            flush()
            level, title = line
            path[:] = [entry for entry in path if entry[0] < level] + [(level, title)]
            body.append(title)
        else:
            body.append(line)
    flush()
    return sections


def _markdown(data: bytes, filename: str) -> list[Section]:
    text = decode_text(data, filename)
    stream: list[tuple[int, str] | str] = []
    in_code = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        match = None if in_code else _MD_HEADING.match(line)
        if match:
            stream.append((len(match.group(1)), match.group(2).strip()))
        else:
            stream.append(line)
    return sections_from_headings(stream)


class _HTMLText(HTMLParser):
    SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head", "nav", "footer", "iframe"})
    BLOCK = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "ul",
            "ol",
            "tr",
            "table",
            "section",
            "article",
            "main",
            "header",
            "blockquote",
            "pre",
            "dd",
            "dt",
            "figcaption",
            "hr",
        }
    )
    HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stream: list[tuple[int, str] | str] = []
        self.skip_depth = 0
        self.heading: tuple[int, list[str]] | None = None
        self.line: list[str] = []
        self.title = ""
        self.in_title = False

    def _end_line(self) -> None:
        text = "".join(self.line).strip()
        if text:
            self.stream.append(text)
        self.line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if tag in self.SKIP:
            self.skip_depth += 1
        elif tag in self.HEADINGS and not self.skip_depth:
            self._end_line()
            self.heading = (self.HEADINGS[tag], [])
        elif tag in self.BLOCK:
            self._end_line()
            if tag == "p":
                self.stream.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in self.SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in self.HEADINGS and self.heading is not None:
            level, parts = self.heading
            title = " ".join("".join(parts).split())
            if title:
                self.stream.append((level, title))
            self.heading = None
        elif tag in self.BLOCK:
            self._end_line()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        if self.skip_depth:
            return
        if self.heading is not None:
            self.heading[1].append(data)
        else:
            self.line.append(data)


def _html(data: bytes, filename: str) -> list[Section]:
    parser = _HTMLText()
    parser.feed(decode_text(data, filename))
    parser.close()
    parser._end_line()
    return sections_from_headings(parser.stream)


def html_title(data: bytes) -> str:
    """The page's <title>, normalised ('' when there is none or the bytes are not text)."""
    try:
        text = decode_text(data)
    except ExtractionError:
        return ""
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return normalize_text(" ".join(parser.title.split()))[:300]


def _pdf(data: bytes, filename: str) -> list[Section]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not data.strip():
        raise ExtractionError(gettext("The file is empty."), code="empty_document", details={"file": filename})
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = bool(reader.decrypt(""))
            except Exception:
                opened = False
            if not opened:
                raise ExtractionError(
                    gettext("The PDF is encrypted with a password."),
                    code="encrypted_document",
                    details={"file": filename},
                )
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            if text.strip():
                sections.append(Section(text=text, page=number))
    except ExtractionError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise ExtractionError(
            gettext("The PDF is corrupt or unreadable (%(error)s).") % {"error": exc.__class__.__name__},
            code="corrupt_document",
            details={"file": filename},
        ) from exc
    return sections


def _docx(data: bytes, filename: str) -> list[Section]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise ExtractionError(
            gettext("The Word document is corrupt or not a .docx file."),
            code="corrupt_document",
            details={"file": filename},
        ) from exc
    except Exception as exc:
        raise ExtractionError(
            gettext("The Word document is corrupt (%(error)s).") % {"error": exc.__class__.__name__},
            code="corrupt_document",
            details={"file": filename},
        ) from exc
    stream: list[tuple[int, str] | str] = []
    for paragraph in document.paragraphs:
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        text = paragraph.text.strip()
        if not text:
            continue
        if style.lower().startswith("heading") and style[-1:].isdigit():
            stream.append((int(style.split()[-1]), text))
        elif style.lower() == "title":
            stream.append((1, text))
        else:
            stream.extend([text, ""])
    for table in document.tables:
        rows = [[cell.text.strip() for cell in row.cells] for row in table.rows]
        stream.extend(_rows_as_lines(rows))
    return sections_from_headings(stream)


def _rows_as_lines(rows: list[list[str]]) -> list[str]:
    """Table rows as text: with a header row, 'column: value; column: value'; one paragraph per row."""
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    if not body:
        return ["; ".join(header), ""]
    lines = []
    for row in body:
        pairs = [f"{name}: {value}" for name, value in zip(header, row, strict=False) if value.strip()]
        lines.extend(["; ".join(pairs), ""])
    return lines


def _csv(data: bytes, filename: str) -> list[Section]:
    text = decode_text(data, filename)
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise ExtractionError(
            gettext("The CSV file is malformed: %(error)s.") % {"error": exc}, code="corrupt_document"
        ) from exc
    return [Section(text="\n".join(_rows_as_lines(rows)))]


def _flatten(value: object, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        out: list[str] = []
        for key, item in value.items():
            out.extend(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        if all(not isinstance(item, (dict, list)) for item in value):
            joined = ", ".join(str(item) for item in value)
            return [f"{prefix}: {joined}" if prefix else joined]
        out = []
        for item in value:
            out.extend(_flatten(item, prefix))
        return out
    if value is None:
        return []
    return [f"{prefix}: {value}" if prefix else str(value)]


def _records_as_text(records: list[object]) -> str:
    return "\n\n".join("; ".join(_flatten(record)) for record in records if _flatten(record))


def _json(data: bytes, filename: str) -> list[Section]:
    text = decode_text(data, filename)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExtractionError(
            gettext("The JSON file is malformed: %(error)s (line %(line)s).") % {"error": exc.msg, "line": exc.lineno},
            code="corrupt_document",
        ) from exc
    records = value if isinstance(value, list) else [value]
    return [Section(text=_records_as_text(records))]


def _jsonl(data: bytes, filename: str) -> list[Section]:
    text = decode_text(data, filename)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ExtractionError(
                    gettext("Line %(line)s is not JSON: %(error)s.") % {"line": number, "error": exc.msg},
                    code="corrupt_document",
                ) from exc
    return [Section(text=_records_as_text(records))]


EXTRACTORS = {
    "text/plain": _plain,
    "text/markdown": _markdown,
    "text/html": _html,
    "application/pdf": _pdf,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _docx,
    "text/csv": _csv,
    "application/json": _json,
    "application/x-ndjson": _jsonl,
}


def extract(data: bytes, *, mime_type: str, filename: str = "") -> list[Section]:
    """Normalised, non-empty sections of a file. Raises ExtractionError with a readable reason."""
    extractor = EXTRACTORS.get(mime_type)
    if extractor is None:
        raise ExtractionError(
            gettext("Unsupported file type '%(type)s'.") % {"type": mime_type}, code="unsupported_type"
        )
    if not data:
        raise ExtractionError(gettext("The file is empty."), code="empty_document", details={"file": filename})
    sections = []
    for section in extractor(data, filename):
        text = normalize_text(section.text)
        if text:
            sections.append(Section(text=text, heading=normalize_text(section.heading), page=section.page))
    if not sections:
        raise ExtractionError(
            gettext("No text could be extracted from the file (empty, or a scanned document without a text layer)."),
            code="empty_document",
            details={"file": filename},
        )
    return sections
