"""Number, time and name formatting for reports: one place decides how a value reads.

Missing values read as an em dash, never as 0: "not measured" and "zero" are different
statements about a student.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta

MISSING = "—"


def pct(x: float | None) -> str:
    """A share 0..1 as a whole percentage."""
    return MISSING if x is None else f"{round(x * 100):d}%"


def score100(x: float | None) -> str:
    """An index 0..1 on a 0..100 scale (engagement reads better as "72" than "0.72")."""
    return MISSING if x is None else f"{round(x * 100):d}"


def signed_points(x: float | None) -> str:
    """A difference of two 0..1 indices in points on the 0..100 scale, with its sign."""
    if x is None:
        return MISSING
    pts = round(x * 100)
    return f"{pts:+d}".replace("-", "\u2212") if pts else "±0"


def clock(t: float) -> str:
    """Seconds since the start of class as m:ss, or h:mm:ss past an hour."""
    total = max(0, round(t))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def clock_span(start: float, end: float) -> str:
    return f"{clock(start)}–{clock(end)}"


def duration(seconds: float) -> str:
    """A length of time in words: "45 s", "3 min 20 s", "50 min", "1 h 5 min"."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{m} min {s} s" if s and m < 10 else f"{m} min"


def parse_time(iso: str) -> datetime | None:
    """An ISO 8601 time as stored (UTC), or None when empty or unreadable."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return None


def date_line(started_at: str) -> str:
    start = parse_time(started_at)
    return MISSING if start is None else start.strftime("%A %-d %B %Y")


def wall_clock(started_at: str, t: float) -> str:
    """The time of day `t` seconds after the start, as HH:MM with the stored zone's name."""
    start = parse_time(started_at)
    if start is None:
        return ""
    moment = start + timedelta(seconds=t)
    zone = moment.tzname() or ""
    return f"{moment:%H:%M} {'UTC' if zone in ('UTC', 'UTC+00:00') else zone}".strip()


def session_seconds(started_at: str, ended_at: str) -> float | None:
    start, end = parse_time(started_at), parse_time(ended_at)
    if start is None or end is None or end <= start:
        return None
    return (end - start).total_seconds()


#: Latin letters that Unicode does not decompose into a base letter plus accents.
_NO_DECOMPOSITION = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "ß": "ss",
                                   "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Þ": "Th", "þ": "th",
                                   "ı": "i"})


def safe_stem(name: str, key: str) -> str:
    """A file-name stem from a display name: ASCII letters, digits and hyphens only.

    Display names come from the meeting and are untrusted: "../../etc" or "a/b" must never
    reach the file system as a path. Names with no ASCII letters get a stable stem from
    the participant id instead.
    """
    folded = unicodedata.normalize("NFKD", name.translate(_NO_DECOMPOSITION))
    ascii_name = folded.encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:48].strip("-")
    return stem or "student-" + hashlib.sha1(key.encode()).hexdigest()[:8]


def unique_stems(people: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Participant id → unique stem for (participant id, display name) pairs, in that order."""
    used: set[str] = set()
    out: dict[str, str] = {}
    for key, name in people:
        base = safe_stem(name, key)
        stem, n = base, 2
        while stem in used:
            stem, n = f"{base}-{n}", n + 1
        used.add(stem)
        out[key] = stem
    return out
