"""Aggregation of one student: from per-sample observations to windows and summaries.

Pure functions over frozen records: the same observations always give the same numbers,
so the report, the live view and the tests agree. Nothing here reads a clock or a store.

Per sample (`score`), from the participant's primary face:

* presence — the sample's `State`; CAMERA_OFF is its own state and never counts as absent
  or disengaged.
* attention — `FaceReading.attentive` (None = unknown, never guessed).
* emotions — the classifier's probabilities, kept only for faces without quality flags: a
  tiny, blurred, dark, low-confidence or turned-away face gives an unreliable expression
  reading, so it is shown as "uncertain" rather than averaged in.
* negative affect = p(angry) + p(disgust) + p(fear) + p(sad), in 0..1.
* positive affect = p(happy) + 0.5·p(surprise) (surprise is half-counted: it is as often
  confusion as delight); valence = positive − negative, in −1..1. Neutral counts for neither.
* engagement — the concentration index of Sharma et al. (arXiv:1909.12913)::

      CI = emotion_weight × gaze_weight / 4.5                       (0..1)
      emotion_weight = Σ p(label)·w(label), w: neutral .9, happy .6, surprise .6,
                       sad .3, fear .3, angry .25, disgust .2
      gaze_weight    = 0 if the eyes are closed, else 5 if attentive, 2 if not

  When no expression reading is usable (emotion inference switched off, or a flagged
  face) the emotion weight is neutral's 0.9, so engagement = gaze_weight / 5: 1.0 looking
  at the screen, 0.4 looking aside, 0 eyes closed. This keeps the CI's thresholds
  (> 0.65 high, 0.25..0.65 nominal, < 0.25 low) meaning the same with emotions off.
  Unknown gaze (attention None, eyes not known closed) gives no engagement at all rather
  than a guessed weight: missing data is never scored. Faces flagged tiny, blurred, dark
  or low-confidence give no attention or engagement either (their head pose is unreliable);
  a turned-away face still counts as not attentive.

Relative engagement calibrates each student against themself (resting faces differ): the
baseline is the median of their per-minute mean engagement over their first `BASELINE_S`
seconds of scored samples (at least `BASELINE_MIN_SAMPLES` samples), and relative
engagement = engagement − baseline, so 0 means "as at the start of class" and −0.2 means
clearly lower than their own start.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Literal

from analysis.records import Observation, Quality, State
from model.labels import LABEL_INDEX, LABELS

EMOTION_WEIGHTS: Mapping[str, float] = {
    "neutral": 0.9, "happy": 0.6, "surprise": 0.6, "sad": 0.3, "fear": 0.3, "angry": 0.25, "disgust": 0.2}
_WEIGHTS = tuple(EMOTION_WEIGHTS[name] for name in LABELS)
NEUTRAL_WEIGHT = EMOTION_WEIGHTS["neutral"]
GAZE_CENTRED, GAZE_ASIDE, GAZE_CLOSED = 5.0, 2.0, 0.0
CI_SCALE = 4.5
NEGATIVE_LABELS = ("angry", "disgust", "fear", "sad")
_NEG = tuple(LABEL_INDEX[name] for name in NEGATIVE_LABELS)
_HAPPY, _SURPRISE = LABEL_INDEX["happy"], LABEL_INDEX["surprise"]
#: Flags that make the head pose itself unreliable (TURNED_AWAY only spoils the expression).
POSE_UNRELIABLE = frozenset({Quality.TINY, Quality.BLURRED, Quality.DARK, Quality.LOW_CONFIDENCE})

HIGH_ENGAGEMENT = 0.65  # CI above this: "high"
LOW_ENGAGEMENT = 0.25  # CI below this: "low"
BASELINE_S = 300.0
BASELINE_MIN_SAMPLES = 10
BASELINE_BUCKET_S = 60.0
#: A window is "uncertain" unless it has at least this many scored samples and this share of
#: its present samples scored.
MIN_CERTAIN_SAMPLES = 3
MIN_CERTAIN_SHARE = 0.5
#: A student "turned negative" in a window when mean negative affect reaches this.
NEGATIVE_TURN = 0.5

Level = Literal["high", "nominal", "low", "uncertain", "camera_off", "absent", "no_data"]
LEVELS: tuple[Level, ...] = ("high", "nominal", "low", "uncertain", "absent", "camera_off", "no_data")


@dataclass(frozen=True)
class SampleScore:
    """The numbers derived from one observation (None = not measurable in this sample)."""

    participant_id: str
    t: float
    state: State
    uncertain: bool = False  # the primary face carries quality flags
    attentive: bool | None = None
    emotions: tuple[float, ...] | None = None
    negative: float | None = None
    valence: float | None = None
    engagement: float | None = None


def _gaze_weight(attentive: bool | None, eyes_open: bool | None) -> float | None:
    if eyes_open is False:
        return GAZE_CLOSED
    if attentive is None:
        return None
    return GAZE_CENTRED if attentive else GAZE_ASIDE


def engagement(attentive: bool | None, eyes_open: bool | None,
               emotions: Sequence[float] | None) -> float | None:
    """Concentration index of one face (see the module docstring); None when gaze is unknown."""
    gaze = _gaze_weight(attentive, eyes_open)
    if gaze is None:
        return None
    weight = NEUTRAL_WEIGHT
    if emotions is not None:
        total = sum(emotions)
        if total > 0:
            weight = sum(p * w for p, w in zip(emotions, _WEIGHTS, strict=True)) / total
    return min(1.0, max(0.0, weight * gaze / CI_SCALE))


def score(obs: Observation) -> SampleScore:
    """Score one observation from its primary face."""
    face = obs.primary
    if face is None:
        return SampleScore(obs.participant_id, obs.t, obs.state)
    pose_ok = not (face.quality & POSE_UNRELIABLE)
    attentive = face.attentive if pose_ok else None
    eyes_open = face.eyes_open if pose_ok else None
    probs = face.emotions if face.emotions is not None and not face.quality else None
    negative = valence = None
    if probs is not None:
        negative = probs[_NEG[0]] + probs[_NEG[1]] + probs[_NEG[2]] + probs[_NEG[3]]
        valence = probs[_HAPPY] + 0.5 * probs[_SURPRISE] - negative
    return SampleScore(obs.participant_id, obs.t, obs.state, uncertain=face.uncertain,
                       attentive=attentive, emotions=probs, negative=negative, valence=valence,
                       engagement=engagement(attentive, eyes_open, probs))


def score_all(observations: Iterable[Observation]) -> dict[str, list[SampleScore]]:
    """Scores grouped by participant, each list sorted by time."""
    out: dict[str, list[SampleScore]] = defaultdict(list)
    for obs in observations:
        out[obs.participant_id].append(score(obs))
    for scores in out.values():
        scores.sort(key=lambda s: s.t)
    return dict(sorted(out.items()))


def baseline(scores: Sequence[SampleScore], baseline_s: float = BASELINE_S) -> float | None:
    """A student's usual engagement: the median of their per-minute mean engagement over the
    first `baseline_s` seconds after their first scored sample.

    Minute means, not single samples: per-sample scores take few distinct values (1.0 looking,
    0.4 aside), so a median of samples would sit at 1.0 for most students and every later
    mean would read as a drop. The median over minutes still ignores one odd minute.
    """
    scored = [(s.t, s.engagement) for s in scores if s.engagement is not None]
    if not scored:
        return None
    first = scored[0][0]
    minutes: dict[int, list[float]] = defaultdict(list)
    for t, e in scored:
        if t < first + baseline_s:
            minutes[int((t - first) // BASELINE_BUCKET_S)].append(e)
    if sum(len(v) for v in minutes.values()) < BASELINE_MIN_SAMPLES:
        return None
    return statistics.median(sum(v) / len(v) for v in minutes.values())


def mean_or_none(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _share(flags: Iterable[bool | None]) -> float | None:
    known = [f for f in flags if f is not None]
    return sum(known) / len(known) if known else None


def mean_vector(vectors: Sequence[tuple[float, ...]]) -> tuple[float, ...] | None:
    if not vectors:
        return None
    return tuple(sum(col) / len(vectors) for col in zip(*vectors, strict=True))


@dataclass(frozen=True)
class Signals:
    """Numbers shared by a window and a whole-session summary (None = not measurable)."""

    n_samples: int
    n_present: int
    n_absent: int
    n_camera_off: int
    n_uncertain: int  # present samples whose face has quality flags
    n_scored: int  # present samples with an engagement score
    n_emotion: int  # present samples with a usable expression reading
    presence_share: float | None  # present / (present + absent): camera-off samples excluded
    attention_share: float | None  # attentive / samples with known attention
    engagement: float | None
    relative_engagement: float | None
    emotions: tuple[float, ...] | None  # mean probabilities in LABELS order
    negative_affect: float | None
    valence: float | None
    uncertain_share: float | None  # n_uncertain / n_present

    def emotion_shares(self) -> dict[str, float] | None:
        return None if self.emotions is None else dict(zip(LABELS, self.emotions, strict=True))


def signals(scores: Sequence[SampleScore], base: float | None = None) -> Signals:
    """Aggregate a run of samples; `base` is the student's baseline for relative engagement."""
    present = [s for s in scores if s.state is State.PRESENT]
    n_absent = sum(s.state is State.ABSENT for s in scores)
    n_off = sum(s.state is State.CAMERA_OFF for s in scores)
    engaged = [s.engagement for s in present if s.engagement is not None]
    emo = [s.emotions for s in present if s.emotions is not None]
    mean_eng = sum(engaged) / len(engaged) if engaged else None
    n_uncertain = sum(s.uncertain for s in present)
    video = len(present) + n_absent
    return Signals(
        n_samples=len(scores), n_present=len(present), n_absent=n_absent, n_camera_off=n_off,
        n_uncertain=n_uncertain, n_scored=len(engaged), n_emotion=len(emo),
        presence_share=len(present) / video if video else None,
        attention_share=_share(s.attentive for s in present),
        engagement=mean_eng,
        relative_engagement=None if mean_eng is None or base is None else mean_eng - base,
        emotions=mean_vector(emo),
        negative_affect=mean_or_none(s.negative for s in present),
        valence=mean_or_none(s.valence for s in present),
        uncertain_share=n_uncertain / len(present) if present else None,
    )


