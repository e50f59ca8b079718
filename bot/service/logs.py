"""Structured logs for the service: one ``key=value`` line per record, easy to grep and to ship.

Messages already written as ``event key=value`` stay readable; the fixed fields (time,
level, logger) come first so a log collector can split them without a custom parser.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        msg = record.getMessage().replace("\n", " ").replace('"', "'")
        line = f'ts={ts} level={record.levelname.lower()} logger={record.name} msg="{msg}"'
        if record.exc_info:
            exc = self.formatException(record.exc_info).replace("\n", " | ").replace('"', "'")
            line += f' exc="{exc}"'
        return line


def configure(debug: bool = False) -> None:
    """Replace the CLI's plain format with key=value lines on stderr (called once by `serve`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for noisy in ("aiohttp.access", "weasyprint", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
