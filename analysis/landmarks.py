"""Head pose, attention and eye state from facial keypoints.

Head pose: `cv2.solvePnP` fits a generic 3-D face (average adult proportions, millimetres)
to whichever named keypoints the detector gave — BlazeFace's eyes, nose, mouth and ear
tragions, YuNet's eyes, nose and mouth corners, or points taken from the face mesh. The
camera is unknown, so we assume a focal length equal to the frame's longer side (a webcam's
roughly 55–65° field of view); the angles are coarse (a few degrees of bias per person),
which is enough to tell "facing the screen" from "looking away".

Angles are measured against the line from the face to the camera, not the camera's optical
axis, so a student sitting off-centre who looks into the camera reads as facing it.
Signs follow `analysis.records.FaceReading`: yaw + = nose turned toward the image's right,
pitch + = looking up, roll + = head tilted clockwise in the image.

Eye state: the eye aspect ratio EAR = (|p2−p6| + |p3−p5|) / (2·|p1−p4|) on six eyelid points
of the face mesh; open eyes measure about 0.25–0.35, closed ones below about 0.2.

`assess_face` bundles it all for the pipeline: pose, attention, eye state and the quality
flags of `analysis.quality` for one detected face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from analysis.detect import (
    LEFT_EAR,
    LEFT_EYE,
    MOUTH,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    NOSE,
    RIGHT_EAR,
    RIGHT_EYE,
    Detection,
    Point,
)
from analysis.quality import QualityThresholds, face_quality
from analysis.quality import is_camera_off as is_camera_off  # re-exported for the pipeline
from analysis.records import Quality

if TYPE_CHECKING:
    from analysis.detectors.face_mesh import MeshLandmarks

#: Generic face in millimetres: origin at the nose tip, x toward the image's right for a face
#: looking into the camera, y down, z away from the camera (features behind the nose tip have
#: positive z). Rounded adult averages from anthropometric tables (interpupillary distance
#: 64 mm, pupils 40 mm above the nose tip, tragions 18 mm below the pupils and 100 mm behind
#: the nose tip). Checked on the project's frontal test clips: per-clip median pitch stays
#: within about ±10° with BlazeFace and YuNet keypoints alike (docs/detectors.md).
FACE_MODEL: dict[str, tuple[float, float, float]] = {
    NOSE: (0.0, 0.0, 0.0),
    RIGHT_EYE: (-32.0, -40.0, 22.0),
    LEFT_EYE: (32.0, -40.0, 22.0),
    MOUTH: (0.0, 28.0, 15.0),
    MOUTH_RIGHT: (-25.0, 28.0, 30.0),
    MOUTH_LEFT: (25.0, 28.0, 30.0),
    RIGHT_EAR: (-72.0, -22.0, 100.0),
    LEFT_EAR: (72.0, -22.0, 100.0),
}
MIN_POSE_POINTS = 4

#: Eyelid points of the face mesh, in EAR order p1..p6 (corner, two upper, corner, two lower).
RIGHT_EYE_EAR = (33, 160, 158, 133, 153, 144)
LEFT_EYE_EAR = (362, 385, 387, 263, 373, 380)
EAR_CLOSED = 0.2


@dataclass(frozen=True)
class HeadPose:
    """Head orientation in degrees relative to the face-to-camera line."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class PoseLimits:
    """A cone of head orientations, in degrees either side of facing the camera."""

    max_yaw: float
    max_pitch: float

    def contains(self, pose: HeadPose) -> bool:
        return abs(pose.yaw) <= self.max_yaw and abs(pose.pitch) <= self.max_pitch


#: Facing the screen: the FER.md rule (yaw within about ±25–30°, pitch within about ±15–20°),
#: taken at its generous end because generic-model pose estimates carry a few degrees of bias.
ATTENTION_LIMITS = PoseLimits(max_yaw=30.0, max_pitch=20.0)
#: Beyond this the face is too far from frontal for the emotion model (FER-2013 is nearly all
#: frontal to half-profile faces): the reading is flagged `turned_away`.
READABLE_LIMITS = PoseLimits(max_yaw=45.0, max_pitch=30.0)


