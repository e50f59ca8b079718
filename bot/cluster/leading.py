"""What the scheduler's leader does in a cluster `serve`: run APScheduler, sweep, pick up new schedules.

`lead_the_cluster` campaigns for the leader's advisory lock (`bot.cluster.leader`) for as
long as the service runs. Elected, it starts the `ScheduleRunner` (which only enqueues:
its session runner is a `QueuedSessions`), the cluster sweep, and every sweep round
`ScheduleRunner.sync`, so a schedule written through another node gets its job. Deposed
(its lock connection lost), it stops them again; a standby reports itself ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import procrastinate

from bot.cluster import sweep
from bot.cluster.jobqueue import conninfo
from bot.cluster.leader import Leadership
from bot.config import Config
from bot.db.store import ServiceStore
from bot.service.schedules import ScheduleRunner
from bot.sessions.runner import SessionRunner

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def lead_the_cluster(config: Config, queue: procrastinate.App, db: ServiceStore, schedules: ScheduleRunner,
                           sessions: SessionRunner, start: Callable[[], Awaitable[None]]) -> AsyncIterator[Leadership]:
    c = config.cluster
    side: list[asyncio.Future[None]] = []

    async def housekeeping() -> None:
        while True:
            try:
                added, removed = schedules.sync()
                if added or removed:
                    log.info("schedules synced: %d job(s) added, %d removed", added, removed)
            except Exception:
                log.exception("schedule sync failed")
            await asyncio.sleep(c.sweep_s)

    async def elected() -> None:
        schedules.standby = False
        await start()
        side.append(asyncio.ensure_future(housekeeping()))
        side.append(asyncio.ensure_future(sweep.sweep_forever(
            queue, db, every_s=c.sweep_s, stalled_after_s=c.stalled_after_s,
            join_timeout_s=config.session.join_timeout_s, fail=sessions.fail, now=lambda: datetime.now(UTC))))

    async def deposed() -> None:
        for task in side:
            task.cancel()
        for task in side:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        side.clear()
        schedules.stop()
        schedules.standby = True

    schedules.standby = True
    leadership = Leadership(conninfo(config.store.url), elected, deposed, poll_s=c.leader_poll_s,
                            name=f"{socket.gethostname()}:{os.getpid()}")
    campaign = asyncio.ensure_future(leadership.run())
    try:
        yield leadership
    finally:
        campaign.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await campaign
