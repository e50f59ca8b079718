"""The meeting link of a calendar event, and whether ClassPulse can join it.

Calendars put the link in different places: Apple and most school timetables in LOCATION,
some in URL, Google and Outlook in the description ("Join: https://…") next to their own
conference links (Google adds ``X-GOOGLE-CONFERENCE``, Teams ``X-MICROSOFT-SKYPETEAMSMEETINGURL``).
Every link found in LOCATION, URL and the description is considered in that order; the first
one ClassPulse can join wins, so a Janus room in LOCATION is used even when Google added a Meet
link to the description. When the links found cannot be joined, the event is skipped naming the
platform of the first one; an event with no link at all (a room number, a timetable package that
knows no links) still becomes a lesson, with a note that its class needs a meeting URL.

Joinable: ``janus+http(s)://…`` and ``janus://…`` (a Janus VideoRoom), ``classroom:CODE`` (the
built-in classroom) and ``zoom:?…`` (a Zoom RTMS stream, see docs/zoom.md). A join link of the
built-in classroom (``https://HOST/join/CODE``) becomes ``classroom:CODE`` when HOST is this
service's classroom address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

JOINABLE_PREFIXES = ("janus+http://", "janus+https://", "janus://", "classroom:", "zoom:?")
_LINK = re.compile(r"(?:janus\+https?://|janus://|zoom:\?|https?://)[^\s<>\"'\\]+|classroom:[A-Za-z0-9_-]{3,40}",
                   re.IGNORECASE)
_TRAILING = ".,;:!?)]}>'\""
_JOIN_PATH = re.compile(r"^/join/([A-Za-z0-9_-]{3,40})/?$")

#: Host suffix → platform name, for links ClassPulse cannot join (the skip reason names them).
PLATFORMS: tuple[tuple[str, str], ...] = (
    ("teams.microsoft.com", "Microsoft Teams"),
    ("teams.live.com", "Microsoft Teams"),
    ("meet.google.com", "Google Meet"),
    ("zoom.us", "Zoom"),
    ("zoomgov.com", "Zoom"),
    ("webex.com", "Webex"),
    ("gotomeeting.com", "GoTo Meeting"),
    ("goto.com", "GoTo Meeting"),
    ("whereby.com", "Whereby"),
    ("meet.jit.si", "Jitsi Meet"),
    ("skype.com", "Skype"),
    ("chime.aws", "Amazon Chime"),
    ("bluejeans.com", "BlueJeans"),
)


@dataclass(frozen=True)
class MeetingLink:
    """The outcome for one event: a joinable `url`, or an empty url and the `reason` why not;
    `unsupported` when the event has links but none ClassPulse can join (Teams, Meet, …)."""

    url: str
    reason: str = ""
    unsupported: bool = False


def links_in(text: str) -> list[str]:
    """Every link in a text, in order, without trailing punctuation."""
    return [m.group(0).rstrip(_TRAILING) for m in _LINK.finditer(text or "")]


def platform_of(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    for suffix, name in PLATFORMS:
        if host == suffix or host.endswith("." + suffix):
            return name
    return host or url.split(":", 1)[0]


def joinable(url: str, classroom_base: str = "") -> str | None:
    """`url` as ClassPulse joins it, or None."""
    if url.lower().startswith(JOINABLE_PREFIXES):
        return url
    if classroom_base:
        base, link = urlsplit(classroom_base), urlsplit(url)
        m = _JOIN_PATH.match(link.path)
        if m and (link.scheme, link.netloc.lower()) == (base.scheme, base.netloc.lower()):
            return f"classroom:{m.group(1)}"
    return None


def meeting_link(location: str, url: str, description: str, *, classroom_base: str = "",
                 extra: Iterable[str] = ()) -> MeetingLink:
    """The first joinable link of LOCATION, URL, the description and `extra` (conference
    properties), or the reason there is none."""
    found = [*links_in(location), *links_in(url), *links_in(description)]
    for value in extra:
        found.extend(links_in(value))
    for link in found:
        usable = joinable(link, classroom_base)
        if usable:
            return MeetingLink(usable)
    if found:
        platform = platform_of(found[0])
        hint = ("Zoom classes need an RTMS stream, zoom:?…, see docs/zoom.md" if platform == "Zoom" else
                "use janus+https://…, classroom:CODE or zoom:?…")
        return MeetingLink("", f"meeting link {found[0]!r} is a {platform} link, which ClassPulse cannot join "
                               f"({hint})", unsupported=True)
    return MeetingLink("", "no meeting link in LOCATION, URL or the description")
