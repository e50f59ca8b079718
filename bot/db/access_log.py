"""The report access log in the service database: written on every report opening, read by admins.

Rows name the student by participant id only (never by display name), so erasing a
student's data leaves no name behind here; rows older than `service.access_log_days`
are deleted by the daily retention job (and at every start of `serve`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import sqlalchemy as sa

from bot.db import tables
from bot.db.records import AccessRecord
from bot.db.store import ServiceStore


@dataclass(frozen=True)
class AccessFilter:
    """Equality filters (None: any) and an ISO time range [since, until)."""

    who: str | None = None
    session_id: str | None = None
    class_id: str | None = None
    participant_id: str | None = None
    via: str | None = None
    since: str | None = None
    until: str | None = None


class AccessLog:
    def __init__(self, db: ServiceStore) -> None:
        self.engine = db.engine

    def add(self, record: AccessRecord) -> int:
        values = {k: v for k, v in asdict(record).items() if k != "access_id"}
        with self.engine.begin() as conn:
            result = conn.execute(sa.insert(tables.report_access).values(**values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def _where(self, f: AccessFilter) -> list[Any]:
        t = tables.report_access
        where = [t.c[name] == value for name in ("who", "session_id", "class_id", "participant_id", "via")
                 if (value := getattr(f, name)) is not None]
        if f.since is not None:
            where.append(t.c.at >= f.since)
        if f.until is not None:
            where.append(t.c.at < f.until)
        return where

    def query(self, f: AccessFilter = AccessFilter(), limit: int = 100, offset: int = 0
              ) -> tuple[list[AccessRecord], int]:
        """Newest first, with the total count of matching rows."""
        t = tables.report_access
        where = self._where(f)
        names = [x.name for x in fields(AccessRecord)]
        with self.engine.connect() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(t).where(*where)).scalar_one())
            rows = conn.execute(sa.select(t).where(*where).order_by(t.c.at.desc(), t.c.access_id.desc())
                                .limit(limit).offset(offset)).all()
        return [AccessRecord(**{n: r._mapping[n] for n in names}) for r in rows], total

    def purge(self, before: str) -> int:
        """Delete rows older than `before` (ISO UTC); returns how many."""
        t = tables.report_access
        with self.engine.begin() as conn:
            return int(conn.execute(sa.delete(t).where(t.c.at < before)).rowcount or 0)
