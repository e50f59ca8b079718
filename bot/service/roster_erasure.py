""""Delete this student everywhere": one roster student's every trace in one teacher's data.

What goes (synchronous; the API runs it off the event loop and then re-renders reports):

* the roster row, and the same person's rows on the teacher's other class rosters (same
  school `student_id`, or the same e-mail);
* in every session of every class of that teacher (and the teacher's sessions without a class):
  each participant linked to the student — a confirmed match, or a name that is certainly
  theirs (the same name, an alias, the e-mail) — loses their observations, participant row
  and match;
* the student's name in the rosters those sessions expected.

A *pending* proposal ("Alex" for "Alex Kim", fuzzy or ambiguous) may be another person: the
caller decides (`possible_too`): deleted as well, or kept under the name used (and listed in the
answer, `possible`). `pending_proposals` finds them first so the API can ask.
Report files of the touched sessions are then rendered again, or removed when nobody is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analysis.store import Store, StoreError
from bot.db.records import RosterStudentRecord
from bot.db.store import ServiceStore
from bot.sessions.roster_match import match_name
from bot.sessions.roster_session import as_students


@dataclass
class Erasure:
    roster_rows: list[str] = field(default_factory=list)  # roster student ids deleted (all classes)
    sessions: list[str] = field(default_factory=list)  # sessions whose data changed
    participants: int = 0
    observations: int = 0
    possible: list[dict[str, str]] = field(default_factory=list)  # pending fuzzy proposals, not deleted
    empty_sessions: list[str] = field(default_factory=list)  # sessions with no participant left


def _same_person(a: RosterStudentRecord, b: RosterStudentRecord) -> bool:
    return a.student_id == b.student_id or bool(a.email and a.email.casefold() == b.email.casefold())


def _scope(db: ServiceStore, student: RosterStudentRecord, owner: str) -> tuple[
        list[RosterStudentRecord], list[str]]:
    """The student's rows on the owner's rosters, and the owner's sessions."""
    classes = db.classes(owner=owner)[0]
    rows = [student, *(r for c in classes if c.class_id != student.class_id
                       for r in db.rosters.roster(c.class_id) if _same_person(r, student))]
    sessions = {s.session_id for c in classes for s in db.sessions(class_id=c.class_id)[0]}
    sessions |= {s.session_id for s in db.sessions(owner=owner)[0]}
    return rows, sorted(sessions)


def pending_proposals(db: ServiceStore, student: RosterStudentRecord, owner: str) -> list[dict[str, str]]:
    """Participants only *proposed* as this student (fuzzy or ambiguous, undecided)."""
    rows, sessions = _scope(db, student, owner)
    ids = {r.roster_student_id for r in rows}
    return [{"session_id": m.session_id, "participant_id": m.participant_id, "display_name": m.display_name}
            for sid in sessions for m in db.rosters.matches(session_id=sid)
            if not m.confirmed and ids & set(m.candidate_ids)]


def erase_student(store: Store, db: ServiceStore, student: RosterStudentRecord, owner: str, *,
                  possible_too: bool = False) -> Erasure:
    out = Erasure()
    rows, sessions = _scope(db, student, owner)
    ids = {r.roster_student_id for r in rows}
    targets = as_students(rows)
    for sid in sessions:
        matches = {m.participant_id: m for m in db.rosters.matches(session_id=sid)}
        try:
            people = store.participants(sid)
        except StoreError:
            people = []
        hit = False
        for p in people:
            m = matches.get(p.participant_id)
            linked = m is not None and m.confirmed and m.roster_student_id in ids
            named = match_name(p.display_name, targets).certain
            proposed = m is not None and not m.confirmed and bool(ids & set(m.candidate_ids))
            if linked or named or (proposed and possible_too):
                out.observations += store.delete_participant(sid, p.participant_id)
                db.rosters.delete_matches(sid, p.participant_id)
                out.participants += 1
                hit = True
            elif proposed:
                out.possible.append({"session_id": sid, "participant_id": p.participant_id,
                                     "display_name": p.display_name})
        if hit:
            out.sessions.append(sid)
            if not store.participants(sid):
                out.empty_sessions.append(sid)
    expected_in: set[str] = set()
    for rid in sorted(ids):
        db.rosters.delete_student(rid)
        expected_in.update(db.rosters.forget_student_in_snapshots(rid))
        out.roster_rows.append(rid)
    out.sessions = sorted(set(out.sessions) | expected_in)  # "did not join" lines name them too
    return out
