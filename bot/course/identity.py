"""Who a student is across the sessions of a course: one function, swapped in one place.

Today a student is their normalized display name (`bot.sessions.roster_match.name_key`):
"Alex Kim", "alex kim (phone)" and "Álex KIM - iPad" are one student; a name with nothing
left after normalizing (only emoji, say) stays its own participant. When rosters are wired
in, `course_identity` returns the roster student id a display name was matched to (exact,
alias or a teacher-confirmed match) and falls back to this key for unmatched names: the
course input (`bot.course.inputs`) and everything after it only see the returned key.
"""

from __future__ import annotations

from bot.sessions.roster_match import name_key, strip_decorations


def course_identity(display_name: str, participant_id: str) -> str:
    """The key that joins one student's sessions (see the module docstring)."""
    key = name_key(display_name)
    return f"name:{key}" if key else f"participant:{participant_id}"


def course_label(display_name: str) -> str:
    """The name a course report shows for a student: their display name without device notes."""
    return strip_decorations(display_name) or display_name
