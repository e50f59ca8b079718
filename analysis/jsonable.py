"""The JSON shape of readings, shared by `classpulse analyze --json` and `evaluate --frames`.

One definition, so the whole-path evaluation scores exactly what `analyze` prints: every
detected face with `emotion` and `probabilities` (uncertain or not, the flag beside).
"""

from __future__ import annotations

from typing import Any

from analysis.records import FaceReading, Observation


def face_json(f: FaceReading) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f.face_id, "box": list(f.box), "score": round(f.score, 3)}
    if f.emotions is not None:
        out["emotion"] = f.emotion
        out["probabilities"] = {k: round(v, 4) for k, v in (f.probabilities() or {}).items()}
    out["yaw"] = None if f.yaw is None else round(f.yaw, 1)
    out["pitch"] = None if f.pitch is None else round(f.pitch, 1)
    out["attentive"] = f.attentive
    out["eyes_open"] = f.eyes_open
    out["quality"] = sorted(q.value for q in f.quality)
    out["uncertain"] = f.uncertain
    return out


def observation_json(o: Observation) -> dict[str, Any]:
    return {"t": o.t, "state": o.state.value, "faces": [face_json(f) for f in o.faces]}
