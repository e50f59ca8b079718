"""Head pose, attention, eye state and per-face quality flags on synthetic inputs."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from analysis.detect import LEFT_EYE, MOUTH, MOUTH_LEFT, MOUTH_RIGHT, NOSE, RIGHT_EYE, Detection
from analysis.detectors.face_mesh import NUM_POINTS, MeshLandmarks
from analysis.landmarks import (
    ATTENTION_LIMITS,
    FACE_MODEL,
    LEFT_EYE_EAR,
    MESH_MIN_PRESENCE,
    RIGHT_EYE_EAR,
    HeadPose,
    assess_face,
    camera_matrix,
    eye_aspect_ratio,
    eyes_open,
    head_pose,
    is_attentive,
    mesh_eye_aspect_ratio,
    mesh_keypoints,
    with_mesh_keypoints,
)
from analysis.quality import QualityThresholds, face_quality
from analysis.records import Quality

W, H = 640, 480
BLAZEFACE_POINTS = (RIGHT_EYE, LEFT_EYE, NOSE, MOUTH, "right_ear", "left_ear")
YUNET_POINTS = (RIGHT_EYE, LEFT_EYE, NOSE, MOUTH_RIGHT, MOUTH_LEFT)


def rotation(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """Model-to-camera rotation whose facing direction has the given yaw and pitch (degrees)."""
    y, p, r = (math.radians(v) for v in (-yaw, -pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def project(
    names: tuple[str, ...],
    yaw: float,
    pitch: float,
    roll: float = 0.0,
    position: tuple[float, float, float] = (0.0, 0.0, 600.0),
) -> dict[str, tuple[float, float]]:
    """Image positions of the generic face's points for a head at `position` (mm) with that pose."""
    model = np.array([FACE_MODEL[n] for n in names], dtype=np.float64)
    rvec, _ = cv2.Rodrigues(rotation(yaw, pitch, roll))
    uv, _ = cv2.projectPoints(model, rvec, np.array(position), camera_matrix(W, H), np.zeros(4))
    return {n: (float(p[0]), float(p[1])) for n, p in zip(names, uv.reshape(-1, 2), strict=True)}


@pytest.mark.parametrize("names", [BLAZEFACE_POINTS, YUNET_POINTS])
@pytest.mark.parametrize(
    ("yaw", "pitch", "roll"), [(0, 0, 0), (20, 0, 0), (0, -15, 0), (0, 0, 15), (-35, 10, 8), (50, 5, -10)]
)
def test_head_pose_recovers_known_angles(
    names: tuple[str, ...], yaw: float, pitch: float, roll: float
) -> None:
    pose = head_pose(project(names, yaw, pitch, roll), W, H)
    assert pose is not None
    assert pose.yaw == pytest.approx(yaw, abs=0.5)
    assert pose.pitch == pytest.approx(pitch, abs=0.5)
    if yaw == pitch == 0:  # roll is the eye line's tilt in the image, an Euler angle only when level
        assert pose.roll == pytest.approx(roll, abs=0.5)
    elif roll:
        assert np.sign(pose.roll) == np.sign(roll)


def test_pose_signs_follow_the_image() -> None:
    """Nose toward the image's right is + yaw; nose moved up in the image is + pitch."""
    turned = project(BLAZEFACE_POINTS, 25, 0)
    eyes_mid_x = (turned[RIGHT_EYE][0] + turned[LEFT_EYE][0]) / 2
    assert turned[NOSE][0] > eyes_mid_x
    assert head_pose(turned, W, H).yaw > 20  # type: ignore[union-attr]
    up, level = project(BLAZEFACE_POINTS, 0, 15), project(BLAZEFACE_POINTS, 0, 0)
    assert up[NOSE][1] - up[RIGHT_EYE][1] < level[NOSE][1] - level[RIGHT_EYE][1]
    assert head_pose(up, W, H).pitch > 10  # type: ignore[union-attr]


