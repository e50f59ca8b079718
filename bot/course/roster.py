"""The class roster in the course view: students who never came are in it, under their roster names.

`roster_identity` already joins a roster student's sessions (whatever name they used); this adds
what a name-only course cannot know. Each session with a stored roster snapshot
(`session_rosters`: who it expected at its start) lists those students as enrolled, so a roster
student nobody matched there is absent in it (or "not recorded" where ClassPulse did not record),
and one who never joined all term is in the report at all. Sessions from before the class had a
roster enrol only who was seen, never a roster student they could not have expected; a run
without a snapshot of its own (a missed run) expected the roster of the latest session before
it. Students
known by name only (unmatched, or awaiting confirmation) keep the name-only rule: enrolled in
every session. Roster students are shown under their roster name; opted-out ones are left out.
A name awaiting the teacher's confirmation as a roster student keeps that student from being
absent in its session ("not enrolled" there until the teacher decides; then it joins them).

Pure: the course input, the snapshots and the roster rows in, a new course input out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from bot.db.records import RosterMatchRecord, RosterStudentRecord, SessionRosterRecord
from bot.sessions.roster_session import snapshot_students
from reports.course import CourseInput

ROSTER_KEY = "roster:"


def with_roster(course: CourseInput, snapshots: Mapping[str, SessionRosterRecord],
                roster: Sequence[RosterStudentRecord], matches: Sequence[RosterMatchRecord] = ()) -> CourseInput:
    """`course` with its sessions' expected students enrolled (see the module docstring);
    unchanged when no session of the class had a roster. A roster student whom a name in a
    session only might be (a proposal awaiting the teacher, `matches`) is not expected there:
    never counted absent while they may have been in class under that name."""
    if not snapshots:
        return course
    opted = {r.roster_student_id for r in roster if r.opted_out}
    maybe: dict[str, set[str]] = {}
    for m in matches:
        if not m.confirmed:
            maybe.setdefault(m.session_id, set()).update(m.candidate_ids)
    names = dict(course.names)
    expected: dict[str, set[str]] = {}
    for session_id, snap in snapshots.items():
        keys = expected.setdefault(session_id, set())
        for rsid, name in snapshot_students(snap):
            if rsid not in opted:
                names[ROSTER_KEY + rsid] = name
                keys.add(ROSTER_KEY + rsid)
    names.update({ROSTER_KEY + r.roster_student_id: r.name for r in roster
                  if ROSTER_KEY + r.roster_student_id in names and r.roster_student_id not in opted})
    by_name = [key for key in names if not key.startswith(ROSTER_KEY)]
    ordered_sessions = sorted(course.sessions, key=lambda s: (s.started_at, s.session_id))
    latest: set[str] = set()
    enrolled: dict[str, tuple[str, ...]] = {}
    for s in ordered_sessions:  # a run without a snapshot (a missed run) expected the roster of the time
        latest = expected.get(s.session_id, latest)
        unsure = {ROSTER_KEY + rsid for rsid in maybe.get(s.session_id, ())}
        enrolled[s.session_id] = tuple(dict.fromkeys([*sorted(latest - unsure), *s.summaries, *by_name]))
    sessions = tuple(replace(s, roster=enrolled[s.session_id]) for s in course.sessions)
    ordered = tuple(sorted(names.items(), key=lambda kv: (kv[1].casefold(), kv[0])))
    return replace(course, sessions=sessions, names=ordered)
