"""Time-zone names found in real calendar exports → IANA names.

A schedule runs in an IANA zone (``Europe/Berlin``) so that its lessons stay at 09:15 local
time across daylight-saving changes. Exports name zones in several ways, tried in this order:

1. an IANA name (Google, Apple, Thunderbird), also inside a "globally unique" TZID such as
   ``/citadel.org/20190914_1/Europe/Berlin``;
2. a Windows zone ID (Outlook, Exchange, Microsoft 365: ``W. Europe Standard Time``), through
   CLDR's windowsZones table as icalendar ships it, then tzlocal's copy (a few newer zones);
3. a Windows display name (``(UTC-05:00) Eastern Time (US & Canada)``), through
   `bot.timetable.windows_display`;
4. the calendar's own VTIMEZONE block with that TZID (Outlook's "Customized Time Zone"):
   its ``X-LIC-LOCATION`` when present, otherwise the IANA zone whose UTC offsets equal the
   block's at every sampled instant of the two years around the lesson (zones of CLDR's
   table first, then every other IANA zone, both in name order; equal offsets mean equal
   lesson times, so the choice among equivalent zones changes no run).

A name none of these resolve raises `UnknownZone`; the event is skipped with that message.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON
from tzlocal.windows_tz import win_tz as TZLOCAL_WINDOWS

from bot.timetable.windows_display import DISPLAY_NAMES

#: Windows zones that Windows still lists but CLDR dropped ("- Old" in their display names).
RETIRED_WINDOWS = {"Kamchatka Standard Time": "Asia/Kamchatka"}
_OFFSET_PREFIX = re.compile(r"^\(\s*(?:UTC|GMT)\s*(?:([+-])\s*(\d{1,2})(?:[:.](\d{2}))?)?\s*\)\s*", re.IGNORECASE)
#: A VTIMEZONE block's rules as a function: aware instant → UTC offset there.
Offsets = Callable[[datetime], timedelta]
_UTC_NAMES = frozenset({"utc", "z", "gmt", "etc/utc", "etc/gmt", "universal", "zulu", "etc/universal", "etc/zulu"})


class UnknownZone(ValueError):
    """A TZID that no table, no IANA name and no VTIMEZONE resolves."""

    def __init__(self, tzid: str) -> None:
        super().__init__(f"unknown time zone {tzid!r} (neither an IANA name, a Windows zone nor a VTIMEZONE "
                         "of this calendar)")
        self.tzid = tzid


def _zone(name: str) -> ZoneInfo | None:
    if not name or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def iana_of(tz: tzinfo | None) -> str | None:
    """The IANA name of a tzinfo, when it is a zoneinfo zone or UTC; None otherwise."""
    if tz is None:
        return None
    if isinstance(tz, ZoneInfo):
        return "UTC" if tz.key.casefold() in _UTC_NAMES else tz.key
    if tz is UTC or (tz.utcoffset(None) == timedelta(0) and (tz.tzname(None) or "").casefold() in _UTC_NAMES):
        return "UTC"
    return None


def _key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("&amp;", "&")
    return " ".join(text.casefold().split())


def split_display(name: str) -> tuple[timedelta | None, str]:
    """``"(UTC-05:00) Eastern Time (US & Canada)"`` → (-5 h, "eastern time (us & canada)")."""
    m = _OFFSET_PREFIX.match(name.strip())
    if m is None:
        return None, _key(name)
    offset = timedelta(0)
    if m.group(1):
        offset = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        offset = -offset if m.group(1) == "-" else offset
    return offset, _key(name.strip()[m.end():])


def _windows_iana(windows_id: str) -> str | None:
    return WINDOWS_TO_OLSON.get(windows_id) or TZLOCAL_WINDOWS.get(windows_id) or RETIRED_WINDOWS.get(windows_id)


@functools.cache
def _display_index() -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, set[timedelta]]]:
    """(whole city list → IDs, single city → IDs, ID → offsets written in its display names)."""
    whole: dict[str, set[str]] = defaultdict(set)
    cities: dict[str, set[str]] = defaultdict(set)
    offsets: dict[str, set[timedelta]] = defaultdict(set)
    for wid, display in DISPLAY_NAMES:
        offset, text = split_display(display)
        whole[text].add(wid)
        for part in _cities(text):
            cities[part].add(wid)
        if offset is not None:
            offsets[wid].add(offset)
    return dict(whole), dict(cities), dict(offsets)


def _cities(text: str) -> list[str]:
    """The places of a display name; Windows separates them with commas, Zimbra with slashes
    ("(GMT+01.00) Amsterdam / Berlin / Bern / Rome / Stockholm / Vienna")."""
    text = text.split(" : ", 1)[-1]  # "(GMT) Greenwich Mean Time : Dublin, ..." (Windows XP)
    return [p.strip() for p in re.split(r",|\s/\s", text) if p.strip()]


def windows_display_zone(name: str) -> str | None:
    """The IANA zone of a Windows display name, or None when it names no single zone."""
    offset, text = split_display(name)
    whole, cities, offsets = _display_index()
    found = whole.get(text)
    if not found:
        votes: dict[str, int] = defaultdict(int)
        for city in _cities(text):
            for wid in cities.get(city, ()):
                votes[wid] += 1
        best = max(votes.values(), default=0)
        found = {wid for wid, n in votes.items() if n == best and best > 0}
    if len(found) > 1 and offset is not None:
        found = {wid for wid in found if offset in offsets.get(wid, set())} or found
    if len(found) != 1:
        return None
    return _windows_iana(next(iter(found)))


def _sample_instants(around: datetime) -> list[datetime]:
    start = datetime(around.year - 1, 1, 1, tzinfo=UTC)
    return [start + timedelta(hours=6 * i) for i in range(4 * 365 * 2)]


@functools.cache
def _candidates() -> tuple[str, ...]:
    cldr = sorted(set(WINDOWS_TO_OLSON.values()))
    rest = sorted(z for z in available_timezones() if z not in set(cldr) and "/" in z and not z.startswith(
        ("Etc/", "SystemV/", "US/", "posix/", "right/")))
    return (*cldr, *rest)


def equivalent_zone(tz: tzinfo | Offsets, around: datetime) -> str | None:
    """An IANA zone with the same UTC offset as `tz` at every 6 h instant of the two calendar
    years around `around` (so across both of their daylight-saving changes); None if none."""
    instants = _sample_instants(around)
    offset_at: Offsets = (lambda t: t.astimezone(tz).utcoffset() or timedelta(0)) if isinstance(tz, tzinfo) else tz
    wanted = [offset_at(t) for t in instants]
    for name in _candidates():
        zone = _zone(name)
        if zone is not None and all(t.astimezone(zone).utcoffset() == w
                                    for t, w in zip(instants, wanted, strict=True)):
            return name
    return None


def resolve(tzid: str, *, vtimezones: Mapping[str, tuple[str | None, tzinfo | Offsets | None]] | None = None,
            around: datetime | None = None) -> str:
    """The IANA name for a TZID; `vtimezones` maps this calendar's VTIMEZONE TZIDs to their
    (X-LIC-LOCATION, the block's offsets). Raises `UnknownZone`."""
    name = tzid.strip().strip('"').strip()
    if name.casefold().startswith("tzone://microsoft/"):  # Exchange ActiveSync / Outlook for Mac
        name = name[len("tzone://microsoft/"):]
    if name.casefold() in _UTC_NAMES:
        return "UTC"
    for candidate in _iana_candidates(name):
        zone = _zone(candidate)
        if zone is not None:
            return iana_of(zone) or candidate
    windows = _windows_iana(name) or windows_display_zone(name)
    if windows:
        return iana_of(_zone(windows)) or windows
    block = (vtimezones or {}).get(tzid) or (vtimezones or {}).get(name)
    if block is not None:
        location, tz = block
        if location and _zone(location) is not None:
            return location
        if tz is not None:
            found = equivalent_zone(tz, around or datetime.now(UTC))
            if found:
                return found
    raise UnknownZone(tzid)


@functools.cache
def _iana_by_casefold() -> dict[str, str]:
    return {z.casefold(): z for z in available_timezones()}


def _iana_candidates(name: str) -> Iterable[str]:
    yield name
    if name.casefold() in _iana_by_casefold():  # "europe/berlin", "EUROPE/BERLIN" (hand-made feeds)
        yield _iana_by_casefold()[name.casefold()]
    if name.startswith("/"):  # RFC 5545 §3.2.19 globally unique TZID: /vendor/…/Area/City
        parts = [p for p in name.split("/") if p]
        for i in range(1, len(parts)):
            yield "/".join(parts[i:])


class ZoneResolver:
    """`resolve` for the TZIDs of one calendar, remembering each answer (matching a VTIMEZONE
    block against the IANA zones takes a moment, and a lesson names its zone many times)."""

    def __init__(self, vtimezones: Mapping[str, tuple[str | None, tzinfo | Offsets | None]] | None = None) -> None:
        self.vtimezones = dict(vtimezones or {})
        self._known: dict[str, str | UnknownZone] = {}

    def __call__(self, tzid: str, around: datetime | None = None) -> str:
        if tzid not in self._known:
            try:
                self._known[tzid] = resolve(tzid, vtimezones=self.vtimezones, around=around)
            except UnknownZone as exc:
                self._known[tzid] = exc
        found = self._known[tzid]
        if isinstance(found, UnknownZone):
            raise UnknownZone(tzid)
        return found
