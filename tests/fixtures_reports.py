"""Hand-built observations and an in-memory store for aggregation and report tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from analysis.records import FaceReading, Interruption, Observation, Participant, Quality, SessionInfo, State
from model.labels import LABEL_INDEX, LABELS

SID = "s1"


def probs(**named: float) -> tuple[float, ...]:
    """Emotion probabilities by label name, e.g. probs(neutral=0.6, happy=0.4)."""
    out = [0.0] * len(LABELS)
    for name, p in named.items():
        out[LABEL_INDEX[name]] = p
    return tuple(out)


def face(attentive: bool | None = True, eyes_open: bool | None = True,
         emotions: tuple[float, ...] | None = None, quality: Iterable[Quality] = ()) -> FaceReading:
    return FaceReading(0, (100, 100, 120, 120), 0.95, attentive=attentive, eyes_open=eyes_open,
                       emotions=emotions, quality=frozenset(quality))


def present(pid: str, ts: Iterable[float], attentive: bool | None = True, eyes_open: bool | None = True,
            emotions: tuple[float, ...] | None = None, quality: Iterable[Quality] = ()) -> list[Observation]:
    f = face(attentive, eyes_open, emotions, quality)
    return [Observation(SID, pid, float(t), State.PRESENT, (f,)) for t in ts]


def absent(pid: str, ts: Iterable[float]) -> list[Observation]:
    return [Observation(SID, pid, float(t), State.ABSENT) for t in ts]


def camera_off(pid: str, ts: Iterable[float]) -> list[Observation]:
    return [Observation(SID, pid, float(t), State.CAMERA_OFF) for t in ts]


@dataclass
class FakeStore:
    """Mirrors the read methods of `analysis.store.Store` that reports use, and records calls."""

    info: SessionInfo
    people: list[Participant]
    obs: list[Observation]
    calls: list[str] = field(default_factory=list)
    gaps: list[Interruption] = field(default_factory=list)

    def session(self, session_id: str) -> SessionInfo:
        self.calls.append("session")
        if session_id != self.info.session_id:
            raise LookupError(session_id)
        return self.info

    def participants(self, session_id: str) -> list[Participant]:
        self.calls.append("participants")
        return [p for p in self.people if p.session_id == session_id]

    def observations(self, session_id: str, participant_id: str | None = None) -> list[Observation]:
        self.calls.append("observations")
        return [o for o in self.obs if o.session_id == session_id
                and (participant_id is None or o.participant_id == participant_id)]

    def interruptions(self, session_id: str) -> list[Interruption]:
        self.calls.append("interruptions")
        return [g for g in self.gaps if g.session_id == session_id]


def info(emotions: bool = True, minutes: int = 2, **kw: str) -> SessionInfo:
    return SessionInfo(SID, kw.pop("class_name", "Biology 7"), teacher="Ms Rivera",
                       started_at="2026-03-02T10:00:00+00:00",
                       ended_at=f"2026-03-02T10:{minutes:02d}:00+00:00", emotions_enabled=emotions, **kw)


def two_students(emotions: bool = True) -> tuple[SessionInfo, list[Participant], list[Observation]]:
    """The golden session (numbers worked out in tests/test_reports_context.py).

    Ann: 120 s present, attentive, neutral. Ben: 60 s present, looking aside, sad; 30 s
    camera off; 30 s absent. Cleo opted out, yet has stray observations that must not count.
    """
    neutral, sad = probs(neutral=1.0), probs(sad=1.0)
    people = [Participant(SID, "a", "Ann Archer"), Participant(SID, "b", "Ben Brook"),
              Participant(SID, "c", "Cleo Opted", opted_out=True)]
    obs = [
        *present("a", range(120), emotions=neutral),
        *present("b", range(60), attentive=False, emotions=sad),
        *camera_off("b", range(60, 90)),
        *absent("b", range(90, 120)),
        *absent("c", range(120)),
    ]
    return info(emotions), people, obs


def strip_emotions(obs: Sequence[Observation]) -> list[Observation]:
    return [replace(o, faces=tuple(replace(f, emotions=None) for f in o.faces)) for o in obs]
