"""Schedules: each local wall time fires once across DST, impossible or too frequent crons are refused,
runs that did not happen are recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.service.schedules import make_trigger, next_runs
from bot.service.state import schedules_key
from tests.service_fixtures import run, service

pytestmark = pytest.mark.component

API = "/api/v1"
BERLIN = ZoneInfo("Europe/Berlin")


def apscheduler_runs(cron: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """Run times the way APScheduler 3's Job._get_run_times walks a trigger (previous run → next)."""
    trigger = make_trigger(cron, tz)
    out: list[datetime] = []
    nxt = trigger.get_next_fire_time(None, start)
    while nxt is not None and nxt <= end:
        out.append(nxt)
        nxt = trigger.get_next_fire_time(nxt, end)
        assert nxt is None or nxt > out[-1], "time went backwards"
    return out


def test_the_autumn_change_fires_an_ambiguous_time_once_at_its_first_occurrence() -> None:
    runs = apscheduler_runs("30 2 * * sun", "Europe/Berlin", datetime(2026, 10, 24, tzinfo=UTC),
                            datetime(2026, 10, 26, tzinfo=UTC))
    assert [r.isoformat() for r in runs] == ["2026-10-25T02:30:00+02:00"]  # CEST, not again at 02:30 CET


def test_the_autumn_change_never_repeats_or_goes_back_every_half_hour() -> None:
    runs = apscheduler_runs("*/30 1-3 * * sun", "Europe/Berlin", datetime(2026, 10, 24, 22, tzinfo=UTC),
                            datetime(2026, 10, 25, 4, tzinfo=UTC))
    walls = [r.astimezone(BERLIN).strftime("%H:%M") for r in runs]
    assert walls == ["01:00", "01:30", "02:00", "02:30", "03:00", "03:30"]


def test_a_nonexistent_spring_time_moves_to_the_jump_and_says_so() -> None:
    trigger = make_trigger("30 2 * * sun", "Europe/Berlin")
    runs = next_runs("30 2 * * sun", "Europe/Berlin", n=3, after=datetime(2026, 3, 22, tzinfo=BERLIN))
    assert [r.isoformat() for r in runs] == ["2026-03-22T02:30:00+01:00", "2026-03-29T03:00:00+02:00",
                                             "2026-04-05T02:30:00+02:00"]
    assert [trigger.moved_by_dst(r) for r in runs] == [False, True, False]


def test_the_trigger_survives_pickling_in_the_job_store() -> None:
    import pickle

    trigger = pickle.loads(pickle.dumps(make_trigger("0 9 * * mon", "Europe/Berlin", "2030-01-01")))
    assert trigger.get_next_fire_time(None, datetime(2026, 1, 1, tzinfo=UTC)).isoformat() == \
        "2030-01-07T09:00:00+01:00"


@pytest.mark.parametrize(("cron", "needle"), [
    ("0 9 31 2 *", "never fires"), ("0 9 30 2 mon", "never fires"), ("* * * * * *", "1 s apart"),
    ("*/5 * * * *", "300 s apart"), ("0,5 9 1 9 *", "300 s apart"), ("*/30 * * * * *", "30 s apart"),
])
def test_crons_that_never_fire_or_fire_too_often_are_422(tmp_path: Path, cron: str, needle: str) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            res = await s.client.post(f"{API}/classes", json={"name": "Physics", "meeting_url": "fake:r1"},
                                      headers=s.auth("alice"))
            class_id = (await res.json())["class_id"]
            res = await s.client.post(f"{API}/schedules", json={"class_id": class_id, "cron": cron,
                                                                "duration_min": 50}, headers=s.auth("alice"))
            assert res.status == 422, await res.text()
            err = (await res.json())["error"]
            assert err["fields"][0]["field"] == "cron" and needle in err["message"]
            for fine in ("0 9 29 2 *", "*/10 8-15 * * mon-fri", "0 9 * * mon,wed"):
                ok = await s.client.post(f"{API}/schedules", json={"class_id": class_id, "cron": fine,
                                                                   "duration_min": 5}, headers=s.auth("alice"))
                assert ok.status == 201, (fine, await ok.text())

    run(main)


