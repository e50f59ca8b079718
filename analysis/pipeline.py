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
class Shortcuts:
    """Live-only ways to spend less per sample (docs/bot.md, "Cost model"); all off by default.

    `classpulse analyze` and `evaluate` keep them off: they always run the configured detector,
    the face mesh and the emotion model on every detected face. A live session turns them on
    from `analysis.live` (`bot.sessions.analyzer.live_settings_from`).
    """

    #: Per stream: BlazeFace for one large face, YuNet on half the frame for large faces,
    #: YuNet otherwise, falling back to YuNet when the cheap search finds nothing
    #: (`analysis.detectors.per_stream`). Needs the configured detector to be YuNet.
    choose_detector: bool = False
    #: Face mesh (eye state) for a face at most every this many samples (1 = every sample)...
    mesh_every: int = 1
    #: ...or sooner when its box centre moved more than this share of the face's size.
    mesh_move: float = 0.1
    #: No emotion call for a face the quality check already marked uncertain: it is stored
    #: with its quality flags and no probabilities, which reports never average in anyway
    #: (`analysis.aggregate.score` ignores the emotions of a flagged face).
    skip_uncertain_emotion: bool = False

    def __post_init__(self) -> None:
        if self.mesh_every < 1:
            raise ValueError(f"mesh_every must be at least 1, got {self.mesh_every}")


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
    shortcuts: Shortcuts = Shortcuts()


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
    #: What the live shortcuts saved: mesh runs skipped, emotion calls skipped, detector modes.
    mesh_runs: int = 0
    mesh_reused: int = 0
    emotion_skipped: int = 0
    detector_modes: dict[str, int] = field(default_factory=dict)


@dataclass
class _MeshMemo:
    """The last face-mesh reading of one face, reused for `Shortcuts.mesh_every` samples."""

    box: tuple[int, int, int, int]
    landmarks: Any
    age: int = 0


class _Remembered:
    """A `LandmarkReader` that hands back a face's last mesh instead of running the model."""

    def __init__(self, landmarks: Any) -> None:
        self._landmarks = landmarks

    def landmarks(self, frame_bgr: np.ndarray, detection: Any) -> Any:
        return self._landmarks


class _Recording:
    """A `LandmarkReader` that runs the face mesh and remembers the reading for the face."""

    def __init__(self, mesh: Any, memos: dict[int, _MeshMemo], face_id: int, box: tuple[int, int, int, int]) -> None:
        self._mesh, self._memos, self._key, self._box = mesh, memos, face_id, box

    def landmarks(self, frame_bgr: np.ndarray, detection: Any) -> Any:
        found = self._mesh.landmarks(frame_bgr, detection)
        self._memos[self._key] = _MeshMemo(self._box, found)
        return found


def moved(a: tuple[int, int, int, int], b: tuple[int, int, int, int], share: float) -> bool:
    """Whether box `b`'s centre or size differs from `a`'s by more than `share` of a's size."""
    size = max(1, min(a[2], a[3]))
    dx = (b[0] + b[2] / 2) - (a[0] + a[2] / 2)
    dy = (b[1] + b[3] / 2) - (a[1] + a[3] / 2)
    return (dx * dx + dy * dy) ** 0.5 > share * size or abs(min(b[2], b[3]) - size) > share * size


