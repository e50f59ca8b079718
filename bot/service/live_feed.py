"""One live feed per running session: reads the store at each pulse and keeps the timeline.

Every viewer's SSE loop asks for a pulse once a second; the feed of a session computes it
at most once per `reuse_s` (a lock makes concurrent viewers wait for the same read) and
reads only what it has not evaluated yet: the last `window_s` for the tiles and the
header, the windows completed since the last pulse for the chart, and the whole chart
span only on the first pulse. Feeds of sessions that stopped running are dropped. Reading
and computing run on a worker thread: the same event loop samples the running classes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any

from analysis.store import Store
from bot.db.store import ServiceStore
from bot.service.live_timeline import LiveSettings, LiveTimeline
from bot.service.live_view import (
    Expected,
    RosterEntry,
    carry_since,
    class_pulse,
    counts,
    not_arrived,
    roster_names,
    tiles,
)
from bot.sessions.live import LiveSession
from bot.sessions.roster_session import as_students, snapshot_students

#: How often a feed re-reads who its session expected (opt-outs and confirmations change it).
EXPECTED_REFRESH_S = 30.0


def expected_of(db: ServiceStore, session_id: str) -> Expected | None:
    """The roster students a running session expected at its start (`session_rosters`), minus
    those opted out or removed from the roster since, with aliases, e-mails and the teacher's
    confirmations for matching; None when the session had no roster."""
    snapshot = db.rosters.session_roster(session_id)
    if snapshot is None:
        return None
    expected = dict(snapshot_students(snapshot))
    current = {r.roster_student_id: r for r in db.rosters.roster(snapshot.class_id)}
    students = [s for s in as_students(current.values()) if s.student_id in expected  # not removed since
                and not current[s.student_id].opted_out]
    confirmed, _ = db.rosters.decisions(snapshot.class_id)
    return Expected(tuple(sorted(students, key=lambda s: (s.name.casefold(), s.student_id))),
                    sees_everyone=snapshot.sees_everyone, confirmed=tuple(sorted(confirmed.items())))


@dataclass
class _Feed:
    timeline: LiveTimeline
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last: dict[str, Any] | None = None
    at: float = float("-inf")  # loop time of `last`
    since: dict[str, tuple[str, float]] = field(default_factory=dict)  # tile states' starts
    expected: Expected | None = None
    expected_at: float = float("-inf")  # monotonic time `expected` was read


class LiveFeeds:
    def __init__(self, settings: LiveSettings, *, lag_s: float, emotions: bool, reuse_s: float,
                 expected: Callable[[str], Expected | None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.expected = expected  # session id → who it expected (`expected_of`, read on the worker thread)
        self.clock = clock
        self.lag_s = settings.lag_s if settings.lag_s is not None else lag_s
        self.emotions = emotions
        self.kinds: tuple[Any, ...] = ("looked_away", "negative") if emotions else ("looked_away",)
        self.reuse_s = reuse_s
        self._feeds: dict[str, _Feed] = {}

    def _feed(self, session_id: str) -> _Feed:
        feed = self._feeds.get(session_id)
        if feed is None:
            s = self.settings
            feed = self._feeds[session_id] = _Feed(LiveTimeline(s.chart_window_s, s.history_s, self.lag_s,
                                                                kinds=self.kinds))
        return feed

    def prune(self, running: Collection[str]) -> None:
        for sid in [sid for sid in self._feeds if sid not in running]:
            del self._feeds[sid]

    async def pulse(self, store: Store, live: LiveSession) -> dict[str, Any]:
        """The session's pulse now: header numbers, tiles, chart and the latest class moment."""
        feed = self._feed(live.session_id)
        loop = asyncio.get_running_loop()
        async with feed.lock:
            if feed.last is not None and loop.time() - feed.at < self.reuse_s:
                return feed.last
            progress = live.progress()  # the session's state is read on the loop that changes it
            roster = [RosterEntry(s.participant_id, s.display_name, s.present) for s in live.roster.all()]
            work = loop.run_in_executor(None, self._build, feed, store, live.session_id, progress, roster)
            try:
                feed.last = await asyncio.shield(work)
            except asyncio.CancelledError:  # the viewer left: hold the lock until the worker is done with
                await asyncio.wait({work})  # the timeline, so that no other pulse changes it meanwhile
                raise
            feed.at = loop.time()
            return feed.last

    def _build(self, feed: _Feed, store: Store, session_id: str, progress: dict[str, Any],
               roster: list[RosterEntry]) -> dict[str, Any]:
        """Read and compute off the event loop (the first pulse scores 10 minutes of a class)."""
        now = float(progress["elapsed_s"])
        window = self.settings.window_s
        since = max(0.0, min(feed.timeline.read_since(now), now - window))
        obs = store.observations(session_id, since_t=since)
        feed.timeline.update(obs, now)
        recent = [o for o in obs if o.t >= now - window]
        if self.expected is not None and self.clock() - feed.expected_at >= EXPECTED_REFRESH_S:
            feed.expected, feed.expected_at = self.expected(session_id), self.clock()
        missing: list[dict[str, Any]] = []
        if feed.expected:
            names = [e.name for e in roster]
            missing = not_arrived(feed.expected, names)
            shown_as = roster_names(feed.expected, names)  # "Alex Kim (as “Lexi”)"
            roster = [replace(e, name=shown_as.get(e.name, e.name)) for e in roster]
        shown = tiles(roster, recent, now, window, missing)
        feed.since = carry_since(shown, feed.since, now)
        pulse = class_pulse(recent, [e.name for e in roster if e.present], progress, window)
        if not self.emotions:  # emotions off: not even the word
            pulse.pop("mood")
        return pulse | {"tiles": shown, "counts": counts(shown)} | feed.timeline.snapshot()
