"""What the term view keeps of a session once its raw observations are gone: a few numbers.

Raw observations live `store.retention_days` (30 by default). A course report across a
school year reads, per session, a `SessionDigest` (its class, start, how it ended, the
model and analysis settings it ran with) and per student a `StudentDigest` (presence,
attention, engagement, camera-off share, first and last sample), kept for
`store.summary_retention_days`. They are written when a session ends, deleted with a
student's opt-out and with any erasure, and never written for an opted-out student.
No emotion reading is kept: the term view does not need one.

`digest_session` is pure: the session runner hands it what the store holds and writes the
result (`Store.write_summaries`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from analysis.aggregate import StudentSummary, summarize
from analysis.records import Observation, Participant, SessionInfo

DigestStatus = Literal["recorded", "interrupted", "failed"]


@dataclass(frozen=True)
class SessionDigest:
    """One session ClassPulse ran or tried to run, as the term view keeps it."""

    session_id: str
    class_key: str  # the service's class id; "" for a session started without one (CLI, demo)
    class_name: str
    started_at: str  # ISO 8601 UTC
    ended_at: str = ""
    status: DigestStatus = "recorded"
    model_version: str = ""
    settings: str = ""  # the analysis settings as JSON (as in `sessions.settings`)
    emotions_enabled: bool = True
    written_at: str = ""


@dataclass(frozen=True)
class StudentDigest:
    """One student in one session: the numbers a term trend needs, nothing else."""

    session_id: str
    participant_id: str
    display_name: str
    n_samples: int
    presence: float | None  # share of camera-on samples with a face
    attention: float | None  # share of readable samples looking at the screen
    engagement: float | None  # 0..1
    camera_off_share: float | None  # of the student's samples
    first_t: float | None  # seconds since the session started
    last_t: float | None
    in_class_s: float | None  # first to last sample without gaps


def status_of(state: str, n_interruptions: int) -> DigestStatus:
    """The term view's status from the service's final state: a `done` session with gaps was
    recorded only in part, so students unseen in it are "not recorded", never absent."""
    if state == "failed":
        return "failed"
    if state == "interrupted" or n_interruptions:
        return "interrupted"
    return "recorded"


def student_digest(session_id: str, display_name: str, summary: StudentSummary) -> StudentDigest:
    sig = summary.signals
    in_class = None
    if summary.first_t is not None and summary.last_t is not None:
        in_class = max(0.0, summary.last_t + summary.interval_s - summary.first_t - summary.gap_s)
    return StudentDigest(
        session_id=session_id, participant_id=summary.participant_id, display_name=display_name,
        n_samples=sig.n_samples, presence=sig.presence_share, attention=sig.attention_share,
        engagement=sig.engagement, camera_off_share=sig.n_camera_off / sig.n_samples if sig.n_samples else None,
        first_t=summary.first_t, last_t=summary.last_t, in_class_s=in_class)


def digest_session(info: SessionInfo, participants: Sequence[Participant], observations: Iterable[Observation], *,
                   class_key: str, status: DigestStatus, written_at: str
                   ) -> tuple[SessionDigest, tuple[StudentDigest, ...]]:
    """The digests of one ended session; opted-out students and their samples are left out."""
    names = {p.participant_id: p.display_name for p in participants if not p.opted_out}
    summaries = summarize(o for o in observations if o.participant_id in names)
    students = tuple(student_digest(info.session_id, names[pid], s) for pid, s in sorted(summaries.items()))
    session = SessionDigest(
        session_id=info.session_id, class_key=class_key, class_name=info.class_name, started_at=info.started_at,
        ended_at=info.ended_at, status=status, model_version=info.model_version, settings=info.settings,
        emotions_enabled=info.emotions_enabled, written_at=written_at)
    return session, students
