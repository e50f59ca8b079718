"""Exactly one scheduler: leader election with a PostgreSQL advisory lock on a dedicated connection.

Every `serve` of a cluster runs a `Leadership`; the one that holds the session-level advisory
lock `SCHEDULER_LOCK` runs APScheduler (and the cluster sweep), the others wait as standbys
and try again every `cluster.leader_poll_s`. PostgreSQL releases the lock when the holder's
connection ends (a process killed, a machine gone), so a standby takes over within one poll
plus the time the server needs to see the connection gone. The leader checks its connection
every poll and steps down when it does not answer in time: it may then briefly overlap with
a new leader, which is why every trigger's session id is keyed by class and planned start
(the database takes the first and refuses the second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import psycopg

log = logging.getLogger(__name__)

#: "ClSc": the scheduler leader's advisory lock (the migrations use another key).
SCHEDULER_LOCK = 0x436C_5363

Hook = Callable[[], Awaitable[None]]


class Leadership:
    def __init__(self, conninfo: str, on_elected: Hook, on_deposed: Hook, *, poll_s: float = 2.0,
                 key: int = SCHEDULER_LOCK, name: str = "") -> None:
        self.conninfo = conninfo
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.poll_s = poll_s
        self.key = key
        self.name = name
        self.leader = False

    async def run(self) -> None:
        """Campaign, lead, step down, campaign again: until cancelled."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True,
                                                                 connect_timeout=max(2, int(self.poll_s * 2))) as conn:
                    await self._campaign(conn)
                    await self._lead(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("scheduler %s: leadership connection failed (%s); retrying in %.1f s", self.name,
                            exc, self.poll_s)
            await asyncio.sleep(self.poll_s)

    async def _campaign(self, conn: psycopg.AsyncConnection) -> None:
        while True:
            cur = await asyncio.wait_for(conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)), self.poll_s * 2)
            row = await cur.fetchone()
            if row is not None and row[0]:
                return
            await asyncio.sleep(self.poll_s)

    async def _lead(self, conn: psycopg.AsyncConnection) -> None:
        self.leader = True
        log.warning("scheduler %s: elected leader (advisory lock %#x held)", self.name, self.key)
        try:
            await self.on_elected()
            while True:
                await asyncio.sleep(self.poll_s)
                await asyncio.wait_for(conn.execute("SELECT 1"), self.poll_s * 2)
        finally:
            self.leader = False
            log.warning("scheduler %s: no longer the leader", self.name)
            with contextlib.suppress(Exception):
                await self.on_deposed()
