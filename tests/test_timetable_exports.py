"""More real-world exports through `classpulse timetable import --json`: Nextcloud, Google (UTC
series with a BOM), Outlook on the web (Pacific), Thunderbird, iCloud, a WebUntis-style feed
(one event per period) and vCalendar 1.0; then garbage, cut-off files and random bytes, which
must give one `error:` line (CLI exit 2, API 422) and never a traceback.

Every expected time below was worked out by hand from the fixture and a calendar, not read back
from the code. Fixtures name what they imitate (tests/fixtures/ic/README.md)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.cli.main import main
from bot.db.records import ScheduleRecord
from bot.service.schedules import calendar_row, run_length_s
from bot.timetable.command import import_timetable
from bot.timetable.ical import parse_calendar
from bot.timetable.occurrences import between
from tests.databases import database_url
from tests.service_fixtures import run, service

pytestmark = pytest.mark.component

IC = Path(__file__).parent / "fixtures" / "ic"
EXPORTS = ("nextcloud_week_ab.ics", "google_utc_rrule_bom.ics", "outlook_published_pacific.ics",
           "thunderbird_london.ics", "icloud_new_york.ics", "webuntis_per_period.ics", "vcalendar10_outlook2003.ics")


def imported(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, start: str) -> dict[str, Any]:
    rc = main(["--set", f"store.url={database_url(tmp_path)}", "timetable", "import", str(IC / name), "--owner",
               "t", "--from", start, "--json", "--dry-run"])
    out = capsys.readouterr()
    assert rc == 0 and "Traceback" not in out.err, out.err
    doc: dict[str, Any] = json.loads(out.out)
    return doc


def runs(doc: dict[str, Any], name: str) -> list[str]:
    found = [s for s in doc["schedules"] if s["class"] == name]
    assert len(found) == 1, [s["class"] for s in doc["schedules"]]
    return list(found[0]["next_runs"])


def skipped(doc: dict[str, Any]) -> dict[str, str]:
    return {s["summary"]: s["reason"] for s in doc["skipped"]}


def test_nextcloud_week_a_b_fortnightly_and_last_weekday(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = imported(tmp_path, capsys, "nextcloud_week_ab.ics", "2027-01-01")
    # week A: Tuesdays every other week from 5 Jan, 16 Feb excluded; CET until 28 Mar 2027, then CEST
    assert runs(doc, "Physics 9c (week A)")[:6] == [
        "2027-01-05T08:15:00+01:00", "2027-01-19T08:15:00+01:00", "2027-02-02T08:15:00+01:00",
        "2027-03-02T08:15:00+01:00", "2027-03-16T08:15:00+01:00", "2027-03-30T08:15:00+02:00"]
    assert runs(doc, "Physics 9c (week B)")[:3] == [
        "2027-01-14T10:15:00+01:00", "2027-01-28T10:15:00+01:00", "2027-02-11T10:15:00+01:00"]
    # BYSETPOS=-1 of Mon-Fri: the last weekday of each month (28 Feb 2027 is a Sunday, 31 May a Monday)
    assert runs(doc, "Science fair review") == [
        "2027-01-29T13:30:00+01:00", "2027-02-26T13:30:00+01:00", "2027-03-31T13:30:00+02:00",
        "2027-04-30T13:30:00+02:00", "2027-05-31T13:30:00+02:00", "2027-06-30T13:30:00+02:00"]
    recurrence = {s["class"]: s["recurrence"] for s in doc["schedules"]}
    assert recurrence["Science fair review"] == "monthly on the last of Mon, Tue, Wed, Thu, Fri, 6 times"
    why = skipped(doc)
    assert why["Week A"].startswith("all-day event")
    assert "cloud.school.example link, which ClassPulse cannot join" in why["Debating society"]


def test_google_utc_series_with_bom_keeps_local_time_across_dst(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    doc = imported(tmp_path, capsys, "google_utc_rrule_bom.ics", "2027-03-22")
    # 07:15Z in winter is 08:15 in Berlin; X-WR-TIMEZONE keeps 08:15 after 28 Mar; 5 Apr excluded (06:15Z)
    assert runs(doc, "Französisch 10a")[:6] == [
        "2027-03-22T08:15:00+01:00", "2027-03-25T08:15:00+01:00", "2027-03-29T08:15:00+02:00",
        "2027-04-01T08:15:00+02:00", "2027-04-08T08:15:00+02:00", "2027-04-12T08:15:00+02:00"]
    schedule = doc["schedules"][0]
    assert schedule["timezone"] == "Europe/Berlin"
    assert schedule["meeting_url"] == "janus+https://sfu.school.example/janus?room=1014"  # folded mid-link
    assert "Google Meet link" in skipped(doc)["Informatik 10a"]
    assert "11T08:15" not in " ".join(imported(tmp_path, capsys, "google_utc_rrule_bom.ics", "2027-02-08")
                                      ["schedules"][0]["next_runs"][:2])  # 11 Feb excluded
    assert imported(tmp_path, capsys, "google_utc_rrule_bom.ics", "2027-02-08")["schedules"][0]["next_runs"][:2] == [
        "2027-02-08T08:15:00+01:00", "2027-02-15T08:15:00+01:00"]


def test_outlook_published_pacific_fortnightly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = imported(tmp_path, capsys, "outlook_published_pacific.ics", "2027-01-01")
    # every other week Mon+Wed from 11 Jan; 25 Jan moved to 13:00; 15+17 Feb excluded (one EXDATE line)
    assert runs(doc, "Algebra 2 (period 2)")[:8] == [
        "2027-01-11T09:00:00-08:00", "2027-01-13T09:00:00-08:00", "2027-01-25T13:00:00-08:00",
        "2027-01-27T09:00:00-08:00", "2027-02-08T09:00:00-08:00", "2027-02-10T09:00:00-08:00",
        "2027-02-22T09:00:00-08:00", "2027-02-24T09:00:00-08:00"]
    assert doc["schedules"][0]["timezone"] == "America/Los_Angeles"
    # US DST from 14 Mar 2027: 09:00 stays 09:00 (-07:00)
    assert runs(imported(tmp_path, capsys, "outlook_published_pacific.ics", "2027-03-09"),
                "Algebra 2 (period 2)")[:2] == ["2027-03-10T09:00:00-08:00", "2027-03-22T09:00:00-07:00"]
    assert skipped(doc)["Presidents' Day (no school)"].startswith("all-day event")


def test_thunderbird_override_before_series_duration_and_past_events(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    doc = imported(tmp_path, capsys, "thunderbird_london.ics", "2027-02-01")
    # Wednesdays 14:00 (14 from 6 Jan); 17 Feb half-term excluded; 3 Mar moved to Thu 4 Mar 09:00; BST from 28 Mar
    assert runs(doc, "History 8M") == [
        "2027-02-03T14:00:00+00:00", "2027-02-10T14:00:00+00:00", "2027-02-24T14:00:00+00:00",
        "2027-03-04T09:00:00+00:00", "2027-03-10T14:00:00+00:00", "2027-03-17T14:00:00+00:00",
        "2027-03-24T14:00:00+00:00", "2027-03-31T14:00:00+01:00", "2027-04-07T14:00:00+01:00"]
    make_up = next(s for s in doc["schedules"] if s["class"] == "History 8M make-up")
    assert make_up["next_runs"] == ["2027-04-10T10:00:00+01:00"] and make_up["duration_min"] == 60
    why = skipped(doc)
    assert why["Trip briefing"] == "cancelled (STATUS:CANCELLED)"
    assert why["Parents' evening"].startswith("a one-off lesson on 2026-11-05T17:00+00:00")


def test_icloud_daily_weekdays_bymonthday_rdate_and_mixed_end_zone(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    doc = imported(tmp_path, capsys, "icloud_new_york.ics", "2027-03-09")
    # weekdays at 08:00; US DST from Sun 14 Mar
    assert runs(doc, "Homeroom 6B")[:6] == [
        "2027-03-09T08:00:00-05:00", "2027-03-10T08:00:00-05:00", "2027-03-11T08:00:00-05:00",
        "2027-03-12T08:00:00-05:00", "2027-03-15T08:00:00-04:00", "2027-03-16T08:00:00-04:00"]
    assert runs(doc, "Tutor time 6B") == [  # the 15th of 5 months, and the RDATE 22 Mar
        "2027-03-15T14:30:00-04:00", "2027-03-22T14:30:00-04:00", "2027-04-15T14:30:00-04:00",
        "2027-05-15T14:30:00-04:00"]
    assert skipped(doc)["Chess club (online)"].startswith("no meeting on or after 2027-03-09")  # 8 Tuesdays from 5 Jan
    january = imported(tmp_path, capsys, "icloud_new_york.ics", "2027-01-01")
    minutes = {s["class"]: s["duration_min"] for s in january["schedules"]}
    assert minutes == {"Homeroom 6B": 25, "Tutor time 6B": 30, "Chess club (online)": 60}  # 15:30 Chicago = 16:30 NY
    homeroom = next(s for s in doc["schedules"] if s["class"] == "Homeroom 6B")
    assert homeroom["meeting_url"] == "classroom:homeroom-6b"  # URL;VALUE=URI, LOCATION is the room
    assert "18T08:00:00-05:00" not in " ".join(runs(imported(tmp_path, capsys, "icloud_new_york.ics", "2027-01-15"),
                                                    "Homeroom 6B"))  # 18 Jan excluded (MLK day)


def test_webuntis_single_events_become_one_class_per_subject(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    doc = imported(tmp_path, capsys, "webuntis_per_period.ics", "2027-03-08")
    assert sorted(s["class"] for s in doc["schedules"]) == ["E 7b", "M 7b"]
    # Mondays 08:00, Thursdays 09:40 (a double period to 11:25 is one meeting); Mon 12 Apr cancelled
    assert runs(doc, "M 7b") == [
        "2027-03-08T08:00:00+01:00", "2027-03-11T09:40:00+01:00", "2027-03-15T08:00:00+01:00",
        "2027-03-18T09:40:00+01:00", "2027-03-22T08:00:00+01:00", "2027-03-25T09:40:00+01:00",
        "2027-03-29T08:00:00+02:00", "2027-04-01T09:40:00+02:00", "2027-04-05T08:00:00+02:00",
        "2027-04-08T09:40:00+02:00"]
    maths = next(s for s in doc["schedules"] if s["class"] == "M 7b")
    assert maths["meeting_url"] == "janus+https://sfu.school.example/janus?room=7002"
    assert len(maths["merged_uids"]) == 38 and maths["recurrence"] == "on 25 listed dates"
    english = next(s for s in doc["schedules"] if s["class"] == "E 7b")
    assert english["meeting_url"] == "" and len(english["merged_uids"]) == 13
    assert any("needs" in n or "meeting URL" in n for n in english["notes"])
    assert doc["skipped"] == [{"uid": "20270412-00025@webuntis.example", "summary": "M 7b",
                               "reason": "cancelled (STATUS:CANCELLED)"}]
    after_april = runs(imported(tmp_path, capsys, "webuntis_per_period.ics", "2027-04-10"), "M 7b")
    assert after_april[:2] == ["2027-04-15T09:40:00+02:00", "2027-04-19T08:00:00+02:00"]


def test_a_moved_feed_window_updates_the_same_class() -> None:
    """Next week's feed (one week dropped, one added) names the same lesson: re-import updates it."""
    raw = (IC / "webuntis_per_period.ics").read_text()
    first = {x.class_name: x.uid for x in parse_calendar(raw).lessons}
    blocks = raw.split("BEGIN:VEVENT")
    later = blocks[0] + "BEGIN:VEVENT" + "BEGIN:VEVENT".join(blocks[5:])  # the first week's 4 periods gone
    assert {x.class_name: x.uid for x in parse_calendar(later).lessons} == first


