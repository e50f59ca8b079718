"""State several API nodes must share, in the service database: log-ins, run records, limits.

- `DbLoginSessions`: dashboard log-ins (`bot.service.login_sessions.LoginSessions`).
- `DbScheduleRecords`: a schedule's missed and moved runs (`bot.service.missed_runs.ScheduleRecords`).
- `DbRateLimiter`: fixed-window counters per key (WHIP offers and failed log-ins per address).
- `DbCapacity`: the session caps (`session.max_concurrent*`), counted from the open sessions of
  every node plus starts in progress, under a lock row so two nodes cannot both pass the check.

Calls are synchronous: handlers run them on a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from bot.db import tables
from bot.db.store import ServiceStore
from bot.service.capacity import CapacityExceeded, Limits, refusal
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


class DbRateLimiter:
    """At most `limit` hits per key in each `window_s` window (fixed windows, counted in the database).

    The count goes up in one UPDATE (atomic on SQLite and PostgreSQL alike), so hits that
    arrive at the same time on two nodes are both counted.
    """

    def __init__(self, db: ServiceStore, clock: Callable[[], float] = time.time) -> None:
        self.engine = db.engine
        self._clock = clock

    def hit(self, key: str, limit: int, window_s: float) -> float | None:
        """Count one hit; None when it is within the limit, else the seconds until the window ends."""
        now = self._clock()
        t = tables.rate_counters
        key = key[:300]
        for _ in range(3):  # a concurrent first hit may insert the row between our update and insert
            with self.engine.begin() as conn:
                bumped = conn.execute(sa.update(t).where(t.c.key == key, t.c.window_start > now - window_s)
                                      .values(count=t.c.count + 1)).rowcount
                if bumped:
                    count, start = conn.execute(sa.select(t.c.count, t.c.window_start).where(t.c.key == key)).one()
                    if count > limit:
                        return max(0.0, start + window_s - now)
                    return None
                if conn.execute(sa.update(t).where(t.c.key == key).values(window_start=now, count=1)).rowcount:
                    return None if limit >= 1 else window_s
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.delete(t).where(t.c.window_start < now - 3600))  # stale keys go
                    conn.execute(sa.insert(t).values(key=key, window_start=now, count=1))
                return None if limit >= 1 else window_s
            except sa.exc.IntegrityError:
                continue
        return None  # unreachable in practice: three lost races in a row

    def peek(self, key: str, limit: int, window_s: float) -> float | None:
        """Like `hit` without counting: the seconds until the window ends when `limit` is used up."""
        now = self._clock()
        t = tables.rate_counters
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.c.count, t.c.window_start).where(t.c.key == key[:300])).first()
        if row is None or row[1] <= now - window_s or row[0] < limit:
            return None
        return max(0.0, row[1] + window_s - now)

    def clear(self, key: str) -> None:
        """Forget a key's count (a successful log-in clears its failures)."""
        t = tables.rate_counters
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.key == key[:300]))


class DbCapacity:
    """`session.max_concurrent` and `..._per_teacher` over every node sharing the database.

    A start is counted from the moment it passes the check (a hold row) until its session row
    is open; then the open session counts. The check and the hold are written in one
    transaction that first updates the ``capacity`` lock row, which serialises the checks of
    every process (SQLite: the database write lock; PostgreSQL: the row lock). A hold left by
    a process that died mid-start expires after `hold_s`.
    """

    def __init__(self, db: ServiceStore, limits: Limits, hold_s: float = 120.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = db.engine
        self.limits = limits
        self.hold_s = hold_s
        self._clock = clock

    def running_owners(self, conn: sa.Connection, now: float) -> list[str]:
        s, h = tables.service_sessions, tables.capacity_holds
        owners = [r[0] for r in conn.execute(sa.select(s.c.owner).where(s.c.state.not_in(tables.FINAL_STATES)))]
        owners += [r[0] for r in conn.execute(sa.select(h.c.owner).where(h.c.expires_at > now))]
        return owners

    def hold(self, owner: str) -> str:
        """Reserve a place for `owner`'s start; the hold's id, or CapacityExceeded."""
        now = self._clock()
        locks, h = tables.service_locks, tables.capacity_holds
        with self.engine.begin() as conn:
            if not conn.execute(sa.update(locks).where(locks.c.name == "capacity").values(n=locks.c.n + 1)).rowcount:
                conn.execute(sa.insert(locks).values(name="capacity", n=1))
            conn.execute(sa.delete(h).where(h.c.expires_at <= now))
            found = refusal(self.running_owners(conn, now), owner, self.limits)
            if found is not None:
                raise CapacityExceeded(found)
            hold_id = secrets.token_hex(8)
            conn.execute(sa.insert(h).values(hold_id=hold_id, owner=owner, expires_at=now + self.hold_s))
        return hold_id

    def release(self, hold_id: str) -> None:
        h = tables.capacity_holds
        with self.engine.begin() as conn:
            conn.execute(sa.delete(h).where(h.c.hold_id == hold_id))

    def counts(self) -> Counter[str]:
        """Running (or starting) sessions per owner, as the check sees them."""
        with self.engine.connect() as conn:
            return Counter(self.running_owners(conn, self._clock()))
