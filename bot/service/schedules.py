"""Recurring sessions: APScheduler 3 (AsyncIOScheduler) with its job store in the service database.

The `schedules` table is the source of truth for what a teacher asked for (and who owns it);
each row has one APScheduler job (same id) whose persistent next-run time is what makes a
schedule survive a restart. When the service was down at start time, a job whose run is
still within its `misfire_grace_s` fires once when the service comes back (`coalesce`
folds several missed runs into one); later than that it waits for the next occurrence.

Jobs are stored pickled, so they reference `fire` by module path and carry only the
schedule id; `fire` finds the live `ScheduleRunner` of this process through `_runner`.
A second bot for the same class is never started: the job has `max_instances=1`, and
`fire` asks the session manager whether the class is already in a session.

Cron: five crontab fields (``0 9 * * mon,wed``) or six with seconds first. Days of the
week must be names: APScheduler 3 counts 0 as Monday while crontab counts 0 as Sunday, and
refusing digits avoids a silent one-day shift.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.db.records import ClassRecord, ScheduleRecord
from bot.db.store import ServiceStore
from bot.service.auth import now_iso
from bot.sessions.runner import SessionConflict, SessionRunner, SessionSpec

log = logging.getLogger(__name__)

JOBS_TABLE = "apscheduler_jobs"
_DIGIT_DOW = re.compile(r"\d")
_runner: ScheduleRunner | None = None


def parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None


def make_trigger(cron: str, timezone: str, start_date: str = "", end_date: str = "") -> CronTrigger:
    """The trigger for a cron expression; ValueError with a readable message when it is invalid."""
    tz = parse_timezone(timezone)
    fields = cron.split()
    if len(fields) not in (5, 6):
        raise ValueError("cron needs 5 fields (minute hour day month weekday) or 6 with seconds first")
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, dow = fields
    if _DIGIT_DOW.search(dow):
        raise ValueError("write weekdays as names (mon,wed or mon-fri), not numbers")
    start = datetime.combine(date.fromisoformat(start_date), datetime.min.time(), tz) if start_date else None
    end = (datetime.combine(date.fromisoformat(end_date), datetime.max.time(), tz) if end_date else None)
    try:
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=dow,
                           timezone=tz, start_date=start, end_date=end)
    except ValueError as exc:
        raise ValueError(f"invalid cron {cron!r}: {exc}") from None


def skipped(row: ScheduleRecord, when: datetime) -> bool:
    """True when the local date of `when` (in the schedule's zone) is one of its skip dates."""
    local = when.astimezone(parse_timezone(row.timezone)).date().isoformat()
    return local in {d for d in row.skip_dates.split(",") if d}


async def fire(schedule_id: str) -> None:
    """The job function (referenced by path in the job store)."""
    if _runner is None:
        log.warning("schedule %s fired with no service running", schedule_id)
        return
    await _runner.fire(schedule_id)


async def retention_job() -> None:
    """The daily retention job (referenced by path in the job store)."""
    if _runner is not None:
        await _runner.retention()


class ScheduleRunner:
    def __init__(self, db: ServiceStore, manager: SessionRunner) -> None:
        self.db = db
        self.manager = manager
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=db.engine, tablename=JOBS_TABLE)},
            job_defaults={"coalesce": True, "max_instances": 1})
        self.fired: list[str] = []  # session ids started by schedules (tests, metrics)

    def start(self) -> None:
        global _runner
        _runner = self
        self.scheduler.start()
        self.scheduler.add_job(f"{__name__}:retention_job", CronTrigger(hour=3, minute=30, timezone="UTC"),
                               id="retention", replace_existing=True, misfire_grace_time=23 * 3600,
                               name="delete data past store.retention_days")

    async def retention(self) -> list[str]:
        from bot.service.retention import purge

        running = set(self.manager.running)
        return await asyncio.get_running_loop().run_in_executor(
            None, purge, self.manager.store, self.db, self.manager.config, running)

    def stop(self) -> None:
        global _runner
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if _runner is self:
            _runner = None

    def add(self, *, owner: str, class_id: str, cron: str, timezone: str, duration_s: float,
            start_date: str = "", end_date: str = "", skip_dates: tuple[str, ...] = (),
            misfire_grace_s: int = 300) -> ScheduleRecord:
        trigger = make_trigger(cron, timezone, start_date, end_date)
        row = ScheduleRecord(schedule_id=f"sch-{secrets.token_hex(6)}", owner=owner, class_id=class_id, cron=cron,
                             timezone=timezone, duration_s=duration_s, start_date=start_date, end_date=end_date,
                             skip_dates=",".join(sorted(set(skip_dates))), misfire_grace_s=misfire_grace_s,
                             created_at=now_iso())
        self.db.add_schedule(row)
        self.scheduler.add_job(f"{__name__}:fire", trigger, id=row.schedule_id,
                               kwargs={"schedule_id": row.schedule_id}, misfire_grace_time=misfire_grace_s,
                               replace_existing=True, name=f"class {class_id}")
        return row

    def remove(self, schedule_id: str) -> None:
        self.db.delete_schedule(schedule_id)
        if self.scheduler.get_job(schedule_id) is not None:
            self.scheduler.remove_job(schedule_id)

    def next_run(self, schedule_id: str) -> str | None:
        job = self.scheduler.get_job(schedule_id)
        return job.next_run_time.isoformat() if job is not None and job.next_run_time else None

    async def fire(self, schedule_id: str, now: datetime | None = None) -> str | None:
        """Start the scheduled session unless skipped or already running; returns the session id."""
        def load() -> tuple[ScheduleRecord | None, ClassRecord | None]:
            row = self.db.schedule(schedule_id)
            return row, self.db.get_class(row.class_id) if row else None

        row, cls = await asyncio.get_running_loop().run_in_executor(None, load)
        if row is None or cls is None:
            log.warning("schedule %s has no schedule row or class any more: removing its job", schedule_id)
            if self.scheduler.get_job(schedule_id) is not None:
                self.scheduler.remove_job(schedule_id)
            return None
        now = now or datetime.now(parse_timezone(row.timezone))
        if skipped(row, now):
            log.info("schedule skipped schedule_id=%s date=%s reason=skip_date", schedule_id, now.date())
            return None
        if not cls.meeting_url:
            log.warning("schedule %s: class %s has no meeting_url", schedule_id, cls.class_id)
            return None
        try:
            sid = await self.manager.start(SessionSpec(meeting_url=cls.meeting_url, owner=cls.owner,
                                                       class_name=cls.name, class_id=cls.class_id,
                                                       duration_s=row.duration_s, origin="schedule"))
        except SessionConflict:
            log.info("schedule skipped schedule_id=%s reason=class_already_in_session", schedule_id)
            return None
        except ValueError as exc:
            log.error("schedule %s could not start: %s", schedule_id, exc)
            return None
        self.fired.append(sid)
        log.info("schedule fired schedule_id=%s session_id=%s", schedule_id, sid)
        return sid


def next_runs(cron: str, timezone: str, n: int = 3, after: datetime | None = None) -> list[datetime]:
    """The next `n` start times of a cron expression (previews and tests)."""
    trigger = make_trigger(cron, timezone)
    tz = parse_timezone(timezone)
    t = after or datetime.now(tz)
    out: list[datetime] = []
    prev: datetime | None = None
    while len(out) < n:
        nxt = trigger.get_next_fire_time(prev, t)
        if nxt is None:
            break
        out.append(nxt)
        prev, t = nxt, nxt + timedelta(microseconds=1)
    return out
