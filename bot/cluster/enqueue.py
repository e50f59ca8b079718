"""`QueuedSessions`: what `serve` and the scheduler run sessions with when the store is PostgreSQL.

It is a `SessionRunner` that runs no bot itself: `start` records the session as ``queued``
(the database still refuses a second open session per class: `SessionConflict`) and defers
one `classpulse.run_session` job with the class's queue locks; a `classpulse worker` runs
it. `leave` asks the worker through procrastinate's job abort; recovery is the workers'
sweep, not this process's. Everything else (erase, reports, hooks for sessions that fail
before any worker took them) is the runner's own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued

from bot.cluster.jobqueue import TASK, class_lock
from bot.cluster.live import LiveFeed
from bot.db.records import SessionRecord
from bot.sessions.lifecycle import LeaveReason
from bot.sessions.live import new_session_id
from bot.sessions.runner import SessionConflict, SessionRunner, SessionSpec, iso

log = logging.getLogger(__name__)

QUEUED = "queued"

_DOING_JOB = """
SELECT id, status FROM procrastinate_jobs
 WHERE task_name = %(task)s AND args->>'session_id' = %(session_id)s AND status IN ('todo', 'doing')
"""


class QueuedSessions(SessionRunner):
    remote = True

    def __init__(self, *args: Any, queue: procrastinate.App, live: LiveFeed | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = queue
        self.live = live

    def live_numbers(self, session_id: str) -> dict[str, Any] | None:
        """The worker's latest progress of a running class (LISTEN/NOTIFY, `bot.cluster.live`)."""
        found = self.live.get(session_id) if self.live is not None else None
        return {k: v for k, v in found.items() if k != "present_names"} if found is not None else None

    def present_names(self, session_id: str) -> list[str] | None:
        found = self.live.get(session_id) if self.live is not None else None
        return list(found.get("present_names", [])) if found is not None else None

    async def start(self, spec: SessionSpec) -> str:
        """Record the session and put it in the queue; returns its id at once (no bot runs here)."""
        description = self.meetings.validate(spec.meeting_url)
        now = self.now()
        window_end = iso(now + timedelta(seconds=spec.duration_s)) if spec.duration_s else ""
        record = SessionRecord(
            session_id=spec.session_id or new_session_id(), owner=spec.owner, class_name=spec.class_name,
            meeting=description, state=QUEUED, created_at=iso(now), class_id=spec.class_id,
            meeting_url=spec.meeting_url, duration_s=spec.duration_s, window_end=window_end, origin=spec.origin)

        def insert() -> int:
            if spec.session_id and self.db.session(spec.session_id) is not None:
                raise SessionConflict(f"session {spec.session_id} exists already")
            cls = self.db.get_class(spec.class_id) if spec.class_id else None
            self.db.add_session(record)
            return cls.expected_students if cls is not None else 30

        expected = await self._db(insert)
        lock = class_lock(spec.class_id, record.session_id)
        try:
            await self.queue.configure_task(TASK, lock=lock, queueing_lock=lock).defer_async(
                session_id=record.session_id, expected_students=expected, enqueued_at=record.created_at)
        except AlreadyEnqueued:  # a job of this class still waits: the database rule had missed nothing
            await self._db(partial(self.db.update_session, record.session_id, state="failed", failure="conflict",
                                   detail="the class already has a waiting job", ended_at=iso(self.now())))
            raise SessionConflict(f"class {spec.class_id} already has a session waiting for a worker") from None
        log.info("session queued session_id=%s class_id=%s owner=%s origin=%s expected_students=%d",
                 record.session_id, spec.class_id or "-", spec.owner, spec.origin, expected)
        return record.session_id

    def leave(self, session_id: str, reason: LeaveReason = LeaveReason.REQUESTED, *,
              end_stream: bool = False) -> bool:
        """Ask the worker running the session to leave (procrastinate's job abort)."""
        task = asyncio.ensure_future(self._abort(session_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _abort(self, session_id: str) -> None:
        rows = await self.queue.connector.execute_query_all_async(_DOING_JOB, task=TASK, session_id=session_id)
        for row in rows:
            cancelled = await self.queue.job_manager.cancel_job_by_id_async(row["id"], abort=True)
            if cancelled and row["status"] == "todo":  # no worker had it yet: it ends here, never ran
                record = await self._db(partial(self.db.session, session_id))
                if record is not None and not record.final:
                    await self.fail(record, "", "ended before a worker took the class")

    async def recover(self, *, origins: Sequence[str] | None = None,
                      resume: bool | Callable[[SessionRecord], bool] = True) -> list[str]:
        """Nothing to recover here: the workers' sweep re-queues classes of dead workers."""
        return []


