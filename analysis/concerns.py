"""Students who may need the teacher's attention: reasons with a level word and the number.

Kept apart from the aggregation so the thresholds that turn numbers into words live in one
small place a school can read and argue with; they are levels, never verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from analysis.aggregate import StudentSummary

Signal = Literal["attention", "absence", "negative_affect", "engagement_drop"]

#: Minimum measurable samples before a signal may raise a reason (one minute at 1 Hz).
MIN_SAMPLES_FOR_REASON = 60
ATTENTION_LOW, ATTENTION_VERY_LOW = 0.6, 0.4
ABSENCE_LONG_S, ABSENCE_VERY_LONG_S, ABSENCE_FREQUENT = 180.0, 600.0, 0.3
NEGATIVE_ELEVATED, NEGATIVE_HIGH = 0.4, 0.55
DROP_SOME, DROP_MARKED = -0.15, -0.3


@dataclass(frozen=True)
class Reason:
    """Why a student may need a teacher's attention: a signal, a level word and the number.

    Levels (never verdicts): attention "low" (< 60 % of readable samples attentive) or "very
    low" (< 40 %); absence "long" (one stretch ≥ 3 min), "very long" (≥ 10 min) or "frequent"
    (absent in ≥ 30 % of video time); negative affect "elevated" (mean ≥ 0.40) or "high"
    (≥ 0.55); engagement drop "lower" (≥ 0.15 below their own start) or "much lower" (≥ 0.30).
    """

    signal: Signal
    level: str
    value: float


@dataclass(frozen=True)
class Concern:
    participant_id: str
    reasons: tuple[Reason, ...]


def reasons_for(summary: StudentSummary) -> list[Reason]:
    """The reasons (possibly none) one student's summary raises; see `Reason`."""
    sig = summary.signals
    out: list[Reason] = []
    if sig.attention_share is not None and sig.n_present >= MIN_SAMPLES_FOR_REASON:
        if sig.attention_share < ATTENTION_VERY_LOW:
            out.append(Reason("attention", "very low", sig.attention_share))
        elif sig.attention_share < ATTENTION_LOW:
            out.append(Reason("attention", "low", sig.attention_share))
    longest = summary.longest_absence_s
    if longest >= ABSENCE_VERY_LONG_S:
        out.append(Reason("absence", "very long", longest))
    elif longest >= ABSENCE_LONG_S:
        out.append(Reason("absence", "long", longest))
    elif sig.presence_share is not None and 1 - sig.presence_share >= ABSENCE_FREQUENT:
        out.append(Reason("absence", "frequent", 1 - sig.presence_share))
    if sig.negative_affect is not None and sig.n_emotion >= MIN_SAMPLES_FOR_REASON:
        if sig.negative_affect >= NEGATIVE_HIGH:
            out.append(Reason("negative_affect", "high", sig.negative_affect))
        elif sig.negative_affect >= NEGATIVE_ELEVATED:
            out.append(Reason("negative_affect", "elevated", sig.negative_affect))
    rel = sig.relative_engagement
    if rel is not None and sig.n_scored >= MIN_SAMPLES_FOR_REASON:
        if rel <= DROP_MARKED:
            out.append(Reason("engagement_drop", "much lower", rel))
        elif rel <= DROP_SOME:
            out.append(Reason("engagement_drop", "lower", rel))
    return out


def needs_attention(summaries: Mapping[str, StudentSummary]) -> list[Concern]:
    """Students with at least one reason, most reasons first (then by participant id)."""
    found = [Concern(pid, tuple(r)) for pid, s in summaries.items() if (r := reasons_for(s))]
    return sorted(found, key=lambda c: (-len(c.reasons), c.participant_id))
