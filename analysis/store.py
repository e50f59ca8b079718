"""The observation store: sessions, participants and observations, numbers only.

SQLite by default (``<store.data_dir>/classpulse.db``); any SQLAlchemy URL works, so a
school can move to PostgreSQL. The tables migrate themselves when the store is opened
(Alembic, `analysis.migrate`; the history is in `analysis/migrations`), and writes can be
fenced (`Guard`): the session runner refuses the writes of a superseded attempt. SQLite
runs in WAL mode with ``synchronous=NORMAL``: a committed batch survives a crash of the
process. `ObservationBuffer` batches writes and flushes at least every `flush_s` seconds, so
a crash loses at most that much.

This module imports neither TensorFlow nor OpenCV nor aiortc: reports and the web
service read the store without loading the vision stack.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from analysis import schema
from analysis.migrate import upgrade
from analysis.records import FaceReading, Interruption, Observation, Participant, Quality, SessionInfo, State
from analysis.summaries import SessionDigest, StudentDigest
from model.labels import LABELS

_P_COLS = [f"p_{name}" for name in LABELS]
#: executemany needs the same keys in every row: start each from all-NULL face columns.
_EMPTY_FACE: dict[str, Any] = dict.fromkeys(
    ["face_id", "x", "y", "w", "h", "score", "yaw", "pitch", "attentive", "eyes_open", *_P_COLS])


class StoreError(LookupError):
    """A session or participant that does not exist, or a store that cannot be opened."""


class Superseded(RuntimeError):
    """A write was fenced off: this process's attempt at the session is no longer the current one."""


#: Runs inside a write's transaction before anything is written; raises `Superseded` to refuse it.
Guard = Callable[[sa.Connection], None]


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _to_rows(obs: Observation) -> Iterator[dict[str, Any]]:
    base = {**_EMPTY_FACE, "session_id": obs.session_id, "participant_id": obs.participant_id,
            "t": float(obs.t), "state": obs.state.value, "quality": ""}
    if not obs.faces:
        yield base
        return
    for f in obs.faces:
        row = {**base, "face_id": f.face_id, "x": f.box[0], "y": f.box[1], "w": f.box[2], "h": f.box[3],
               "score": float(f.score), "yaw": f.yaw, "pitch": f.pitch, "attentive": f.attentive,
               "eyes_open": f.eyes_open, "quality": ",".join(sorted(q.value for q in f.quality))}
        if f.emotions is not None:
            row.update({c: float(p) for c, p in zip(_P_COLS, f.emotions, strict=True)})
        yield row


def _face(row: Any) -> FaceReading:
    probs = tuple(row[c] for c in _P_COLS)
    return FaceReading(
        face_id=row["face_id"], box=(row["x"], row["y"], row["w"], row["h"]), score=row["score"],
        yaw=row["yaw"], pitch=row["pitch"], attentive=row["attentive"], eyes_open=row["eyes_open"],
        emotions=None if any(p is None for p in probs) else probs,
        quality=frozenset(Quality(q) for q in row["quality"].split(",") if q),
    )


