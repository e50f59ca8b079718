"""The numbers ClassPulse keeps: frozen records, no pixels.

One `Observation` is one sample of one participant at one time: the participant's state
(camera off, no face, face present) and, per face found, its box, head pose, attention,
eye state, emotion probabilities and quality flags. Everything downstream — the store,
aggregation, reports, the live view — is built from these records only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from model.labels import LABELS

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels


class State(StrEnum):
    """What one sample of a participant showed: DESIGN.md's "Observation states", one vocabulary.

    Only `present` and `absent` are the student's presence on camera; the others say why a
    sample shows no student, and none of them counts as absence or disengagement.
    """

    PRESENT = "present"  # at least one face
    ABSENT = "absent"  # video arrives, no face in it (stepped away, turned fully away)
    CAMERA_OFF = "camera_off"  # the platform or track says video is off, or frames are black/uniform
    NO_SIGNAL = "no_signal"  # our side or the network: reconnect, transport drop, frozen stream, overload
    NOT_SAMPLED = "not_sampled"  # not watched by design (e.g. Zoom's one-stream rotation)
    LEFT = "left"  # the student left the meeting (until they rejoin)

    @property
    def counts_for_presence(self) -> bool:
        """Whether the sample is in the presence share's denominator (present or absent)."""
        return self in (State.PRESENT, State.ABSENT)


class Quality(StrEnum):
    """Reasons a face reading is uncertain; reports show these as "uncertain", not as verdicts."""

    TINY = "tiny"  # face smaller than the minimum size for reliable emotion reading
    BLURRED = "blurred"
    DARK = "dark"
    TURNED_AWAY = "turned_away"  # head pose beyond the range the emotion model was trained on
    LOW_CONFIDENCE = "low_confidence"  # detector or classifier unsure


@dataclass(frozen=True)
class FaceReading:
    """One face in one sample."""

    face_id: int  # stable within a participant's track (see analysis.track)
    box: Box
    score: float  # detector confidence 0..1
    yaw: float | None = None  # degrees, + = turned to the image's right
    pitch: float | None = None  # degrees, + = looking up
    attentive: bool | None = None  # head oriented at the screen
    eyes_open: bool | None = None
    emotions: tuple[float, ...] | None = None  # probabilities in LABELS order; None when off
    quality: frozenset[Quality] = field(default_factory=frozenset)

    @property
    def uncertain(self) -> bool:
        return bool(self.quality)

    @property
    def emotion(self) -> str | None:
        """Most probable label, or None when emotion inference is off."""
        if self.emotions is None:
            return None
        return LABELS[max(range(len(self.emotions)), key=self.emotions.__getitem__)]

    def probabilities(self) -> dict[str, float] | None:
        if self.emotions is None:
            return None
        return dict(zip(LABELS, self.emotions, strict=True))


@dataclass(frozen=True)
class Observation:
    """One sample of one participant."""

    session_id: str
    participant_id: str
    t: float  # seconds since the session started
    state: State
    faces: tuple[FaceReading, ...] = ()

    def __post_init__(self) -> None:
        if self.state is State.PRESENT and not self.faces:
            raise ValueError("a PRESENT observation needs at least one face")
        if self.state is not State.PRESENT and self.faces:
            raise ValueError(f"a {self.state.value} observation cannot carry faces")

    @property
    def primary(self) -> FaceReading | None:
        """The participant's main face: the largest one (the person at their own camera)."""
        if not self.faces:
            return None
        return max(self.faces, key=lambda f: f.box[2] * f.box[3])


@dataclass(frozen=True)
class Participant:
    session_id: str
    participant_id: str
    display_name: str
    opted_out: bool = False


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    class_name: str
    teacher: str = ""
    started_at: str = ""  # ISO 8601 UTC
    ended_at: str = ""
    emotions_enabled: bool = True
    sampling: str = "1 sample per student per second"
    source: str = ""  # connector / input description, shown in reports
    model_version: str = ""  # the emotion model the session ran with ("" when emotions were off)
    settings: str = ""  # the analysis settings it ran with, as JSON


@dataclass(frozen=True)
class Interruption:
    """A gap in which nothing was recorded; reports name it and never count it as absence."""

    session_id: str
    from_at: str  # ISO 8601 UTC: the last sign of life before the gap
    to_at: str  # ISO 8601 UTC: when analysis resumed, or when the session was closed
    reason: str  # crash | restart | connection_lost | worker_lost | handover
