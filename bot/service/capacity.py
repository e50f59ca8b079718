"""How many bots may run at once: per teacher and for the whole service.

Each live session holds an analyser, a worker thread and its students' decoders; 12 at
once on a 2-core machine starved all of them, and a burst of failing starts pushed the
process past 1.7 GB. `session.max_concurrent` and `session.max_concurrent_per_teacher`
bound that; a start over a limit is refused at once with 429 and ``Retry-After``.

The check must hold under concurrent requests and across API nodes: starting a bot awaits
the store before the session row is open, so `reserve` holds a place in the database from
the moment the start passes the check until it has its session row or has failed
(`bot.db.service_state.DbCapacity`: open sessions of every node + holds, checked under a
lock row). Nothing here counts in memory: a second node sees the same numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Protocol

RETRY_AFTER_S = 60


@dataclass(frozen=True)
class Limits:
    max_concurrent: int
    max_concurrent_per_teacher: int


@dataclass(frozen=True)
class Refusal:
    message: str
    retry_after_s: int = RETRY_AFTER_S


def refusal(running_owners: Iterable[str], owner: str, limits: Limits) -> Refusal | None:
    """Why a new session for `owner` may not start now, or None. Pure: `running_owners` has one
    entry per running (or starting) session."""
    owners = list(running_owners)
    if len(owners) >= limits.max_concurrent:
        return Refusal(f"the service already runs {len(owners)} sessions (session.max_concurrent = "
                       f"{limits.max_concurrent}); try again when one has ended")
    mine = Counter(owners)[owner]
    if mine >= limits.max_concurrent_per_teacher:
        return Refusal(f"{owner} already has {mine} running sessions (session.max_concurrent_per_teacher = "
                       f"{limits.max_concurrent_per_teacher}); end one first")
    return None


class CapacityExceeded(Exception):
    def __init__(self, found: Refusal) -> None:
        super().__init__(found.message)
        self.refusal = found


class Capacity(Protocol):
    """Where the counts live (`DbCapacity`): `hold` checks and reserves, `release` gives it back."""

    def hold(self, owner: str) -> str: ...

    def release(self, hold_id: str) -> None: ...


@contextlib.asynccontextmanager
async def reserve(capacity: Capacity, owner: str) -> AsyncIterator[None]:
    """Hold a place for `owner` while the start runs; CapacityExceeded when there is none."""
    loop = asyncio.get_running_loop()
    hold_id = await loop.run_in_executor(None, capacity.hold, owner)
    try:
        yield
    finally:
        await loop.run_in_executor(None, capacity.release, hold_id)