def camera_matrix(frame_w: int, frame_h: int) -> np.ndarray:
    """Pinhole intrinsics for an unknown webcam: focal length = the longer side, centre = middle."""
    focal = float(max(frame_w, frame_h))
    return np.array([[focal, 0.0, frame_w / 2.0], [0.0, focal, frame_h / 2.0], [0.0, 0.0, 1.0]])


def _direction_angles(v: np.ndarray) -> tuple[float, float]:
    """Yaw and pitch (degrees) of a direction pointing toward the camera side (any length)."""
    yaw = math.degrees(math.atan2(v[0], -v[2]))
    pitch = math.degrees(math.atan2(-v[1], math.hypot(v[0], v[2])))
    return yaw, pitch


def pose_from_rotation(rotation: np.ndarray, translation: np.ndarray) -> HeadPose:
    """Head angles from a model-to-camera rotation and the nose tip's camera position."""
    facing = rotation @ np.array([0.0, 0.0, -1.0])
    to_camera = -np.asarray(translation, dtype=np.float64).reshape(3)
    face_yaw, face_pitch = _direction_angles(facing)
    ray_yaw, ray_pitch = _direction_angles(to_camera)
    x_axis = rotation @ np.array([1.0, 0.0, 0.0])
    roll = math.degrees(math.atan2(x_axis[1], x_axis[0]))
    return HeadPose(yaw=face_yaw - ray_yaw, pitch=face_pitch - ray_pitch, roll=roll)


def head_pose(
    keypoints: dict[str, Point] | Detection, frame_w: int, frame_h: int
) -> HeadPose | None:
    """Estimate head pose from named keypoints; None when fewer than four model points are known."""
    import cv2

    points = keypoints.points if isinstance(keypoints, Detection) else keypoints
    names = [name for name in FACE_MODEL if name in points]
    if len(names) < MIN_POSE_POINTS:
        return None
    object_points = np.array([FACE_MODEL[n] for n in names], dtype=np.float64)
    image_points = np.array([points[n] for n in names], dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(
        object_points,
        image_points,
        camera_matrix(frame_w, frame_h),
        np.zeros(4),
        flags=cv2.SOLVEPNP_SQPNP,
    )
    if not ok or float(tvec[2, 0]) <= 0.0:
        return None
    rotation, _ = cv2.Rodrigues(rvec)
    return pose_from_rotation(rotation, tvec)


def is_attentive(pose: HeadPose | None, limits: PoseLimits = ATTENTION_LIMITS) -> bool | None:
    """Whether the head faces the screen; None when the pose is unknown."""
    if pose is None:
        return None
    return limits.contains(pose)


def eye_aspect_ratio(eye: np.ndarray) -> float:
    """EAR of six (x, y) eyelid points p1..p6; 0 for a degenerate (zero-width) eye."""
    p = np.asarray(eye, dtype=np.float64).reshape(6, 2)
    width = float(np.linalg.norm(p[0] - p[3]))
    if width <= 1e-9:
        return 0.0
    height = float(np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4]))
    return height / (2.0 * width)


def mesh_eye_aspect_ratio(mesh: MeshLandmarks) -> float:
    """Mean EAR of both eyes from face-mesh landmarks."""
    right = eye_aspect_ratio(mesh.points[list(RIGHT_EYE_EAR)])
    left = eye_aspect_ratio(mesh.points[list(LEFT_EYE_EAR)])
    return (right + left) / 2.0


def eyes_open(mesh: MeshLandmarks, threshold: float = EAR_CLOSED) -> bool:
    """True when the mean eye aspect ratio is at or above `threshold`."""
    return mesh_eye_aspect_ratio(mesh) >= threshold


