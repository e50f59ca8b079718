"""The numbers of the dashboard's live view: class attention and mood over a sliding window.

Pure: observations and the roster in, a JSON-ready dict out. Levels over the last
`window_s` seconds, never a single frame: attention is the share of attentive face
readings among present ones, mood the mean emotion probabilities of certain readings
(absent when emotions are switched off). Camera-off samples count for neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analysis.records import Observation, State
from model.labels import LABELS


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