def test_a_double_period_runs_until_its_own_end() -> None:
    lesson = next(x for x in parse_calendar((IC / "webuntis_per_period.ics").read_bytes()).lessons
              if x.class_name == "M 7b")
    vienna = ZoneInfo("Europe/Vienna")
    thursday = list(between(lesson, datetime(2027, 3, 11, tzinfo=vienna), datetime(2027, 3, 12, tzinfo=vienna)))
    assert [(o.start.time().isoformat(), o.end.time().isoformat()) for o in thursday] == [("09:40:00", "11:25:00")]
    row: ScheduleRecord = calendar_row(owner="t", class_id="c", lesson=lesson)
    assert row.duration_s == 50 * 60  # the series' first meeting (a Monday)
    assert run_length_s(row, datetime(2027, 3, 11, 9, 40, tzinfo=vienna)) == 105 * 60
    assert run_length_s(row, datetime(2027, 3, 11, 9, 50, tzinfo=vienna)) == 95 * 60  # started late: same end
    assert run_length_s(row, datetime(2027, 3, 8, 8, 0, tzinfo=vienna)) == 50 * 60


def test_vcalendar_1_rules_are_named_and_quoted_printable_is_read(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    doc = imported(tmp_path, capsys, "vcalendar10_outlook2003.ics", "2027-01-01")
    assert "vCalendar 1.0 rule" in skipped(doc)["Geography 5e"]
    assert runs(doc, "Frédéric's tutorial") == ["2027-01-12T10:15:00+00:00"]


# -- never a traceback ---------------------------------------------------------------------------

def _cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes) -> tuple[int, str, str]:
    path = tmp_path / "in.ics"
    path.write_bytes(data)
    rc = main(["--set", f"store.url={database_url(tmp_path)}", "timetable", "import", str(path), "--owner", "t",
               "--from", "2027-01-01", "--json", "--dry-run"])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cut_off_and_random_files_never_print_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every export cut at 40 places, with a line dropped, with 30 bytes replaced, and random
    bytes: a plan (some events skipped) or exactly one error line naming the file. All through
    the command's core; every 12th also through the CLI (which opens the store around it)."""
    rng = random.Random(1616)
    samples: list[bytes] = []
    for name in EXPORTS:
        raw = (IC / name).read_bytes()
        samples += [raw[: rng.randrange(len(raw))] for _ in range(40)]
        lines = raw.split(b"\n")
        samples += [b"\n".join(lines[:i] + lines[i + 1:]) for i in rng.sample(range(len(lines)), 8)]
        noisy = bytearray(raw)
        for _ in range(30):
            noisy[rng.randrange(len(noisy))] = rng.randrange(256)
        samples.append(bytes(noisy))
    samples += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) for _ in range(20)]
    samples += [b"BEGIN:VCALENDAR\r\n" + bytes(rng.randrange(256) for _ in range(300)) for _ in range(20)]
    outcomes = {0: 0, 2: 0}
    now = datetime(2027, 1, 1, tzinfo=ZoneInfo("UTC"))
    for n, data in enumerate(samples):
        result = import_timetable(data, source="in.ics", now=now, start="2027-01-01", as_json=True)
        rc, out, err = result.exit_code, result.stdout, result.stderr
        if n % 12 == 0:
            cli = _cli(tmp_path, capsys, data)
            assert cli[0] == rc and "Traceback" not in cli[1] + cli[2], cli
        assert rc in (0, 2) and "Traceback" not in err + out, (rc, err[-2000:], data[:200])
        if rc == 0:
            json.loads(out)
        else:
            assert len(err.strip().splitlines()) == 1 and "in.ics" in err, err
            assert err.rstrip("\n").isprintable(), err
            if data.startswith(b"BEGIN:VCALENDAR") and b"END:VCALENDAR" not in data:
                assert "cut short" in err or "readable" in err, err
        outcomes[rc] += 1
    assert outcomes[0] and outcomes[2]  # both kinds happened: the check checked something


