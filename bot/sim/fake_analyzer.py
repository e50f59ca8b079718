"""An analyser stand-in for tests and dry runs: records every batch, answers ABSENT or CAMERA_OFF.

The real `analysis.pipeline.Analyzer` loads TensorFlow and needs faces; session, sampler and
connector tests only need something with its call signature that shows what it was given
(and can be made slow to provoke drops).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from analysis.pipeline import Sample
from analysis.records import Observation, State


class RecordingAnalyzer:
    """Stands in for `Analyzer.analyze`: ABSENT for frames, CAMERA_OFF for none; optionally slow."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.batches: list[list[Sample]] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, samples: Sequence[Sample]) -> list[Observation]:
        self.threads.add(threading.current_thread().name)
        if self.delay_s:
            time.sleep(self.delay_s)
        with self.lock:
            self.batches.append(list(samples))
        return [Observation(s.session_id, s.participant_id, s.t,
                            State.CAMERA_OFF if s.frame is None else State.ABSENT) for s in samples]

    def frames_of(self, pid: str) -> list[Sample]:
        return [s for b in self.batches for s in b if s.participant_id == pid]
