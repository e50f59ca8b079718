"""Class rosters in the service database: students, per-session matches, the roster a session expected.

Kept apart from `bot.db.store.ServiceStore` (which opens it as `db.rosters`) because rosters are
the one place the service keeps students' personal data (names, aliases, e-mails) outside a
session: their own retention (`purge_before`) and "delete this student everywhere" live here.
Synchronous; callers run it off the event loop.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import asdict, fields, replace
from typing import Any, TypeVar

import sqlalchemy as sa

from bot.db import tables
from bot.db.records import RosterMatchRecord, RosterStudentRecord, SessionRosterRecord
from bot.sessions.roster_match import RosterStudent, name_key

R = TypeVar("R")


def _record(cls: type[R], row: Any) -> R:
    data = row._asdict()
    return cls(**{f.name: data[f.name] for f in fields(cls)})  # type: ignore[arg-type]


def new_roster_student_id() -> str:
    return f"rs-{secrets.token_hex(8)}"


class Rosters:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- the roster ---------------------------------------------------------------------------
    def replace(self, class_id: str, students: Sequence[RosterStudent], now: str) -> tuple[
            list[RosterStudentRecord], int, int, int]:
        """Make `students` the class's roster: a student whose `student_id` was there before keeps
        their `roster_student_id` and opt-out; one no longer listed is removed, and sessions'
        matches to them become unmatched. Returns (roster, added, kept, removed)."""
        t, m = tables.roster_students, tables.roster_matches
        with self.engine.begin() as conn:
            old = {r.student_id: _record(RosterStudentRecord, r)
                   for r in conn.execute(sa.select(t).where(t.c.class_id == class_id)).all()}
            new: list[RosterStudentRecord] = []
            for i, s in enumerate(students):
                before = old.get(s.student_id)
                new.append(RosterStudentRecord(
                    roster_student_id=before.roster_student_id if before else new_roster_student_id(),
                    class_id=class_id, student_id=s.student_id, name=s.name, aliases=";".join(s.aliases),
                    email=s.email, opted_out=before.opted_out if before else False, position=i, uploaded_at=now))
            listed = {r.student_id for r in new}
            gone = [r.roster_student_id for sid, r in old.items() if sid not in listed]
            conn.execute(sa.delete(t).where(t.c.class_id == class_id))
            if new:
                conn.execute(sa.insert(t), [asdict(r) for r in new])
            if gone:
                conn.execute(sa.update(m).where(m.c.roster_student_id.in_(gone))
                             .values(roster_student_id="", kind="unmatched", confirmed=False,
                                     reason="the student was removed from the roster"))
        kept = len(listed & set(old))
        return new, len(new) - kept, kept, len(gone)

    def roster(self, class_id: str) -> list[RosterStudentRecord]:
        t = tables.roster_students
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.class_id == class_id).order_by(t.c.position)).all()
        return [_record(RosterStudentRecord, r) for r in rows]

    def student(self, roster_student_id: str) -> RosterStudentRecord | None:
        t = tables.roster_students
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.roster_student_id == roster_student_id)).first()
        return _record(RosterStudentRecord, row) if row is not None else None

    def set_opted_out(self, roster_student_id: str, opted_out: bool) -> int:
        t = tables.roster_students
        with self.engine.begin() as conn:
            return int(conn.execute(sa.update(t).where(t.c.roster_student_id == roster_student_id)
                                    .values(opted_out=opted_out)).rowcount or 0)

    def delete_student(self, roster_student_id: str) -> int:
        """The roster row and every match naming the student (as match or candidate); returns matches deleted."""
        t, m = tables.roster_students, tables.roster_matches
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.roster_student_id == roster_student_id))
            n = int(conn.execute(sa.delete(m).where(m.c.roster_student_id == roster_student_id)).rowcount or 0)
            for row in conn.execute(sa.select(m).where(m.c.candidates.contains(roster_student_id))).all():
                rec = _record(RosterMatchRecord, row)
                left = [c for c in rec.candidate_ids if c != roster_student_id]
                conn.execute(sa.update(m).where(m.c.session_id == rec.session_id,
                                                m.c.participant_id == rec.participant_id)
                             .values(candidates=",".join(left), kind="unmatched" if not left else rec.kind))
        return n

    def delete_class(self, class_id: str) -> None:
        with self.engine.begin() as conn:
            for t in (tables.roster_students, tables.roster_matches, tables.session_rosters):
                conn.execute(sa.delete(t).where(t.c.class_id == class_id))

    def purge_before(self, cutoff_iso: str) -> tuple[list[str], int]:
        """Roster retention: delete the rosters last uploaded before `cutoff_iso` (names, aliases,
        e-mails) and the matches to their students; returns (class ids, students deleted)."""
        t, m = tables.roster_students, tables.roster_matches
        with self.engine.begin() as conn:
            old = conn.execute(sa.select(t.c.class_id, t.c.roster_student_id).where(t.c.uploaded_at < cutoff_iso)).all()
            ids = [r.roster_student_id for r in old]
            if ids:
                conn.execute(sa.delete(m).where(m.c.roster_student_id.in_(ids)))
                conn.execute(sa.delete(t).where(t.c.roster_student_id.in_(ids)))
        return sorted({r.class_id for r in old}), len(ids)

    # -- matches ------------------------------------------------------------------------------
    def save_matches(self, session_id: str, records: Sequence[RosterMatchRecord]) -> None:
        """Replace the session's matches, keeping decisions the teacher already made."""
        m = tables.roster_matches
        with self.engine.begin() as conn:
            decided = {r.participant_id: _record(RosterMatchRecord, r) for r in conn.execute(
                sa.select(m).where(m.c.session_id == session_id, m.c.confirmed.is_(True))).all()}
            conn.execute(sa.delete(m).where(m.c.session_id == session_id))
            rows = [asdict(decided.get(r.participant_id, r)) for r in records]
            if rows:
                conn.execute(sa.insert(m), rows)

    def matches(self, *, session_id: str | None = None, class_id: str | None = None,
                roster_student_id: str | None = None) -> list[RosterMatchRecord]:
        m = tables.roster_matches
        where = [c == v for c, v in ((m.c.session_id, session_id), (m.c.class_id, class_id),
                                     (m.c.roster_student_id, roster_student_id)) if v is not None]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(m).where(*where).order_by(m.c.created_at, m.c.session_id,
                                                                      m.c.participant_id)).all()
        return [_record(RosterMatchRecord, r) for r in rows]

    def match(self, session_id: str, participant_id: str) -> RosterMatchRecord | None:
        found = [r for r in self.matches(session_id=session_id) if r.participant_id == participant_id]
        return found[0] if found else None

    def decide(self, session_id: str, participant_id: str, roster_student_id: str) -> RosterMatchRecord | None:
        """The teacher's decision: this participant is `roster_student_id` ("" = none of them)."""
        m = tables.roster_matches
        found = self.match(session_id, participant_id)
        if found is None:
            return None
        decided = replace(found, roster_student_id=roster_student_id,
                          kind="confirmed" if roster_student_id else "unmatched", confirmed=True,
                          reason="confirmed by the teacher" if roster_student_id else "rejected by the teacher")
        with self.engine.begin() as conn:
            conn.execute(sa.update(m).where(m.c.session_id == session_id, m.c.participant_id == participant_id)
                         .values(**{k: v for k, v in asdict(decided).items()
                                    if k in ("roster_student_id", "kind", "confirmed", "reason")}))
        return decided

    def decisions(self, class_id: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
        """The teacher's earlier decisions in this class, for matching later sessions:
        confirmed (name key → roster student id) and rejected (name key, candidate id) pairs."""
        confirmed: dict[str, str] = {}
        rejected: set[tuple[str, str]] = set()
        for r in self.matches(class_id=class_id):
            if r.kind == "confirmed" and r.roster_student_id:
                confirmed[name_key(r.display_name)] = r.roster_student_id
            elif r.confirmed and not r.roster_student_id:
                rejected.update((name_key(r.display_name), c) for c in r.candidate_ids)
        return confirmed, rejected

    def delete_matches(self, session_id: str, participant_id: str | None = None) -> int:
        m = tables.roster_matches
        q = sa.delete(m).where(m.c.session_id == session_id)
        if participant_id is not None:
            q = q.where(m.c.participant_id == participant_id)
        with self.engine.begin() as conn:
            return int(conn.execute(q).rowcount or 0)

    # -- what a session expected --------------------------------------------------------------
    def save_session_roster(self, record: SessionRosterRecord) -> None:
        t = tables.session_rosters
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.session_id == record.session_id))
            conn.execute(sa.insert(t).values(**asdict(record)))

    def session_roster(self, session_id: str) -> SessionRosterRecord | None:
        t = tables.session_rosters
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.session_id == session_id)).first()
        return _record(SessionRosterRecord, row) if row is not None else None

    def set_sees_everyone(self, session_id: str, sees_everyone: bool) -> None:
        t = tables.session_rosters
        with self.engine.begin() as conn:
            conn.execute(sa.update(t).where(t.c.session_id == session_id).values(sees_everyone=sees_everyone))

    def forget_student_in_snapshots(self, roster_student_id: str) -> list[str]:
        """Remove a student from every session's expected list (erasure); returns the sessions changed."""
        t = tables.session_rosters
        changed: list[str] = []
        with self.engine.begin() as conn:
            for row in conn.execute(sa.select(t.c.session_id, t.c.students)
                                    .where(t.c.students.contains(roster_student_id))).all():
                kept = [s for s in json.loads(row.students) if s[0] != roster_student_id]
                conn.execute(sa.update(t).where(t.c.session_id == row.session_id).values(students=json.dumps(kept)))
                changed.append(row.session_id)
        return changed

    def delete_session(self, session_id: str) -> None:
        with self.engine.begin() as conn:
            for t in (tables.roster_matches, tables.session_rosters):
                conn.execute(sa.delete(t).where(t.c.session_id == session_id))
