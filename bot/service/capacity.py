"""How many bots may run at once: per teacher and for the whole service.

Each live session holds an analyser, a worker thread and its students' decoders; 12 at
once on a 2-core machine starved all of them, and a burst of failing starts pushed the
process past 1.7 GB. `session.max_concurrent` and `session.max_concurrent_per_teacher`
bound that; a start over a limit is refused at once with 429 and ``Retry-After``.

The check must hold under concurrent requests: starting a bot awaits the store before
the session shows up as running, so `CapacityGate.reserve` counts a start as running
from the moment it passes the check (synchronously, on the event loop) until it is
registered or has failed. The service store will keep the same counts in the database
once several API nodes share it.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

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


@dataclass
class CapacityGate:
    """Counts starts in progress, so concurrent requests cannot all pass the same check."""

    limits: Limits
    starting: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def reserve(self, running_owners: Iterable[str], owner: str) -> Iterator[None]:
        """Hold a place for `owner` while the start runs; CapacityExceeded when there is none."""
        found = refusal([*running_owners, *self.starting], owner, self.limits)
        if found is not None:
            raise CapacityExceeded(found)
        self.starting.append(owner)
        try:
            yield
        finally:
            self.starting.remove(owner)
