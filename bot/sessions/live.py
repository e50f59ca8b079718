"""One live class, from joining to reports: drives the lifecycle, roster, sampler and store.

The session only talks to the `Connector` interface, so the same code runs a Janus room,
the built-in classroom or a fake meeting. Everything slow runs off the event loop on two
single-thread executors: one for inference (the analyser keeps per-student trackers and
is not thread-safe, and one thread keeps TensorFlow's thread pools from competing), one
for the store and report rendering (synchronous SQLAlchemy and WeasyPrint).

What was collected survives a lost connection: observations are buffered and flushed
every `store.flush_s`, and a session that loses its meeting mid-class still goes through
processing and renders what it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from analysis.attendance import ClassRoll
from analysis.records import Observation, Participant, SessionInfo
from analysis.records import State as ObsState
from analysis.store import Guard, ObservationBuffer, Store, Superseded
from bot.config import Config
from bot.connectors.base import (
    Closed,
    Connector,
    ConnectorError,
    ConnectorEvent,
    FailureReason,
    Joined,
    Left,
    Reconnected,
    Reconnecting,
    VideoOff,
    VideoOn,
)
from bot.connectors.layers import face_widths
from bot.sessions.analyzer import analyzer_factory, run_settings
from bot.sessions.lifecycle import FAILING, LeavePolicy, LeaveReason, Lifecycle, Presence, State, leave_reason
from bot.sessions.roster import Roster
from bot.sessions.sampler import Analyze, Sampler, close_analyzer
from bot.sessions.sampling_note import sampling_note

log = logging.getLogger(__name__)


class Render(Protocol):
    """Renders a stored session's reports. The runner passes `roll` and `opted_out` (keywords)
    only for a class with a roster, so a render without them still serves classes without one."""

    def __call__(self, store: Store, session_id: str, out_dir: Path, formats: Sequence[str], paper: str = "a4", *,
                 roll: ClassRoll | None = None, opted_out: frozenset[str] = frozenset()) -> list[Path]: ...


def render_reports(store: Store, session_id: str, out_dir: Path, formats: Sequence[str],
                   paper: str = "a4", *, roll: ClassRoll | None = None,
                   opted_out: frozenset[str] = frozenset()) -> list[Path]:
    from reports.render import render_session

    return render_session(store, session_id, out_dir, formats=formats, paper=paper, roll=roll, opted_out=opted_out)



def new_session_id(prefix: str = "live") -> str:
    import secrets

    return f"{prefix}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


@dataclass
class SessionResult:
    session_id: str
    state: State
    failure: FailureReason | None = None
    detail: str = ""
    leave_reason: LeaveReason | None = None
    reports: list[Path] = field(default_factory=list)
    report_error: str = ""
    students: int = 0
    samples: int = 0
    dropped: int = 0
    #: ticks that waited for the previous inference (over capacity: every student sampled less
    #: often) and the slowest effective interval seen between samples, seconds
    deferred: int = 0
    slowest_interval_s: float | None = None
    #: the video quality received at the end of class: {"students", "fps_median", "size_median"}
    received: dict[str, Any] | None = None
    superseded: bool = False  # another process took the session over: nothing more was written
    in_class: bool = False  # got into the meeting (so the session has stored data)
    data_deleted: bool = False  # the platform revoked the data (Zoom stop reason 8): nothing kept


def source_line(connector: Connector) -> str:
    """The report's "Source": the meeting, and how its students were told (`Connector.informed_by`)."""
    return f"{connector.description}; students informed by {connector.informed_by}"[:500]


