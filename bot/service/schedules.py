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
refusing digits avoids a silent one-day shift. Times are local wall-clock times, each
fired once across DST changes (`bot.service.wall_clock`); expressions that never fire or
fire more often than every 10 minutes are refused. Runs that did not happen (service down,
later than the grace time) and runs moved by the spring DST gap are recorded
(`bot.service.missed_runs`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobEvent, JobSubmissionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.db.records import ClassRecord, ScheduleRecord
from bot.db.service_state import DbCapacity, DbScheduleRecords
from bot.db.store import ServiceStore
from bot.service.auth import now_iso
from bot.service.capacity import Capacity, CapacityExceeded, Limits, reserve
from bot.service.missed_runs import ScheduleRecord as RunRecord
from bot.service.missed_runs import ScheduleRecords, missed_after_downtime
from bot.service.wall_clock import WallClockTrigger, check_cadence, occurrences
from bot.sessions.runner import SessionConflict, SessionRunner, SessionSpec
from bot.timetable.model import Lesson

log = logging.getLogger(__name__)

JOBS_TABLE = "apscheduler_jobs"
_DIGIT_DOW = re.compile(r"\d")
_runner: ScheduleRunner | None = None


def parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None


def make_trigger(cron: str, timezone: str, start_date: str = "", end_date: str = "") -> WallClockTrigger:
    """The trigger for a cron expression; ValueError with a readable message when it is invalid."""
    parse_timezone(timezone)
    fields = cron.split()
    if len(fields) not in (5, 6):
        raise ValueError("cron needs 5 fields (minute hour day month weekday) or 6 with seconds first")
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, dow = fields
    if _DIGIT_DOW.search(dow):
        raise ValueError("write weekdays as names (mon,wed or mon-fri), not numbers")
    # the inner trigger counts local wall-clock time, written as UTC (see bot.service.wall_clock)
    start = datetime.combine(date.fromisoformat(start_date), datetime.min.time(), UTC) if start_date else None
    end = (datetime.combine(date.fromisoformat(end_date), datetime.max.time(), UTC) if end_date else None)
    try:
        inner = CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=dow,
                            timezone=UTC, start_date=start, end_date=end)
    except ValueError as exc:
        raise ValueError(f"invalid cron {cron!r}: {exc}") from None
    return WallClockTrigger(inner, timezone)


def check_cron(cron: str, timezone: str = "UTC", now: datetime | None = None) -> str:
    """A cron expression that parses, fires at all and at most every 10 minutes; ValueError otherwise."""
    trigger = make_trigger(cron, timezone)
    try:
        check_cadence(trigger, now or datetime.now(UTC))
    except ValueError as exc:
        raise ValueError(f"cron {cron!r}: {exc}") from None
    return cron


def calendar_row(*, owner: str, class_id: str, lesson: Lesson, misfire_grace_s: int = 300,
                 done_keys: str = "") -> ScheduleRecord:
    """A schedule row that follows a timetable lesson (its RRULE/EXDATE/RDATE/overrides), not a cron."""
    return ScheduleRecord(schedule_id=f"sch-{secrets.token_hex(6)}", owner=owner, class_id=class_id, cron="",
                          timezone=lesson.timezone, duration_s=lesson.duration.total_seconds(),
                          misfire_grace_s=misfire_grace_s, created_at=now_iso(), calendar=lesson.source,
                          done_keys=done_keys)


def run_length_s(row: ScheduleRecord, now: datetime) -> float:
    """How long a run started at `now` lasts: a calendar schedule's meeting under way ends when
    that meeting ends (a moved lesson, a double period or a PERIOD date has its own length, a
    late start does not overrun); a cron schedule's runs all last `duration_s`."""
    if not row.calendar:
        return row.duration_s
    from bot.timetable.occurrences import in_progress

    try:
        occ = in_progress(lesson_of(row), now)
    except Exception:  # a calendar the trigger cannot expand (it logs that): run as planned
        return row.duration_s
    return max(60.0, (occ.end - now).total_seconds()) if occ is not None else row.duration_s


def lesson_of(row: ScheduleRecord) -> Lesson:
    """The timetable lesson a calendar schedule follows, rebuilt from its stored iCalendar text."""
    from bot.timetable.ical import parse_calendar

    lessons = parse_calendar(row.calendar.encode()).lessons
    if len(lessons) != 1:
        raise ValueError(f"schedule {row.schedule_id}: its calendar text holds {len(lessons)} lessons, not 1")
    return lessons[0]


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


