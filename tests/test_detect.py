"""Face detectors: the shared interface, BlazeFace decoding, camera-off vs no-face vs face frames.

Quick tests use synthetic frames and the backends that load in milliseconds (Haar, YuNet).
BlazeFace and the face mesh need TensorFlow's interpreter (seconds to import): `slow`.
Tests on the real clips in ../shared/datasets/videos are `integration` and skip without them.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from analysis.bench_detect import letterbox_to, render_empty_room
from analysis.detect import (
    DEFAULT_DETECTOR,
    DETECTOR_NAMES,
    LEFT_EYE,
    NOSE,
    RIGHT_EYE,
    Detection,
    FaceDetector,
    canonical_name,
    clip_box,
    make_detector,
    resolve_name,
)
from analysis.detectors.blazeface import Letterbox, letterbox
from analysis.detectors.ssd import (
    AnchorLayer,
    Candidates,
    anchor_centers,
    decode,
    weighted_nms,
)
from analysis.quality import frames_identical, is_camera_off

VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "videos"
CLIP = VIDEOS / "liveportrait_driving_d9.mp4"
QUICK_BACKENDS = ("haar", "yunet")


def clip_frame(index: int = 30) -> np.ndarray:
    if not CLIP.is_file():
        pytest.skip(f"test clips not found in {VIDEOS}")
    capture = cv2.VideoCapture(str(CLIP))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    assert ok, f"could not decode frame {index} of {CLIP}"
    return letterbox_to(frame, (640, 480))


# --- the interface -------------------------------------------------------------------------


def test_detection_record() -> None:
    d = Detection(box=(10, 20, 30, 40), score=0.5, keypoints=((NOSE, (25.0, 40.0)),))
    assert d.keypoint(NOSE) == (25.0, 40.0)
    assert d.keypoint(RIGHT_EYE) is None
    assert d.points == {NOSE: (25.0, 40.0)}
    assert d.center == (25.0, 40.0)
    assert d.size == 30
    assert hash(d) == hash(Detection(box=(10, 20, 30, 40), score=0.5, keypoints=((NOSE, (25.0, 40.0)),)))
    with pytest.raises(ValueError):
        Detection(box=(0, 0, 0, 10), score=0.5)
    with pytest.raises(ValueError):
        Detection(box=(0, 0, 10, 10), score=1.5)


def test_names_and_aliases() -> None:
    assert canonical_name("YuFace") == "yunet"
    assert canonical_name("blazeface-full") == "blazeface_full"
    assert resolve_name(DEFAULT_DETECTOR) in DETECTOR_NAMES
    assert resolve_name("auto") == "yunet"  # yuface is installed here
    with pytest.raises(ValueError, match="unknown face detector"):
        make_detector("mtcnn")


def test_auto_falls_back_to_blazeface_without_yuface(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def no_yuface(name: str, package: str | None = None) -> object:
        return None if name == "yuface" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", no_yuface)
    assert resolve_name("auto") == "blazeface"
    assert resolve_name("yunet") == "yunet"


def test_clip_box() -> None:
    assert clip_box(-5.2, 10.4, 50.6, 20.0, 40, 40) == (0, 10, 40, 10)
    assert clip_box(50, 50, 60, 60, 40, 40) is None


# --- BlazeFace decoding --------------------------------------------------------------------


def test_anchor_grids_match_the_models() -> None:
    short = anchor_centers(128, (AnchorLayer(8, 2), AnchorLayer(16, 6)))
    full = anchor_centers(192, (AnchorLayer(4, 1),))
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    assert short[0] == pytest.approx((0.5 / 16, 0.5 / 16)) and (short[0] == short[1]).all()
    assert short[2] == pytest.approx((1.5 / 16, 0.5 / 16))
    assert short[512] == pytest.approx((0.5 / 8, 0.5 / 8)) and (short[512:518] == short[512]).all()


def test_decode_places_box_and_keypoints_around_the_anchor() -> None:
    anchors = np.array([[0.5, 0.5], [0.25, 0.25]], np.float32)
    regressors = np.zeros((2, 16), np.float32)
    regressors[0, :4] = [12.8, -6.4, 32.0, 64.0]  # centre offset (+0.1, -0.05), size (0.25, 0.5) of 128 px
    regressors[0, 4:6] = [-12.8, 0.0]  # first keypoint 0.1 left of the anchor
    logits = np.array([4.0, -4.0], np.float32)
    out = decode(regressors, logits, anchors, 128, min_score=0.5)
    assert len(out) == 1
    assert out.boxes[0] == pytest.approx([0.475, 0.2, 0.725, 0.7])
    assert out.keypoints[0, 0] == pytest.approx([0.4, 0.5])
    assert out.scores[0] == pytest.approx(1 / (1 + np.exp(-4.0)))


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces() -> None:
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.12, 0.1, 0.32, 0.3], [0.6, 0.6, 0.8, 0.8]], np.float32)
    points = np.zeros((3, 6, 2), np.float32)
    scores = np.array([0.9, 0.6, 0.7], np.float32)
    merged = weighted_nms(Candidates(boxes=boxes, keypoints=points, scores=scores), 0.3)
    assert len(merged) == 2
    assert merged.scores.tolist() == pytest.approx([0.9, 0.7])
    assert merged.boxes[0, 0] == pytest.approx((0.1 * 0.9 + 0.12 * 0.6) / 1.5)
    empty = weighted_nms(Candidates(boxes=boxes[:0], keypoints=points[:0], scores=scores[:0]))
    assert len(empty) == 0


def test_letterbox_maps_back_to_frame_pixels() -> None:
    frame = np.zeros((480, 640, 3), np.uint8)
    image, placement = letterbox(frame, 128)
    assert image.shape == (128, 128, 3) and image.min() == -1.0
    assert placement == Letterbox(scale=0.2, pad_x=0, pad_y=16)
    corners = placement.to_frame(np.array([[0.0, 16 / 128], [1.0, 112 / 128]], np.float32), 128)
    assert corners == pytest.approx(np.array([[0.0, 0.0], [640.0, 480.0]]))


# --- camera off vs no face vs face ---------------------------------------------------------


def test_camera_off_frames() -> None:
    rng = np.random.default_rng(0)
    assert is_camera_off(None)
    assert is_camera_off(np.zeros((0, 0, 3), np.uint8))
    assert is_camera_off(np.zeros((480, 640, 3), np.uint8))
    dark_noise = np.clip(rng.normal(6, 3, (480, 640, 3)), 0, 255).astype(np.uint8)
    assert is_camera_off(dark_noise)
    assert is_camera_off(np.full((480, 640, 3), (90, 60, 40), np.uint8))
    placeholder = np.full((480, 640, 3), 50, np.uint8)
    cv2.circle(placeholder, (320, 240), 40, (200, 120, 60), -1)  # avatar on a flat tile
    cv2.putText(placeholder, "AB", (300, 250), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    assert is_camera_off(placeholder)


@pytest.mark.parametrize("seed", range(5))
def test_empty_room_is_not_camera_off_and_has_no_face(seed: int) -> None:
    room = render_empty_room(seed)
    assert not is_camera_off(room)
    assert not is_camera_off(cv2.convertScaleAbs(room, alpha=0.25))  # a dim room is still a room
    assert make_detector("yunet").detect(room) == []


def test_frozen_stream_detection() -> None:
    frame = render_empty_room(1)
    assert frames_identical(frame, frame.copy())
    assert not frames_identical(frame, render_empty_room(2))
    assert not frames_identical(frame, frame[:100])


@pytest.mark.parametrize("name", QUICK_BACKENDS)
def test_quick_backends_find_nothing_on_blank_frames(name: str) -> None:
    detector = make_detector(name)
    assert isinstance(detector, FaceDetector)
    for frame in (np.zeros((480, 640, 3), np.uint8), np.full((480, 640, 3), 128, np.uint8)):
        assert detector.detect(frame) == []
    with pytest.raises(ValueError, match="BGR uint8"):
        detector.detect(np.zeros((480, 640), np.uint8))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["blazeface", "blazeface_full"])
def test_blazeface_finds_nothing_on_blank_frames(name: str) -> None:
    detector = make_detector(name)
    assert detector.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert detector.detect(np.full((720, 1280, 3), 128, np.uint8)) == []


# --- real clips ----------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("name", QUICK_BACKENDS)
def test_quick_backends_find_one_face_on_a_clip_frame(name: str) -> None:
    frame = clip_frame()
    assert not is_camera_off(frame)
    found = make_detector(name).detect(frame)
    assert len(found) == 1
    x, y, w, h = found[0].box
    assert 150 < w < 400 and 150 < h < 450
    assert 200 < x + w / 2 < 440 and 120 < y + h / 2 < 360  # the face is in the middle
    for px, py in found[0].points.values():
        assert x - w / 2 < px < x + 1.5 * w and y - h / 2 < py < y + 1.5 * h


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("name", ["blazeface", "blazeface_full"])
def test_blazeface_finds_one_face_on_a_clip_frame(name: str) -> None:
    frame = clip_frame()
    found = make_detector(name).detect(frame)
    assert len(found) == 1
    right, left = found[0].keypoint(RIGHT_EYE), found[0].keypoint(LEFT_EYE)
    assert right is not None and left is not None
    assert right[0] < left[0]  # the subject's right eye is on the image's left


@pytest.mark.integration
@pytest.mark.slow
def test_face_mesh_reads_open_eyes_and_frontal_pose_on_a_clip_frame() -> None:
    from analysis.detectors.face_mesh import FaceMesh
    from analysis.landmarks import assess_face, mesh_eye_aspect_ratio

    frame = clip_frame()
    mesh = FaceMesh()
    face = make_detector("yunet").detect(frame)[0]
    landmarks = mesh.landmarks(frame, face)
    assert landmarks.presence > 0.9
    assert 0.2 < mesh_eye_aspect_ratio(landmarks) < 0.4
    result = assess_face(frame, face, mesh=mesh)
    assert result.eyes_open is True and result.attentive is True and result.quality == frozenset()
    haar_face = make_detector("haar").detect(frame)[0]  # no keypoints: pose from the mesh
    haar_result = assess_face(frame, haar_face, mesh=mesh)
    assert haar_result.pose is not None and haar_result.attentive is True


def test_yunet_reads_the_library_directly_the_same_faces_without_the_bindings_leak() -> None:
    """yuface's binding leaks ~36 KB per call (issue 18, item 13); the direct call must match it and not grow."""
    import yuface

    from bot.bench.resources import sample_tree
    from bot.sim.students import astronaut

    det = make_detector("yunet")
    frame = np.ascontiguousarray(cv2.resize(astronaut(), (320, 240)))
    direct = np.asarray(det._detect(frame))[:, :15]  # type: ignore[attr-defined]
    binding = np.asarray(yuface.c_detect(frame))[:, :15]
    assert len(direct) >= 1 and np.array_equal(direct, binding), (direct, binding)
    for _ in range(30):
        det.detect(frame)
    before = sample_tree(0.0).rss_mb
    for _ in range(300):
        det.detect(frame)
    grown_kb = (sample_tree(0.0).rss_mb - before) * 1024
    assert grown_kb < 300 * 36 / 4, f"{grown_kb:.0f} KB over 300 detections"
