"""Apply a class roster to an ended session (synchronous I/O: run it off the event loop).

Called before a session's reports are rendered — when it ends, and again whenever they are
rendered later (an opt-out, a teacher's confirmation, a new roster) — so the report always
reflects the current roster and the teacher's decisions. See `bot.sessions.roster_session`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from analysis.attendance import ClassRoll
from analysis.store import Store
from bot.db.store import ServiceStore
from bot.sessions.live import Render
from bot.sessions.roster_session import class_roll, match_participants, opt_outs


def report_roster(store: Store, db: ServiceStore, session_id: str, now: str) -> tuple[ClassRoll | None, frozenset[str]]:
    """Match the session's participants to its class roster (stored), delete the data of those
    certainly an opted-out student, and return the report's roster input with the participants
    to leave out as possibly opted out. (None, ∅) for a session without a class."""
    rosters = db.rosters
    snapshot = rosters.session_roster(session_id)
    if snapshot is None:
        return None, frozenset()
    roster = rosters.roster(snapshot.class_id)
    confirmed, rejected = rosters.decisions(snapshot.class_id)
    people = store.participants(session_id)
    rosters.save_matches(session_id, match_participants(session_id, snapshot.class_id, people, roster,
                                                        confirmed=confirmed, rejected=rejected, now=now))
    matches = rosters.matches(session_id=session_id)
    opted = {r.roster_student_id for r in roster if r.opted_out}
    certain, maybe = opt_outs(matches, opted)
    already = {p.participant_id for p in people if p.opted_out}
    for pid in sorted(certain - already):
        store.opt_out(session_id, pid)
    return class_roll(snapshot, matches, opted), maybe


def render_with_roster(render: Render, store: Store, db: ServiceStore, session_id: str, out: Path,
                       formats: Sequence[str], paper: str, now: str) -> list[Path]:
    """`report_roster`, then render (the roster keywords only for a session of a class)."""
    roll, maybe_opted_out = report_roster(store, db, session_id, now)
    if roll is None:
        return render(store, session_id, out, formats, paper)
    return render(store, session_id, out, formats, paper, roll=roll, opted_out=maybe_opted_out)