def level_of(sig: Signals) -> Level:
    """The window's level, by these rules in order.

    no data: no samples. camera_off: more camera-off samples than video samples. absent:
    presence share below 0.5. uncertain: fewer than MIN_CERTAIN_SAMPLES scored samples or
    less than MIN_CERTAIN_SHARE of present samples scored. Otherwise by mean engagement:
    high above HIGH_ENGAGEMENT, low below LOW_ENGAGEMENT, nominal between.
    """
    if sig.n_samples == 0:
        return "no_data"
    if sig.n_camera_off > sig.n_present + sig.n_absent:
        return "camera_off"
    if sig.n_present + sig.n_absent == 0:  # only no_signal / not_sampled / left: nothing about the student
        return "no_data"
    if sig.presence_share is None or sig.presence_share < 0.5:
        return "absent"
    if sig.n_scored < max(MIN_CERTAIN_SAMPLES, MIN_CERTAIN_SHARE * sig.n_present) or sig.engagement is None:
        return "uncertain"
    if sig.engagement > HIGH_ENGAGEMENT:
        return "high"
    return "low" if sig.engagement < LOW_ENGAGEMENT else "nominal"


@dataclass(frozen=True)
class Window:
    """One participant over [start, end) seconds of the session."""

    participant_id: str
    start: float
    end: float
    signals: Signals
    level: Level


