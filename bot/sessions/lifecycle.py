"""The session lifecycle as data: states, allowed transitions, and when to leave.

    scheduled → joining → in_class → leaving → processing → done
         └──────────┴─────────┴──────────┴──────────┴──→ failed(reason)

Kept free of I/O so every rule is tested directly; `bot.sessions.live` drives it. A session
that fails *after* collecting data still stores and reports it (`LeaveReason.CONNECTION_LOST`
ends in `done`); `failed` is for sessions that have nothing to show, and says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.connectors.base import FailureReason


class State(StrEnum):
    SCHEDULED = "scheduled"
    JOINING = "joining"
    IN_CLASS = "in_class"
    LEAVING = "leaving"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class LeaveReason(StrEnum):
    REQUESTED = "requested"  # teacher, CLI (Ctrl-C, --duration) or API asked
    EMPTY = "empty"  # no student for `empty_timeout_s`
    MAX_DURATION = "max_duration"
    MEETING_ENDED = "meeting_ended"  # the platform closed the room
    CONNECTION_LOST = "connection_lost"  # signalling gone for good; what was collected is kept
    NOBODY_JOINED = "nobody_joined"
    NO_MEDIA = "no_media"  # students there, not one frame arrived: ICE/network failure
    SUPERSEDED = "superseded"  # the session's attempt was taken over by another process (fencing)
    HANDOVER = "handover"  # this worker stops (SIGTERM): another one continues the session


TRANSITIONS: dict[State, frozenset[State]] = {
    State.SCHEDULED: frozenset({State.JOINING, State.FAILED}),
    State.JOINING: frozenset({State.IN_CLASS, State.FAILED}),
    State.IN_CLASS: frozenset({State.LEAVING, State.FAILED}),
    State.LEAVING: frozenset({State.PROCESSING, State.FAILED}),
    State.PROCESSING: frozenset({State.DONE, State.FAILED}),
    State.DONE: frozenset(),
    State.FAILED: frozenset(),
}


class InvalidTransition(RuntimeError):
    pass


@dataclass
class Lifecycle:
    """Current state plus its history; refuses transitions the diagram does not have."""

    state: State = State.SCHEDULED
    failure: FailureReason | None = None
    detail: str = ""
    history: list[State] = field(default_factory=lambda: [State.SCHEDULED])

    def to(self, state: State) -> None:
        if state is State.FAILED:
            raise InvalidTransition("use fail(reason, detail) to fail a session")
        self._move(state)

    def fail(self, reason: FailureReason, detail: str) -> None:
        self._move(State.FAILED)
        self.failure = reason
        self.detail = detail

    @property
    def finished(self) -> bool:
        return self.state in (State.DONE, State.FAILED)

    def _move(self, state: State) -> None:
        if state not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"{self.state.value} → {state.value} is not allowed")
        self.state = state
        self.history.append(state)


@dataclass(frozen=True)
class LeavePolicy:
    empty_timeout_s: float = 300.0
    nobody_timeout_s: float = 900.0
    max_duration_s: float = 4 * 3600.0
    media_timeout_s: float = 30.0


@dataclass
class Presence:
    """What the policy needs to know about the class, updated by the session."""

    in_class_since: float  # clock time the bot got in
    present: int = 0
    anyone_joined: bool = False
    empty_since: float | None = None  # clock time the class became empty (after someone was there)
    video_since: float | None = None  # clock time the first camera came on
    frames: int = 0

    def update(self, now: float, present: int) -> None:
        if present:
            self.anyone_joined = True
            self.empty_since = None
        elif self.present and self.empty_since is None:
            self.empty_since = now
        self.present = present


def leave_reason(policy: LeavePolicy, p: Presence, now: float) -> LeaveReason | None:
    """Why the bot should leave now, or None to stay."""
    if now - p.in_class_since >= policy.max_duration_s:
        return LeaveReason.MAX_DURATION
    if not p.anyone_joined and now - p.in_class_since >= policy.nobody_timeout_s:
        return LeaveReason.NOBODY_JOINED
    if p.anyone_joined and p.present == 0 and p.empty_since is not None \
            and now - p.empty_since >= policy.empty_timeout_s:
        return LeaveReason.EMPTY
    if p.frames == 0 and p.video_since is not None and now - p.video_since >= policy.media_timeout_s:
        return LeaveReason.NO_MEDIA
    return None


#: Leave reasons that mean the session has nothing to report, with the failure they become.
FAILING: dict[LeaveReason, FailureReason] = {
    LeaveReason.NOBODY_JOINED: FailureReason.NOBODY_JOINED,
    LeaveReason.NO_MEDIA: FailureReason.NETWORK,
}
