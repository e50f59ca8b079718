"""`ServiceStore`: typed reads and writes of the service tables (synchronous; run it off the event loop).

It shares the observation store's engine (one database) and migrates its own tables when
opened. Rows come back as the frozen records of `bot.db.records`; there is no string-keyed
access. Two database rules live here because only the database can keep them across
processes: one open session per class (`SessionConflict`), and the attempt fence
(`fence`), which refuses writes from a process whose attempt is no longer current.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any, TypeVar

import sqlalchemy as sa

from analysis.migrate import upgrade
from analysis.store import Store, Superseded
from bot.db import tables
from bot.db.records import (
    AttemptRecord,
    ClassRecord,
    DeliveryRecord,
    FeedRecord,
    ScheduleRecord,
    SessionRecord,
    TokenRecord,
)
from bot.db.rosters import Rosters

R = TypeVar("R")
Page = tuple[list[R], int]


class SessionConflict(Exception):
    """The class already has an open session (the database's unique index said so)."""


def _record(cls: type[R], row: Any) -> R:
    data = row._asdict() if hasattr(row, "_asdict") else dict(row)
    return cls(**{f.name: data[f.name] for f in fields(cls)})  # type: ignore[arg-type]


class ServiceStore:
    def __init__(self, store: Store) -> None:
        """Opens on the observation store's engine; that store has migrated its own tables already."""
        self.engine = store.engine
        upgrade(self.engine, tables.HISTORY)
        self.rosters = Rosters(self.engine)

    # -- generic helpers (private: callers use the typed methods) ------------------------
    def _insert(self, table: sa.Table, record: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(table).values(**asdict(record)))

    def _get(self, table: sa.Table, cls: type[R], *key: Any) -> R | None:
        cols = list(table.primary_key.columns)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(table).where(*[c == k for c, k in zip(cols, key, strict=True)])).first()
        return _record(cls, row) if row is not None else None

    def _page(self, table: sa.Table, cls: type[R], where: list[Any], limit: int | None, offset: int) -> Page[R]:
        order = (table.c.created_at.desc(), *table.primary_key.columns)
        with self.engine.connect() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())
            rows = conn.execute(sa.select(table).where(*where).order_by(*order).limit(limit).offset(offset)).all()
        return [_record(cls, r) for r in rows], total

    def _update(self, table: sa.Table, key: str, values: dict[str, Any]) -> int:
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return 0
        pk = next(iter(table.primary_key.columns))
        with self.engine.begin() as conn:
            return int(conn.execute(sa.update(table).where(pk == key).values(**values)).rowcount or 0)

    def _delete(self, table: sa.Table, key: str) -> int:
        pk = next(iter(table.primary_key.columns))
        with self.engine.begin() as conn:
            return int(conn.execute(sa.delete(table).where(pk == key)).rowcount or 0)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.select(sa.literal(1)))

    # -- tokens ---------------------------------------------------------------------------
    def add_token(self, token: TokenRecord) -> None:
        self._insert(tables.api_tokens, token)

    def token(self, token_id: str) -> TokenRecord | None:
        return self._get(tables.api_tokens, TokenRecord, token_id)

    def tokens(self) -> list[TokenRecord]:
        return self._page(tables.api_tokens, TokenRecord, [], None, 0)[0]

    def revoke_token(self, token_id: str, at: str) -> bool:
        t = tables.api_tokens
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(t.c.revoked_at).where(t.c.token_id == token_id)).first()
            if found is None:
                return False
            if not found[0]:
                conn.execute(sa.update(t).where(t.c.token_id == token_id).values(revoked_at=at))
        return True

    # -- classes --------------------------------------------------------------------------
    def add_class(self, cls: ClassRecord) -> None:
        self._insert(tables.classes, cls)

    def get_class(self, class_id: str) -> ClassRecord | None:
        return self._get(tables.classes, ClassRecord, class_id)

    def classes(self, *, owner: str | None = None, limit: int | None = None, offset: int = 0) -> Page[ClassRecord]:
        t = tables.classes
        return self._page(t, ClassRecord, [t.c.owner == owner] if owner is not None else [], limit, offset)

    def class_for_zoom_meeting(self, meeting_number: str) -> ClassRecord | None:
        """The class whose Zoom meeting this is (at most one: a unique index)."""
        if not meeting_number:
            return None
        t = tables.classes
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.zoom_meeting_id == meeting_number)).first()
        return _record(ClassRecord, row) if row is not None else None

    def timetable_classes(self, owner: str) -> list[ClassRecord]:
        """The owner's classes imported from a timetable (keyed by their calendar UID)."""
        t = tables.classes
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.owner == owner, t.c.timetable_uid != "")).all()
        return [_record(ClassRecord, r) for r in rows]

    def update_class(self, class_id: str, *, name: str | None = None, meeting_url: str | None = None,
                     timetable_fingerprint: str | None = None, zoom_meeting_id: str | None = None,
                     late_after_min: float | None = None, absent_after_min: float | None = None) -> int:
        return self._update(tables.classes, class_id, {"name": name, "meeting_url": meeting_url,
                                                       "timetable_fingerprint": timetable_fingerprint,
                                                       "zoom_meeting_id": zoom_meeting_id,
                                                       "late_after_min": late_after_min,
                                                       "absent_after_min": absent_after_min})

    def delete_class(self, class_id: str) -> int:
        """The class row and its roster (students, matches, the rosters its sessions expected)."""
        self.rosters.delete_class(class_id)
        return self._delete(tables.classes, class_id)

    # -- sessions -------------------------------------------------------------------------
    def add_session(self, session: SessionRecord) -> None:
        """Insert a new session; `SessionConflict` when its class already has an open one."""
        try:
            self._insert(tables.service_sessions, session)
        except sa.exc.IntegrityError:
            if session.class_id and self.open_session_of_class(session.class_id) is not None:
                raise SessionConflict(f"class {session.class_id} already has a running session") from None
            raise

    def session(self, session_id: str) -> SessionRecord | None:
        return self._get(tables.service_sessions, SessionRecord, session_id)

    def sessions(self, *, owner: str | None = None, class_id: str | None = None, state: str | None = None,
                 limit: int | None = None, offset: int = 0) -> Page[SessionRecord]:
        t = tables.service_sessions
        where = [c == v for c, v in ((t.c.owner, owner), (t.c.class_id, class_id), (t.c.state, state))
                 if v is not None]
        return self._page(t, SessionRecord, where, limit, offset)

    def open_sessions(self) -> list[SessionRecord]:
        t = tables.service_sessions
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.state.not_in(tables.FINAL_STATES))
                                .order_by(t.c.created_at)).all()
        return [_record(SessionRecord, r) for r in rows]

    def open_session_of_class(self, class_id: str) -> SessionRecord | None:
        t = tables.service_sessions
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.class_id == class_id,
                                                  t.c.state.not_in(tables.FINAL_STATES))).first()
        return _record(SessionRecord, row) if row is not None else None

    def update_session(self, session_id: str, *, state: str | None = None, failure: str | None = None,
                       detail: str | None = None, ended_at: str | None = None, started_at: str | None = None,
                       window_end: str | None = None, meeting: str | None = None,
                       meeting_url: str | None = None, known_people: str | None = None) -> int:
        return self._update(tables.service_sessions, session_id, {
            "state": state, "failure": failure, "detail": None if detail is None else detail[:1000],
            "ended_at": ended_at, "started_at": started_at, "window_end": window_end, "meeting": meeting,
            "meeting_url": meeting_url, "known_people": known_people})

    def keep_known_people(self, session_id: str, number: int, now: str, people: str) -> bool:
        """The attempt's `Connector.known_people` (JSON), written through the attempt fence."""
        s = tables.service_sessions
        try:
            with self.engine.begin() as conn:
                self.fence(conn, session_id, number, now)
                conn.execute(sa.update(s).where(s.c.session_id == session_id).values(known_people=people))
        except Superseded:
            return False
        return True

    def delete_session(self, session_id: str) -> int:
        self.rosters.delete_session(session_id)
        with self.engine.begin() as conn:
            conn.execute(sa.delete(tables.attempts).where(tables.attempts.c.session_id == session_id))
        return self._delete(tables.service_sessions, session_id)

    # -- attempts: who runs a session, and the fence ---------------------------------------
    def begin_attempt(self, session_id: str, holder: str, now: str) -> AttemptRecord:
        """Claim the session for a new attempt: number = previous + 1, compare-and-set on the session row."""
        s = tables.service_sessions
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(s.c.attempt).where(s.c.session_id == session_id)).first()
            if found is None:
                raise LookupError(f"no session {session_id!r}")
            number = int(found[0]) + 1
            claimed = conn.execute(sa.update(s).where(s.c.session_id == session_id, s.c.attempt == number - 1)
                                   .values(attempt=number)).rowcount
            if not claimed:
                raise Superseded(f"session {session_id}: another process claimed attempt {number} first")
            attempt = AttemptRecord(session_id, number, holder, now, now)
            conn.execute(sa.insert(tables.attempts).values(**asdict(attempt)))
        return attempt

    def fence(self, conn: sa.Connection, session_id: str, number: int, now: str) -> None:
        """Inside a write's transaction: refuse it unless `number` is still the session's attempt.

        Also the attempt's heartbeat: the update that checks the fence records the time.
        """
        a, s = tables.attempts, tables.service_sessions
        current = sa.select(s.c.attempt).where(s.c.session_id == session_id).scalar_subquery()
        ok = conn.execute(sa.update(a).where(a.c.session_id == session_id, a.c.number == number,
                                             a.c.number == current, a.c.ended_at == "")
                          .values(heartbeat_at=now)).rowcount
        if not ok:
            raise Superseded(f"session {session_id}: attempt {number} is no longer the current one")

    def heartbeat(self, session_id: str, number: int, now: str) -> bool:
        try:
            with self.engine.begin() as conn:
                self.fence(conn, session_id, number, now)
        except Superseded:
            return False
        return True

    def end_attempt(self, session_id: str, number: int, now: str, reason: str) -> None:
        a = tables.attempts
        with self.engine.begin() as conn:
            conn.execute(sa.update(a).where(a.c.session_id == session_id, a.c.number == number, a.c.ended_at == "")
                         .values(ended_at=now, end_reason=reason))

    def set_join_link(self, session_id: str, number: int, now: str, link: str) -> bool:
        """Where the attempt's students join (its worker's classroom), written through the attempt fence."""
        a = tables.attempts
        try:
            with self.engine.begin() as conn:
                self.fence(conn, session_id, number, now)
                conn.execute(sa.update(a).where(a.c.session_id == session_id, a.c.number == number)
                             .values(join_link=link[:1000]))
        except Superseded:
            return False
        return True

    def classroom_owner(self, meeting_urls: Sequence[str]) -> tuple[SessionRecord, str] | None:
        """The open session of a built-in classroom (any of its `meeting_urls` spellings) and the join
        link of its current attempt ("" while no worker holds it: queued, or being taken over)."""
        s, a = tables.service_sessions, tables.attempts
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(s).where(s.c.meeting_url.in_(list(meeting_urls)),
                                                  s.c.state.not_in(tables.FINAL_STATES))
                               .order_by(s.c.created_at.desc())).first()
            if row is None:
                return None
            session = _record(SessionRecord, row)
            link = conn.execute(sa.select(a.c.join_link).where(
                a.c.session_id == session.session_id, a.c.number == session.attempt, a.c.ended_at == "")).scalar()
        return session, str(link or "")

    def attempts(self, session_id: str) -> list[AttemptRecord]:
        a = tables.attempts
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(a).where(a.c.session_id == session_id).order_by(a.c.number)).all()
        return [_record(AttemptRecord, r) for r in rows]

    # -- schedules ------------------------------------------------------------------------
    def add_schedule(self, schedule: ScheduleRecord) -> None:
        self._insert(tables.schedules, schedule)

    def schedule(self, schedule_id: str) -> ScheduleRecord | None:
        return self._get(tables.schedules, ScheduleRecord, schedule_id)

    def schedules(self, *, owner: str | None = None, class_id: str | None = None, limit: int | None = None,
                  offset: int = 0) -> Page[ScheduleRecord]:
        t = tables.schedules
        where = [c == v for c, v in ((t.c.owner, owner), (t.c.class_id, class_id)) if v is not None]
        return self._page(t, ScheduleRecord, where, limit, offset)

    def add_done_key(self, schedule_id: str, key: str) -> None:
        """Record that the occurrence originally at `key` (ISO) has run (read-modify-write in one transaction)."""
        t = tables.schedules
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t.c.done_keys).where(t.c.schedule_id == schedule_id)).first()
            if row is None:
                return
            keys = [k for k in row[0].split(",") if k]
            if key not in keys:
                conn.execute(sa.update(t).where(t.c.schedule_id == schedule_id)
                             .values(done_keys=",".join([*keys, key][-500:])))

    def delete_schedule(self, schedule_id: str) -> int:
        return self._delete(tables.schedules, schedule_id)

    # -- deliveries -----------------------------------------------------------------------
    def add_delivery(self, delivery: DeliveryRecord) -> bool:
        """Insert unless a delivery with that id exists (a report is delivered once); True if added."""
        if self.delivery(delivery.delivery_id) is not None:
            return False
        try:
            self._insert(tables.deliveries, delivery)
        except sa.exc.IntegrityError:
            return False
        return True

    def delivery(self, delivery_id: str) -> DeliveryRecord | None:
        return self._get(tables.deliveries, DeliveryRecord, delivery_id)

    def deliveries(self, *, owner: str | None = None, session_id: str | None = None, state: str | None = None,
                   limit: int | None = None, offset: int = 0) -> Page[DeliveryRecord]:
        t = tables.deliveries
        where = [c == v for c, v in ((t.c.owner, owner), (t.c.session_id, session_id), (t.c.state, state))
                 if v is not None]
        return self._page(t, DeliveryRecord, where, limit, offset)

    def update_delivery(self, delivery_id: str, *, state: str | None = None, attempts: int | None = None,
                        last_error: str | None = None, updated_at: str | None = None) -> int:
        return self._update(tables.deliveries, delivery_id, {
            "state": state, "attempts": attempts, "updated_at": updated_at,
            "last_error": None if last_error is None else last_error[:1000]})

    def delete_delivery(self, delivery_id: str) -> int:
        return self._delete(tables.deliveries, delivery_id)

    # -- subscribed timetable feeds ----------------------------------------------------------
    def add_feed(self, feed: FeedRecord) -> None:
        self._insert(tables.timetable_feeds, feed)

    def feed(self, feed_id: str) -> FeedRecord | None:
        return self._get(tables.timetable_feeds, FeedRecord, feed_id)

    def feeds(self, *, owner: str | None = None, limit: int | None = None, offset: int = 0) -> Page[FeedRecord]:
        t = tables.timetable_feeds
        return self._page(t, FeedRecord, [t.c.owner == owner] if owner is not None else [], limit, offset)

    def claim_feed(self, feed_id: str, stale_before: str, now: str) -> bool:
        """Take the feed's next read (compare-and-set on `last_attempt_at`): of several API nodes
        running the daily job, one reads it."""
        t = tables.timetable_feeds
        with self.engine.begin() as conn:
            return bool(conn.execute(sa.update(t).where(t.c.feed_id == feed_id, t.c.last_attempt_at < stale_before)
                                     .values(last_attempt_at=now)).rowcount)

    def feed_read(self, feed_id: str, *, at: str, error: str = "", result: str | None = None) -> int:
        """Record a read: an error (kept with the previous result), or a good one with what it changed."""
        values: dict[str, Any] = {"last_attempt_at": at, "last_error": error[:1000]}
        if not error:
            values.update(last_ok_at=at, last_result=result or "")
        t = tables.timetable_feeds
        with self.engine.begin() as conn:
            return int(conn.execute(sa.update(t).where(t.c.feed_id == feed_id).values(**values)).rowcount or 0)

    def delete_feed(self, feed_id: str) -> int:
        return self._delete(tables.timetable_feeds, feed_id)