def test_runs_due_while_the_service_was_down_are_recorded(tmp_path: Path) -> None:
    """Three days down over a daily 09:00 class (injected clock): three runs missed, each recorded once."""

    async def main() -> None:
        async with service(tmp_path) as s:
            res = await s.client.post(f"{API}/classes", json={"name": "Physics", "meeting_url": "fake:r1"},
                                      headers=s.auth("alice"))
            class_id = (await res.json())["class_id"]
            res = await s.client.post(f"{API}/schedules", json={
                "class_id": class_id, "cron": "0 9 * * *", "timezone": "Europe/Berlin", "duration_min": 50,
                "misfire_grace_s": 600}, headers=s.auth("alice"))
            sch = (await res.json())["schedule_id"]
            runner = s.client.server.app[schedules_key]
            first = runner.scheduler.get_job(sch).next_run_time
            made = runner.record_downtime(first + timedelta(days=2, hours=1))
            assert [(r.kind, r.reason) for r in made] == [("missed", "service_down")] * 2 + [("missed",
                                                                                            "beyond_grace")]
            assert [r.due_at for r in made] == [(first + timedelta(days=d)).astimezone(UTC) for d in range(3)]
            assert runner.record_downtime(first + timedelta(days=2, hours=1)) == []  # recorded once
            # back within the grace time: the newest run still starts, only the older ones are missed
            made = runner.record_downtime(first + timedelta(days=3, minutes=5))
            assert [r.due_at for r in made] == []  # days 0-2 already recorded; day 3 fires

    run(main)


def test_missed_after_downtime_is_a_pure_rule() -> None:
    from bot.service.missed_runs import missed_after_downtime

    t0 = datetime(2026, 12, 21, 8, tzinfo=UTC)
    due = [t0 + timedelta(days=d) for d in range(4)]  # Mon..Thu 08:00 UTC
    now = due[-1] + timedelta(minutes=3)
    within = missed_after_downtime("sch-1", due, now, grace_s=300)
    assert [r.due_at for r in within] == due[:3] and {r.reason for r in within} == {"service_down"}
    beyond = missed_after_downtime("sch-1", due, now, grace_s=60)
    assert [r.due_at for r in beyond] == due and beyond[-1].reason == "beyond_grace"
    holiday = missed_after_downtime("sch-1", due, now, grace_s=300, skipped=lambda t: t.day == 22)
    assert [r.due_at.day for r in holiday] == [21, 23]
    assert missed_after_downtime("sch-1", [now + timedelta(hours=1)], now, grace_s=60) == []


def test_a_scheduled_run_without_capacity_is_recorded_not_lost(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path, max_concurrent_per_teacher=1) as s:
            ids = []
            for room in ("r1", "r2"):
                res = await s.client.post(f"{API}/classes", json={"name": room, "meeting_url": f"fake:{room}"},
                                          headers=s.auth("alice"))
                ids.append((await res.json())["class_id"])
            res = await s.client.post(f"{API}/sessions", json={"class_id": ids[0]}, headers=s.auth("alice"))
            assert res.status == 201
            res = await s.client.post(f"{API}/schedules", json={"class_id": ids[1], "cron": "0 9 * * mon-fri",
                                                                "duration_min": 50}, headers=s.auth("alice"))
            sch = (await res.json())["schedule_id"]
            runner = s.client.server.app[schedules_key]
            when = datetime(2026, 12, 22, 9, tzinfo=UTC)
            assert await runner.fire(sch, when) is None
            assert [(r.kind, r.reason, r.due_at) for r in runner.records.of(sch)] == [("missed", "no_capacity", when)]

    run(main)
