"""The periodic sweep: dead workers' classes back to the queue, classes no worker took fail visibly.

Both halves use the engine's own records. A worker that stops heartbeating (SIGKILL, a
machine gone, cut off from the database, or only stopped) is found by procrastinate's
`get_stalled_jobs(seconds_since_heartbeat=…)`; `retry_job` puts each of its classes back
in the queue, keeping the class lock, so another worker takes it over and continues the
same session in a new attempt (`SessionRunner.adopt`; the old attempt, if its process was
only slow, is fenced at its next flush). A class still ``queued`` (no attempt yet) after
`session.join_timeout_s` had no worker with room: its waiting job is cancelled (only one
sweeper can win that) and the session fails as ``no_capacity``, which tells its owner.

Every worker and the scheduler's leader run the sweep; running it twice at once is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import procrastinate

from bot.cluster.jobqueue import QUEUE, TASK
from bot.db.records import SessionRecord
from bot.db.store import ServiceStore

log = logging.getLogger(__name__)

Fail = Callable[[SessionRecord, str, str], Awaitable[object]]

_JOBS_OF_SESSION = """
SELECT id, status FROM procrastinate_jobs
 WHERE task_name = %(task)s AND args->>'session_id' = %(session_id)s AND status IN ('todo', 'doing')
"""


async def retry_stalled(app: procrastinate.App, stalled_after_s: float) -> list[int]:
    """Re-queue the classes of workers silent for `stalled_after_s`; returns the job ids re-queued."""
    manager = app.job_manager
    stalled = await manager.get_stalled_jobs(task_name=TASK, seconds_since_heartbeat=stalled_after_s)
    retried = []
    for job in stalled:
        try:
            await manager.retry_job(job)
        except procrastinate.exceptions.ConnectorException:  # another sweeper re-queued it first
            continue
        assert job.id is not None
        retried.append(job.id)
        # procrastinate announces only new jobs; this wakes idle workers now instead of at their next poll
        await app.connector.execute_query_async(
            "SELECT pg_notify(%(channel)s, %(payload)s)", channel=f"procrastinate_queue_v1#{QUEUE}",
            payload=json.dumps({"type": "job_inserted", "job_id": job.id}))
        log.warning("worker %s stalled: class job %d (session %s) re-queued for takeover", job.worker_id,
                    job.id, job.task_kwargs.get("session_id"))
    await manager.prune_stalled_workers(stalled_after_s)
    return retried


def unplaced(db: ServiceStore, now: datetime, join_timeout_s: float) -> list[SessionRecord]:
    """Sessions still waiting for their first worker longer than `join_timeout_s`."""
    limit = now - timedelta(seconds=join_timeout_s)
    return [r for r in db.open_sessions()
            if r.state == "queued" and r.attempt == 0 and datetime.fromisoformat(r.created_at) <= limit]


async def fail_unplaced(app: procrastinate.App, db: ServiceStore, now: datetime, join_timeout_s: float,
                        fail: Fail) -> list[str]:
    """Fail as ``no_capacity`` every class no worker took within `join_timeout_s`; returns their session ids."""
    loop = asyncio.get_running_loop()
    failed = []
    for record in await loop.run_in_executor(None, unplaced, db, now, join_timeout_s):
        rows = await app.connector.execute_query_all_async(_JOBS_OF_SESSION, task=TASK,
                                                           session_id=record.session_id)
        if any(r["status"] == "doing" for r in rows):
            continue  # a worker has just taken it
        cancelled = [await app.job_manager.cancel_job_by_id_async(r["id"]) for r in rows]
        if rows and not any(cancelled):
            continue  # taken between the two queries
        await fail(record, "no_capacity",
                   f"no worker had room for this class within {join_timeout_s:g} s (session.join_timeout_s)")
        failed.append(record.session_id)
        log.error("session %s (class %s): no worker had room: failed as no_capacity", record.session_id,
                  record.class_id or "-")
    return failed


async def sweep_forever(app: procrastinate.App, db: ServiceStore, *, every_s: float, stalled_after_s: float,
                        join_timeout_s: float, fail: Fail, now: Callable[[], datetime]) -> None:
    """Run both sweeps every `every_s` until cancelled; a failed round is logged and the next one runs."""
    while True:
        try:
            await retry_stalled(app, stalled_after_s)
            await fail_unplaced(app, db, now(), join_timeout_s, fail)
        except Exception:
            log.exception("cluster sweep failed; trying again in %.0f s", every_s)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.sleep(every_s)
