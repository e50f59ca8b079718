"""Who a student is across the sessions of a course: one function, swapped in one place.

Today a student is their normalized display name (`bot.sessions.roster_match.name_key`):
"Alex Kim", "alex kim (phone)" and "Álex KIM - iPad" are one student; a name with nothing
left after normalizing (only emoji, say) stays its own participant. A class with a roster
uses `roster_identity`: a participant matched to a roster student (exact, alias, e-mail or a
teacher-confirmed match; `bot.db.rosters`) is that roster student, whatever name they used;
names matched to nobody, or only proposed, fall back to the name key. The course input
(`bot.course.inputs`) and everything after it only see the returned key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bot.db.records import RosterMatchRecord
from bot.sessions.roster_match import name_key, strip_decorations

#: (display name, participant id, session id) → the student's key across the course.
Identity = Callable[[str, str, str], str]


def course_identity(display_name: str, participant_id: str, session_id: str = "") -> str:
    """The key that joins one student's sessions by name (see the module docstring)."""
    key = name_key(display_name)
    return f"name:{key}" if key else f"participant:{participant_id}"


def roster_identity(matches: Iterable[RosterMatchRecord], fallback: Identity = course_identity) -> Identity:
    """Confirmed roster matches first (a student who joined as "Alex (phone)" one week and "Alex
    Kim" the next is one roster student); everyone else by `fallback`."""
    known = {(m.session_id, m.participant_id): m.roster_student_id
             for m in matches if m.confirmed and m.roster_student_id}

    def identity(display_name: str, participant_id: str, session_id: str = "") -> str:
        rsid = known.get((session_id, participant_id))
        return f"roster:{rsid}" if rsid else fallback(display_name, participant_id, session_id)

    return identity


def course_label(display_name: str) -> str:
    """The name a course report shows for a student: their display name without device notes."""
    return strip_decorations(display_name) or display_name
