"""The live-only shortcuts: per-stream detector choice, face mesh every Nth sample, no emotion
call for faces already flagged uncertain — and that `classpulse analyze` keeps all of them off."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.detect import Detection
from analysis.detectors.face_mesh import NUM_POINTS, MeshLandmarks
from analysis.detectors.per_stream import ChoiceRule, StreamDetector
from analysis.pipeline import Analyzer, Sample, Settings, Shortcuts
from analysis.records import Quality, State
from bot.config import Config
from bot.sessions.analyzer import live_settings_from, settings_from


class BoxDetector:
    """Finds the faces written into the frame's first row: [count, side, x] (test-only encoding).

    Sees faces of at least `min_side` pixels in the frame it is given (a halved frame halves them).
    """

    def __init__(self, name: str, min_side: int = 0, blind: bool = False) -> None:
        self.name = name
        self.min_side = min_side
        self.blind = blind
        self.calls: list[tuple[int, int]] = []  # frame (w, h) per call

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        h, w = frame_bgr.shape[:2]
        self.calls.append((w, h))
        if self.blind or w not in (640, 320):  # not the frame or its half: the padded second search
            return []
        k = w / 640
        c = max(1, round(8 * k))  # the code survives halving: 8x8 blocks
        n, side, x = int(frame_bgr[0, 0, 0]), int(frame_bgr[0, c, 0]) * 4, int(frame_bgr[0, 2 * c, 0]) * 2
        side_here = round(side * k)
        if side_here < self.min_side:
            return []
        return [frontal((round((x + 150 * i) * k), round(100 * k), side_here, side_here)) for i in range(n)]


def frontal(box: tuple[int, int, int, int]) -> Detection:
    """A detection with YuNet's five keypoints where a face looking into the camera has them."""
    x, y, w, _ = box
    rel = {"right_eye": (0.3, 0.35), "left_eye": (0.7, 0.35), "nose": (0.5, 0.6),
           "mouth_right": (0.344, 0.775), "mouth_left": (0.656, 0.775)}
    return Detection(box=box, score=0.95,
                     keypoints=tuple((k, (x + u * w, y + v * w)) for k, (u, v) in rel.items()))


def frame(faces: int, side: int, x: int = 100) -> np.ndarray:
    rng = np.random.default_rng(faces * 1000 + side)
    img = rng.integers(60, 200, (480, 640, 3), dtype=np.uint8)
    img[:8, :8, 0], img[:8, 8:16, 0], img[:8, 16:24, 0] = faces, side // 4, x // 2
    return img


def test_one_large_face_moves_to_blazeface_after_settling_and_verifies_with_yunet() -> None:
    fast, full = BoxDetector("blazeface"), BoxDetector("yunet")
    stream = StreamDetector(fast, full, ChoiceRule(settle=3, verify_every=5))
    backends = [stream.find(frame(1, 200), pad=0.0)[1] for _ in range(10)]
    # three full searches to settle, then BlazeFace; every 5th sample is a full search again
    assert backends == ["yunet"] * 3 + ["blazeface"] * 4 + ["yunet"] + ["blazeface"] * 2
    assert len(full.calls) == 4 and len(fast.calls) == 6


def test_a_miss_of_blazeface_goes_to_yunet_on_the_same_frame() -> None:
    fast, full = BoxDetector("blazeface", blind=True), BoxDetector("yunet")
    stream = StreamDetector(fast, full, ChoiceRule(settle=2, verify_every=100))
    for _ in range(2):
        stream.find(frame(1, 200), pad=0.0)
    found, backend = stream.find(frame(1, 200), pad=0.0)
    assert backend == "yunet" and len(found) == 1
    assert stream.counts["fallback"] == 1 and len(fast.calls) == 1 and len(full.calls) == 3


def test_galleries_and_small_faces_stay_on_the_full_yunet_search() -> None:
    fast, full = BoxDetector("blazeface"), BoxDetector("yunet")
    stream = StreamDetector(fast, full, ChoiceRule(settle=2, min_face=40))
    gallery = [stream.find(frame(3, 60), pad=0.0)[1] for _ in range(4)]  # three faces of 60 px
    assert stream.counts["fast"] == 0 and stream.counts["half"] == 0 and set(gallery) == {"yunet"}
    small = StreamDetector(fast, full, ChoiceRule(settle=2, min_face=40))
    for _ in range(4):
        small.find(frame(1, 60), pad=0.0)  # 60 px < 0.2 x 480 and < 2 x 40: no shortcut at all
    assert small.counts == {"fast": 0, "half": 0, "full": 4, "fallback": 0}
    assert all(c == (640, 480) for c in full.calls)