Scored = Mapping[str, Sequence[SampleScore]]  # score_all's output: per participant, by time


def window_count(scored: Scored, size_s: float, end: float | None = None) -> int:
    """Windows of `size_s` needed to cover t = 0 .. max(last sample, `end`)."""
    last = max((s[-1].t for s in scored.values() if s), default=None)
    n = 0 if last is None else int(max(last, 0.0) // size_s) + 1
    if end is not None and end > 0:
        n = max(n, math.ceil(end / size_s))
    return n


def windows(observations: Iterable[Observation], size_s: float = 60.0, *, end: float | None = None,
            baseline_s: float = BASELINE_S) -> dict[str, list[Window]]:
    """Per participant, windows of `size_s` seconds on one grid starting at t = 0.

    Every participant gets the same number of windows (up to the last sample of anyone, or
    `end`), so class series and heatmaps line up; windows without samples are "no_data".
    """
    return windows_of(score_all(observations), size_s, end=end, baseline_s=baseline_s)


def windows_of(scored: Scored, size_s: float = 60.0, *, end: float | None = None,
               baseline_s: float = BASELINE_S) -> dict[str, list[Window]]:
    """`windows` over already scored samples (score once, window at several sizes)."""
    if size_s <= 0:
        raise ValueError("window size must be positive")
    n = window_count(scored, size_s, end)
    out: dict[str, list[Window]] = {}
    for pid, scores in scored.items():
        base = baseline(scores, baseline_s)
        buckets: list[list[SampleScore]] = [[] for _ in range(n)]
        for s in scores:
            buckets[min(n - 1, max(0, int(s.t // size_s)))].append(s)
        rows = []
        for i, bucket in enumerate(buckets):
            sig = signals(bucket, base)
            rows.append(Window(pid, i * size_s, (i + 1) * size_s, sig, level_of(sig)))
        out[pid] = rows
    return out


def sample_interval(scores: Sequence[SampleScore]) -> float:
    """The usual time between a participant's samples (median gap; 1 s when unknown)."""
    gaps = [b.t - a.t for a, b in pairwise(scores) if b.t > a.t]
    return statistics.median(gaps) if gaps else 1.0


def periods(scores: Sequence[SampleScore], state: State, interval: float) -> list[tuple[float, float]]:
    """Runs of consecutive samples in `state`, as (start, end) seconds.

    A run ends at a sample in another state or at a gap longer than 2.5 intervals (missing
    samples are not assumed to continue the state); each sample lasts one interval.
    """
    runs: list[tuple[float, float]] = []
    start = last = None
    for s in scores:
        if s.state is state and start is not None and last is not None and s.t - last <= 2.5 * interval:
            last = s.t
            continue
        if start is not None and last is not None:
            runs.append((start, last + interval))
        start, last = (s.t, s.t) if s.state is state else (None, None)
    if start is not None and last is not None:
        runs.append((start, last + interval))
    return runs


@dataclass(frozen=True)
class StudentSummary:
    """One participant over the whole session."""

    participant_id: str
    signals: Signals
    baseline: float | None
    first_t: float | None
    last_t: float | None
    interval_s: float
    camera_off_periods: tuple[tuple[float, float], ...]
    absence_periods: tuple[tuple[float, float], ...]
    gap_s: float  # time without any sample between first and last sample (missing data)
    left_at: tuple[float, ...] = ()  # when the student left the meeting (a rejoin shows as later samples)
    no_signal_periods: tuple[tuple[float, float], ...] = ()  # our side or the network: not the student

    @property
    def camera_off_s(self) -> float:
        return sum(b - a for a, b in self.camera_off_periods)

    @property
    def absent_s(self) -> float:
        return sum(b - a for a, b in self.absence_periods)

    @property
    def longest_absence_s(self) -> float:
        return max((b - a for a, b in self.absence_periods), default=0.0)


def summarize(observations: Iterable[Observation], *,
              baseline_s: float = BASELINE_S) -> dict[str, StudentSummary]:
    """Whole-session summary per participant; relative engagement is over samples after the
    baseline period (None while a student has no baseline or nothing after it)."""
    return summarize_of(score_all(observations), baseline_s=baseline_s)


def summarize_of(scored: Scored, *, baseline_s: float = BASELINE_S) -> dict[str, StudentSummary]:
    """`summarize` over already scored samples."""
    out: dict[str, StudentSummary] = {}
    for pid, scores in scored.items():
        base = baseline(scores, baseline_s)
        interval = sample_interval(scores)
        sig = signals(scores, base)
        rel = None
        if base is not None:
            first = next(s.t for s in scores if s.engagement is not None)
            later = mean_or_none(s.engagement for s in scores if s.t >= first + baseline_s)
            rel = None if later is None else later - base
        sig = replace(sig, relative_engagement=rel)
        gaps = sum(b.t - a.t - interval for a, b in pairwise(scores)
                   if b.t - a.t > 2.5 * interval)
        out[pid] = StudentSummary(
            participant_id=pid, signals=sig, baseline=base,
            first_t=scores[0].t if scores else None, last_t=scores[-1].t if scores else None,
            interval_s=interval,
            camera_off_periods=tuple(periods(scores, State.CAMERA_OFF, interval)),
            absence_periods=tuple(periods(scores, State.ABSENT, interval)),
            gap_s=gaps,
            left_at=tuple(s.t for s in scores if s.state is State.LEFT),
            no_signal_periods=tuple(periods(scores, State.NO_SIGNAL, interval)))
    return out
