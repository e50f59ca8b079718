"""Frames → observations: detect, track, read pose/quality, classify all faces in one batch.

`Analyzer.analyze` takes every frame sampled in one tick (all students at once) and makes
exactly one classifier call for all their faces, because per-call overhead dominates a
small CNN. Trackers are kept per participant so face ids stay stable across ticks and
faces of different students never mix.

Emotion inference is skipped entirely when `Settings.emotions` is False (the model is
not even loaded); presence, attention and quality still work.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.records import FaceReading, Observation, Quality, State

_classifiers: dict[str | None, Any] = {}
_classifiers_lock = threading.Lock()


def shared_classifier(model_dir: str | None) -> Any:
    """One loaded emotion model per folder for the whole process.

    The classifier is stateless (one compiled TensorFlow function, safe to call from several
    threads), so concurrent and successive sessions share it: loading it per session cost
    seconds and tens of MB each, and a Keras model's reference cycles kept every copy alive
    until a full garbage collection (issue 18, item 4).
    """
    with _classifiers_lock:
        found = _classifiers.get(model_dir)
        if found is None:
            from model.classifier import EmotionClassifier

            found = _classifiers[model_dir] = EmotionClassifier.load(model_dir)
        return found
#: Confidence threshold for a model without calibration (the value used before calibration).
UNCALIBRATED_THRESHOLD = 0.35


@dataclass(frozen=True)
class Settings:
    detector: str = "auto"
    landmarks: bool = True  # face mesh: eye state, and head pose for keypoint-less detectors
    emotions: bool = True
    min_face_px: int = 40
    model_dir: str | None = None
    batch_size: int = 64
    #: Classifier confidence below which a reading is flagged low_confidence. None: the
    #: model's calibrated threshold (`training.calibrate`, fitted on FER-2013 val), or 0.35
    #: for an uncalibrated model.
    min_emotion_confidence: float | None = None


@dataclass(frozen=True)
class Sample:
    """One sampled frame of one participant; `frame` None means no video (camera off)."""

    session_id: str
    participant_id: str
    t: float
    frame: np.ndarray | None


@dataclass
class Timings:
    """Cumulative seconds per stage, for benchmarks and /metrics."""

    detect: float = 0.0
    signals: float = 0.0
    classify: float = 0.0
    samples: int = 0
    faces: int = 0
    classifier_calls: int = 0
    #: The newest classifier call times: bounded, a bot runs ticks all day (issue 18, item 13).
    per_call: deque[float] = field(default_factory=lambda: deque(maxlen=1000))


class Analyzer:
    """Stateful only in its per-participant trackers; everything else is per call.

    Not thread-safe: the detector and face mesh hold TFLite interpreters. Use one
    Analyzer per worker thread (the bot runs a single inference worker).
    """

    def __init__(self, settings: Settings = Settings(), detector: Any = None, classifier: Any = None) -> None:
        from analysis.detect import make_detector

        self.settings = settings
        self.detector = detector if detector is not None else make_detector(settings.detector)
        self._classifier = classifier
        self._trackers: dict[tuple[str, str], Any] = {}
        self._mesh: Any = None
        if settings.landmarks:
            from analysis.detectors.face_mesh import FaceMesh

            self._mesh = FaceMesh()
        self.timings = Timings()

    @property
    def classifier(self) -> Any:
        if self._classifier is None:
            self._classifier = shared_classifier(self.settings.model_dir)
        return self._classifier

    def close(self) -> None:
        """Release the models now (TFLite interpreters hold a file descriptor, a thread pool and
        their arena): a finished session's object graph has reference cycles, so without this
        they would live until the next full garbage collection. The analyser is unusable after."""
        self._mesh = None
        self._classifier = None
        self.detector = None
        self._trackers.clear()
    def describe(self) -> dict[str, Any]:
        """What this analyzer reads with, for a session to record beside its readings: the
        model version (`model.bundle.model_version`), the detector and its crop framing, and
        the settings that change readings. Loads the model when emotions are on."""
        from dataclasses import asdict

        from model.framing import framing_for

        name = getattr(self.detector, "name", "?")
        out: dict[str, Any] = {"detector": name, "framing": asdict(framing_for(name)),
                               "settings": asdict(self.settings)}
        if self.settings.emotions:
            out["model_version"] = getattr(self.classifier, "version", "") or "unknown"
            out["uncertain_below"] = self._uncertain_below()
        return out

    def forget(self, session_id: str, participant_id: str) -> None:
        """Drop a participant's tracker (they left for good)."""
        self._trackers.pop((session_id, participant_id), None)

    def _tracker(self, key: tuple[str, str]) -> Any:
        from analysis.track import FaceTracker

        if key not in self._trackers:
            self._trackers[key] = FaceTracker()
        return self._trackers[key]

    def analyze(self, samples: Sequence[Sample]) -> list[Observation]:
        from analysis.faces import face_patches, find_faces
        from analysis.landmarks import assess_face, is_camera_off

        pending: list[tuple[Sample, bool, list[dict[str, Any]]]] = []
        patches: list[np.ndarray] = []
        for s in samples:
            self.timings.samples += 1
            if s.frame is None or is_camera_off(s.frame):
                pending.append((s, True, []))
                continue
            t0 = time.perf_counter()
            # Largest face first: the student nearest their own camera leads every listing.
            found = find_faces(self.detector, s.frame)
            detections = [f.detection for f in found]
            ids = self._tracker((s.session_id, s.participant_id)).update(detections)
            t1 = time.perf_counter()
            self.timings.detect += t1 - t0
            faces: list[dict[str, Any]] = []
            crops = face_patches(s.frame, found, self.detector.name) if self.settings.emotions else []
            for i, (det, face_id) in enumerate(zip(detections, ids, strict=True)):
                a = assess_face(s.frame, det, mesh=self._mesh, min_face_px=self.settings.min_face_px)
                face = {"face_id": int(face_id), "det": det, "assess": a, "patch": None}
                if self.settings.emotions:
                    face["patch"] = len(patches)
                    patches.append(crops[i])
                faces.append(face)
            self.timings.signals += time.perf_counter() - t1
            pending.append((s, False, faces))

        probs = self._classify(patches)
        out: list[Observation] = []
        for s, camera_off, faces in pending:
            if camera_off:
                out.append(Observation(s.session_id, s.participant_id, s.t, State.CAMERA_OFF))
                continue
            if not faces:
                out.append(Observation(s.session_id, s.participant_id, s.t, State.ABSENT))
                continue
            readings = []
            for f in faces:
                a, det = f["assess"], f["det"]
                quality = set(a.quality)
                emotions = None
                if f["patch"] is not None:
                    p = probs[f["patch"]]
                    emotions = tuple(float(v) for v in p)
                    if float(p.max()) < self._uncertain_below():
                        quality.add(Quality.LOW_CONFIDENCE)
                readings.append(FaceReading(
                    face_id=f["face_id"], box=tuple(int(v) for v in det.box),  # type: ignore[arg-type]
                    score=float(det.score), yaw=a.yaw, pitch=a.pitch, attentive=a.attentive,
                    eyes_open=a.eyes_open, emotions=emotions, quality=frozenset(quality),
                ))
                self.timings.faces += 1
            out.append(Observation(s.session_id, s.participant_id, s.t, State.PRESENT, tuple(readings)))
        return out

    def _uncertain_below(self) -> float:
        if self.settings.min_emotion_confidence is not None:
            return self.settings.min_emotion_confidence
        fitted = getattr(self.classifier, "uncertain_below", None)
        return UNCALIBRATED_THRESHOLD if fitted is None else float(fitted)

    def _classify(self, patches: list[np.ndarray]) -> np.ndarray:
        if not patches:
            return np.zeros((0, 7), dtype=np.float32)
        t0 = time.perf_counter()
        batch = np.stack(patches)
        step = self.settings.batch_size
        probs = np.concatenate([self.classifier.predict(batch[i : i + step])
                                for i in range(0, len(batch), step)])
        dt = time.perf_counter() - t0
        self.timings.classify += dt
        self.timings.classifier_calls += 1
        self.timings.per_call.append(dt)
        return probs

