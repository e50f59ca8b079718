"""Zone names of real exports → IANA, and meeting links → joinable URLs or a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.timetable.links import meeting_link
from bot.timetable.windows_display import DISPLAY_NAMES
from bot.timetable.zones import UnknownZone, equivalent_zone, resolve, split_display, windows_display_zone


@pytest.mark.parametrize(("tzid", "iana"), [
    ("Europe/Berlin", "Europe/Berlin"),
    ('"Europe/Paris"', "Europe/Paris"),
    ("/mozilla.org/20050126_1/Europe/Berlin", "Europe/Berlin"),  # RFC 5545 globally unique TZID
    ("W. Europe Standard Time", "Europe/Berlin"),  # Outlook: Windows ID (CLDR windowsZones)
    ("Eastern Standard Time", "America/New_York"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("Alberta Standard Time", "America/Edmonton"),  # newer Windows zone, from tzlocal's table
    ("(UTC-05:00) Eastern Time (US & Canada)", "America/New_York"),  # Exchange: display name
    ("(GMT-05:00) Eastern Time (US &amp; Canada)", "America/New_York"),  # older wording, escaped
    ("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "Europe/Berlin"),
    ("(UTC) Dublin, Edinburgh, Lisbon, London", "Europe/London"),  # Windows 7 wrote "(UTC)"
    ("(GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London", "Europe/London"),  # Windows XP
    ("(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi", "Asia/Calcutta"),
    ("(UTC+10:00) Canberra, Melbourne, Sydney", "Australia/Sydney"),
    ("(UTC+02:00) Athens, Bucharest, Istanbul", "Europe/Bucharest"),  # older GTB list, 2 of 3 cities
    ("UTC", "UTC"),
    ("tzone://Microsoft/Utc", "UTC"),
    ("(GMT+01.00) Amsterdam / Berlin / Bern / Rome / Stockholm / Vienna", "Europe/Berlin"),  # Zimbra
    ("(GMT-05.00) Eastern Time (US & Canada)", "America/New_York"),  # Zimbra
])
def test_resolve(tzid: str, iana: str) -> None:
    assert resolve(tzid) == iana


def test_a_shared_city_is_told_apart_by_the_offset() -> None:
    assert windows_display_zone("(UTC-04:00) La Paz") == "America/La_Paz"
    assert windows_display_zone("(UTC-07:00) La Paz") == "America/Mazatlan"
    assert windows_display_zone("La Paz") is None  # two zones, no offset: not guessed


def test_split_display() -> None:
    assert split_display("(UTC+05:45) Kathmandu") == (timedelta(hours=5, minutes=45), "kathmandu")
    assert split_display("(UTC-03:30) Newfoundland") == (-timedelta(hours=3, minutes=30), "newfoundland")
    assert split_display("Eastern Standard Time") == (None, "eastern standard time")


def test_every_display_name_resolves_to_a_real_zone() -> None:
    for wid, display in DISPLAY_NAMES:
        name = resolve(display)
        assert ZoneInfo(name), (wid, display)
        assert resolve(wid) == name, (wid, display)  # same zone as the Windows ID itself


@pytest.mark.parametrize("tzid", ["Mars/Olympus_Mons", "Customized Time Zone", "../../etc/passwd", ""])
def test_unknown_zones_raise(tzid: str) -> None:
    with pytest.raises(UnknownZone, match="unknown time zone"):
        resolve(tzid)


def test_equivalent_zone_finds_a_zone_with_the_same_offsets() -> None:
    for source in ("America/Chicago", "Australia/Adelaide", "Asia/Tokyo"):
        found = equivalent_zone(ZoneInfo(source), datetime(2026, 3, 1))
        assert found is not None
        probe = [datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=5 * i) for i in range(3500)]
        assert all(t.astimezone(ZoneInfo(found)).utcoffset() == t.astimezone(ZoneInfo(source)).utcoffset()
                   for t in probe), (source, found)
    assert equivalent_zone(timezone(timedelta(hours=1)), datetime(2026, 3, 1)) is not None  # no DST: Lagos etc.
    assert equivalent_zone(timezone(timedelta(hours=1, minutes=7)), datetime(2026, 3, 1)) is None


# -- meeting links -----------------------------------------------------------------------------

def test_first_joinable_link_wins_wherever_it_is() -> None:
    link = meeting_link("Room 4", "", "Join with Google Meet: https://meet.google.com/abc\n"
                        "Lesson: janus+https://sfu.example/janus?room=4.", extra=["https://meet.google.com/abc"])
    assert link.url == "janus+https://sfu.example/janus?room=4"


@pytest.mark.parametrize(("location", "platform"), [
    ("https://teams.microsoft.com/l/meetup-join/19%3ameeting", "Microsoft Teams"),
    ("https://meet.google.com/abc-defg-hij", "Google Meet"),
    ("https://us02web.zoom.us/j/812345?pwd=x", "Zoom"),
    ("https://school.webex.com/meet/teacher", "Webex"),
])
def test_unsupported_platforms_are_named(location: str, platform: str) -> None:
    link = meeting_link(location, "", "")
    assert link.url == "" and platform in link.reason


def test_classroom_links() -> None:
    assert meeting_link("classroom:maths-7b", "", "").url == "classroom:maths-7b"
    join = "https://pulse.school.example/join/maths-7b"
    assert meeting_link(join, "", "", classroom_base="https://pulse.school.example").url == "classroom:maths-7b"
    assert meeting_link(join, "", "", classroom_base="https://other.example").url == ""


def test_no_link() -> None:
    assert meeting_link("Gym", "", "Bring shoes").reason.startswith("no meeting link")
