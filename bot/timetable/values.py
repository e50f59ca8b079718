"""The date-time values of a calendar component, with IANA zones (see `bot.timetable.ical`).

TZIDs are resolved through `bot.timetable.zones` (with this calendar's VTIMEZONE blocks), keeping
wall-clock times for named zones and instants for UTC; Google's X-WR-TIMEZONE then applies to
floating and UTC values, as x-wr-timezone does for whole calendars.
"""

from __future__ import annotations

import bisect
import quopri
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import x_wr_timezone
from icalendar.cal import Component

from bot.timetable.zones import Offsets, ZoneResolver, iana_of


def text(component: Component, name: str) -> str:
    """A property as text ("" when absent or unreadable); SUMMARY with its whitespace collapsed."""
    value = component.get(name)
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0] if value else ""
    try:
        out = _unquote(value)
        return " ".join(out.split()) if name == "SUMMARY" else out
    except Exception:  # a broken property: treat as absent (icalendar keeps parsing the rest)
        return ""


def _unquote(value: object) -> str:
    """The text of a value; vCalendar 1.0's ``ENCODING=QUOTED-PRINTABLE`` (with its CHARSET,
    old Outlook and phones write it) decoded, so "Fr=E9d=E9ric" reads "Frédéric"."""
    params = getattr(value, "params", None) or {}
    raw = str(value)
    if str(params.get("ENCODING", "")).upper() != "QUOTED-PRINTABLE":
        return raw
    data = quopri.decodestring(raw.encode("utf-8", errors="replace"))
    charset = str(params.get("CHARSET", "") or "utf-8")
    try:
        return data.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return data.decode("cp1252", errors="replace")


def _offsets(block: Component) -> Offsets | None:
    """A VTIMEZONE's UTC offsets from its transitions (icalendar expands its rules once; asking
    the tzinfo icalendar builds costs a rule expansion per instant)."""
    try:
        times, infos = block.get_transitions()  # type: ignore[attr-defined]
    except Exception:  # a block icalendar cannot expand: only its X-LIC-LOCATION can help
        return None
    if not times:
        return None
    naive = [t.replace(tzinfo=None) for t in times]
    offsets = [info[0] for info in infos]

    def offset_at(instant: datetime) -> timedelta:
        i = bisect.bisect_right(naive, instant.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)) - 1
        return offsets[max(i, 0)]
    return offset_at


def zone_resolver(cal: Component) -> ZoneResolver:
    blocks: dict[str, tuple[str | None, Offsets | None]] = {}
    for tz in cal.walk("VTIMEZONE"):
        tzid = text(tz, "TZID")
        if tzid:
            blocks[tzid] = (text(tz, "X-LIC-LOCATION") or None, _offsets(tz))
    return ZoneResolver(blocks)


def _value_tzid(prop: Any) -> str | None:
    params = getattr(prop, "params", None) or {}
    tzid = params.get("TZID")
    return str(tzid) if tzid else None


def _in_zone(value: datetime, tzid: str | None, vtz: ZoneResolver, around: datetime) -> datetime:
    """`value` with an IANA zone: wall-clock kept for a named zone, instant kept for UTC."""
    if value.tzinfo is not None and iana_of(value.tzinfo):
        if isinstance(value.tzinfo, ZoneInfo):
            return value
        return value.astimezone(ZoneInfo("UTC"))
    if tzid is None:
        return value  # floating: X-WR-TIMEZONE or the default zone decides later
    zone = ZoneInfo(vtz(tzid, around))
    return value.replace(tzinfo=zone)


def _around(component: Component) -> datetime:
    start = component.get("DTSTART")
    value = getattr(start, "dt", None)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime.combine(value, datetime.min.time())
    return datetime(2000, 1, 1)


def normalize_values(component: Component, vtz: ZoneResolver, wr_zone: ZoneInfo | None) -> dict[str, list[Any]]:
    """DTSTART, DTEND, RECURRENCE-ID, EXDATE and RDATE values with IANA zones (or floating).

    TZIDs are resolved first; then X-WR-TIMEZONE moves floating and UTC values into its zone
    (x-wr-timezone's rule, applied per value: run on whole components it would also take a
    VTIMEZONE-built zone without a TZNAME for a floating time)."""
    around = _around(component)
    walker = x_wr_timezone.UTCChangingWalker(wr_zone) if wr_zone is not None else None

    def fix(value: datetime, tzid: str | None) -> datetime:
        value = _in_zone(value, tzid, vtz, around)
        if walker is not None and (value.tzinfo is None or iana_of(value.tzinfo) == "UTC"):
            value = walker.walk_value_datetime(value)
        return value

    out: dict[str, list[Any]] = {}
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        prop = component.get(name)
        if prop is None:
            continue
        value = prop.dt
        if isinstance(value, datetime):
            value = fix(value, _value_tzid(prop))
        out[name] = [value]
    for name in ("EXDATE", "RDATE"):
        lines = component.get(name)
        if lines is None:
            continue
        values: list[Any] = []
        for line in lines if isinstance(lines, list) else [lines]:
            line_tzid = _value_tzid(line)
            for item in line.dts:
                value = item.dt
                tzid = _value_tzid(item) or line_tzid
                if isinstance(value, tuple):  # PERIOD: (start, end) or (start, duration)
                    start = fix(value[0], tzid)
                    end = value[1] if isinstance(value[1], timedelta) else fix(value[1], tzid)
                    values.append((start, end))
                elif isinstance(value, datetime):
                    values.append(fix(value, tzid))
                else:
                    values.append(value)
        out[name] = values
    return out


def localize(values: dict[str, list[Any]], zone: ZoneInfo) -> dict[str, list[Any]]:
    """Floating values (no zone anywhere) read in `zone`; aware values converted into it."""
    def one(v: Any) -> Any:
        if isinstance(v, tuple):
            return (one(v[0]), v[1] if isinstance(v[1], timedelta) else one(v[1]))
        if isinstance(v, datetime):
            return v.replace(tzinfo=zone) if v.tzinfo is None else v.astimezone(zone)
        return v
    return {k: [one(v) for v in vs] for k, vs in values.items()}