class LiveSession:
    def __init__(self, connector: Connector, config: Config, store: Store, *,
                 session_id: str | None = None, class_name: str = "Live class", teacher: str = "",
                 analyze_factory: Callable[[], Analyze] | None = None, render: Render | None = render_reports,
                 max_duration_s: float | None = None, out_dir: str | Path | None = None,
                 clock: Callable[[], float] = time.monotonic, guard: Guard | None = None,
                 t_offset: float = 0.0, returning: Sequence[Participant] = (),
                 not_measured: Callable[[str], bool] | None = None, attempt: int = 0) -> None:
        """`guard` fences every store write (the runner's attempt check); `t_offset` and `returning`
        continue an earlier attempt: observation times go on from the offset, and students who
        were there before keep their participant ids when they come back; `attempt` tags the rows.
        `not_measured(name)` says a display name is certainly an opted-out roster student: they are
        listed as opted out and none of their observations is stored."""
        s = config.session
        self.connector = connector
        self.config = config
        self.store = store
        self.session_id = session_id or new_session_id()
        self.class_name = class_name
        self.teacher = teacher
        self.policy = LeavePolicy(empty_timeout_s=s.empty_timeout_s, nobody_timeout_s=s.nobody_timeout_s,
                                  max_duration_s=min(s.max_duration_s, max_duration_s or s.max_duration_s),
                                  media_timeout_s=s.media_timeout_s)
        self.lifecycle = Lifecycle()
        self.roster = Roster()
        self.roster.restore((p.participant_id, p.display_name) for p in returning)
        self._not_measured = not_measured
        self._opted_out = {p.participant_id for p in returning if p.opted_out}
        self._t_offset = t_offset
        self._resumed = bool(t_offset or returning)
        self.superseded = False
        self._side: set[asyncio.Task[None]] = set()
        self.sampler: Sampler | None = None
        self.presence: Presence | None = None
        self.reconnects = 0
        self._received: dict[str, Any] | None = None
        self._sampling = ""  # how the class is sampled as configured (set on joining; the report's line)
        self.out_dir = Path(out_dir or config.reports.out_dir) / self.session_id
        self._analyze_factory = analyze_factory or analyzer_factory(config)
        self._render = render
        self._clock = clock
        self._leave = asyncio.Event()
        self.in_class = asyncio.Event()  # set once the bot is in the meeting and sampling
        self._leave_reason: LeaveReason | None = None
        self._video_feed: dict[str, str] = {}  # participant id → feed id whose video is sampled
        self._infer = ThreadPoolExecutor(1, thread_name_prefix="classpulse-infer")
        self._io = ThreadPoolExecutor(1, thread_name_prefix="classpulse-store")
        self._buffer = ObservationBuffer(store, flush_s=config.store.flush_s, guard=guard,
                                         attempt=attempt)
        self.reports: list[Path] = []
        self.report_error = ""
        self._delete_data = False  # see `discard_data`
        self.data_deleted = False

    @property
    def state(self) -> State:
        return self.lifecycle.state

    def request_leave(self, reason: LeaveReason = LeaveReason.REQUESTED) -> None:
        """Ask the bot to leave (idempotent; the first reason wins). Safe before joining ends."""
        if self._leave_reason is None:
            self._leave_reason = reason
        self._leave.set()

    def discard_data(self, why: str) -> None:
        """Leave and delete everything collected for this class instead of storing it.

        For a platform that withdraws consent (Zoom RTMS stop reason 8, "stream revoked:
        assets must be deleted immediately"): buffered observations, the participants and the
        session row are deleted as soon as the bot is out, and no report is rendered.
        """
        log.warning("session %s: deleting its data: %s", self.session_id, why)
        self._delete_data = True
        self.request_leave(LeaveReason.MEETING_ENDED)

    def progress(self) -> dict[str, Any]:
        st = self.sampler.stats if self.sampler else None
        return {
            "state": self.state.value,
            "elapsed_s": self.sampler.now() if self.sampler else 0.0,
            "present": len(self.roster.present()),
            "students": len(self.roster.all()),
            "samples": st.samples if st else 0,
            "dropped": st.dropped if st else 0,
            "deferred": st.deferred if st else 0,
            # set only while over capacity (every student sampled less often than configured)
            "interval_s": self.sampler.slowed_interval(st.effective_interval_s) if self.sampler and st else None,
            "received": self.sampler.received() if self.sampler else None,
            "latency_p95_s": st.latency(0.95) if st else None,
            "reconnects": self.reconnects,
            # the analysis process died and was restarted this often (face ids restart each time)
            "analysis_restarts": st.analysis_restarts if st else 0,
        }

    # -- the lifecycle ---------------------------------------------------------------------
    async def run(self) -> SessionResult:
        loop = asyncio.get_running_loop()
        try:
            self.lifecycle.to(State.JOINING)
            warm = loop.run_in_executor(self._infer, self._analyze_factory)
            if not await self._join():
                with contextlib.suppress(Exception):
                    close_analyzer(await warm)  # an analysis process must not outlive a failed join
                return self._result()
            try:
                analyze = await warm
            except Exception as exc:
                log.exception("could not start the analyser")
                await self._quit_meeting()
                self.lifecycle.fail(FailureReason.INTERNAL, f"analyser failed to start: {exc}")
                return self._result()
            await self._in_class(analyze)
            await self._process()
            return self._result()
        finally:
            await self._close_executors()

    async def _join(self) -> bool:
        """Join, racing the join timeout and a leave request; False when the session failed."""
        timeout = self.config.session.join_timeout_s
        join = asyncio.ensure_future(self.connector.join())
        leave = asyncio.ensure_future(self._leave.wait())
        done, _ = await asyncio.wait({join, leave}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        leave.cancel()
        if join not in done:
            join.cancel()
            await asyncio.gather(join, return_exceptions=True)
            if leave in done:
                self.lifecycle.fail(FailureReason.CANCELLED, "asked to leave before class started")
            else:
                self.lifecycle.fail(FailureReason.NOT_ADMITTED,
                                    f"the meeting did not let the bot in within {timeout:g} s")
        elif isinstance(join.exception(), ConnectorError):
            err = join.exception()
            assert isinstance(err, ConnectorError)
            self.lifecycle.fail(err.reason, err.detail)
        elif join.exception() is not None:
            log.error("joining failed", exc_info=join.exception())
            self.lifecycle.fail(FailureReason.INTERNAL, f"joining failed: {join.exception()!r}")
        if self.lifecycle.state is State.FAILED:
            await self._quit_meeting()
            return False
        return True

    async def _in_class(self, analyze: Analyze) -> None:
        loop = asyncio.get_running_loop()
        a = self.config.analysis
        model_version, settings = run_settings(self.config)
        describe = getattr(getattr(analyze, "__self__", None), "describe", None)
        if describe is not None:  # the real analyser says what it reads with (model version, framing, threshold)
            try:
                described = await loop.run_in_executor(self._infer, describe)
                model_version = str(described.get("model_version", model_version if a.emotions else ""))
                settings = json.dumps(described, sort_keys=True, default=str)
            except Exception:
                log.exception("could not describe the analyser; recording the configured settings")
        # A connector that cannot watch everyone at once (Zoom RTMS rotates one individual
        # stream) describes its own sampling; the report states it.
        self._sampling = (getattr(self.connector, "sampling", "")
                          or f"1 frame per student every {a.sample_interval_s:g} s")
        info = SessionInfo(
            session_id=self.session_id, class_name=self.class_name, teacher=self.teacher,
            started_at=datetime.now(UTC).replace(microsecond=0).isoformat(), emotions_enabled=a.emotions,
            sampling=self._sampling,
            source=source_line(self.connector), model_version=model_version, settings=settings)
        await loop.run_in_executor(self._io, self.store.ensure_session, info)
        self.lifecycle.to(State.IN_CLASS)
        self.in_class.set()
        self.presence = Presence(in_class_since=self._clock())
        self.sampler = Sampler(self.session_id, analyze, self._deliver, self._infer,
                               interval_s=a.sample_interval_s,
                               stale_after_s=self.config.session.stale_frame_s,
                               pending_s=self.config.session.media_timeout_s, clock=self._clock,
                               t_offset=self._t_offset)
        events = asyncio.ensure_future(self._consume())
        ticking = asyncio.ensure_future(self.sampler.run())
        beating = asyncio.ensure_future(self._heartbeat())
        try:
            reason = await self._wait_for_leave()
        finally:
            self.lifecycle.to(State.LEAVING)
            beating.cancel()
            self._received = self.sampler.received()  # what the class sent, before the tracks stop
            await self.sampler.stop()  # first: leaving stops tracks, which must not read as camera off
            ticking.cancel()
            await self._quit_meeting()
            events.cancel()
            await asyncio.gather(events, ticking, beating, return_exceptions=True)
        self._leave_reason = reason
        log.info("session %s leaving: %s", self.session_id, reason.value)

    async def _wait_for_leave(self) -> LeaveReason:
        assert self.presence is not None and self.sampler is not None
        check_s = min(0.25, self.config.analysis.sample_interval_s)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._leave.wait(), check_s)
            if self._leave.is_set():
                return self._leave_reason or LeaveReason.REQUESTED
            self.presence.frames = self.sampler.stats.frames
            self.presence.update(self._clock(), len(self.roster.present()))
            reason = leave_reason(self.policy, self.presence, self._clock())
            if reason is not None:
                return reason

    async def _heartbeat(self) -> None:
        """Flush (and so run the fence) every flush interval, even when no sample arrives."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.store.flush_s)
            try:
                await loop.run_in_executor(self._io, self._buffer.flush)
            except Superseded as exc:
                self._on_superseded(exc)
                return
            except Exception:
                log.exception("flushing observations of %s failed", self.session_id)

    def _on_superseded(self, exc: Superseded) -> None:
        if not self.superseded:
            log.warning("session %s: %s; this process stops", self.session_id, exc)
        self.superseded = True
        self.request_leave(LeaveReason.SUPERSEDED)

    async def _process(self) -> None:
        loop = asyncio.get_running_loop()
        reason = self._leave_reason or LeaveReason.REQUESTED
        if self.superseded:  # another process runs the class now: write nothing more
            self.lifecycle.fail(FailureReason.CANCELLED, "superseded by a newer attempt")
            return
        if self._delete_data:
            await self._delete_collected()
            return
        try:
            await loop.run_in_executor(self._io, self._buffer.close)
            ended = datetime.now(UTC).replace(microsecond=0).isoformat()
            await loop.run_in_executor(self._io, self._store_end, ended)
        except Superseded as exc:
            self._on_superseded(exc)
            self.lifecycle.fail(FailureReason.CANCELLED, "superseded by a newer attempt")
            return
        except Exception as exc:
            log.exception("could not store the end of session %s", self.session_id)
            self.lifecycle.fail(FailureReason.INTERNAL, f"store failed: {exc}")
            return
        if reason in FAILING:
            self.lifecycle.fail(FAILING[reason], self._failure_detail(reason))
            return
        self.lifecycle.to(State.PROCESSING)
        if self._render is not None:
            render = self._render
            try:
                self.reports = await loop.run_in_executor(
                    self._io, lambda: render(self.store, self.session_id, self.out_dir,
                                             self.config.reports.formats, self.config.reports.paper.lower()))
            except Exception as exc:  # the data is safe in the store: `classpulse report` can retry
                log.exception("report rendering failed for %s", self.session_id)
                self.report_error = f"{type(exc).__name__}: {exc}"
        self.lifecycle.to(State.DONE)

    async def _delete_collected(self) -> None:
        """`discard_data`: nothing of this class stays in the store or on disk."""
        loop = asyncio.get_running_loop()

        def purge() -> None:
            import shutil

            self._buffer.close()  # flush first so that no late write survives the delete
            self.store.delete_session(self.session_id)
            shutil.rmtree(self.out_dir, ignore_errors=True)

        try:
            await loop.run_in_executor(self._io, purge)
        except Exception as exc:
            log.exception("could not delete the revoked data of session %s", self.session_id)
            self.lifecycle.fail(FailureReason.INTERNAL, f"revoked data could not be deleted: {exc}")
            return
        self.data_deleted = True
        self.lifecycle.to(State.PROCESSING)
        self.lifecycle.to(State.DONE)

    def _failure_detail(self, reason: LeaveReason) -> str:
        if reason is LeaveReason.NOBODY_JOINED:
            return f"no student joined within {self.policy.nobody_timeout_s:g} s"
        return (f"no video arrived from any student within {self.policy.media_timeout_s:g} s "
                "(ICE/network failure between the bot and the meeting?)")

    # -- events ----------------------------------------------------------------------------
    async def _consume(self) -> None:
        async for event in self.connector.events():
            try:
                await self._on_event(event)
            except Exception:  # one bad event must not end the class
                log.exception("error handling %r", event)
        if self.lifecycle.state is State.IN_CLASS:
            self.request_leave(LeaveReason.MEETING_ENDED)

    async def _on_event(self, event: ConnectorEvent) -> None:
        if isinstance(event, Joined):
            await self._on_joined(event)
        elif isinstance(event, VideoOn):
            self._on_video(event)
        elif isinstance(event, VideoOff | Left):
            self._on_gone(event)
        elif isinstance(event, Reconnecting):
            self.reconnects += 1
            log.warning("session %s: meeting connection lost, reconnecting (%d so far)", self.session_id,
                        self.reconnects)
            if self.sampler is not None:
                self.sampler.signal_lost = True
            log.warning("meeting connection lost, reconnecting: %s", event.detail)
        elif isinstance(event, Reconnected):
            if self.sampler is not None:
                self.sampler.signal_lost = False
            log.info("meeting connection restored")
        elif isinstance(event, Closed) and event.delete_data:
            self.discard_data(event.detail)
        elif isinstance(event, Closed):
            ended = event.reason is None
            self.request_leave(LeaveReason.MEETING_ENDED if ended else LeaveReason.CONNECTION_LOST)
            log.warning("meeting closed: %s", event.detail)

    async def _on_joined(self, event: Joined) -> None:
        assert self.sampler is not None
        student, new = self.roster.joined(event.feed_id, event.display_name)
        self.sampler.join(student.participant_id, video_expected=event.video_expected)
        if new:
            opted = self._not_measured is not None and self._not_measured(student.display_name)
            if opted:
                self._opted_out.add(student.participant_id)
            p = Participant(self.session_id, student.participant_id, student.display_name, opted_out=opted)
            await asyncio.get_running_loop().run_in_executor(self._io, self.store.upsert_participant, p)
        log.info("%s joined (%s, feed %s)", student.display_name, student.participant_id, event.feed_id)

    def _on_video(self, event: VideoOn) -> None:
        assert self.sampler is not None
        student = self.roster.student(event.feed_id)
        if student is None:
            log.warning("video from unknown feed %s ignored", event.feed_id)
            return
        self._video_feed[student.participant_id] = event.feed_id
        self.sampler.video_on(student.participant_id, event.track)
        if self.presence is not None and self.presence.video_since is None:
            self.presence.video_since = self._clock()

    def _on_gone(self, event: VideoOff | Left) -> None:
        """Camera off or feed gone; a student with another live feed stays present."""
        assert self.sampler is not None
        left = isinstance(event, Left)
        student = self.roster.left(event.feed_id) if left else self.roster.student(event.feed_id)
        if student is None:
            return
        pid = student.participant_id
        if self._video_feed.get(pid) == event.feed_id:
            del self._video_feed[pid]
            self.sampler.video_off(pid, fault=isinstance(event, VideoOff) and event.fault)
        if left and not student.present:
            self.sampler.leave(pid)
            mark = Observation(self.session_id, pid, round(self.sampler.now(), 3), ObsState.LEFT)
            task = asyncio.ensure_future(self._deliver([mark]))  # "left at …" in the report
            self._side.add(task)
            task.add_done_callback(self._side.discard)
            log.info("%s left", student.display_name)

    async def _deliver(self, observations: list[Observation]) -> None:
        if self.superseded:
            return
        sizes = face_widths(observations, self._video_feed)
        if sizes:
            try:
                self.connector.face_sizes(sizes)
            except Exception:  # a quality request must never cost the observations
                log.exception("choosing the stream quality failed")
        if self._opted_out:  # opted-out roster students are never stored
            observations = [o for o in observations if o.participant_id not in self._opted_out]
        try:
            await asyncio.get_running_loop().run_in_executor(self._io, self._buffer.add, observations)
        except Superseded as exc:
            self._on_superseded(exc)

    # -- teardown --------------------------------------------------------------------------
    async def _quit_meeting(self) -> None:
        try:
            await asyncio.wait_for(self.connector.leave(), 10)
        except Exception:
            log.exception("leaving the meeting failed")

    async def _close_executors(self) -> None:
        loop = asyncio.get_running_loop()
        if self.lifecycle.state is State.FAILED and self.sampler is None:
            for ex in (self._infer, self._io):  # never got in: do not wait for the model to finish loading
                ex.shutdown(wait=False, cancel_futures=True)
            return
        for ex in (self._infer, self._io):
            await loop.run_in_executor(None, ex.shutdown)

    def _slowed_to(self) -> float | None:
        """The slowest sampling interval of the class when it was over capacity, else None."""
        return self.sampler.slowed_interval(self.sampler.stats.slowest_interval_s) if self.sampler else None

    def _store_end(self, ended: str) -> None:
        """The end time, and the sampling line completed with how the class really ran (store thread)."""
        slowed = self._slowed_to()
        fields = {"ended_at": ended}
        if slowed is not None or (self._received or {}).get("students"):
            fields["sampling"] = sampling_note(self._sampling, slowed, self._received)
        self.store.update_session(self.session_id, **fields)

    def _result(self) -> SessionResult:
        st = self.sampler.stats if self.sampler else None
        return SessionResult(
            session_id=self.session_id, state=self.state, failure=self.lifecycle.failure,
            detail=self.lifecycle.detail, leave_reason=self._leave_reason, reports=list(self.reports),
            report_error=self.report_error, students=len(self.roster.all()),
            samples=st.samples if st else 0, dropped=st.dropped if st else 0,
            deferred=st.deferred if st else 0, slowest_interval_s=self._slowed_to(),
            received=self._received,
            superseded=self.superseded,
            in_class=self.sampler is not None, data_deleted=self.data_deleted)