def test_api_answers_422_for_garbage_and_imports_the_exports(tmp_path: Path) -> None:
    rng = random.Random(7)

    async def body() -> None:
        async with service(tmp_path) as s:
            headers = {**s.auth("alice"), "Content-Type": "text/calendar"}
            for data in (b"", b"hello", bytes(rng.randrange(256) for _ in range(300)),
                         (IC / "webuntis_per_period.ics").read_bytes()[:1000]):
                res = await s.client.post("/api/v1/timetables?from=2027-01-01&dry_run=true", data=data, headers=headers)
                text = await res.text()
                assert res.status in (200, 422) and "Traceback" not in text, (res.status, text)
                if res.status == 422:
                    assert (await res.json())["error"]["message"]
            for name in EXPORTS:
                res = await s.client.post("/api/v1/timetables?from=2027-01-01", data=(IC / name).read_bytes(),
                                          headers=headers)
                assert res.status == 201, (name, await res.text())
                doc = (await res.json())["plan"]
                assert doc["schedules"] and isinstance(doc["skipped"], list)

    run(body)


def test_every_export_names_each_event_it_reads_or_leaves_out() -> None:
    from bot.timetable.plan import plan_import

    for name in EXPORTS:
        raw = (IC / name).read_bytes()
        plan = plan_import(parse_calendar(raw), now=datetime(2027, 1, 1, tzinfo=ZoneInfo("UTC")) - timedelta(days=400))
        events = raw.count(b"\nBEGIN:VEVENT") - raw.count(b"\nRECURRENCE-ID")
        read = sum(max(1, len(s.lesson.members)) for s in plan.schedules)
        assert read + len(plan.skipped) == events, name


