"""How students learn that ClassPulse is taking notes, per platform (one sentence each).

Where the bot joins as a participant (Janus, the built-in classroom) students see its
honest name (`bot.name`) and its notice (`bot.notice`: chat message or join page). Zoom RTMS
has no bot: Zoom shows its own app indicator, and nothing can be written in the meeting,
so the teacher shares the notice (`notice_to_share`). The sentence is recorded with each
session (the report's "Source" line) and shown on the class (API `students_informed_by`).
"""

from __future__ import annotations

BY_THE_BOT = "the bot's visible name and its notice in the meeting (bot.name, bot.notice)"
BY_ZOOM_AND_TEACHER = "Zoom's app indicator + the teacher's notice"

ZOOM_NOTE = (" In Zoom it is an app, not a participant: Zoom's app indicator shows when it is on; it has no "
             "video tile and writes nothing in the chat. The host can stop the app at any time.")


def is_zoom_class(meeting_url: str, zoom_meeting_id: str) -> bool:
    return bool(zoom_meeting_id) or meeting_url.startswith("zoom:")


def informed_by(meeting_url: str, zoom_meeting_id: str = "") -> str:
    """The sentence for a class's sessions: how its students are told."""
    return BY_ZOOM_AND_TEACHER if is_zoom_class(meeting_url, zoom_meeting_id) else BY_THE_BOT


def notice_to_share(bot_notice: str, meeting_url: str, zoom_meeting_id: str = "") -> str:
    """What the teacher must share with the students; "" where the bot shows the notice itself."""
    return bot_notice.rstrip() + ZOOM_NOTE if is_zoom_class(meeting_url, zoom_meeting_id) else ""
