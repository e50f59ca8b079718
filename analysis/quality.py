"""Whether a frame shows anything, and whether a face in it can be read reliably.

Camera off is its own state in ClassPulse, never counted as disengagement, so it must not be
confused with "no face": a black or flat frame (a closed shutter, a platform's placeholder,
a stalled decoder) is camera off; a real room with nobody in it is not.

The per-face flags become `analysis.records.Quality` values; reports show flagged readings
as "uncertain" instead of as verdicts. Sharpness and brightness are measured on the face
itself, resized to a fixed 64x64, so the thresholds mean the same for near and far faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from analysis.detect import Detection
from analysis.records import Quality

#: Side of the square the face is resized to before sharpness and brightness are measured.
PATCH = 64


@dataclass(frozen=True)
class CameraOffThresholds:
    """A frame is camera off when it is black or almost a single colour.

    Measured on a 160-pixel-wide grey thumbnail (cheap, and averages away sensor noise).
    """

    #: Mean grey level at or below which a frame counts as black...
    black_mean: float = 16.0
    #: ...provided nearly all pixels stay this dark (a dim room still has brighter spots).
    black_p99: float = 40.0
    #: Standard deviation of grey levels below which a frame is flat (uniform fill, shutter).
    flat_std: float = 4.0
    #: Share of pixels within `dominant_tolerance` of the median level above which a frame is
    #: a placeholder (a flat background with a small avatar or initials on it).
    dominant_share: float = 0.97
    dominant_tolerance: float = 6.0


def is_camera_off(frame_bgr: np.ndarray | None, thresholds: CameraOffThresholds | None = None) -> bool:
    """True for no frame, an empty frame, a black frame or an almost uniform one."""
    if frame_bgr is None or frame_bgr.size == 0:
        return True
    t = thresholds or CameraOffThresholds()
    gray = frame_bgr if frame_bgr.ndim == 2 else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape[:2]
    if w > 160:
        gray = cv2.resize(gray, (160, max(1, round(h * 160 / w))), interpolation=cv2.INTER_AREA)
    values = gray.astype(np.float32)
    if float(values.mean()) <= t.black_mean and float(np.percentile(values, 99)) <= t.black_p99:
        return True
    if float(values.std()) < t.flat_std:
        return True
    share = float(np.mean(np.abs(values - np.median(values)) <= t.dominant_tolerance))
    return share >= t.dominant_share


def frames_identical(a: np.ndarray, b: np.ndarray, tolerance: float = 0.5) -> bool:
    """True when two frames differ by at most `tolerance` grey levels on average.

    A live camera never repeats a frame exactly (sensor noise), so a run of identical samples
    means a frozen stream: the caller may treat it as camera off after a few seconds.
    """
    if a.shape != b.shape:
        return False
    return float(cv2.absdiff(a, b).mean()) <= tolerance


@dataclass(frozen=True)
class QualityThresholds:
    """When a face reading becomes uncertain. Calibrated in docs/detectors.md."""

    #: Shorter box side in pixels below which a face is `tiny` (FER-2013 faces are 48 px).
    min_face: int = 40
    #: Variance of the Laplacian on the 64x64 grey face below which it is `blurred`.
    min_sharpness: float = 40.0
    #: Mean grey level of the face below which it is `dark`.
    min_brightness: float = 45.0
    #: Detector score below which the face is `low_confidence`.
    min_score: float = 0.6


def face_patch_gray(frame_bgr: np.ndarray, detection: Detection) -> np.ndarray:
    """The detection's box as a PATCH x PATCH grey image."""
    x, y, w, h = detection.box
    crop = frame_bgr[y : y + h, x : x + w]
    gray = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    interp = cv2.INTER_AREA if min(w, h) >= PATCH else cv2.INTER_LINEAR
    return cv2.resize(gray, (PATCH, PATCH), interpolation=interp)


def sharpness(gray_patch: np.ndarray) -> float:
    """Variance of the Laplacian: low when edges are soft (motion blur, defocus, heavy compression)."""
    return float(cv2.Laplacian(gray_patch, cv2.CV_64F).var())


def face_quality(
    frame_bgr: np.ndarray,
    detection: Detection,
    *,
    turned_away: bool = False,
    thresholds: QualityThresholds | None = None,
) -> frozenset[Quality]:
    """The reasons this face's reading is uncertain (empty when it is fine).

    `turned_away` comes from the head pose (`analysis.landmarks.assess_face` decides it), so
    this module stays about pixels and needs no pose code.
    """
    t = thresholds or QualityThresholds()
    flags: set[Quality] = set()
    if detection.size < t.min_face:
        flags.add(Quality.TINY)
    patch = face_patch_gray(frame_bgr, detection)
    if sharpness(patch) < t.min_sharpness:
        flags.add(Quality.BLURRED)
    if float(patch.mean()) < t.min_brightness:
        flags.add(Quality.DARK)
    if turned_away:
        flags.add(Quality.TURNED_AWAY)
    if detection.score < t.min_score:
        flags.add(Quality.LOW_CONFIDENCE)
    return frozenset(flags)
