"""Malformed HTTP from clients is a short WARNING line, not an ERROR with a traceback.

aiohttp's server logs every request its parser rejects (a request line over 8190 bytes,
a broken header, …) with ``logger.exception``: an unauthenticated client sending a
10,000-character ``?name=`` writes an 8 KB ERROR traceback per request, which floods the
log and pages whoever watches for ERRORs. The client already gets aiohttp's 400; this
filter rewrites those records on the ``aiohttp.server`` logger into one WARNING line
naming the peer and the parser's reason (cut to 200 characters). Errors in our own
handlers are not client errors and keep their traceback.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

SERVER_LOGGER = "aiohttp.server"
MAX_REASON = 200


class ClientErrorFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 400) < 500:
            reason = " ".join(str(exc.message or type(exc).__name__).split())[:MAX_REASON]
            record.msg = "bad request refused peer=%s status=%s error=%s reason=%s"
            record.args = (record.args[0] if isinstance(record.args, tuple) and record.args else "-",
                           exc.code or 400, type(exc).__name__, reason)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def install(logger_name: str = SERVER_LOGGER) -> None:
    """Add the filter once (idempotent: every app factory may call it)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, ClientErrorFilter) for f in logger.filters):
        logger.addFilter(ClientErrorFilter())