async def feeds_job() -> None:
    """The daily re-read of subscribed timetable feeds (referenced by path in the job store)."""
    if _runner is not None and _runner.feeds is not None:
        await _runner.feeds.read_stale()


#: The scheduler's own jobs (not schedules of classes: no run records, never synced away).
SYSTEM_JOBS = frozenset({"retention", "timetable_feeds"})


class FeedReader(Protocol):
    async def read_stale(self) -> Any: ...


class ScheduleRunner:
    def __init__(self, db: ServiceStore, manager: SessionRunner, records: ScheduleRecords | None = None,
                 capacity: Capacity | None = None) -> None:
        self.db = db
        self.manager = manager
        s = manager.config.session
        self.capacity: Capacity = capacity or DbCapacity(db, Limits(s.max_concurrent, s.max_concurrent_per_teacher))
        self.records: ScheduleRecords = records or DbScheduleRecords(db)
        #: told about every new missed run: (schedule id, class id, due at ISO, reason, detail)
        self.on_missed: list[Callable[[str, str, str, str, str], Awaitable[None]]] = []
        self._hooks: set[asyncio.Future[None]] = set()
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=db.engine, tablename=JOBS_TABLE)},
            job_defaults={"coalesce": True, "max_instances": 1})
        self.fired: list[str] = []  # session ids started by schedules (tests, metrics)
        self.feeds: FeedReader | None = None  # subscribed timetable feeds (`bot.service.feeds.Feeds`)
        self.standby = False  # a cluster's `serve` that is not the scheduler's leader (bot.cluster.leader)
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self.scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)

    def start(self) -> None:
        global _runner
        _runner = self
        self.scheduler.start()
        self.record_downtime(datetime.now(UTC))  # before the loop runs: stored next-run times are untouched
        self.scheduler.add_job(f"{__name__}:retention_job", CronTrigger(hour=3, minute=30, timezone="UTC"),
                               id="retention", replace_existing=True, misfire_grace_time=23 * 3600,
                               name="delete data past store.retention_days")
        self.scheduler.add_job(f"{__name__}:feeds_job", CronTrigger(hour=4, minute=0, timezone="UTC"),
                               id="timetable_feeds", replace_existing=True, misfire_grace_time=23 * 3600,
                               name="re-read subscribed timetable feeds")
        added, removed = self.sync()
        if added or removed:
            log.info("schedules synced with the store: %d job(s) added, %d removed", added, removed)

    def _record(self, record: RunRecord) -> bool:
        """Keep a run record; a new `missed` one is also told to the class's owner at once (hooks)."""
        if not self.records.add(record):
            return False
        if record.kind == "missed" and self.on_missed:
            row = self.db.schedule(record.schedule_id)
            for hook in self.on_missed:
                task = asyncio.ensure_future(hook(record.schedule_id, row.class_id if row else "",
                                                  record.due_at.isoformat(), record.reason, record.detail))
                self._hooks.add(task)
                task.add_done_callback(self._hooks.discard)
        return True

    def record_downtime(self, now: datetime) -> list[RunRecord]:
        """Record every run that fell due while the service was down and will not fire now."""
        made = []
        for job in self.scheduler.get_jobs():
            if job.id in SYSTEM_JOBS or job.next_run_time is None or job.next_run_time > now:
                continue
            row = self.db.schedule(job.id)
            due = list(occurrences(job.trigger, job.next_run_time - timedelta(microseconds=1), now, limit=10_000))
            def check(t: datetime, r: ScheduleRecord | None = row) -> bool:
                return r is not None and skipped(r, t)

            for rec in missed_after_downtime(job.id, due, now, job.misfire_grace_time or 0, check):
                if self._record(rec):
                    made.append(rec)
        return made

    def _on_missed(self, event: JobEvent) -> None:
        """APScheduler gave up a run later than its grace time (also while running: a stalled loop)."""
        if event.job_id in SYSTEM_JOBS:
            return
        self._record(RunRecord(event.job_id, event.scheduled_run_time.astimezone(UTC), "missed",
                                   "beyond_grace", "started later than misfire_grace_s allows"))

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        job = self.scheduler.get_job(event.job_id)
        occurrence_at = getattr(job.trigger, "occurrence_at", None) if job is not None else None
        if occurrence_at is not None:  # a calendar schedule: remember which meetings ran, by original start
            for t in event.scheduled_run_times:
                occ = occurrence_at(t)
                if occ is not None:
                    asyncio.get_running_loop().run_in_executor(None, self.db.add_done_key, event.job_id,
                                                               occ.key.isoformat())
        if job is None or not isinstance(job.trigger, WallClockTrigger):
            return
        for t in event.scheduled_run_times:
            if job.trigger.moved_by_dst(t):
                self.records.add(RunRecord(event.job_id, t.astimezone(UTC), "moved", "dst_gap",
                                                "the local start time does not exist on this day (clocks "
                                                "go forward): started when the clocks jumped"))

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


    def trigger_for(self, row: ScheduleRecord) -> Any:
        """The row's trigger: its cron on the wall clock, or its lesson's calendar (minus what already ran)."""
        if not row.calendar:
            return make_trigger(row.cron, row.timezone, row.start_date, row.end_date)
        from bot.timetable.trigger import CalendarTrigger

        done = [datetime.fromisoformat(k) for k in row.done_keys.split(",") if k]
        return CalendarTrigger(lesson_of(row), done=done)

    def _add_job(self, row: ScheduleRecord) -> None:
        self.scheduler.add_job(f"{__name__}:fire", self.trigger_for(row), id=row.schedule_id,
                               kwargs={"schedule_id": row.schedule_id}, misfire_grace_time=row.misfire_grace_s,
                               replace_existing=True, name=f"class {row.class_id}")

    def sync(self) -> tuple[int, int]:
        """Make the scheduler's jobs match the schedules table (rows written by another process,
        e.g. `classpulse timetable import`, get their job; jobs without a row go). Returns (added, removed)."""
        rows = {r.schedule_id: r for r in self.db.schedules()[0]}
        jobs = {j.id for j in self.scheduler.get_jobs()} - SYSTEM_JOBS
        added = 0
        for sid in sorted(set(rows) - jobs):
            try:
                self._add_job(rows[sid])
                added += 1
            except ValueError as exc:  # a row this version cannot schedule: say so, keep the others
                log.error("schedule %s cannot be scheduled: %s", sid, exc)
        for sid in sorted(jobs - set(rows)):
            self.scheduler.remove_job(sid)
        return added, len(jobs - set(rows))

    def remove(self, schedule_id: str) -> None:
        self.db.delete_schedule(schedule_id)
        forget = getattr(self.records, "delete_schedule", None)
        if forget is not None:
            forget(schedule_id)
        if self.scheduler.get_job(schedule_id) is not None:
            self.scheduler.remove_job(schedule_id)

    def next_run(self, schedule_id: str) -> str | None:
        job = self.scheduler.get_job(schedule_id)
        return job.next_run_time.isoformat() if job is not None and job.next_run_time else None

    def planned_start(self, schedule_id: str, now: datetime) -> datetime:
        """The planned start of the run firing at `now`: the trigger's latest time within the grace period."""
        job = self.scheduler.get_job(schedule_id)
        grace = timedelta(seconds=(job.misfire_grace_time or 0) if job is not None else 0)
        latest = None
        if job is not None:
            for t in occurrences(job.trigger, now - grace - timedelta(seconds=1), now + timedelta(seconds=1),
                                 limit=10_000):
                latest = t
        return (latest or now).replace(microsecond=0)

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

        planned = self.planned_start(schedule_id, now)
        try:
            async with reserve(self.capacity, cls.owner):
                sid = await self.manager.start(SessionSpec(meeting_url=cls.meeting_url, owner=cls.owner,
                                                           class_name=cls.name, class_id=cls.class_id,
                                                           duration_s=run_length_s(row, now), origin="schedule",
                                                           session_id=run_id(cls.class_id, planned)))
        except CapacityExceeded as exc:
            self._record(RunRecord(schedule_id, now.astimezone(UTC), "missed", "no_capacity", str(exc)))
            return None
        except SessionConflict:
            log.info("schedule skipped schedule_id=%s reason=class_already_in_session", schedule_id)
            return None
        except ValueError as exc:
            log.error("schedule %s could not start: %s", schedule_id, exc)
            return None
        self.fired.append(sid)
        log.info("schedule fired schedule_id=%s session_id=%s", schedule_id, sid)
        return sid


def run_id(class_id: str, planned: datetime) -> str:
    """A scheduled run's session id, keyed by class and planned start: a trigger that fires twice (two
    schedulers overlapping for a moment) still makes one session, the database refuses the second."""
    return f"{class_id}-{planned.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def next_runs(cron: str, timezone: str, n: int = 3, after: datetime | None = None) -> list[datetime]:
    """The next `n` start times of a cron expression (previews and tests)."""
    trigger = make_trigger(cron, timezone)
    return list(occurrences(trigger, after or datetime.now(parse_timezone(timezone)), limit=n))