#: Face-mesh indices for the detector keypoint names (eye centres are corner midpoints).
_MESH_KEYPOINTS: dict[str, tuple[int, ...]] = {
    RIGHT_EYE: (33, 133),
    LEFT_EYE: (362, 263),
    NOSE: (1,),
    MOUTH: (13, 14),
    MOUTH_RIGHT: (61,),
    MOUTH_LEFT: (291,),
}


def mesh_keypoints(mesh: MeshLandmarks) -> tuple[tuple[str, Point], ...]:
    """Named keypoints taken from the face mesh, for backends without their own (Haar)."""
    out = []
    for name, indices in _MESH_KEYPOINTS.items():
        p = mesh.points[list(indices)].mean(axis=0)
        out.append((name, (float(p[0]), float(p[1]))))
    return tuple(out)


def with_mesh_keypoints(detection: Detection, mesh: MeshLandmarks) -> Detection:
    """The detection with keypoints replaced by the face mesh's (more precise) ones."""
    return replace(detection, keypoints=mesh_keypoints(mesh))



class LandmarkReader(Protocol):
    """What `assess_face` needs from a face-mesh model (`analysis.detectors.face_mesh.FaceMesh`)."""

    def landmarks(self, frame_bgr: np.ndarray, detection: Detection) -> MeshLandmarks: ...


#: Face-mesh presence below which the crop is probably not a face: no eye reading, low confidence.
MESH_MIN_PRESENCE = 0.5


@dataclass(frozen=True)
class FaceAssessment:
    """Everything ClassPulse reads from one face apart from emotion."""

    pose: HeadPose | None
    attentive: bool | None
    eyes_open: bool | None
    eye_aspect_ratio: float | None
    quality: frozenset[Quality]

    @property
    def yaw(self) -> float | None:
        return None if self.pose is None else self.pose.yaw

    @property
    def pitch(self) -> float | None:
        return None if self.pose is None else self.pose.pitch


def assess_face(
    frame_bgr: np.ndarray,
    detection: Detection,
    *,
    mesh: LandmarkReader | None = None,
    min_face_px: int | None = None,
    thresholds: QualityThresholds | None = None,
    attention: PoseLimits = ATTENTION_LIMITS,
    readable: PoseLimits = READABLE_LIMITS,
) -> FaceAssessment:
    """Head pose, attention, eye state and quality flags for one detected face.

    With `mesh` (a `FaceMesh`, about 1 ms per face) the eyes are read, and a backend without
    keypoints (Haar) gets its head pose from the mesh's points. Without it `eyes_open` is None.
    `min_face_px` overrides `thresholds.min_face`.
    """
    t = thresholds or QualityThresholds()
    if min_face_px is not None:
        t = replace(t, min_face=min_face_px)
    frame_h, frame_w = frame_bgr.shape[:2]
    landmarks = mesh.landmarks(frame_bgr, detection) if mesh is not None else None
    mesh_ok = landmarks is not None and landmarks.presence >= MESH_MIN_PRESENCE
    posed = detection
    if landmarks is not None and mesh_ok and len(detection.keypoints) < MIN_POSE_POINTS:
        posed = with_mesh_keypoints(detection, landmarks)
    pose = head_pose(posed, frame_w, frame_h)
    ear = mesh_eye_aspect_ratio(landmarks) if landmarks is not None and mesh_ok else None
    quality = set(
        face_quality(
            frame_bgr,
            detection,
            turned_away=pose is not None and not readable.contains(pose),
            thresholds=t,
        )
    )
    if landmarks is not None and not mesh_ok:
        quality.add(Quality.LOW_CONFIDENCE)
    return FaceAssessment(
        pose=pose,
        attentive=is_attentive(pose, attention),
        eyes_open=None if ear is None else ear >= EAR_CLOSED,
        eye_aspect_ratio=ear,
        quality=frozenset(quality),
    )