class Store:
    """Synchronous store; callers on an event loop run it in a worker thread."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        """Open (and migrate) the store at `url`; `create=False` refuses to make a new SQLite file."""
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            path = Path(url.removeprefix("sqlite:///")).expanduser()
            if not create and not path.exists():
                raise StoreError(f"no store at {path} (nothing has been recorded there yet)")
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(url)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot open store {_safe(url)!r}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.url = url
        try:
            upgrade(self.engine, schema.HISTORY)
        except sa.exc.OperationalError as exc:
            self.engine.dispose()
            raise StoreError(f"cannot open store {_safe(url)!r}: {exc.orig}") from None

    def close(self) -> None:
        self.engine.dispose()

    # -- sessions ---------------------------------------------------------------------------
    def create_session(self, info: SessionInfo) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(schema.sessions).values(**info.__dict__))

    def ensure_session(self, info: SessionInfo) -> None:
        """Create the session, or keep the existing row of an earlier attempt (its start time stays)."""
        with self.engine.begin() as conn:
            t = schema.sessions
            if conn.execute(sa.select(t.c.session_id).where(t.c.session_id == info.session_id)).first() is None:
                conn.execute(sa.insert(t).values(**info.__dict__))

    def update_session(self, session_id: str, **fields: Any) -> None:
        self.session(session_id)
        with self.engine.begin() as conn:
            conn.execute(sa.update(schema.sessions)
                         .where(schema.sessions.c.session_id == session_id).values(**fields))

    def session(self, session_id: str) -> SessionInfo:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.sessions)
                               .where(schema.sessions.c.session_id == session_id)).first()
        if row is None:
            raise StoreError(f"no session {session_id!r} in {self.url}")
        return SessionInfo(**row._asdict())

    def sessions(self) -> list[SessionInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(schema.sessions).order_by(schema.sessions.c.started_at)).all()
        return [SessionInfo(**r._asdict()) for r in rows]

    # -- participants -----------------------------------------------------------------------
    def upsert_participant(self, p: Participant) -> None:
        t = schema.participants
        with self.engine.begin() as conn:
            key = (t.c.session_id == p.session_id) & (t.c.participant_id == p.participant_id)
            if conn.execute(sa.select(t.c.participant_id).where(key)).first():
                conn.execute(sa.update(t).where(key).values(display_name=p.display_name,
                                                            opted_out=p.opted_out))
            else:
                conn.execute(sa.insert(t).values(**p.__dict__))

    def participants(self, session_id: str) -> list[Participant]:
        t = schema.participants
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.session_id == session_id)
                                .order_by(t.c.display_name)).all()
        return [Participant(**r._asdict()) for r in rows]

    def participant(self, session_id: str, participant_id: str) -> Participant:
        for p in self.participants(session_id):
            if p.participant_id == participant_id:
                return p
        raise StoreError(f"no participant {participant_id!r} in session {session_id!r}")

    def opt_out(self, session_id: str, participant_id: str) -> int:
        """Mark a participant opted out and delete everything measured about them (their term
        summary too)."""
        p = self.participant(session_id, participant_id)
        self.upsert_participant(replace(p, opted_out=True))
        self.delete_summaries(session_id=session_id, participant_id=participant_id)
        return self.delete_observations(session_id, participant_id)

    def delete_participant(self, session_id: str, participant_id: str) -> int:
        """Erasure: the participant's observations and their row (with the display name) go;
        returns the observations deleted. Unlike `opt_out`, no trace of them is left (their term
        summary goes too)."""
        n = self.delete_observations(session_id, participant_id)
        self.delete_summaries(session_id=session_id, participant_id=participant_id)
        t = schema.participants
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.session_id == session_id, t.c.participant_id == participant_id))
        return n

    # -- observations -----------------------------------------------------------------------
    def add_observations(self, batch: Iterable[Observation], guard: Guard | None = None, attempt: int = 0) -> int:
        """Write a batch in one transaction; `guard` may refuse it (fencing) before anything is written.

        `attempt` tags the rows with the session attempt that wrote them (0: outside the service)."""
        rows = [{**row, "attempt": attempt} for obs in batch for row in _to_rows(obs)]
        if rows or guard is not None:
            with self.engine.begin() as conn:
                if guard is not None:
                    guard(conn)
                if rows:
                    conn.execute(sa.insert(schema.observations), rows)
        return len(rows)

    def observations(self, session_id: str, participant_id: str | None = None, *,
                     since_t: float | None = None) -> list[Observation]:
        """A session's observations; `since_t` keeps only those from that time on (the live view)."""
        t = schema.observations
        q = sa.select(t).where(t.c.session_id == session_id)
        if participant_id is not None:
            q = q.where(t.c.participant_id == participant_id)
        if since_t is not None:
            q = q.where(t.c.t >= since_t)
        q = q.order_by(t.c.participant_id, t.c.t, t.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        out: list[Observation] = []
        for row in rows:
            prev = out[-1] if out else None
            face = _face(row) if row["face_id"] is not None else None
            if prev and prev.participant_id == row["participant_id"] and prev.t == row["t"] and face:
                out[-1] = replace(prev, faces=(*prev.faces, face))
                continue
            out.append(Observation(row["session_id"], row["participant_id"], row["t"], State(row["state"]),
                                   (face,) if face else ()))
        return out

    def count_observations(self, session_id: str) -> int:
        t = schema.observations
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t)
                                    .where(t.c.session_id == session_id)).scalar_one())

    # -- interruptions ----------------------------------------------------------------------
    def add_interruption(self, gap: Interruption) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(schema.interruptions).values(**gap.__dict__))

    def interruptions(self, session_id: str) -> list[Interruption]:
        t = schema.interruptions
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.session_id, t.c.from_at, t.c.to_at, t.c.reason)
                                .where(t.c.session_id == session_id).order_by(t.c.from_at, t.c.id)).all()
        return [Interruption(**r._asdict()) for r in rows]

    # -- deletion and retention -------------------------------------------------------------
    def delete_observations(self, session_id: str, participant_id: str | None = None) -> int:
        t = schema.observations
        q = sa.delete(t).where(t.c.session_id == session_id)
        if participant_id is not None:
            q = q.where(t.c.participant_id == participant_id)
        with self.engine.begin() as conn:
            return int(conn.execute(q).rowcount or 0)

    def delete_session(self, session_id: str, *, keep_summaries: bool = False) -> None:
        """Erase a session: observations, participants, interruptions and (unless `keep_summaries`,
        which only the raw-data retention passes) its term summaries. The summaries go first, so
        they go even when the raw session is already gone (then `StoreError` is raised)."""
        if not keep_summaries:
            self.delete_summaries(session_id=session_id)
        self.session(session_id)
        self.delete_observations(session_id)
        self.delete_interruptions(session_id)
        with self.engine.begin() as conn:
            conn.execute(sa.delete(schema.participants).where(schema.participants.c.session_id == session_id))
            conn.execute(sa.delete(schema.sessions).where(schema.sessions.c.session_id == session_id))

    def delete_interruptions(self, session_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(schema.interruptions).where(schema.interruptions.c.session_id == session_id))

    def purge_before(self, cutoff_iso: str) -> list[str]:
        """Delete the raw data of every session that started before `cutoff_iso` (term summaries
        stay: they have their own retention); returns their ids."""
        old = [s.session_id for s in self.sessions() if s.started_at and s.started_at < cutoff_iso]
        for sid in old:
            self.delete_session(sid, keep_summaries=True)
        return old

    # -- term summaries (analysis.summaries) --------------------------------------------------
    def write_summaries(self, session: SessionDigest, students: Iterable[StudentDigest]) -> None:
        """Keep a session's term summaries, replacing any written before (a retried end)."""
        rows = [s.__dict__ for s in students]
        with self.engine.begin() as conn:
            conn.execute(sa.delete(schema.student_summaries)
                         .where(schema.student_summaries.c.session_id == session.session_id))
            conn.execute(sa.delete(schema.session_summaries)
                         .where(schema.session_summaries.c.session_id == session.session_id))
            conn.execute(sa.insert(schema.session_summaries).values(**session.__dict__))
            if rows:
                conn.execute(sa.insert(schema.student_summaries), rows)

    def session_digests(self, *, class_key: str | None = None, class_name: str | None = None,
                        session_ids: Iterable[str] | None = None) -> list[SessionDigest]:
        """Kept sessions in start order: of a class (by id, or by name for sessions without one),
        or the given ids; all of them without a filter."""
        t = schema.session_summaries
        q = sa.select(t).order_by(t.c.started_at, t.c.session_id)
        if class_key is not None:
            q = q.where(t.c.class_key == class_key)
        if class_name is not None:
            q = q.where(t.c.class_name == class_name)
        if session_ids is not None:
            q = q.where(t.c.session_id.in_(list(session_ids)))
        with self.engine.connect() as conn:
            return [SessionDigest(**r._asdict()) for r in conn.execute(q).all()]

    def student_digests(self, session_ids: Iterable[str]) -> list[StudentDigest]:
        t = schema.student_summaries
        ids = list(session_ids)
        out: list[StudentDigest] = []
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):  # bounded IN lists
                rows = conn.execute(sa.select(t).where(t.c.session_id.in_(ids[i:i + 500]))
                                    .order_by(t.c.session_id, t.c.participant_id)).all()
                out += [StudentDigest(**r._asdict()) for r in rows]
        return out

    def delete_summaries(self, *, session_id: str | None = None, participant_id: str | None = None,
                         class_key: str | None = None, display_name: str | None = None) -> int:
        """Delete term summaries: a session's (or one participant's in it), a class's, or a
        student's by display name (case-insensitive, within `class_key` when given); returns
        the student rows deleted. Without a student filter the session rows go too."""
        if session_id is None and class_key is None and display_name is None:
            raise ValueError("delete_summaries needs a session, a class or a student")
        ss, st = schema.session_summaries, schema.student_summaries
        with self.engine.begin() as conn:
            q = sa.select(ss.c.session_id)
            if session_id is not None:
                q = q.where(ss.c.session_id == session_id)
            if class_key is not None:
                q = q.where(ss.c.class_key == class_key)
            sessions = [r[0] for r in conn.execute(q).all()]
            if not sessions:
                return 0
            rows = conn.execute(sa.select(st.c.session_id, st.c.participant_id, st.c.display_name)
                                .where(st.c.session_id.in_(sessions))).all()
            wanted = display_name.casefold() if display_name is not None else None
            doomed = [(r.session_id, r.participant_id) for r in rows
                      if (participant_id is None or r.participant_id == participant_id)
                      and (wanted is None or r.display_name.casefold() == wanted)]
            for sid, pid in doomed:
                conn.execute(sa.delete(st).where((st.c.session_id == sid) & (st.c.participant_id == pid)))
            if participant_id is None and display_name is None:
                conn.execute(sa.delete(ss).where(ss.c.session_id.in_(sessions)))
        return len(doomed)

    def purge_summaries_before(self, cutoff_iso: str) -> list[str]:
        """Delete the term summaries of sessions that started before `cutoff_iso`; returns their ids."""
        ss, st = schema.session_summaries, schema.student_summaries
        with self.engine.begin() as conn:
            started = sa.case((ss.c.started_at == "", ss.c.written_at), else_=ss.c.started_at)
            old = [r[0] for r in conn.execute(sa.select(ss.c.session_id).where(started < cutoff_iso)
                                              .order_by(ss.c.started_at, ss.c.session_id)).all()]
            for i in range(0, len(old), 500):
                chunk = old[i:i + 500]
                conn.execute(sa.delete(st).where(st.c.session_id.in_(chunk)))
                conn.execute(sa.delete(ss).where(ss.c.session_id.in_(chunk)))
        return old


