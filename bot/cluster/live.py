"""Live progress across machines: workers NOTIFY, `serve` nodes LISTEN (PostgreSQL's own pub/sub).

A worker publishes, every `cluster.live_s`, one message per running class on the channel
`classpulse_live`: the session's progress (state, elapsed, students, samples, …) and the
names of the students present now. Each `serve` keeps the latest message per session from a
dedicated listening connection (`LiveFeed`), so the API's `live` numbers and the dashboard's
live view work on any node. The observations themselves are read from the shared store as
before. A message older than three intervals is stale (the worker may be gone) and not shown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg

from bot.sessions.runner import SessionRunner

log = logging.getLogger(__name__)

CHANNEL = "classpulse_live"
MAX_NAMES = 200  # NOTIFY payloads must stay under 8000 bytes


def message(session_id: str, progress: dict[str, Any], present: list[str]) -> str:
    return json.dumps({"session_id": session_id, **progress, "present_names": present[:MAX_NAMES]})


def snapshot(runner: SessionRunner) -> list[str]:
    """This worker's messages: one per class in the meeting (not while joining)."""
    out = []
    for sid, running in list(runner.running.items()):
        live = running.live
        if live is None or not live.in_class.is_set():
            continue
        out.append(message(sid, live.progress(), [s.display_name for s in live.roster.present()]))
    return out


async def publish_forever(conninfo: str, runner: SessionRunner, every_s: float) -> None:
    """The worker's side: NOTIFY the progress of its classes every `every_s` until cancelled."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                while True:
                    for payload in snapshot(runner):
                        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                    await asyncio.sleep(every_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("live progress: publishing failed (%s); retrying", exc)
            await asyncio.sleep(every_s)


class LiveFeed:
    """The `serve` side: the latest progress per session, from LISTEN on a dedicated connection."""

    def __init__(self, conninfo: str, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.conninfo = conninfo
        self.max_age_s = 3 * every_s
        self.clock = clock
        self.latest: dict[str, tuple[float, dict[str, Any]]] = {}

    def take(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            sid = str(data.pop("session_id"))
        except (ValueError, KeyError, AttributeError, TypeError):
            log.warning("live progress: ignoring a malformed message")
            return
        self.latest[sid] = (self.clock(), data)

    def get(self, session_id: str) -> dict[str, Any] | None:
        found = self.latest.get(session_id)
        if found is None:
            return None
        at, data = found
        if self.clock() - at > self.max_age_s:
            self.latest.pop(session_id, None)
            return None
        return data

    async def run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for note in conn.notifies():
                        self.take(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live progress: listening failed (%s); retrying", exc)
                await asyncio.sleep(1.0)