def test_pose_is_measured_against_the_line_to_the_camera() -> None:
    """A student off to the side who looks into the camera faces it (yaw ~ 0)."""
    x, z = 250.0, 600.0
    looking_at_camera = math.degrees(math.atan2(-x, z))
    pose = head_pose(project(BLAZEFACE_POINTS, looking_at_camera, 0, position=(x, 0, z)), W, H)
    assert pose is not None and abs(pose.yaw) < 0.5
    parallel = head_pose(project(BLAZEFACE_POINTS, 0, 0, position=(x, 0, z)), W, H)
    assert parallel is not None and parallel.yaw == pytest.approx(-looking_at_camera, abs=0.5)


def test_head_pose_tolerates_pixel_noise() -> None:
    rng = np.random.default_rng(1)
    points = project(BLAZEFACE_POINTS, 15, -10)
    noisy = {k: (x + rng.normal(0, 1.0), y + rng.normal(0, 1.0)) for k, (x, y) in points.items()}
    pose = head_pose(noisy, W, H)
    assert pose is not None
    assert abs(pose.yaw - 15) < 5 and abs(pose.pitch + 10) < 5


def test_head_pose_needs_four_points_and_accepts_detections() -> None:
    points = project(BLAZEFACE_POINTS, 0, 0)
    assert head_pose({k: points[k] for k in (RIGHT_EYE, LEFT_EYE, NOSE)}, W, H) is None
    detection = Detection(box=(270, 190, 100, 100), score=0.9, keypoints=tuple(points.items()))
    pose = head_pose(detection, W, H)
    assert pose is not None and abs(pose.yaw) < 0.5


def test_attention_rule() -> None:
    assert is_attentive(HeadPose(0, 0, 0)) is True
    assert is_attentive(HeadPose(ATTENTION_LIMITS.max_yaw - 1, -ATTENTION_LIMITS.max_pitch + 1, 30)) is True
    assert is_attentive(HeadPose(45, 0, 0)) is False
    assert is_attentive(HeadPose(-40, 0, 0)) is False
    assert is_attentive(HeadPose(0, -35, 0)) is False
    assert is_attentive(None) is None
    assert is_attentive(head_pose(project(YUNET_POINTS, 60, 0), W, H)) is False
    assert is_attentive(head_pose(project(YUNET_POINTS, -10, 5), W, H)) is True


def eye(height: float, width: float = 30.0) -> np.ndarray:
    """Six eyelid points p1..p6 of an eye `width` wide whose lids are `height` apart."""
    return np.array(
        [[0, 0], [width / 3, -height / 2], [2 * width / 3, -height / 2], [width, 0],
         [2 * width / 3, height / 2], [width / 3, height / 2]],
        dtype=np.float32,
    )


def fake_mesh(eye_height: float) -> MeshLandmarks:
    points = np.zeros((NUM_POINTS, 2), np.float32)
    points[list(RIGHT_EYE_EAR)] = eye(eye_height) + np.array([100, 100], np.float32)
    points[list(LEFT_EYE_EAR)] = eye(eye_height) + np.array([160, 100], np.float32)
    points[[1, 13, 14, 61, 291]] = [[145, 140], [145, 170], [145, 176], [120, 172], [170, 172]]
    return MeshLandmarks(points=points, depth=np.zeros(NUM_POINTS, np.float32), presence=0.99)


def test_eye_aspect_ratio() -> None:
    assert eye_aspect_ratio(eye(9.0)) == pytest.approx(0.3)
    assert eye_aspect_ratio(eye(2.0)) < 0.2
    assert eye_aspect_ratio(np.zeros((6, 2))) == 0.0
    assert mesh_eye_aspect_ratio(fake_mesh(9.0)) == pytest.approx(0.3)
    assert eyes_open(fake_mesh(9.0)) is True
    assert eyes_open(fake_mesh(2.0)) is False


