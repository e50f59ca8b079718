"""Dashboard log-ins and schedule-run records in the service database (shared by every API node).

The interfaces are the service's (`bot.service.login_sessions.LoginSessions`,
`bot.service.missed_runs.ScheduleRecords`); the in-memory versions stay for tests and tools.
Calls are synchronous: handlers run them on a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from bot.db import tables
from bot.db.store import ServiceStore
from bot.service.missed_runs import ScheduleRecord

log = logging.getLogger(__name__)


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class DbLoginSessions:
    def __init__(self, db: ServiceStore, lifetime_s: float = 12 * 3600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = db.engine
        self.lifetime_s = lifetime_s
        self._clock = clock

    def create(self, token_id: str) -> str:
        now = self._clock()
        session_id = secrets.token_urlsafe(32)
        t = tables.dashboard_logins
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.expires_at <= now))  # expired ones go as new ones come
            conn.execute(sa.insert(t).values(id_sha256=_key(session_id), token_id=token_id, created_at=now,
                                             expires_at=now + self.lifetime_s))
        return session_id

    def token_of(self, session_id: str) -> str | None:
        if not session_id:
            return None
        t = tables.dashboard_logins
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.c.token_id, t.c.expires_at).where(t.c.id_sha256 == _key(session_id))).first()
        if row is None or self._clock() >= row.expires_at:
            return None
        return str(row.token_id)

    def end(self, session_id: str) -> None:
        t = tables.dashboard_logins
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.id_sha256 == _key(session_id)))


class DbScheduleRecords:
    def __init__(self, db: ServiceStore) -> None:
        self.engine = db.engine

    def add(self, record: ScheduleRecord) -> bool:
        t = tables.schedule_runs
        due = record.due_at.astimezone(UTC).isoformat()
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(t).values(
                    schedule_id=record.schedule_id, due_at=due, kind=record.kind, reason=record.reason,
                    detail=record.detail[:500], recorded_at=datetime.now(UTC).replace(microsecond=0).isoformat()))
        except sa.exc.IntegrityError:
            return False
        log.warning("schedule run %s schedule_id=%s due_at=%s reason=%s detail=%s", record.kind,
                    record.schedule_id, due, record.reason, record.detail)
        return True

    def of(self, schedule_id: str) -> list[ScheduleRecord]:
        t = tables.schedule_runs
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.schedule_id == schedule_id).order_by(t.c.due_at)).all()
        return [ScheduleRecord(r.schedule_id, datetime.fromisoformat(r.due_at), r.kind, r.reason, r.detail)
                for r in rows]

    def delete_schedule(self, schedule_id: str) -> None:
        t = tables.schedule_runs
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.schedule_id == schedule_id))
