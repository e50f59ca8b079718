"""The analysis pipeline with in-process fakes for the detector and the classifier.

Checks the contract the bot relies on: one classifier call per tick for every face of every
student, separate trackers per student, camera-off vs absent vs present, and that
`emotions: off` never touches the classifier.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.detect import Detection
from analysis.pipeline import Analyzer, Sample, Settings
from analysis.records import Quality, State


class ScriptedDetector:
    """Returns the boxes written into the frame's first row (a test-only encoding)."""

    name = "scripted"

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        n = int(frame_bgr[0, 0, 0])
        return [Detection(box=(40 + 150 * i, 60, 120, 120), score=0.99) for i in range(n)]


class CountingClassifier:
    labels = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, patches: np.ndarray) -> np.ndarray:
        self.calls.append(len(patches))
        out = np.full((len(patches), 7), 0.05, np.float32)
        out[:, 3] = 0.7  # "happy"
        return out


def frame(faces: int) -> np.ndarray:
    rng = np.random.default_rng(faces)
    img = rng.integers(60, 200, (480, 640, 3), dtype=np.uint8)  # textured: not a camera-off frame
    img[0, 0, 0] = faces
    return img


def make(emotions: bool = True) -> tuple[Analyzer, CountingClassifier]:
    clf = CountingClassifier()
    settings = Settings(emotions=emotions, landmarks=False, min_emotion_confidence=0.5)
    return Analyzer(settings, detector=ScriptedDetector(), classifier=clf), clf


def test_one_classifier_call_per_tick_for_all_students() -> None:
    analyzer, clf = make()
    tick = [Sample("s", "ann", 0.0, frame(1)), Sample("s", "ben", 0.0, frame(3)),
            Sample("s", "cy", 0.0, frame(0)), Sample("s", "dee", 0.0, None)]
    obs = analyzer.analyze(tick)
    assert clf.calls == [4]  # 1 + 3 faces, one batched call
    assert [(o.participant_id, o.state, len(o.faces)) for o in obs] == [
        ("ann", State.PRESENT, 1), ("ben", State.PRESENT, 3), ("cy", State.ABSENT, 0),
        ("dee", State.CAMERA_OFF, 0)]
    face = obs[0].faces[0]
    assert face.emotion == "happy" and face.emotions is not None and face.emotions[3] == pytest.approx(0.7)


def test_black_frame_is_camera_off_not_absent() -> None:
    analyzer, _ = make()
    black = np.zeros((480, 640, 3), np.uint8)
    assert analyzer.analyze([Sample("s", "a", 0.0, black)])[0].state is State.CAMERA_OFF


def test_trackers_are_per_student() -> None:
    analyzer, _ = make()
    for t in range(3):
        obs = analyzer.analyze([Sample("s", "ann", float(t), frame(2)), Sample("s", "ben", float(t), frame(1))])
        assert [f.face_id for f in obs[0].faces] == [1, 2]
        assert [f.face_id for f in obs[1].faces] == [1]  # Ben's ids do not continue Ann's


def test_emotions_off_never_calls_the_classifier() -> None:
    analyzer, clf = make(emotions=False)
    obs = analyzer.analyze([Sample("s", "ann", 0.0, frame(2))])
    assert clf.calls == []
    assert obs[0].state is State.PRESENT and all(f.emotions is None for f in obs[0].faces)
    assert all(f.emotion is None for f in obs[0].faces)


def test_unsure_classifier_flags_low_confidence() -> None:
    clf = CountingClassifier()
    analyzer = Analyzer(Settings(landmarks=False, min_emotion_confidence=0.8), detector=ScriptedDetector(),
                        classifier=clf)
    face = analyzer.analyze([Sample("s", "ann", 0.0, frame(1))])[0].faces[0]
    assert Quality.LOW_CONFIDENCE in face.quality and face.uncertain


def test_describe_names_detector_framing_and_threshold() -> None:
    analyzer, _ = make()
    d = analyzer.describe()
    assert d["detector"] == "scripted"
    assert d["framing"]["anchor"] == "box"  # no measured framing for a scripted detector
    assert d["uncertain_below"] == 0.5  # the configured threshold wins over the model's
    assert d["settings"]["landmarks"] is False
    assert d["model_version"] == "unknown"  # the fake classifier has no version
