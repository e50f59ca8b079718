"""The live view's memory of the last minutes: class attention per window and class moments.

A `LiveTimeline` is fed the observations of the recent past at every pulse and evaluates
each window of `window_s` seconds once, when it is complete: `lag_s` after its end, so
that observations still in the session's write buffer have reached the store. A complete
window gives one chart point (attentive readings / readings with a known head pose,
pooled over the class, None when nobody's pose could be read) and is checked for a class
moment with the reports' rule (`analysis.classwide`): at least MOMENT_MIN_SHARE of the
students with video, and at least MOMENT_MIN_STUDENTS, looked away (or turned negative)
in the same window, for MOMENT_MIN_WINDOWS windows in a row. The moment is announced when
that run reaches its length (so a banner appears 2 × 10 s after it began, never on one
glance) and ends with the first window that is not a hit.

Pure apart from its own state; the caller (`bot.service.live_feed`) reads the store and
keeps one timeline per running session.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from analysis import aggregate as agg
from analysis import classwide
from analysis.classwide import MomentKind
from analysis.records import Observation, State

#: Present tense: the banner speaks while the moment lasts.
MOMENT_TEXT: dict[MomentKind, str] = {
    "looked_away": "Many students are looking away from the screen or have left the camera",
    "negative": "Many students show negative facial expressions",
}
#: Past tense once it ended (the reports' wording).
MOMENT_TEXT_ENDED: dict[MomentKind, str] = {
    "looked_away": "Many students looked away from the screen or left the camera",
    "negative": "Many students showed negative facial expressions",
}


@dataclass(frozen=True)
class LiveSettings:
    """How the live view looks back: the tiles' window, the chart's windows and its span."""

    window_s: float = 30.0  # the header's attention number and each tile's attention
    chart_window_s: float = 10.0  # one chart point and one moment window (the reports' moment window)
    history_s: float = 600.0  # the chart's span: the last 10 minutes
    lag_s: float | None = None  # None: the store's flush interval plus 1 s

    def __post_init__(self) -> None:
        if min(self.window_s, self.chart_window_s, self.history_s) <= 0 or self.history_s < self.chart_window_s:
            raise ValueError("live view windows must be positive and the history at least one chart window")


@dataclass
class LiveMoment:
    kind: MomentKind
    start_s: float
    n_students: int
    n_with_video: int
    end_s: float | None = None  # None while it lasts

    def as_json(self) -> dict[str, Any]:
        text = (MOMENT_TEXT if self.end_s is None else MOMENT_TEXT_ENDED)[self.kind]
        return {"kind": self.kind, "text": text, "start_s": self.start_s, "end_s": self.end_s,
                "ongoing": self.end_s is None, "n_students": self.n_students, "n_with_video": self.n_with_video}


@dataclass
class _Run:
    first: int  # window index of its first hit
    length: int = 0
    moment: LiveMoment | None = None  # once announced


@dataclass
class LiveTimeline:
    window_s: float
    history_s: float
    lag_s: float
    kinds: tuple[MomentKind, ...] = ("looked_away", "negative")  # emotions off: ("looked_away",)
    points: dict[int, float | None] = field(default_factory=dict)  # window index → class attention
    moments: list[LiveMoment] = field(default_factory=list)
    evaluated: int = -1  # the last window index evaluated
    _runs: dict[MomentKind, _Run] = field(default_factory=dict)

    def complete_until(self, now: float) -> int:
        """The last window index that is complete at class time `now` (-1: none yet)."""
        return math.floor((now - self.lag_s) / self.window_s + 1e-9) - 1

    def read_since(self, now: float) -> float:
        """From what class time the next `update` needs observations."""
        first = max(self.evaluated + 1, math.floor(max(0.0, now - self.history_s) / self.window_s))
        return first * self.window_s

    def update(self, observations: Sequence[Observation], now: float) -> None:
        """Evaluate the windows completed since the last update (observations from `read_since`)."""
        last = self.complete_until(now)
        first = max(self.evaluated + 1, math.floor(max(0.0, now - self.history_s) / self.window_s))
        if last < first:
            return
        origin = first * self.window_s
        shifted = [replace(o, t=o.t - origin) for o in observations
                   if origin <= o.t < (last + 1) * self.window_s]
        scored = agg.score_all(shifted)
        by_pid = agg.windows_of(scored, self.window_s, end=(last + 1 - first) * self.window_s)
        pooled = _pooled_attention(scored, self.window_s)
        for i in range(first, last + 1):
            self.points[i] = pooled.get(i - first)
            self._moments(i, {pid: [ws[i - first]] for pid, ws in by_pid.items()})
        self.evaluated = last
        keep_from = last - round(self.history_s / self.window_s) + 1
        for old in [k for k in self.points if k < keep_from]:
            del self.points[old]

    def _moments(self, i: int, column: dict[str, list[agg.Window]]) -> None:
        hits = {m.kind: m for m in classwide.class_moments(column, min_windows=1)}
        for kind in self.kinds:
            hit = hits.get(kind)
            run = self._runs.get(kind)
            if hit is None:
                if run is not None and run.moment is not None:
                    run.moment.end_s = i * self.window_s
                self._runs.pop(kind, None)
                continue
            if run is not None and run.first + run.length != i:  # a gap in the evaluated windows
                if run.moment is not None:
                    run.moment.end_s = (run.first + run.length) * self.window_s
                run = None
            if run is None:
                run = self._runs[kind] = _Run(first=i)
            run.length += 1
            if run.moment is None and run.length >= classwide.MOMENT_MIN_WINDOWS:
                run.moment = LiveMoment(kind, run.first * self.window_s, hit.n_students, hit.n_with_video)
                self.moments.append(run.moment)
            elif run.moment is not None and hit.share > run.moment.n_students / max(1, run.moment.n_with_video):
                run.moment.n_students, run.moment.n_with_video = hit.n_students, hit.n_with_video

    def chart(self) -> dict[str, Any]:
        """The chart's points: one per window over the history, oldest first, None where unknown."""
        n = round(self.history_s / self.window_s)
        last = self.evaluated
        return {"window_s": self.window_s, "history_s": self.history_s, "end_s": (last + 1) * self.window_s,
                "attention": [_r(self.points.get(i)) for i in range(last - n + 1, last + 1)]}

    def snapshot(self) -> dict[str, Any]:
        """The chart, the latest moment announced (lasting or ended) and how many there were."""
        latest = self.moments[-1].as_json() if self.moments else None
        return {"chart": self.chart(), "moment": latest, "moments": len(self.moments)}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _pooled_attention(scored: agg.Scored, size: float) -> dict[int, float]:
    """Per window index (from t = 0): attentive readings / present readings with a known head pose,
    over the whole class (windows without any such reading are left out)."""
    attentive: dict[int, int] = {}
    known: dict[int, int] = {}
    for scores in scored.values():
        for s in scores:
            if s.state is State.PRESENT and s.attentive is not None:
                j = int(s.t // size)
                known[j] = known.get(j, 0) + 1
                attentive[j] = attentive.get(j, 0) + bool(s.attentive)
    return {j: attentive.get(j, 0) / n for j, n in known.items()}