def test_mesh_keypoints_feed_head_pose() -> None:
    mesh = fake_mesh(9.0)
    names = dict(mesh_keypoints(mesh))
    assert set(names) == {RIGHT_EYE, LEFT_EYE, NOSE, MOUTH, MOUTH_RIGHT, MOUTH_LEFT}
    assert names[RIGHT_EYE] == pytest.approx((115.0, 100.0))
    detection = with_mesh_keypoints(Detection(box=(90, 80, 100, 110), score=0.8), mesh)
    assert detection.keypoint(NOSE) == pytest.approx((145.0, 140.0))


def textured_frame(brightness: float = 120.0, blur: float = 0.0) -> np.ndarray:
    """A 480x640 frame of fine grey texture (sharp like skin and hair at webcam resolution)."""
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.normal(brightness, 40.0, (H, W)).astype(np.float32), (0, 0), 1.0)
    if blur:
        noise = cv2.GaussianBlur(noise, (0, 0), blur)
    gray = np.clip(noise, 0, 255).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


FACE = Detection(box=(270, 190, 100, 100), score=0.95)


def test_quality_flags_a_good_face_as_fine() -> None:
    assert face_quality(textured_frame(), FACE) == frozenset()


def test_quality_flags_each_problem() -> None:
    frame = textured_frame()
    assert Quality.TINY in face_quality(frame, Detection(box=(300, 200, 30, 30), score=0.95))
    assert face_quality(textured_frame(blur=6.0), FACE) == {Quality.BLURRED}
    assert face_quality(textured_frame(brightness=20.0), FACE) == {Quality.DARK}
    assert face_quality(frame, FACE, turned_away=True) == {Quality.TURNED_AWAY}
    assert face_quality(frame, Detection(box=FACE.box, score=0.3)) == {Quality.LOW_CONFIDENCE}
    strict = QualityThresholds(min_face=120)
    assert face_quality(frame, FACE, thresholds=strict) == {Quality.TINY}


class FakeMesh:
    """Stands in for `FaceMesh`: returns fixed landmarks and counts calls."""

    def __init__(self, landmarks: MeshLandmarks) -> None:
        self.result = landmarks
        self.calls = 0

    def landmarks(self, frame_bgr: np.ndarray, detection: Detection) -> MeshLandmarks:
        self.calls += 1
        return self.result


def posed_face(yaw: float, pitch: float, score: float = 0.95) -> Detection:
    points = project(BLAZEFACE_POINTS, yaw, pitch)
    return Detection(box=(270, 190, 100, 100), score=score, keypoints=tuple(points.items()))


def test_assess_face_without_mesh() -> None:
    frame = textured_frame()
    facing = assess_face(frame, posed_face(10, -5))
    assert facing.attentive is True and facing.eyes_open is None and facing.quality == frozenset()
    assert facing.yaw == pytest.approx(10, abs=0.5) and facing.pitch == pytest.approx(-5, abs=0.5)
    aside = assess_face(frame, posed_face(38, 0))
    assert aside.attentive is False and aside.quality == frozenset()  # looking aside, still readable
    away = assess_face(frame, posed_face(60, 0))
    assert away.attentive is False and away.quality == {Quality.TURNED_AWAY}
    no_points = assess_face(frame, FACE, min_face_px=120)
    assert no_points.pose is None and no_points.attentive is None and no_points.quality == {Quality.TINY}


def test_assess_face_with_mesh_reads_eyes_and_poses_keypointless_faces() -> None:
    frame = textured_frame()
    closed = FakeMesh(fake_mesh(2.0))
    result = assess_face(frame, posed_face(0, 0), mesh=closed)
    assert closed.calls == 1 and result.eyes_open is False and result.eye_aspect_ratio is not None
    haar_like = assess_face(frame, FACE, mesh=FakeMesh(fake_mesh(9.0)))
    assert haar_like.eyes_open is True and haar_like.pose is not None
    not_a_face = fake_mesh(9.0)
    not_a_face = MeshLandmarks(not_a_face.points, not_a_face.depth, presence=MESH_MIN_PRESENCE / 2)
    doubtful = assess_face(frame, FACE, mesh=FakeMesh(not_a_face))
    assert doubtful.eyes_open is None and doubtful.pose is None
    assert doubtful.quality == {Quality.LOW_CONFIDENCE}
