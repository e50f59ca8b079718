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
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from analysis.store import Store
from bot.service.live_timeline import LiveSettings, LiveTimeline
from bot.service.live_view import RosterEntry, carry_since, class_pulse, counts, tiles
from bot.sessions.live import LiveSession


@dataclass
class _Feed:
    timeline: LiveTimeline
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last: dict[str, Any] | None = None
    at: float = float("-inf")  # loop time of `last`
    since: dict[str, tuple[str, float]] = field(default_factory=dict)  # tile states' starts


class LiveFeeds:
    def __init__(self, settings: LiveSettings, *, lag_s: float, emotions: bool, reuse_s: float) -> None:
        self.settings = settings
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
        shown = tiles(roster, recent, now, window)
        feed.since = carry_since(shown, feed.since, now)
        pulse = class_pulse(recent, [e.name for e in roster if e.present], progress, window)
        if not self.emotions:  # emotions off: not even the word
            pulse.pop("mood")
        return pulse | {"tiles": shown, "counts": counts(shown)} | feed.timeline.snapshot()
