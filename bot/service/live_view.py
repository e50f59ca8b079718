"""The numbers of the dashboard's live view: class attention, mood, and one tile per student.

Pure: observations and the roster in, JSON-ready dicts out. Levels over the last
`window_s` seconds, never a single frame: attention is the share of attentive face
readings among present ones, mood the mean emotion probabilities of certain readings
(absent when emotions are switched off). Camera-off samples count for neither.

A tile shows a student's state now, in DESIGN.md's vocabulary (the latest observation;
`left` from the roster), how long it has lasted, and their attention over the window.
Tiles are sorted so that those needing a look come first: no face on camera, then on
camera but looking away, then camera off; then everyone else; states that say nothing
about the student (no signal, not sampled) and students who left come last. The words
are chosen here, once, so the page and the tests read the same text; none of them
names an emotion.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from analysis.aggregate import POSE_UNRELIABLE
from analysis.classwide import AWAY_TURN
from analysis.records import Observation, State
from bot.sessions.roster_match import RosterStudent, match_name
from model.labels import LABELS
from reports.context import roster_name

JOINING = "joining"  # in class, no sample yet (a tile state, not an observation state)
NOT_ARRIVED = "not_arrived"  # on the roster the session expected, nobody of that name joined yet
NOT_VISIBLE = "not_visible"  # the same on a platform that may hide participants from the bot (Zoom)

#: tile state → (text on the tile, sort group); lower groups need a look first.
TILE_TEXT: dict[str, str] = {
    State.ABSENT.value: "No face on camera",
    "looking_away": "On camera, looking away",
    State.CAMERA_OFF.value: "Camera off",
    State.PRESENT.value: "On camera",
    JOINING: "Joining",
    NOT_ARRIVED: "Not arrived yet",
    NOT_VISIBLE: "Not visible to ClassPulse",
    State.NOT_SAMPLED.value: "Not watched now",
    State.NO_SIGNAL.value: "No signal (our side, not the student)",
    State.LEFT.value: "Left the class",
}
_GROUP = {State.ABSENT.value: 0, "looking_away": 0, State.CAMERA_OFF.value: 1, State.PRESENT.value: 2,
          JOINING: 2, State.NOT_SAMPLED.value: 3, State.NO_SIGNAL.value: 3, State.LEFT.value: 4,
          NOT_ARRIVED: 1, NOT_VISIBLE: 3}
NEEDS_A_LOOK = frozenset({State.ABSENT.value, "looking_away"})


@dataclass(frozen=True)
class RosterEntry:
    """A student of the live session: id, name, and whether any of their feeds is connected."""

    participant_id: str
    name: str
    present: bool


def class_pulse(observations: Sequence[Observation], present: Sequence[str], progress: dict[str, Any] | None,
                window_s: float) -> dict[str, Any]:
    attentive = known = 0
    mood = [0.0] * len(LABELS)
    moods = 0
    camera_off = sum(1 for o in observations if o.state is State.CAMERA_OFF)
    for o in observations:
        for f in o.faces:
            if f.attentive is not None:
                known += 1
                attentive += bool(f.attentive)
            if f.emotions is not None and not f.uncertain:
                moods += 1
                mood = [m + p for m, p in zip(mood, f.emotions, strict=True)]
    return {
        "state": progress["state"] if progress else "ended",
        "elapsed_s": round(progress["elapsed_s"], 1) if progress else None,
        "present": sorted(present, key=str.lower),
        "students_seen": progress["students"] if progress else None,
        "window_s": window_s,
        "attention": round(attentive / known, 3) if known else None,
        "mood": {label: round(m / moods, 3) for label, m in zip(LABELS, mood, strict=True)} if moods else None,
        "camera_off_share": round(camera_off / len(observations), 3) if observations else None,
        "samples": progress["samples"] if progress else None,
    }


def _attention(observations: Iterable[Observation]) -> float | None:
    """Share of attentive readings among present samples whose head pose could be read
    (the primary face, by `analysis.aggregate.score`'s rule: no pose from an unreliable face)."""
    flags = [f.attentive for o in observations if o.state is State.PRESENT and (f := o.primary) is not None
             and f.attentive is not None and not (f.quality & POSE_UNRELIABLE)]
    return sum(flags) / len(flags) if flags else None


def _stretch(observations: Sequence[Observation], now: float) -> float:
    """How long the latest state has lasted, as far back as the observations reach."""
    last = observations[-1]
    start = last.t
    for o in reversed(observations):
        if o.state is not last.state:
            break
        start = o.t
    return max(0.0, now - start)


def tile(entry: RosterEntry, observations: Sequence[Observation], now: float, window_s: float) -> dict[str, Any]:
    """One student's tile from their observations (time order) of the recent past."""
    recent = [o for o in observations if o.t >= now - window_s]
    attention = _attention(recent)
    for_s: float | None = None
    if not entry.present:
        state = State.LEFT.value
    elif not observations or observations[-1].state is State.LEFT:  # rejoined, no new sample yet
        state = JOINING
    else:
        state = observations[-1].state.value
        for_s = round(_stretch(observations, now), 1)
        if state == State.PRESENT.value and attention is not None and attention < AWAY_TURN:
            state = "looking_away"
    if state not in (State.PRESENT.value, "looking_away"):
        attention = None  # a number from before they left or lost the camera would read as now
    return {"id": entry.participant_id, "name": entry.name, "state": state, "text": TILE_TEXT[state],
            "for_s": for_s, "attention": None if attention is None else round(attention, 3),
            "look": state in NEEDS_A_LOOK}


def sort_key(t: dict[str, Any]) -> tuple[int, str, str]:
    """Needing a look first, then by name (case-insensitive), then id (two students of one name)."""
    return _GROUP[t["state"]], str(t["name"]).casefold(), str(t["id"])


def tiles(roster: Sequence[RosterEntry], observations: Sequence[Observation], now: float,
          window_s: float, missing: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Every participant as a tile, and the `missing` expected students (`not_arrived`), sorted
    by `sort_key`."""
    by_pid: dict[str, list[Observation]] = {}
    for o in sorted(observations, key=lambda o: o.t):
        by_pid.setdefault(o.participant_id, []).append(o)
    shown = [tile(e, by_pid.get(e.participant_id, []), now, window_s) for e in roster]
    return sorted([*shown, *missing], key=sort_key)


def counts(shown: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How many tiles are in each state (for the page's summary line)."""
    out: dict[str, int] = {}
    for t in shown:
        out[t["state"]] = out.get(t["state"], 0) + 1
    return out


def carry_since(shown: Sequence[dict[str, Any]], before: dict[str, tuple[str, float]],
                now: float) -> dict[str, tuple[str, float]]:
    """Keep a state's start across pulses: a tile reads only the recent past, so "camera off
    for 12 min" needs the start remembered from earlier pulses. Updates `for_s` in place and
    returns the starts to remember (participant id → (state, class time it began))."""
    after: dict[str, tuple[str, float]] = {}
    for t in shown:
        if t["for_s"] is None:
            continue
        start = now - t["for_s"]
        prev = before.get(t["id"])
        if prev is not None and prev[0] == t["state"] and prev[1] < start:
            start = prev[1]
            t["for_s"] = round(now - start, 1)
        after[t["id"]] = (t["state"], start)
    return after


#: The live view's legend: tile state → what it means (shown under the tiles).
LEGEND: tuple[tuple[str, str], ...] = (
    (State.ABSENT.value, "the camera is on but no face is in the picture (stepped away, or turned fully away)"),
    ("looking_away", "a face is on camera, turned away from the screen in most of the last readings"),
    (State.CAMERA_OFF.value, "the student's camera is off; never counted as absence or disengagement"),
    (State.PRESENT.value, "a face is on camera; the percentage is how often it faced the screen"),
    (JOINING, "in the meeting, first reading not there yet"),
    (State.NOT_SAMPLED.value, "not watched at this moment by design (the platform sends one video at a time)"),
    (State.NO_SIGNAL.value, "a fault on our side or the network; says nothing about the student"),
    (State.LEFT.value, "left the meeting (a student who comes back gets their tile back)"),
    (NOT_ARRIVED, "on the class roster, and nobody of that name (or alias) has joined yet"),
    (NOT_VISIBLE, "on the class roster, not seen by ClassPulse: this platform may not show every "
                  "participant to the bot, so it says nothing about the student"),
)


@dataclass(frozen=True)
class Expected:
    """The roster students a session expected (`bot.db.rosters.session_rosters`), with what
    matching needs: aliases and e-mail of each, and the teacher's earlier confirmations."""

    students: tuple[RosterStudent, ...]
    sees_everyone: bool = True
    confirmed: tuple[tuple[str, str], ...] = ()  # (name key, roster student id)


def roster_names(expected: Expected, display_names: Iterable[str]) -> dict[str, str]:
    """Display name → the tile's name for names certainly a roster student (same name, alias,
    e-mail, a confirmed name): "Alex Kim (as “Lexi”)", as the class report writes them.
    Proposals awaiting the teacher keep the name used."""
    confirmed = dict(expected.confirmed)
    by_id = {s.student_id: s.name for s in expected.students}
    out = {}
    for name in set(display_names):
        m = match_name(name, expected.students, confirmed=confirmed)
        if m.certain and m.student_id in by_id:
            out[name] = roster_name(by_id[m.student_id], name)
    return out


def not_arrived(expected: Expected, display_names: Iterable[str]) -> list[dict[str, Any]]:
    """A tile for each expected student nobody has joined as yet, matched as the report does
    (`roster_match.match_name`): a name that is certainly the student (same name, alias, e-mail,
    a confirmed name) or only might be (a shortened name awaiting the teacher's confirmation, or
    ambiguous between two students) counts as arrived, so a tile never claims that a student
    is missing who may be in the room under another name."""
    confirmed = dict(expected.confirmed)
    arrived: set[str] = set()
    for name in set(display_names):
        m = match_name(name, expected.students, confirmed=confirmed)
        arrived.update(m.candidates if m.candidates else ([m.student_id] if m.student_id else []))
    state = NOT_ARRIVED if expected.sees_everyone else NOT_VISIBLE
    return [{"id": f"roster:{s.student_id}", "name": s.name, "state": state, "text": TILE_TEXT[state],
             "for_s": None, "attention": None, "look": False}
            for s in expected.students if s.student_id not in arrived]
