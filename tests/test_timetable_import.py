"""`classpulse timetable import` and POST /api/v1/timetables: lessons → classes + calendar schedules."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from analysis.store import Store
from bot.cli.main import main
from bot.db.store import ServiceStore
from bot.service.state import schedules_key
from tests.databases import database_url
from tests.service_fixtures import run, service

pytestmark = pytest.mark.component

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ic"
BERLIN = ZoneInfo("Europe/Berlin")
API = "/api/v1"

# A weekly Mon/Thu lesson at 09:15 Berlin time from 2030 on, one Thursday excluded (RFC 5545 §3.8.5.1).
WEEKLY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//ClassPulse tests//EN\r
BEGIN:VEVENT\r
UID:maths-7b@school.example\r
DTSTAMP:20300101T000000Z\r
SUMMARY:Maths 7B\r
DTSTART;TZID=Europe/Berlin:20300103T091500\r
DTEND;TZID=Europe/Berlin:20300103T100000\r
RRULE:FREQ=WEEKLY;BYDAY=MO,TH;COUNT=20\r
EXDATE;TZID=Europe/Berlin:20300110T091500\r
LOCATION:classroom:maths-7b\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_cli_imports_plans_and_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = database_url(tmp_path)
    ics = tmp_path / "7b.ics"
    ics.write_text(WEEKLY)
    base = ["--set", f"store.url={url}", "timetable", "import", str(ics), "--owner", "rivera", "--json"]
    assert main([*base, "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["applied"] is None
    assert main(base) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(first["applied"]["created"]) == 1 and len(first["applied"]["schedules"]) == 1
    assert main(base) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["applied"]["created"] == [] and again["applied"]["unchanged"] == first["applied"]["created"]
    store = Store(url)
    try:
        db = ServiceStore(store)
        [cls] = db.classes(owner="rivera")[0]
        assert (cls.name, cls.meeting_url, cls.timetable_uid) == ("Maths 7B", "classroom:maths-7b",
                                                                   "maths-7b@school.example")
        [sch] = db.schedules(class_id=cls.class_id)[0]
        assert sch.cron == "" and "RRULE:FREQ=WEEKLY" in sch.calendar and sch.timezone == "Europe/Berlin"
    finally:
        store.close()


def test_cli_names_a_broken_file_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.ics"
    bad.write_text("this is not a calendar")
    assert main(["--set", f"store.url={database_url(tmp_path)}", "timetable", "import", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("classpulse: error:") and "x.ics" in err and "\n" not in err and "Traceback" not in err


def test_api_import_schedules_the_lessons_at_local_time_and_reimport_updates_in_place(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            headers = {**s.auth("alice"), "Content-Type": "text/calendar"}
            res = await s.client.post(f"{API}/timetables", data=WEEKLY.encode(), headers=headers)
            assert res.status == 201, await res.text()
            out = await res.json()
            [class_id] = out["applied"]["created"]
            [sch] = (await (await s.client.get(f"{API}/schedules", headers=s.auth("alice"))).json())["items"]
            nxt = datetime.fromisoformat(sch["next_run_at"]).astimezone(BERLIN)
            assert (nxt.year, nxt.month, nxt.day, nxt.hour, nxt.minute) == (2030, 1, 3, 9, 15)
            job = s.client.server.app[schedules_key].scheduler.get_job(sch["schedule_id"])
            runs = job.trigger.preview(datetime(2030, 1, 1, tzinfo=BERLIN), 4)
            assert [o.start.astimezone(BERLIN).strftime("%a %d %H:%M") for o in runs] == \
                ["Thu 03 09:15", "Mon 07 09:15", "Mon 14 09:15", "Thu 17 09:15"]  # Thu 10 excluded
            # the same file again: nothing changes
            again = await s.client.post(f"{API}/timetables", data=WEEKLY.encode(), headers=headers)
            assert again.status == 200 and (await again.json())["applied"]["unchanged"] == [class_id]
            # renamed and moved to 10:15: the same class, a new schedule, what already ran is kept
            s.db.add_done_key(sch["schedule_id"], "2030-01-03T09:15:00+01:00")
            changed = (WEEKLY.replace("Maths 7B", "Maths 7B (set 2)").replace("T091500", "T101500")
                       .replace("T100000", "T110000"))
            res = await s.client.post(f"{API}/timetables", data=changed.encode(), headers=headers)
            got = await res.json()
            assert res.status == 201 and got["applied"]["updated"] == [class_id], got
            cls = s.db.get_class(class_id)
            assert cls is not None and cls.name == "Maths 7B (set 2)"
            [new] = s.db.schedules(class_id=class_id)[0]
            assert new.schedule_id != sch["schedule_id"] and "2030-01-03T09:15:00+01:00" in new.done_keys
            assert s.client.server.app[schedules_key].scheduler.get_job(sch["schedule_id"]) is None

    run(body)


def test_api_refuses_what_it_cannot_import(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            cal = {**s.auth("alice"), "Content-Type": "text/calendar"}
            res = await s.client.post(f"{API}/timetables", data=b"not a calendar", headers=cal)
            assert res.status == 422 and "calendar" in (await res.json())["error"]["message"].lower()
            res = await s.client.post(f"{API}/timetables", json={"x": 1}, headers=s.auth("alice"))
            assert res.status == 415
            res = await s.client.post(f"{API}/timetables?owner=bob", data=WEEKLY.encode(), headers=cal)
            assert res.status == 403
            res = await s.client.post(f"{API}/timetables?dry_run=true", data=WEEKLY.encode(), headers=cal)
            assert res.status == 200 and (await res.json())["applied"] is None and s.db.classes()[1] == 0
            admin = {**s.auth("admin"), "Content-Type": "text/calendar"}
            res = await s.client.post(f"{API}/timetables?owner=bob", data=WEEKLY.encode(), headers=admin)
            assert res.status == 201 and s.db.classes(owner="bob")[1] == 1

    run(body)


def test_every_fixture_imports_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = database_url(tmp_path)
    for ics in sorted(FIXTURES.glob("*.ics")):
        rc = main(["--set", f"store.url={url}", "timetable", "import", str(ics), "--owner", "t", "--from",
                   "2026-03-01"])
        captured = capsys.readouterr()
        assert rc == 0, captured.err
        assert "Traceback" not in captured.err and "applied:" in captured.out
