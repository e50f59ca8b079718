"""Recurring schedules: cron with time zones, skip dates, misfires, one bot per class, restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from analysis.store import Store
from bot.db.records import ScheduleRecord
from bot.service.schedules import make_trigger, next_runs, skipped
from bot.service.state import schedules_key
from tests.service_fixtures import Service, run, service, until

pytestmark = pytest.mark.component

API = "/api/v1"
BERLIN = ZoneInfo("Europe/Berlin")


def test_mon_wed_nine_in_berlin_follows_daylight_saving() -> None:
    runs = next_runs("0 9 * * mon,wed", "Europe/Berlin", n=3, after=datetime(2026, 3, 24, 12, tzinfo=UTC))
    assert [r.isoformat() for r in runs] == ["2026-03-25T09:00:00+01:00",  # Wed, winter time
                                             "2026-03-30T09:00:00+02:00",  # Mon after the switch
                                             "2026-04-01T09:00:00+02:00"]
    assert runs[1].astimezone(UTC).hour == 7


@pytest.mark.parametrize(("cron", "tz", "needle"), [
    ("0 9 * * 1", "UTC", "names"),
    ("0 25 * * mon", "UTC", "invalid cron"),
    ("0 9 * *", "UTC", "5 fields"),
    ("0 9 * * mon", "Mars/Olympus", "time zone"),
])
def test_invalid_cron_and_zones_are_refused(cron: str, tz: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        make_trigger(cron, tz)


def test_skip_dates_use_the_schedules_local_date() -> None:
    row = ScheduleRecord(schedule_id="s", owner="a", class_id="c", cron="0 9 * * mon", timezone="Europe/Berlin",
                         duration_s=60, misfire_grace_s=60, created_at="", skip_dates="2026-12-24,2026-12-31")
    assert skipped(row, datetime(2026, 12, 24, 9, tzinfo=BERLIN))
    assert skipped(row, datetime(2026, 12, 23, 23, 30, tzinfo=UTC))  # already the 24th in Berlin
    assert not skipped(row, datetime(2026, 12, 23, 9, tzinfo=BERLIN))


async def make_class(s: Service, room: str = "r1") -> str:
    res = await s.client.post(f"{API}/classes", json={"name": "Physics", "meeting_url": f"fake:{room}"},
                              headers=s.auth("alice"))
    return str((await res.json())["class_id"])


def at(t: datetime) -> str:
    """A 6-field cron (seconds first) firing once a day at `t` (UTC)."""
    return f"{t.second} {t.minute} {t.hour} * * *"


@pytest.mark.parametrize(("body", "field"), [
    ({"cron": "0 9 * * 1"}, "cron"),
    ({"timezone": "Europe/Nowhere"}, "timezone"),
    ({"duration_min": 0}, "duration_min"),
    ({"skip_dates": ["2026-13-01"]}, "skip_dates.0"),
    ({"start_date": "2026-05-01", "end_date": "2026-04-01"}, "body"),
    ({"every": "monday"}, "every"),
])
def test_bad_schedules_name_the_field(tmp_path: Path, body: dict[str, Any], field: str) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            class_id = await make_class(s)
            full = {"class_id": class_id, "cron": "0 9 * * mon,wed", "timezone": "Europe/Berlin",
                    "duration_min": 50, **body}
            res = await s.client.post(f"{API}/schedules", json=full, headers=s.auth("alice"))
            assert res.status == 422, await res.text()
            assert field in [f["field"] for f in (await res.json())["error"]["fields"]]

    run(main)


def test_a_schedule_survives_a_restart_and_fires_once_on_time(tmp_path: Path) -> None:
    async def first() -> tuple[str, datetime]:
        async with service(tmp_path) as s:
            class_id = await make_class(s)
            when = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
            res = await s.client.post(f"{API}/schedules", json={
                "class_id": class_id, "cron": at(when), "timezone": "UTC", "duration_min": 1,
                "skip_dates": ["2020-01-01"]}, headers=s.auth("alice"))
            assert res.status == 201, await res.text()
            body = await res.json()
            assert datetime.fromisoformat(body["next_run_at"]) == when
            return class_id, when
        # the service stops here, before the start time

    async def second(class_id: str, when: datetime) -> None:
        async with service(tmp_path) as s:
            await until(lambda: bool(s.client.server.app[schedules_key].fired), within_s=10)
            started = datetime.now(UTC)
            assert when <= started < when + timedelta(seconds=2.5), (when, started)
            await asyncio.sleep(1.5)
            rows, total = s.db.sessions(class_id=class_id)
            assert total == 1 and rows[0].owner == "alice"  # once, for alice's class
            assert s.manager.busy_class(class_id) == rows[0].session_id
            listed = await (await s.client.get(f"{API}/schedules", headers=s.auth("alice"))).json()
            nxt = datetime.fromisoformat(listed["items"][0]["next_run_at"])
            assert nxt == when + timedelta(days=1)  # tomorrow's run is already planned

    class_id, when = run(first)
    run(lambda: second(class_id, when))


@pytest.mark.parametrize(("grace_s", "fires"), [(60, True), (1, False)])
def test_misfire_when_the_service_was_down_at_start_time(tmp_path: Path, grace_s: int, fires: bool) -> None:
    async def create() -> tuple[str, datetime]:
        async with service(tmp_path) as s:
            class_id = await make_class(s)
            when = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0) + timedelta(seconds=1)
            res = await s.client.post(f"{API}/schedules", json={
                "class_id": class_id, "cron": at(when), "duration_min": 1, "misfire_grace_s": grace_s},
                headers=s.auth("alice"))
            assert res.status == 201
            return class_id, when

    async def restart(class_id: str, when: datetime) -> None:
        await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()) + 2.5)  # down at start time
        async with service(tmp_path) as s:
            await asyncio.sleep(1.5)
            _, total = s.db.sessions(class_id=class_id)
            assert total == (1 if fires else 0)
            runner = s.client.server.app[schedules_key]
            sch = s.db.schedules()[0][0].schedule_id
            assert [(r.kind, r.due_at) for r in runner.records.of(sch)] == ([] if fires else [("missed", when)])

    class_id, when = run(create)
    run(lambda: restart(class_id, when))


def test_no_second_bot_and_skip_dates_when_firing(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            class_id = await make_class(s)
            res = await s.client.post(f"{API}/schedules", json={
                "class_id": class_id, "cron": "0 9 * * mon-fri", "timezone": "Europe/Berlin", "duration_min": 50,
                "skip_dates": ["2026-12-24"]}, headers=s.auth("alice"))
            sch = (await res.json())["schedule_id"]
            runner = s.client.server.app[schedules_key]
            assert await runner.fire(sch, datetime(2026, 12, 24, 9, tzinfo=BERLIN)) is None
            assert not s.manager.running
            sid = await runner.fire(sch, datetime(2026, 12, 23, 9, tzinfo=BERLIN))
            assert sid is not None and s.manager.busy_class(class_id) == sid
            assert await runner.fire(sch) is None  # the class already has its bot
            assert list(s.manager.running) == [sid]
            gone = await s.client.delete(f"{API}/schedules/{sch}", headers=s.auth("alice"))
            assert gone.status == 200 and runner.scheduler.get_job(sch) is None
            assert (await s.client.get(f"{API}/schedules/{sch}", headers=s.auth("alice"))).status == 404

    run(main)


def test_jobs_live_in_the_service_database(tmp_path: Path) -> None:
    urls: list[str] = []

    async def main() -> None:
        async with service(tmp_path) as s:
            urls.append(s.config.store.url)
            class_id = await make_class(s)
            await s.client.post(f"{API}/schedules", json={"class_id": class_id, "cron": "0 9 * * mon",
                                                          "duration_min": 5}, headers=s.auth("alice"))

    run(main)
    store = Store(urls[0])
    try:
        import sqlalchemy as sa

        with store.engine.connect() as conn:
            ids = {r[0] for r in conn.execute(sa.text("SELECT id FROM apscheduler_jobs"))}
        assert len(ids) == 3 and {"retention", "timetable_feeds"} <= ids and any(i.startswith("sch-") for i in ids)
    finally:
        store.close()


def test_start_and_end_dates_bound_the_runs(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            class_id = await make_class(s)
            res = await s.client.post(f"{API}/schedules", json={
                "class_id": class_id, "cron": "0 9 * * mon,wed", "timezone": "Europe/Berlin", "duration_min": 50,
                "start_date": "2030-01-08", "end_date": "2030-06-30"}, headers=s.auth("alice"))
            body = await res.json()
            assert res.status == 201 and body["next_run_at"] == "2030-01-09T09:00:00+01:00"  # the first Wednesday
            assert body["duration_s"] == 3000
            res = await s.client.post(f"{API}/schedules", json={
                "class_id": class_id, "cron": "0 9 * * mon", "duration_min": 5, "end_date": "2020-01-01"},
                headers=s.auth("alice"))
            assert res.status == 422 and "past" in (await res.json())["error"]["message"]

    run(main)