class ObservationBuffer:
    """Collects observations and writes them in batches (thread-safe).

    Flushes when `max_rows` observations are waiting or `flush_s` seconds passed since
    the last flush, whichever comes first, and on `close()`. With a `guard` (the session
    runner's fence and heartbeat) every flush, even an empty one, runs it first, so a
    superseded process learns it within one flush interval.
    """

    def __init__(self, store: Store, flush_s: float = 2.0, max_rows: int = 500, *,
                 guard: Guard | None = None, attempt: int = 0) -> None:
        self.store = store
        self.guard = guard
        self.attempt = attempt
        self.flush_s = flush_s
        self.max_rows = max_rows
        self._pending: list[Observation] = []
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self.written = 0

    def add(self, items: Iterable[Observation]) -> None:
        with self._lock:
            self._pending.extend(items)
            due = len(self._pending) >= self.max_rows or time.monotonic() - self._last >= self.flush_s
        if due:
            self.flush()

    def flush(self) -> int:
        with self._lock:
            batch, self._pending = self._pending, []
            self._last = time.monotonic()
        if batch or self.guard is not None:
            # the guard also runs on empty flushes: a heartbeat
            self.store.add_observations(batch, self.guard, self.attempt)
            self.written += len(batch)
        return len(batch)

    def close(self) -> None:
        self.flush()
