"""The one way to run a session, whoever starts it (CLI, API, schedule, Zoom webhook, later a worker).

A session is one class meeting; it runs as one or more **attempts** (DESIGN.md, "A session
across faults"). `SessionRunner.start` records the session (the database refuses a second
open session for a class: `SessionConflict`), claims attempt 1 and runs a `LiveSession`
on it. Every store write of that attempt goes through the attempt **fence**: once another
process has claimed a newer attempt, the old one's next flush is refused and it stops
without writing (`Superseded`).

`recover` is run when a process starts: every open session whose attempt holder is gone
(a crash, a SIGKILL, a machine that vanished) has that attempt closed and the gap recorded
as an **interruption**. If the class's window is still open (schedule end or `--duration`,
or a platform stream that may still be alive) the session continues in a new attempt;
otherwise it ends `interrupted`, and its partial report is rendered and delivered. Reports
are rendered and delivered once, when the session ends, never once per attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from analysis.records import Interruption, Participant
from analysis.store import Store, StoreError, Superseded
from bot.config import Config
from bot.connectors.base import Connector, FailureReason
from bot.db.records import AttemptRecord, SessionRecord, SessionRosterRecord
from bot.db.store import ServiceStore, SessionConflict
from bot.sessions.lifecycle import LeaveReason, State
from bot.sessions.live import LiveSession, Render, SessionResult, new_session_id, render_reports
from bot.sessions.roster_apply import render_with_roster
from bot.sessions.roster_session import certainly_opted_out
from bot.sessions.sampler import Analyze

log = logging.getLogger(__name__)

__all__ = ["Meeting", "Meetings", "Outcome", "SessionConflict", "SessionRunner", "SessionSpec"]


@dataclass
class Meeting:
    connector: Connector
    join_link: str = ""  # for the built-in classroom: what students open


class Meetings(Protocol):
    """Meeting URL → connector; `bot.connectors.registry.Registry` is the real one."""

    def validate(self, url: str) -> str:
        """A description of the meeting without secrets; `ValueError` with a clear message if unusable."""

    def open(self, url: str, class_name: str) -> AbstractAsyncContextManager[Meeting]: ...


@dataclass(frozen=True)
class SessionSpec:
    meeting_url: str
    owner: str
    class_name: str = "Live class"
    class_id: str = ""
    duration_s: float | None = None
    origin: str = "api"  # api | schedule | cli | zoom
    session_id: str = ""  # "" = a new id; platforms give a stable one so a retried webhook is one session
    #: The roster students the class expects, (roster student id, name); None = the class's stored
    #: roster when the session starts (`SessionRunner.start` reads it), () = no roster.
    expected: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class Outcome:
    """How a session ended, for delivery and for the CLI."""

    session_id: str
    state: str  # done | failed | interrupted
    failure: str = ""
    detail: str = ""
    reports: tuple[Path, ...] = ()
    report_error: str = ""
    result: SessionResult | None = None  # the last attempt's numbers (None: ended by recovery)


OnFinished = Callable[[str, Outcome], Any]


@dataclass
class Running:
    live: LiveSession | None
    task: asyncio.Task[Outcome | None]
    class_id: str
    owner: str = ""
    join_link: str = ""
    leave_reason: LeaveReason | None = None
    handover: bool = False  # this process stops (SIGTERM of a worker): the session goes on elsewhere
    done: asyncio.Event = field(default_factory=asyncio.Event)


def people_of(text: str) -> list[tuple[str, str]]:
    """`SessionRecord.known_people` → (feed id, name) pairs; anything malformed is skipped."""
    try:
        data = json.loads(text) if text else []
    except ValueError:
        return []
    return [(str(p[0]), str(p[1])) for p in data if isinstance(p, list) and len(p) == 2] \
        if isinstance(data, list) else []


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).replace(microsecond=0).isoformat()


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (tells a live pid from a reused one)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def holder_id() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def holder_alive(attempt: AttemptRecord, now: datetime, stale_s: float) -> bool:
    """Whether the process that holds `attempt` may still be running it."""
    if attempt.ended_at:
        return False
    host, _, rest = attempt.holder.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host == socket.gethostname() and pid_text.isdigit():
        return bool(ticks) and _start_ticks(int(pid_text)) == ticks
    try:
        beat = datetime.fromisoformat(attempt.heartbeat_at)
    except ValueError:
        return False
    return (now - beat).total_seconds() < stale_s


def window_open(record: SessionRecord, now: datetime) -> bool:
    """May the session continue after a fault? Until its window ends; platform streams until they end."""
    if record.window_end:
        return now < datetime.fromisoformat(record.window_end)
    return record.origin == "zoom"


class SessionRunner:
    #: Bots run in other processes (a cluster's `serve`): a session missing from `running` may be live.
    remote = False

    def __init__(self, config: Config, store: Store, db: ServiceStore, meetings: Meetings, *,
                 analyze_factory: Callable[[], Analyze] | None = None, render: Render | None = render_reports,
                 now: Callable[[], datetime] = utc_now, retry_delay_s: float = 2.0) -> None:
        self.config = config
        self.store = store
        self.db = db
        self.meetings = meetings
        self.analyze_factory = analyze_factory
        self.render = render
        self.now = now
        self.retry_delay_s = retry_delay_s
        self.people_save_s = 2.0  # how often a running attempt keeps `Connector.known_people`
        self.holder = holder_id()
        self.running: dict[str, Running] = {}
        self.on_finished: list[OnFinished] = []
        self.superseded: set[str] = set()  # sessions whose attempt here was taken over by another process
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _db(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    # -- starting ---------------------------------------------------------------------------
    def busy_class(self, class_id: str) -> str | None:
        if not class_id:
            return None
        for sid, r in self.running.items():
            if r.class_id == class_id and not r.done.is_set():
                return sid
        return None

    async def start(self, spec: SessionSpec) -> str:
        """Record the session, claim attempt 1 and start the bot; returns the session id at once.

        `ValueError` for a meeting URL no connector takes, `SessionConflict` when the class
        (or, for a platform-given id, that very session) is already running.
        """
        description = self.meetings.validate(spec.meeting_url)
        now = self.now()
        window_end = iso(now + timedelta(seconds=spec.duration_s)) if spec.duration_s else ""
        record = SessionRecord(
            session_id=spec.session_id or new_session_id(), owner=spec.owner, class_name=spec.class_name,
            meeting=description, state=State.JOINING.value, created_at=iso(now), class_id=spec.class_id,
            meeting_url=spec.meeting_url, duration_s=spec.duration_s, window_end=window_end, origin=spec.origin)

        def insert() -> AttemptRecord:
            if spec.session_id and self.db.session(spec.session_id) is not None:
                raise SessionConflict(f"session {spec.session_id} exists already")
            self.db.add_session(record)
            self._expect(record, spec)
            return self.db.begin_attempt(record.session_id, self.holder, iso(now))

        attempt = await self._db(insert)
        self._launch(record, attempt)
        log.info("session started session_id=%s class_id=%s owner=%s origin=%s", record.session_id,
                 spec.class_id or "-", spec.owner, spec.origin)
        return record.session_id

    def _expect(self, record: SessionRecord, spec: SessionSpec) -> None:
        """Record which roster students the session expects, and the class's attendance rules."""
        cls = self.db.get_class(spec.class_id) if spec.class_id else None
        if cls is None and spec.expected is None:
            return
        expected = spec.expected
        if expected is None:
            expected = tuple((r.roster_student_id, r.name) for r in self.db.rosters.roster(spec.class_id))
        self.db.rosters.save_session_roster(SessionRosterRecord(
            session_id=record.session_id, class_id=spec.class_id, students=json.dumps([list(e) for e in expected]),
            late_after_s=60 * (cls.late_after_min if cls else 5.0),
            absent_after_s=60 * (cls.absent_after_min if cls else 15.0), created_at=record.created_at))

    def _not_measured(self, class_id: str) -> Callable[[str], bool]:
        """Display names that are certainly an opted-out student of the class: never stored."""
        confirmed, _ = self.db.rosters.decisions(class_id)
        return certainly_opted_out(self.db.rosters.roster(class_id), confirmed)

    def _launch(self, record: SessionRecord, attempt: AttemptRecord, gap: Interruption | None = None) -> None:
        task = asyncio.ensure_future(self._run(record, attempt, gap))
        self.running[record.session_id] = Running(None, task, record.class_id, record.owner)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- one session, attempt after attempt -----------------------------------------------
    async def _run(self, record: SessionRecord, attempt: AttemptRecord, gap: Interruption | None) -> Outcome | None:
        running = self.running[record.session_id]
        try:
            outcome = await self._attempts(record, attempt, gap, running)
        except Exception as exc:  # a bug in one session must not take the others down
            log.exception("session %s crashed", record.session_id)
            outcome = await self._finish(record, "failed", FailureReason.INTERNAL.value, f"crashed: {exc!r}", None)
        running.done.set()
        self.running.pop(record.session_id, None)
        return outcome

    async def _attempts(self, record: SessionRecord, attempt: AttemptRecord, gap: Interruption | None,
                        running: Running) -> Outcome | None:
        sid, db = record.session_id, self.db
        while True:
            result = await self._one_attempt(record, attempt, gap, running)
            number = attempt.number
            if result.superseded:
                self.superseded.add(sid)
                await self._db(partial(db.end_attempt, sid, number, iso(self.now()), "superseded"))
                log.warning("session %s: attempt %d superseded; another process runs it", sid, number)
                return None
            if running.handover and result.leave_reason is LeaveReason.HANDOVER:
                await self._db(partial(db.end_attempt, sid, number, iso(self.now()), "handover"))
                log.warning("session %s: attempt %d handed over; another worker continues it", sid, number)
                return None
            record = await self._db(partial(db.session, sid)) or record
            lost = result.leave_reason is LeaveReason.CONNECTION_LOST
            reason = "connection_lost" if lost else ("failed" if result.state is State.FAILED else "done")
            ended = iso(self.now())
            await self._db(partial(db.end_attempt, sid, number, ended, reason))
            if lost and window_open(record, self.now()) and number < self.config.session.max_attempts:
                await asyncio.sleep(self.retry_delay_s)
                gap = Interruption(sid, ended, "", "connection_lost")
                attempt = await self._db(partial(db.begin_attempt, sid, self.holder, iso(self.now())))
                continue
            return await self._end(record, result, gap)

    async def _one_attempt(self, record: SessionRecord, attempt: AttemptRecord, gap: Interruption | None,
                           running: Running) -> SessionResult:
        sid, number = record.session_id, attempt.number
        now = self.now()
        t_offset = (now - datetime.fromisoformat(record.started_at)).total_seconds() if record.started_at else 0.0
        returning: Sequence[Participant] = ()
        if record.started_at:
            with contextlib.suppress(StoreError):
                returning = await self._db(lambda: self.store.participants(sid))
        remaining = ((datetime.fromisoformat(record.window_end) - now).total_seconds()
                     if record.window_end else None)

        def guard(conn: Any) -> None:
            self.db.fence(conn, sid, number, iso(self.now()))

        not_measured = await self._db(partial(self._not_measured, record.class_id)) if record.class_id else None

        try:
            meeting_cm = self.meetings.open(record.meeting_url, record.class_name)
            meeting = await meeting_cm.__aenter__()
        except ValueError as exc:
            return SessionResult(sid, State.FAILED, FailureReason.MEETING_NOT_FOUND, str(exc))
        meeting.connector.remember_people(people_of(record.known_people))
        if meeting.join_link:  # the built-in classroom: `serve` join pages send students here
            try:
                await self._db(partial(self.db.set_join_link, sid, number, iso(self.now()), meeting.join_link))
            except Exception as exc:  # the database is away: the next flush's fence decides, not this
                log.warning("session %s: could not record its join link: %s", sid, exc)
        keeper = asyncio.ensure_future(self._keep_people(sid, number, meeting.connector))
        if not getattr(meeting.connector, "sees_everyone", True):  # e.g. Zoom streams only some participants
            await self._db(partial(self.db.rosters.set_sees_everyone, sid, False))
        try:
            live = LiveSession(meeting.connector, self.config, self.store, session_id=sid,
                               class_name=record.class_name, teacher=record.owner,
                               analyze_factory=self.analyze_factory, render=None,
                               max_duration_s=max(remaining, 1.0) if remaining is not None else None,
                               guard=guard, t_offset=max(t_offset, 0.0), returning=returning,
                               not_measured=not_measured, attempt=number)
            running.live, running.join_link = live, meeting.join_link
            if running.leave_reason is not None:  # asked to leave while the meeting was being opened
                live.request_leave(running.leave_reason)
            watcher = asyncio.ensure_future(self._when_in_class(record, live, gap))
            try:
                return await live.run()
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await self._save_people(sid, number, meeting.connector, record.known_people)
            await meeting_cm.__aexit__(None, None, None)

    async def _keep_people(self, sid: str, number: int, connector: Connector) -> None:
        """Keep the connector's `known_people` with the session while the attempt runs, so an
        attempt that resumes it after a crash knows who Zoom will not announce again."""
        saved = ""
        while True:
            await asyncio.sleep(self.people_save_s)
            saved = await self._save_people(sid, number, connector, saved)

    async def _save_people(self, sid: str, number: int, connector: Connector, saved: str) -> str:
        people = connector.known_people()
        text = json.dumps(people, ensure_ascii=False) if people else ""
        if text and text != saved:
            try:
                await self._db(partial(self.db.keep_known_people, sid, number, iso(self.now()), text))
            except Exception:  # a store hiccup must not end the class; the next round retries
                log.exception("session %s: could not keep the known participants", sid)
                return saved
        return text or saved

    async def _when_in_class(self, record: SessionRecord, live: LiveSession, gap: Interruption | None) -> None:
        """Mark the session in class; a continued one closes its interruption now."""
        await live.in_class.wait()
        now = iso(self.now())

        def mark() -> None:
            self.db.update_session(record.session_id, state=State.IN_CLASS.value, meeting=live.connector.description,
                                   started_at=record.started_at or now)
            if gap is not None:
                self.store.add_interruption(replace(gap, to_at=now))

        await self._db(mark)

    async def _end(self, record: SessionRecord, result: SessionResult, gap: Interruption | None) -> Outcome:
        fresh = await self._db(lambda: self.db.session(record.session_id))
        record = fresh or record
        had_data = bool(record.started_at) or result.in_class
        if gap is not None and not result.in_class:  # never got back in: the gap runs to the end
            await self._db(lambda: self.store.add_interruption(replace(gap, to_at=iso(self.now()))))
        if result.data_deleted:  # the platform withdrew consent: nothing is kept, nothing rendered
            state, failure, detail = "failed", "revoked", "the platform revoked the stream: all its data was deleted"
        elif result.state is State.DONE:
            state, failure, detail = "done", "", result.detail
        elif had_data:
            state = "interrupted"
            failure = result.failure.value if result.failure else ""
            detail = f"could not continue after an interruption: {result.detail}"
        else:
            state, failure, detail = "failed", result.failure.value if result.failure else "", result.detail
        return await self._finish(record, state, failure, detail, result)

    async def _finish(self, record: SessionRecord, state: str, failure: str, detail: str,
                      result: SessionResult | None) -> Outcome:
        """Render (if there is data), record the end, then tell the hooks (delivery) once."""
        sid = record.session_id
        reports: list[Path] = []
        report_error = result.report_error if result else ""
        has_data = await self._db(lambda: self._has_data(sid))
        if state in ("done", "interrupted") and has_data and self.render is not None:
            await self._db(lambda: self.db.update_session(sid, state=State.PROCESSING.value))
            render = self.render
            out = Path(self.config.reports.out_dir) / sid
            try:
                reports = await self._db(lambda: self._render(render, sid, out))
            except Exception as exc:  # the data is safe in the store: `classpulse report` can retry
                log.exception("report rendering failed for %s", sid)
                report_error = f"{type(exc).__name__}: {exc}"
        ended = iso(self.now())
        await self._keep_summaries(record, state, failure)
        await self._db(lambda: self.db.update_session(sid, state=state, failure=failure,
                                                      detail=detail or report_error, ended_at=ended,
                                                      known_people=""))
        outcome = Outcome(sid, state, failure, detail, tuple(reports), report_error, result)
        log.info("session finished session_id=%s state=%s failure=%s reports=%d", sid, state, failure or "-",
                 len(reports))
        for callback in self.on_finished:
            try:
                out_cb = callback(sid, outcome)
                if asyncio.iscoroutine(out_cb):
                    await out_cb
            except Exception:
                log.exception("session-finished hook failed for %s", sid)
        return outcome

    async def _keep_summaries(self, record: SessionRecord, state: str, failure: str) -> None:
        """The term view's summaries (`bot.course.summaries`); a failure here never fails the session."""
        from bot.course.summaries import keep_summaries

        try:
            await self._db(lambda: keep_summaries(self.store, record, state, failure, iso(self.now())))
        except Exception:
            log.exception("could not keep the term summaries of %s", record.session_id)


    def _render(self, render: Render, sid: str, out: Path) -> list[Path]:
        """Apply the class roster (matches, opt-outs, who never came), then render."""
        return render_with_roster(render, self.store, self.db, sid, out, self.config.reports.formats,
                                  self.config.reports.paper.lower(), iso(self.now()))

    def _has_data(self, session_id: str) -> bool:
        try:
            self.store.session(session_id)
        except StoreError:
            return False
        return True

    # -- recovery after a crash -------------------------------------------------------------
    async def recover(self, *, origins: Sequence[str] | None = None,
                      resume: bool | Callable[[SessionRecord], bool] = True) -> list[str]:
        """Close the dead attempts of open sessions; continue those whose window is open, end the rest.

        Returns the ids of the sessions it handled. `origins` limits it (the CLI recovers only
        its own sessions); `resume=False` ends every one as `interrupted` instead of continuing;
        a function decides per session instead of the window (`classpulse join` run again for
        the same meeting continues that meeting's session: the class is evidently still on).
        """
        now = self.now()
        stale_s = self.config.session.attempt_timeout_s
        handled: list[str] = []
        for record in await self._db(self.db.open_sessions):
            sid = record.session_id
            if sid in self.running or (origins is not None and record.origin not in origins):
                continue
            attempts = await self._db(partial(self.db.attempts, sid))
            last = attempts[-1] if attempts else None
            if last is not None and holder_alive(last, now, stale_s):
                continue
            since = last.heartbeat_at if last is not None else record.created_at
            if last is not None:
                await self._db(partial(self.db.end_attempt, sid, last.number, last.heartbeat_at, "crash"))
            gap = Interruption(sid, since, "", "crash")
            handled.append(sid)
            if resume(record) if callable(resume) else (resume and window_open(record, now)):
                try:
                    attempt = await self._db(partial(self.db.begin_attempt, sid, self.holder, iso(now)))
                except Superseded:
                    continue  # another process got there first
                log.warning("session %s: attempt %s died; continuing in attempt %d", sid,
                            last.number if last else "-", attempt.number)
                self._launch(record, attempt, gap)
            else:
                log.warning("session %s: attempt %s died and its window is closed: interrupted", sid,
                            last.number if last else "-")
                await self._db(partial(self.store.add_interruption, replace(gap, to_at=iso(now))))
                await self._finish(record, "interrupted", "", f"analysis stopped at {since} (process died)", None)
        return handled

    # -- continuing a recorded session in this process (a cluster worker's job) ----------------
    async def adopt(self, session_id: str) -> Outcome | None:
        """Run a recorded, still open session here in a new attempt, until it ends or leaves this process.

        The queue decided that this process runs it (a new job, a dead worker's job re-queued,
        a handed-over one), so an attempt still open is taken as dead: it is closed at its last
        heartbeat and the gap recorded (`worker_lost`; `handover` when it was handed over).
        Its holder, if only slow, finds itself fenced at its next flush. Returns the outcome,
        or None when the session ended elsewhere, was superseded here, or was handed over.
        """
        sid = session_id
        record = await self._db(partial(self.db.session, sid))
        if record is None or record.final or sid in self.running:
            return None
        attempts = await self._db(partial(self.db.attempts, sid))
        last = attempts[-1] if attempts else None
        gap: Interruption | None = None
        if last is not None:
            if not last.ended_at:
                await self._db(partial(self.db.end_attempt, sid, last.number, last.heartbeat_at, "worker_lost"))
                gap = Interruption(sid, last.heartbeat_at, "", "worker_lost")
            else:
                gap = Interruption(sid, last.ended_at, "", "handover" if last.end_reason == "handover" else "crash")
        now = self.now()
        if last is not None and (not window_open(record, now) or last.number >= self.config.session.max_attempts):
            assert gap is not None
            await self._db(partial(self.store.add_interruption, replace(gap, to_at=iso(now))))
            return await self._finish(record, "interrupted" if record.started_at else "failed", "",
                                      f"analysis stopped at {gap.from_at} ({gap.reason})", None)
        try:
            attempt = await self._db(partial(self.db.begin_attempt, sid, self.holder, iso(now)))
        except Superseded:
            return None
        if last is not None:
            log.warning("session %s: attempt %d ended (%s); continuing in attempt %d", sid, last.number,
                        gap.reason if gap else "-", attempt.number)
        self._launch(record, attempt, gap)
        return await self.wait(sid)

    async def fail(self, record: SessionRecord, failure: str, detail: str) -> Outcome:
        """End a session that never ran (e.g. no worker had room: `no_capacity`); the hooks tell its owner."""
        return await self._finish(record, "failed", failure, detail, None)

    # -- control ------------------------------------------------------------------------------
    def live_numbers(self, session_id: str) -> dict[str, Any] | None:
        r = self.running.get(session_id)
        return r.live.progress() if r is not None and r.live is not None else None

    def leave(self, session_id: str, reason: LeaveReason = LeaveReason.REQUESTED, *,
              end_stream: bool = False) -> bool:
        """Ask the bot to leave. `end_stream` (the teacher stops the analysis) also ends a platform
        stream that would otherwise wait for the bot to come back (Zoom RTMS); shutdown never does."""
        r = self.running.get(session_id)
        if r is None:
            return False
        r.leave_reason = r.leave_reason or reason
        if r.live is None:
            return True
        ender = getattr(r.live.connector, "end_stream", None) if end_stream else None
        if ender is None:
            r.live.request_leave(reason)
            return True
        live = r.live

        async def end_then_leave() -> None:
            try:
                await asyncio.wait_for(ender(), 10)
            except Exception:
                log.exception("ending the platform stream of %s failed", session_id)
            live.request_leave(reason)

        task = asyncio.ensure_future(end_then_leave())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def hand_over(self, session_id: str) -> bool:
        """Leave the meeting and end this process's attempt without ending the session (worker SIGTERM).

        Unlike `leave`, nothing is rendered or delivered and a platform's stream is never ended:
        the next worker rejoins and continues in a new attempt."""
        r = self.running.get(session_id)
        if r is None:
            return False
        r.handover = True
        r.leave_reason = r.leave_reason or LeaveReason.HANDOVER
        if r.live is not None:
            r.live.request_leave(LeaveReason.HANDOVER)
        return True

    def discard(self, session_id: str, why: str) -> bool:
        """A running session leaves and deletes everything it collected (a platform's revoke)."""
        r = self.running.get(session_id)
        if r is None or r.live is None:
            return False
        r.live.discard_data(why)
        return True

    def erase(self, session_id: str) -> None:
        """Delete an ended session's measured data and reports (synchronous: run it off the loop)."""
        import shutil

        try:
            self.store.delete_session(session_id)
        except StoreError:
            self.store.delete_interruptions(session_id)
        shutil.rmtree(Path(self.config.reports.out_dir) / session_id, ignore_errors=True)
        self.db.update_session(session_id, state="failed", failure="revoked", known_people="",
                               detail="the platform revoked the stream: all its data was deleted")

    async def wait(self, session_id: str) -> Outcome | None:
        r = self.running.get(session_id)
        if r is None:
            return None
        return await asyncio.shield(r.task)

    async def close(self, timeout_s: float = 120.0) -> None:
        """Graceful shutdown: every bot leaves, stores and renders; then the tasks are awaited."""
        tasks = [r.task for r in self.running.values()]
        for sid in list(self.running):
            self.leave(sid)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for t in pending:
                t.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*tasks, return_exceptions=True)
