"""Analyser fakes for the analysis process tests, importable by the child process.

The child builds its analyser from an importable top-level factory, so these live in a module
of their own that imports only numpy and `analysis.records` (never TensorFlow, aiortc or
PyAV: the child must stay free of them, and `imported()` lets a test check it did).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from analysis.records import FaceReading, Observation, State

CRASH_ID = "crash"  # a sample of this participant kills the child (SIGKILL to itself)
FORBIDDEN = ("aiortc", "av", "tensorflow", "keras")


def imported() -> list[str]:
    """The forbidden top-level packages this process has imported."""
    return sorted({m.split(".")[0] for m in sys.modules} & set(FORBIDDEN))


class FrameEcho:
    """Reads the frames like an analyser would and keeps per-student state like the trackers do.

    Per frame: ABSENT when its mean is below 100, else PRESENT with one face whose box is
    (width, height, a checksum, the student's running count) — so a test can tell that the
    right pixels arrived and when the per-student state started afresh.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.closed = False

    def analyze(self, samples: Sequence[Any]) -> list[Observation]:
        out = []
        for s in samples:
            if s.participant_id == CRASH_ID:
                os.kill(os.getpid(), signal.SIGKILL)
            if s.frame is None:
                out.append(Observation(s.session_id, s.participant_id, s.t, State.CAMERA_OFF))
                continue
            key = (s.session_id, s.participant_id)
            self.counts[key] = self.counts.get(key, 0) + 1
            frame = np.asarray(s.frame)
            if float(frame.mean()) < 100:
                out.append(Observation(s.session_id, s.participant_id, s.t, State.ABSENT))
                continue
            check = int(frame.astype(np.uint64).sum() % 1_000_003)
            face = FaceReading(face_id=self.counts[key], box=(frame.shape[1], frame.shape[0], check, self.counts[key]),
                               score=round(float(frame.mean()) / 255, 6))
            out.append(Observation(s.session_id, s.participant_id, s.t, State.PRESENT, (face,)))
        return out

    def describe(self) -> dict[str, Any]:
        return {"analyser": "frame-echo", "pid": os.getpid(), "imported": imported(), "nice": os.nice(0)}

    def close(self) -> None:
        self.closed = True


def frame_echo() -> FrameEcho:
    return FrameEcho()


def broken(why: str) -> FrameEcho:
    """A factory that fails like a missing model would."""
    raise FileNotFoundError(why)


class Failing(FrameEcho):
    def analyze(self, samples: Sequence[Any]) -> list[Observation]:
        raise ValueError("this analyser fails every tick")


def failing() -> Failing:
    return Failing()
