"""A session's participants against its class roster: matches to store, and what the report gets.

Pure functions between the stored records (`bot.db.records`) and the report's frozen input
(`analysis.attendance.ClassRoll`); the runner and the API read and write around them.

* `match_participants`: each participant's display name through `roster_match.match_name`
  (the teacher's earlier confirmations first; a fuzzy proposal the teacher rejected for that
  name is not proposed again). Certain tiers are stored `confirmed`; fuzzy and ambiguous wait.
* `opt_outs`: participants matched for certain to an opted-out roster student (their data is
  deleted), and those that *might* be one (a pending fuzzy or ambiguous match): left out of the
  report as opted out, data kept, until the teacher confirms or rejects the match.
* `class_roll`: the roster students the session expected and nobody matched — "did not join",
  or "not visible to ClassPulse" on a platform that may hide participants (never absent then).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from analysis.attendance import ClassRoll, Rules
from analysis.records import Participant
from bot.db.records import RosterMatchRecord, RosterStudentRecord, SessionRosterRecord
from bot.sessions.roster_match import RosterStudent, match_name, name_key


def as_students(roster: Iterable[RosterStudentRecord]) -> list[RosterStudent]:
    """Roster rows as the matcher's students, keyed by the stable roster student id."""
    return [RosterStudent(r.roster_student_id, r.name, r.alias_list, r.email) for r in roster]


def match_participants(session_id: str, class_id: str, participants: Sequence[Participant],
                       roster: Sequence[RosterStudentRecord], *, confirmed: Mapping[str, str],
                       rejected: set[tuple[str, str]], now: str) -> list[RosterMatchRecord]:
    students = as_students(roster)
    out = []
    for p in participants:
        m = match_name(p.display_name, students, confirmed=confirmed)
        candidates = m.candidates
        if m.needs_confirmation:
            key = name_key(p.display_name)
            candidates = tuple(c for c in candidates if (key, c) not in rejected)
            if not candidates:
                m = replace(m, kind="unmatched", student_id=None, reason="the teacher rejected the proposal before")
            elif len(candidates) == 1:
                m = replace(m, kind="fuzzy", student_id=candidates[0])
        out.append(RosterMatchRecord(
            session_id=session_id, participant_id=p.participant_id, class_id=class_id,
            display_name=p.display_name[:200], roster_student_id=m.student_id or "", kind=m.kind,
            candidates=",".join(candidates), reason=m.reason[:300], confirmed=m.certain, created_at=now))
    return out


def opt_outs(matches: Iterable[RosterMatchRecord], opted_out_students: Iterable[str]) -> tuple[
        frozenset[str], frozenset[str]]:
    """(participants certainly an opted-out student: delete their data,
    participants that might be one until the teacher decides: leave out of the report)."""
    out = set(opted_out_students)
    certain, maybe = set(), set()
    for m in matches:
        if m.confirmed:
            if m.roster_student_id in out:
                certain.add(m.participant_id)
        elif any(c in out for c in m.candidate_ids):
            maybe.add(m.participant_id)
    return frozenset(certain), frozenset(maybe)


def certainly_opted_out(roster: Sequence[RosterStudentRecord], confirmed: Mapping[str, str]) -> Callable[[str], bool]:
    """For the live session: is this display name certainly (exact, alias, e-mail, the teacher's
    confirmation) an opted-out roster student? Fuzzy matches are recorded and decided after class."""
    students = as_students(roster)
    out = {r.roster_student_id for r in roster if r.opted_out}

    def test(display_name: str) -> bool:
        if not out:
            return False
        m = match_name(display_name, students, confirmed=confirmed)
        return m.certain and m.student_id in out

    return test


def snapshot_students(record: SessionRosterRecord) -> list[tuple[str, str]]:
    return [(str(s[0]), str(s[1])) for s in json.loads(record.students)]


def class_roll(snapshot: SessionRosterRecord | None, matches: Sequence[RosterMatchRecord],
               opted_out_students: Iterable[str], rules: Rules | None = None) -> ClassRoll | None:
    """The report's roster input; None when the session had no roster (and no rules of its own)."""
    if snapshot is None:
        return ClassRoll(rules=rules) if rules is not None else None
    rules = Rules(late_after_s=snapshot.late_after_s, absent_after_s=snapshot.absent_after_s)
    out = set(opted_out_students)
    expected = [(sid, name) for sid, name in snapshot_students(snapshot) if sid not in out]
    seen = {m.roster_student_id for m in matches if m.roster_student_id}
    names = dict(snapshot_students(snapshot))
    return ClassRoll(
        rules=rules, roster_size=len(expected), sees_everyone=snapshot.sees_everyone,
        not_seen=tuple(name for sid, name in expected if sid not in seen),
        unmatched=sum(not m.roster_student_id and not m.candidate_ids for m in matches),
        to_confirm=sum(not m.confirmed and bool(m.candidate_ids) for m in matches),
        matched=tuple((m.participant_id, names[m.roster_student_id]) for m in matches
                      if m.confirmed and m.roster_student_id in names))
