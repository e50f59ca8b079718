"""The class as a whole: per-window class series and class moments, from students' windows.

Separate from `analysis.aggregate` (one student at a time) because the class view has its own
rules: who counts as present in a window, and when "many students at once" is a moment worth
a teacher's look. Pure functions over the `Window`s that `aggregate.windows_of` returns for
every student on one shared grid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from analysis.aggregate import NEGATIVE_TURN, Window, mean_or_none, mean_vector

#: A student "looked away" in a window when they were absent or attentive less than this share.
AWAY_TURN = 0.5
MOMENT_MIN_SHARE = 0.4
MOMENT_MIN_STUDENTS = 2
#: A moment must last this many consecutive windows (2 × 10 s in reports). Two students out of
#: five glancing away in the same 10 s is everyday noise in a small class; 20 s of it is not.
MOMENT_MIN_WINDOWS = 2

_PRESENT_LEVELS = frozenset({"high", "nominal", "low", "uncertain"})
_CERTAIN_LEVELS = frozenset({"high", "nominal", "low"})


@dataclass(frozen=True)
class ClassWindow:
    """The class over one window of the shared grid.

    A student counts as present when their window level is high, nominal, low or uncertain.
    `engagement` averages the students at a certain level (high/nominal/low); attention and
    negative affect average the present students for whom they were measurable.
    `negative_share` is the share of present students with an expression reading whose mean
    negative affect reached NEGATIVE_TURN.
    """

    start: float
    end: float
    n_students: int  # with any sample in the window
    n_present: int
    n_absent: int
    n_camera_off: int
    engagement: float | None
    attention_share: float | None
    negative_affect: float | None
    negative_share: float | None
    emotions: tuple[float, ...] | None


def _transpose(by_pid: Mapping[str, Sequence[Window]]) -> list[list[Window]]:
    n = max((len(ws) for ws in by_pid.values()), default=0)
    return [[ws[i] for ws in by_pid.values() if i < len(ws)] for i in range(n)]


def class_series(by_pid: Mapping[str, Sequence[Window]]) -> list[ClassWindow]:
    """One `ClassWindow` per grid window of `windows(...)`'s output."""
    out = []
    for column in _transpose(by_pid):
        present = [w for w in column if w.level in _PRESENT_LEVELS]
        certain = [w for w in present if w.level in _CERTAIN_LEVELS]
        negs = [w.signals.negative_affect for w in present if w.signals.negative_affect is not None]
        out.append(ClassWindow(
            start=column[0].start, end=column[0].end,
            n_students=sum(w.signals.n_samples > 0 for w in column),
            n_present=len(present),
            n_absent=sum(w.level == "absent" for w in column),
            n_camera_off=sum(w.level == "camera_off" for w in column),
            engagement=mean_or_none(w.signals.engagement for w in certain),
            attention_share=mean_or_none(w.signals.attention_share for w in present),
            negative_affect=sum(negs) / len(negs) if negs else None,
            negative_share=sum(v >= NEGATIVE_TURN for v in negs) / len(negs) if negs else None,
            emotions=mean_vector([w.signals.emotions for w in present if w.signals.emotions is not None]),
        ))
    return out


MomentKind = Literal["looked_away", "negative"]


@dataclass(frozen=True)
class Moment:
    """A stretch of consecutive windows in which many students with video changed at once."""

    kind: MomentKind
    start: float
    end: float
    n_students: int  # at the peak window
    n_with_video: int  # students with video in the peak window
    participant_ids: tuple[str, ...]  # everyone involved in any of its windows

    @property
    def share(self) -> float:
        return self.n_students / self.n_with_video if self.n_with_video else 0.0


def _looked_away(w: Window) -> bool:
    att = w.signals.attention_share
    return w.level == "absent" or (w.level in _PRESENT_LEVELS and att is not None and att < AWAY_TURN)


def _turned_negative(w: Window) -> bool:
    neg = w.signals.negative_affect
    return w.level in _PRESENT_LEVELS and neg is not None and neg >= NEGATIVE_TURN


def class_moments(by_pid: Mapping[str, Sequence[Window]], *, min_share: float = MOMENT_MIN_SHARE,
                  min_students: int = MOMENT_MIN_STUDENTS,
                  min_windows: int = MOMENT_MIN_WINDOWS) -> list[Moment]:
    """Windows where at least `min_share` of the students with video (camera on, any samples),
    and at least `min_students` of them, looked away (absent, or attentive in less than
    AWAY_TURN of the window) or turned negative (negative affect ≥ NEGATIVE_TURN) at once.

    Consecutive windows of one kind merge into one moment, kept when it spans at least
    `min_windows` windows; sorted by start, then kind.
    """
    kinds: tuple[tuple[MomentKind, Callable[[Window], bool]], ...] = (
        ("looked_away", _looked_away), ("negative", _turned_negative))
    found: list[Moment] = []
    for kind, test in kinds:
        current: Moment | None = None
        span = 0
        for column in _transpose(by_pid):
            video = [w for w in column if w.level not in ("camera_off", "no_data")]
            hit = sorted(w.participant_id for w in video if test(w))
            if len(hit) >= min_students and len(hit) >= min_share * len(video):
                span += 1
                if current is None:
                    current = Moment(kind, column[0].start, column[0].end, len(hit), len(video), tuple(hit))
                else:
                    peak = len(hit) / len(video) > current.share
                    current = Moment(kind, current.start, column[0].end,
                                     len(hit) if peak else current.n_students,
                                     len(video) if peak else current.n_with_video,
                                     tuple(sorted({*current.participant_ids, *hit})))
                continue
            if current is not None and span >= min_windows:
                found.append(current)
            current, span = None, 0
        if current is not None and span >= min_windows:
            found.append(current)
    return sorted(found, key=lambda m: (m.start, m.kind))