@pytest.mark.parametrize(("tzid", "zone", "first"), [
    ("tzone://Microsoft/Utc", "UTC", "2027-01-04T09:15:00+00:00"),  # Outlook/Exchange, unquoted URI
    ('"tzone://Microsoft/Utc"', "UTC", "2027-01-04T09:15:00+00:00"),
    ("europe/berlin", "Europe/Berlin", "2027-01-04T09:15:00+01:00"),  # hand-made feeds: case
    ("EUROPE/LONDON", "Europe/London", "2027-01-04T09:15:00+00:00"),
    ("/mozilla.org/20050126_1/Europe/Berlin", "Europe/Berlin", "2027-01-04T09:15:00+01:00"),  # old Lightning
    ("AUS Eastern Standard Time", "Australia/Sydney", "2027-01-04T09:15:00+11:00"),
])
def test_more_tzid_spellings(tzid: str, zone: str, first: str, recwarn: pytest.WarningsRecorder) -> None:
    from bot.timetable.occurrences import next_runs

    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:a\r\nSUMMARY:L\r\n"
            f"DTSTART;TZID={tzid}:20270104T091500\r\nDTEND;TZID={tzid}:20270104T100000\r\n"
            "RRULE:FREQ=WEEKLY;BYDAY=MO\r\nLOCATION:classroom:abc\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    (lesson,) = parse_calendar(text).lessons
    assert lesson.timezone == zone
    assert next_runs(lesson, datetime(2027, 1, 1, tzinfo=ZoneInfo("UTC")), 1)[0].start.isoformat() == first
    assert not recwarn.list  # icalendar's "TZID guessed" warning would print on the terminal
