"""Face detection: one small interface, several interchangeable backends.

The pipeline only needs boxes, a confidence and (when the backend gives them) a few facial
keypoints for head pose, so every backend returns the same frozen `Detection`. Backends live
in `analysis.detectors` and are imported only when `make_detector` asks for one: BlazeFace
needs TensorFlow (seconds to import) and must not slow down code that only wants the
`Detection` type, such as `analysis.track`.

Keypoint names follow the subject's anatomy, not the image: ``right_eye`` is the person's
right eye, which appears on the image's *left* in an unmirrored camera frame.

Every backend is made for one thread: the TFLite interpreter and the OpenCV cascade keep
per-call state. Make one detector per worker thread.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from analysis.records import Box

Point = tuple[float, float]

RIGHT_EYE = "right_eye"
LEFT_EYE = "left_eye"
NOSE = "nose"
MOUTH = "mouth"  # centre of the mouth
MOUTH_RIGHT = "mouth_right"
MOUTH_LEFT = "mouth_left"
RIGHT_EAR = "right_ear"  # tragion
LEFT_EAR = "left_ear"

log = logging.getLogger(__name__)

#: The backend `make_detector` builds when configuration names none: YuNet, chosen by the
#: measured recall, false positives and speed in docs/detectors.md. "auto" falls back to
#: BlazeFace where the `yuface` package cannot be installed (it ships wheels for CPython 3.11
#: and older only).
DEFAULT_DETECTOR = "auto"
PREFERRED_DETECTOR = "yunet"
FALLBACK_DETECTOR = "blazeface"

#: Accepted names → canonical backend name.
_ALIASES = {
    "auto": "auto",
    "haar": "haar",
    "blazeface": "blazeface",
    "blazeface_short": "blazeface",
    "blazeface_full": "blazeface_full",
    "yunet": "yunet",
    "yuface": "yunet",
}
DETECTOR_NAMES: tuple[str, ...] = ("haar", "blazeface", "blazeface_full", "yunet")


@dataclass(frozen=True)
class Detection:
    """One face found in one frame.

    `box` is (x, y, w, h) in integer frame pixels, clipped to the frame. `score` is the
    backend's confidence mapped to 0..1; the scales differ between backends, so compare
    scores only within one backend. `keypoints` pairs a name from this module with an
    (x, y) position in frame pixels; it is a tuple so the record stays hashable.
    """

    box: Box
    score: float
    keypoints: tuple[tuple[str, Point], ...] = ()

    def __post_init__(self) -> None:
        if self.box[2] <= 0 or self.box[3] <= 0:
            raise ValueError(f"a detection box needs a positive size, got {self.box}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"a detection score must lie in 0..1, got {self.score}")

    @property
    def points(self) -> dict[str, Point]:
        return dict(self.keypoints)

    def keypoint(self, name: str) -> Point | None:
        for key, point in self.keypoints:
            if key == name:
                return point
        return None

    @property
    def center(self) -> Point:
        x, y, w, h = self.box
        return x + w / 2.0, y + h / 2.0

    @property
    def size(self) -> int:
        """The shorter side of the box: what decides whether a face is big enough to read."""
        return min(self.box[2], self.box[3])


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that finds faces in a BGR uint8 frame (H, W, 3)."""

    name: str

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]: ...


def canonical_name(name: str) -> str:
    """Map a configured detector name (case-insensitive, aliases allowed) to its backend."""
    key = name.strip().lower().replace("-", "_")
    try:
        return _ALIASES[key]
    except KeyError:
        raise ValueError(
            f"unknown face detector {name!r}; choose one of {', '.join(sorted(_ALIASES))}"
        ) from None


def resolve_name(name: str) -> str:
    """The backend a configured name will build, with "auto" decided for this installation."""
    backend = canonical_name(name)
    if backend != "auto":
        return backend
    if importlib.util.find_spec("yuface") is not None:
        return PREFERRED_DETECTOR
    log.warning("yuface is not installed; face detection falls back to %s", FALLBACK_DETECTOR)
    return FALLBACK_DETECTOR


def make_detector(name: str = DEFAULT_DETECTOR, *, min_face: int = 40) -> FaceDetector:
    """Build the named backend. Nothing is downloaded: every model ships inside a package.

    `min_face` is the smallest face side in frame pixels worth finding; Haar and YuNet shrink
    the frame accordingly to save time (use ~20 for classroom cameras with distant faces).
    BlazeFace's input size is fixed by the model, so it ignores it.
    """
    backend = resolve_name(name)
    if backend == "haar":
        from analysis.detectors.haar import HaarDetector

        return HaarDetector(min_face=min_face)
    if backend == "blazeface":
        from analysis.detectors.blazeface import BlazeFaceDetector

        return BlazeFaceDetector("short")
    if backend == "blazeface_full":
        from analysis.detectors.blazeface import BlazeFaceDetector

        return BlazeFaceDetector("full")
    from analysis.detectors.yunet import YuNetDetector

    return YuNetDetector(min_face=min_face)


def clip_box(x0: float, y0: float, x1: float, y1: float, frame_w: int, frame_h: int) -> Box | None:
    """Round a corner-form box to integer pixels inside the frame; None if nothing is left."""
    left = max(0, round(x0))
    top = max(0, round(y0))
    right = min(frame_w, round(x1))
    bottom = min(frame_h, round(y1))
    if right - left < 1 or bottom - top < 1:
        return None
    return int(left), int(top), int(right - left), int(bottom - top)


def check_frame(frame_bgr: np.ndarray) -> None:
    """Reject frames a backend cannot read, with a message that says what was passed."""
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
        raise ValueError(
            f"expected a BGR uint8 frame of shape (H, W, 3), got {frame_bgr.dtype} {frame_bgr.shape}"
        )
