"""Request parsers with one decoding rule for JSON, forms and multipart text fields: the text must be valid UTF-8
(no lone surrogates), contain no NUL character (PostgreSQL cannot store one) and nest sanely. Bytes that are not
UTF-8 and absurd nesting are a 400 ``parse_error``; a NUL or a lone surrogate is a 400 ``invalid`` naming the field
(its path in the document). Never text with replacement characters in it, never a 500 from the database."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from django.utils.translation import gettext
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import DataAndFiles, FormParser, JSONParser, MultiPartParser

REPLACEMENT_CHARACTER = "\ufffd"  # what Django's multipart parser puts in place of bytes that are not UTF-8


def _bad_text(value: str) -> str | None:
    """Why ``value`` is not acceptable text, or None."""
    if "\x00" in value:
        return gettext("Null characters are not allowed.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return gettext("Lone surrogate characters are not allowed.")
    return None


def _check_strings(texts: Iterable[tuple[str, str]]) -> None:
    """Refuse the first bad text as a validation error on its field (its path in the document: ``params.note``)."""
    for where, text in texts:
        problem = _bad_text(text)
        if problem:  # the path itself may hold the bad character: it is shown escaped
            safe = where.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
            raise ValidationError({safe or "non_field_errors": [problem]})


def _strings_in(document: Any) -> Iterable[tuple[str, str]]:
    """(path, string) for every string of a parsed JSON document, keys included (iteratively: depth is no problem)."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, value in item.items():
                path = f"{where}.{key}" if where else str(key)
                stack.append((path, key))
                stack.append((path, value))
        elif isinstance(item, list):
            stack.extend((f"{where}[{index}]", value) for index, value in enumerate(item))


class SafeJSONParser(JSONParser):
    """JSON parser that turns pathological nesting (RecursionError in the decoder) into a 400, not a 500, and refuses
    strings with a NUL or a lone surrogate (``"\\u0000"``, ``"\\ud800"``)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            document = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(gettext("JSON parse error - the document is nested too deeply.")) from None
        _check_strings(_strings_in(document))
        return document


class SafeFormParser(FormParser):
    """URL-encoded forms decoded strictly: bytes (raw or percent-encoded) that are not UTF-8 are a 400, as they are in
    JSON, instead of Django's replacement characters."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        raw: bytes = stream.read() if stream is not None else b""
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            raise ParseError(gettext("Form parse error - the body is not valid UTF-8.")) from None
        _check_strings((key, text) for key, value in pairs for text in (key, value))
        return super().parse(io.BytesIO(raw), media_type, parser_context)  # valid now: Django decodes it the same


class SafeMultiPartParser(MultiPartParser):
    """Multipart forms whose text fields (names and values; files are left alone) follow the same rule. Django
    decodes them with replacement characters, so one in a text field means it was not UTF-8: a 400 (a client
    cannot send U+FFFD itself in a text field)."""

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> DataAndFiles[Any, Any]:
        parsed = super().parse(stream, media_type, parser_context)
        texts = [(key, text) for key, values in parsed.data.lists() for text in (key, *values)]
        if any(REPLACEMENT_CHARACTER in text for _key, text in texts):
            raise ParseError(gettext("Multipart form parse error - a text field is not valid UTF-8."))
        _check_strings(texts)
        return parsed
