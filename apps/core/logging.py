import logging

from . import context


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record ('-' outside a request). Django's request log lines, written after the
    middleware has finished, carry the request itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = context.current().request_id or getattr(getattr(record, "request", None), "request_id", None)
        record.request_id = request_id or "-"
        return True
