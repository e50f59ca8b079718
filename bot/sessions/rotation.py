"""Which student's video to receive when the platform delivers only one at a time.

Zoom RTMS sends ONE individual participant stream at a time (subscribing to another drops
the previous one). To see every student anyway, the bot rotates that subscription: it
watches one student for `dwell_s` seconds, counted from their first frame (so a slow
subscription does not eat the dwell), then moves on.

Fairness rule: the next student is the one with camera on who was served least recently
(never-watched students first, in the order their cameras came on). This is round-robin
for a stable class and stays fair when the class changes: a late joiner is served at the
next switch, a student who leaves or turns the camera off drops out of the plan at once
(and the watched student is abandoned immediately), a returning camera queues up again by
its last service time. Camera-off students are never watched: their state comes from the
roster, not from video.

Sampling this achieves (the sampler takes one frame per `interval_s` from the watched
student only; the others are not sampled, never "camera off"):

    visit       = dwell_s + switch_s          (switch_s: subscription answer + first frame)
    cycle       = n * visit                   (every student with camera on once)
    per student = (dwell_s / interval_s) samples per cycle
                = dwell_s / (interval_s * n * visit) samples per second
    longest gap = cycle - dwell_s             (between two samples of the same student)

With the defaults (dwell 3 s, interval 1 s, switch about 0.5 s): 10 students → a cycle of
35 s, 3 samples per student per cycle, about 5.1 samples per student per minute; 30 students
→ a cycle of 105 s, about 1.7 samples per student per minute. `tests/test_zoom_rotation.py`
checks these numbers against a simulation of the scheduler.

Pure: the caller passes the clock in; no asyncio.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)  # a participant id (Zoom: the user id as text)


@dataclass(frozen=True)
class Coverage:
    """What rotating over `n` students yields (see the module docstring for the formulas)."""

    n: int
    cycle_s: float
    samples_per_visit: float
    samples_per_min: float  # per student
    longest_gap_s: float


def coverage(n: int, *, dwell_s: float, interval_s: float, switch_s: float = 0.5) -> Coverage:
    if n <= 0:
        return Coverage(0, 0.0, 0.0, 0.0, 0.0)
    per_visit = max(1.0, dwell_s / interval_s)
    if n == 1:  # nothing to rotate: the one student is watched all the time
        return Coverage(1, 0.0, per_visit, 60.0 / interval_s, interval_s)
    cycle = n * (dwell_s + switch_s)
    return Coverage(n, cycle, per_visit, 60.0 * per_visit / cycle, cycle - dwell_s)


def describe(dwell_s: float, interval_s: float) -> str:
    """The session's sampling line for reports (SessionInfo.sampling)."""
    return (f"rotation over students with camera on (Zoom delivers one individual video at a time): "
            f"{dwell_s:g} s per student, 1 frame every {interval_s:g} s while watched; "
            f"10 students ≈ {coverage(10, dwell_s=dwell_s, interval_s=interval_s).samples_per_min:.1f}, "
            f"30 students ≈ {coverage(30, dwell_s=dwell_s, interval_s=interval_s).samples_per_min:.1f} "
            "samples per student per minute")


@dataclass
class _Candidate:
    order: int  # when the camera came on (ties between never-watched students)
    last_served: float | None = None


class Rotation(Generic[K]):
    """Round-robin over students with camera on; `due(now)` says whom to watch next."""

    def __init__(self, dwell_s: float, frame_timeout_s: float = 3.0) -> None:
        if dwell_s <= 0 or frame_timeout_s <= 0:
            raise ValueError("dwell and frame timeout must be positive")
        self.dwell_s = dwell_s
        self.frame_timeout_s = frame_timeout_s
        self._candidates: dict[K, _Candidate] = {}
        self._counter = 0
        self.current: K | None = None
        self._switched_at = 0.0
        self._first_frame_at: float | None = None
        self.visits: dict[K, int] = {}
        self._returning: dict[K, float] = {}  # camera off for now: when they were last served
        self._only: set[K] | None = None
        #: Users abandoned after `frame_timeout_s` without a single frame (drained by the caller:
        #: a camera that was only assumed to be on, or a subscription Zoom never served).
        self.unanswered: list[K] = []

    # -- roster ---------------------------------------------------------------------------
    def video_on(self, user: K) -> None:
        if user not in self._candidates:
            self._counter += 1
            self._candidates[user] = _Candidate(self._counter, self._returning.pop(user, None))

    def video_off(self, user: K) -> None:
        """Camera off or left: out of the plan; if watched, the next `due` moves on at once."""
        cand = self._candidates.pop(user, None)
        if cand is not None and cand.last_served is not None:
            # keep the service time so a camera flicker cannot jump the queue
            self._returning[user] = cand.last_served
        if self.current == user:
            self.current = None

    def left(self, user: K) -> None:
        self.video_off(user)
        self._returning.pop(user, None)

    def restrict(self, users: set[K] | None) -> None:
        """Rotate over these users only (None: everybody with camera on)."""
        self._only = users
        if users is not None and self.current not in users:
            self.current = None

    def candidates(self) -> list[K]:
        return list(self._candidates)

    # -- the clock ------------------------------------------------------------------------
    def frame(self, user: K, now: float) -> None:
        """A frame of `user` arrived: the dwell starts with the first one."""
        if user == self.current and self._first_frame_at is None:
            self._first_frame_at = now

    def due(self, now: float) -> K | None:
        """The student to switch to now, or None to keep the current subscription."""
        if self.current is not None:
            if self._first_frame_at is None:
                if now - self._switched_at < self.frame_timeout_s:
                    return None  # subscribed, frames not there yet
            elif now - self._first_frame_at < self.dwell_s:
                return None
        nxt = self._pick(exclude=self.current)
        if nxt is None:
            return None  # nobody else: keep watching the current student (or nobody)
        if self.current is not None and self._first_frame_at is None:
            self.unanswered.append(self.current)
        self._switch(nxt, now)
        return nxt

    def _pick(self, exclude: K | None) -> K | None:
        best: tuple[float, int] | None = None
        chosen: K | None = None
        for user, cand in self._candidates.items():
            if user == exclude or (self._only is not None and user not in self._only):
                continue
            served = float("-inf") if cand.last_served is None else cand.last_served
            key = (served, cand.order)  # orders are unique: no tie left to break
            if best is None or key < best:
                best, chosen = key, user
        return chosen

    def _switch(self, user: K, now: float) -> None:
        if self.current is not None and self.current in self._candidates:
            self._candidates[self.current].last_served = now
        self._candidates[user].last_served = now  # provisional: marks it served from now on
        self.current = user
        self._switched_at = now
        self._first_frame_at = None
        self.visits[user] = self.visits.get(user, 0) + 1