class Analyzer:
    """Stateful only in its per-participant trackers; everything else is per call.

    Not thread-safe: the detector and face mesh hold TFLite interpreters. Use one
    Analyzer per worker thread (the bot runs a single inference worker).
    """

    def __init__(self, settings: Settings = Settings(), detector: Any = None, classifier: Any = None,
                 fast_detector: Any = None) -> None:
        from analysis.detect import make_detector

        self.settings = settings
        self.detector = detector if detector is not None else make_detector(settings.detector)
        self._classifier = classifier
        self._trackers: dict[tuple[str, str], Any] = {}
        self._fast = fast_detector
        if settings.shortcuts.choose_detector and self._fast is None:
            if self.detector.name != "yunet":
                raise ValueError("analysis.live.choose_detector needs the yunet detector (configured: "
                                 f"{self.detector.name}); set analysis.detector to yunet or auto")
            self._fast = make_detector("blazeface")
        self._streams: dict[tuple[str, str], Any] = {}
        #: per student: face id → its last mesh reading (only the faces of the latest sample)
        self._meshes: dict[tuple[str, str], dict[int, _MeshMemo]] = {}
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
        self._fast = None
        self._trackers.clear()
        self._streams.clear()
        self._meshes.clear()
    def describe(self) -> dict[str, Any]:
        """What this analyzer reads with, for a session to record beside its readings: the
        model version (`model.bundle.model_version`), the detector and its crop framing, and
        the settings that change readings. Loads the model when emotions are on."""
        from dataclasses import asdict

        from model.framing import framing_for

        name = getattr(self.detector, "name", "?")
        out: dict[str, Any] = {"detector": name, "framing": asdict(framing_for(name)),
                               "settings": asdict(self.settings)}
        if self.settings.shortcuts.choose_detector and self._fast is not None:
            fast = getattr(self._fast, "name", "?")  # the per-stream choice: faces found by either
            out["per_stream"] = {"fast": fast, "fast_framing": asdict(framing_for(fast))}
        if self.settings.emotions:
            out["model_version"] = getattr(self.classifier, "version", "") or "unknown"
            out["uncertain_below"] = self._uncertain_below()
        return out

    def forget(self, session_id: str, participant_id: str) -> None:
        """Drop a participant's tracker (they left for good)."""
        self._trackers.pop((session_id, participant_id), None)
        self._streams.pop((session_id, participant_id), None)
        self._meshes.pop((session_id, participant_id), None)

    def _find(self, key: tuple[str, str], frame: np.ndarray) -> tuple[list[Any], str]:
        """Faces (largest first) and the detector that found them: per stream with the shortcut."""
        from analysis.faces import find_faces

        if not self.settings.shortcuts.choose_detector:
            return find_faces(self.detector, frame), self.detector.name
        from analysis.detectors.per_stream import ChoiceRule, StreamDetector

        stream = self._streams.get(key)
        if stream is None:
            rule = ChoiceRule(min_face=self.settings.min_face_px)
            stream = self._streams[key] = StreamDetector(self._fast, self.detector, rule)
        found, backend = stream.find(frame)
        modes = self.timings.detector_modes
        modes[stream.last_mode] = modes.get(stream.last_mode, 0) + 1
        return found, backend

    def _mesh_reader(self, key: tuple[str, str], face_id: int, box: tuple[int, int, int, int]) -> Any:
        """The face mesh, or this face's remembered reading when `mesh_every` allows reusing it."""
        cut = self.settings.shortcuts
        if self._mesh is None or cut.mesh_every <= 1:
            if self._mesh is not None:
                self.timings.mesh_runs += 1
            return self._mesh
        memo = self._meshes.setdefault(key, {}).get(face_id)
        if memo is not None and memo.age + 1 < cut.mesh_every and not moved(memo.box, box, cut.mesh_move):
            memo.age += 1
            self.timings.mesh_reused += 1
            return _Remembered(memo.landmarks)
        self.timings.mesh_runs += 1
        return _Recording(self._mesh, self._meshes[key], face_id, box)

    def _tracker(self, key: tuple[str, str]) -> Any:
        from analysis.track import FaceTracker

        if key not in self._trackers:
            self._trackers[key] = FaceTracker()
        return self._trackers[key]

    def analyze(self, samples: Sequence[Sample]) -> list[Observation]:
        from analysis.faces import face_patches
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
            key = (s.session_id, s.participant_id)
            found, backend = self._find(key, s.frame)
            detections = [f.detection for f in found]
            ids = self._tracker(key).update(detections)
            t1 = time.perf_counter()
            self.timings.detect += t1 - t0
            faces: list[dict[str, Any]] = []
            skip_flagged = self.settings.shortcuts.skip_uncertain_emotion
            for f, det, face_id in zip(found, detections, ids, strict=True):
                mesh = self._mesh_reader(key, int(face_id), det.box)
                a = assess_face(s.frame, det, mesh=mesh, min_face_px=self.settings.min_face_px)
                face = {"face_id": int(face_id), "det": det, "assess": a, "patch": None}
                if self.settings.emotions and skip_flagged and a.quality:
                    self.timings.emotion_skipped += 1  # uncertain already: stored without probabilities
                elif self.settings.emotions:
                    face["patch"] = len(patches)
                    patches.append(face_patches(s.frame, [f], backend)[0])
                faces.append(face)
            memos = self._meshes.get(key)
            if memos:  # a face not in this sample starts afresh when it comes back: memos stay few
                for gone in set(memos) - {int(i) for i in ids}:
                    del memos[gone]
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

