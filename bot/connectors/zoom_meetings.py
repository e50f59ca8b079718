"""Zoom meeting numbers: how a class names its Zoom meeting, and how a webhook names it back.

A class is mapped to its Zoom meeting by the **meeting number** (the 9–11 digit "Meeting
ID" people type to join, also in the join link ``https://….zoom.us/j/<number>``). Zoom's
``meeting.rtms_started`` webhook carries it as ``meeting_id`` (developers.zoom.us changelog
"RTMS April release": new ``account_id``, ``is_original_host``, ``meeting_id`` fields);
the ``meeting_uuid`` it also carries changes with every meeting instance, so it cannot name
a recurring class. Pure functions; docs/zoom.md, "Which meetings are analysed".
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_DIGITS = re.compile(r"^[0-9]{9,13}$")
_SEPARATORS = re.compile(r"[\s\-.]")


def meeting_number(value: object) -> str:
    """The digits of a meeting number from a webhook field (number or text); "" when absent or not one."""
    if isinstance(value, bool) or value is None:
        return ""
    text = _SEPARATORS.sub("", str(value))
    return text if _DIGITS.match(text) else ""


def class_meeting_number(text: str) -> str:
    """What a teacher typed for a class's Zoom meeting → its number; ValueError says what to type.

    Accepts the number as Zoom prints it (``812 3456 7890``) or a join link
    (``https://school.zoom.us/j/81234567890?pwd=…``; the passcode is not kept).
    """
    text = text.strip()
    if not text:
        return ""
    if "://" in text:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        segments = [s for s in parts.path.split("/") if s]
        if not (host == "zoom.us" or host.endswith(".zoom.us")) or len(segments) < 2 \
                or segments[0] not in ("j", "w", "s", "wc"):
            raise ValueError(f"{text[:200]!r} is not a Zoom join link (https://….zoom.us/j/<meeting number>); "
                             "give the meeting number instead")
        text = segments[1]
    number = meeting_number(text)
    if not number:
        raise ValueError(f"{text[:200]!r} is not a Zoom meeting number (9 to 13 digits, e.g. 812 3456 7890)")
    return number