def test_medium_faces_are_searched_on_half_the_frame_and_mapped_back() -> None:
    fast, full = BoxDetector("blazeface"), BoxDetector("yunet", min_side=20)
    stream = StreamDetector(fast, full, ChoiceRule(settle=2, min_face=40, large_share=0.5))
    for _ in range(2):
        stream.find(frame(2, 88, x=100), pad=0.0)  # two faces of 88 px: not "one large face"
    found, backend = stream.find(frame(2, 88, x=100), pad=0.0)
    assert stream.last_mode == "half" and backend == "yunet" and full.calls[-1] == (320, 240)
    assert [f.detection.box for f in found] == [(100, 100, 88, 88), (250, 100, 88, 88)]


class CountingMesh:
    def __init__(self) -> None:
        self.calls = 0

    def landmarks(self, frame_bgr: np.ndarray, detection: Detection) -> MeshLandmarks:
        self.calls += 1
        pts = np.zeros((NUM_POINTS, 2), np.float32)
        pts[:, 0] = np.arange(NUM_POINTS)  # wide eyes, zero height: closed
        return MeshLandmarks(points=pts, depth=np.zeros(NUM_POINTS, np.float32), presence=0.9)


class CountingClassifier:
    labels = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

    def __init__(self) -> None:
        self.faces = 0

    def predict(self, patches: np.ndarray) -> np.ndarray:
        self.faces += len(patches)
        out = np.full((len(patches), 7), 0.05, np.float32)
        out[:, 3] = 0.7
        return out


def analyzer(shortcuts: Shortcuts) -> tuple[Analyzer, CountingMesh, CountingClassifier]:
    clf, mesh = CountingClassifier(), CountingMesh()
    a = Analyzer(Settings(landmarks=False, min_emotion_confidence=0.5, shortcuts=shortcuts),
                 detector=BoxDetector("yunet"), classifier=clf)
    a._mesh = mesh  # the real FaceMesh needs the model file; the counting one is enough here
    return a, mesh, clf


def test_face_mesh_runs_every_nth_sample_or_when_the_face_moved() -> None:
    a, mesh, _ = analyzer(Shortcuts(mesh_every=3, mesh_move=0.1))
    for t in range(6):
        obs = a.analyze([Sample("s", "ann", float(t), frame(1, 200))])
        assert obs[0].faces[0].eyes_open is False  # the remembered reading, not "unknown"
    assert mesh.calls == 2 and a.timings.mesh_reused == 4
    a.analyze([Sample("s", "ann", 6.0, frame(1, 200, x=200))])  # moved 100 px: half the face size
    assert mesh.calls == 3
    a.analyze([Sample("s", "ann", 7.0, frame(0, 200))])  # nobody: the memo goes, none pile up
    assert a._meshes[("s", "ann")] == {}


def test_faces_flagged_uncertain_get_no_emotion_call_but_stay_present() -> None:
    a, _, clf = analyzer(Shortcuts(skip_uncertain_emotion=True))
    obs = a.analyze([Sample("s", "ann", 0.0, frame(1, 200)), Sample("s", "ben", 0.0, frame(1, 20))])
    assert clf.faces == 1 and a.timings.emotion_skipped == 1
    ben = obs[1]
    assert ben.state is State.PRESENT and Quality.TINY in ben.faces[0].quality
    assert ben.faces[0].emotions is None and ben.faces[0].uncertain
    assert obs[0].faces[0].emotions is not None


def test_without_shortcuts_every_face_gets_mesh_and_emotion() -> None:
    a, mesh, clf = analyzer(Shortcuts())
    for t in range(3):
        obs = a.analyze([Sample("s", "ann", float(t), frame(1, 200)), Sample("s", "ben", float(t), frame(1, 20))])
    assert mesh.calls == 6 and clf.faces == 6
    assert obs[1].faces[0].emotions is not None


def test_analyze_and_evaluate_settings_have_the_shortcuts_off_live_has_them_on() -> None:
    config = Config()
    assert settings_from(config).shortcuts == Shortcuts()
    live = live_settings_from(config).shortcuts
    assert live.mesh_every == 3 and live.skip_uncertain_emotion
    off = live_settings_from(config.model_copy(update={"analysis": config.analysis.model_copy(update={
        "live_mesh_every": 1, "live_skip_uncertain_emotion": False, "live_choose_detector": False})}))
    assert off.shortcuts == Shortcuts()


def test_choose_detector_needs_yunet() -> None:
    with pytest.raises(ValueError, match="needs the yunet detector"):
        Analyzer(Settings(landmarks=False, shortcuts=Shortcuts(choose_detector=True)),
                 detector=BoxDetector("haar"), classifier=CountingClassifier())
