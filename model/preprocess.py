"""Preprocessing shared by training and inference.

FER-2013 faces are 48x48 grayscale crops that run roughly from the eyebrows to the chin.
The networks see a 44x44 window of that image: random windows while training (a cheap
translation augmentation) and the centre window at inference. Both paths go through the
functions here so the bot feeds the classifier exactly what evaluation measured.

Faces are cut out of frames by `face_crop`: a square, turned upright along the eye line and
framed like FER-2013 as measured for the detector that found the face (`model.framing`). The
bot, `classpulse analyze`, `classpulse evaluate --frames` and the re-cut training faces
(`training.framing recrop`) all use it.

Pixel values stay in 0..255 float32; scaling to 0..1 happens inside the network
(a `Rescaling` layer), so a saved model carries its own normalisation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from model.framing import Framing

IMAGE_SIZE = 48
CROP_SIZE = 44
#: The first models' crop: the detector box plus 10 % on each side, stretched to a square.
#: Kept only as the default of `model.bundle.ModelMeta.face_margin` (older meta.json files
#: carry it); faces are now cut by `face_crop` with a framing measured per detector.
DEFAULT_MARGIN = 0.1


def to_gray(image: np.ndarray) -> np.ndarray:
    """Return a 2-D uint8 grayscale view of a BGR, BGRA or grayscale image."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        import cv2

        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return cv2.cvtColor(image, code)
    raise ValueError(f"expected a 2-D or 3-D image with 1, 3 or 4 channels, got shape {image.shape}")


def crop_geometry(
    box: Sequence[float], keypoints: Mapping[str, tuple[float, float]] | None, framing: Framing
) -> tuple[float, float, float, float]:
    """Where the FER-style square lies in the frame: (centre x, centre y, side, roll radians).

    The roll is the angle of the line from the subject's right eye to their left eye (image
    left to right in an unmirrored frame); turning the crop by it makes the face upright.
    """
    x, y, w, h = (float(v) for v in box)
    eyes = keypoints or {}
    right, left = eyes.get("right_eye"), eyes.get("left_eye")
    roll = 0.0
    if framing.rotate and right is not None and left is not None:
        roll = math.atan2(left[1] - right[1], left[0] - right[0])
        limit = math.radians(framing.max_roll_deg)
        roll = max(-limit, min(limit, roll))
    if framing.anchor == "eyes" and right is not None and left is not None:
        ax, ay = (right[0] + left[0]) / 2.0, (right[1] + left[1]) / 2.0
        dx, dy = framing.dx, framing.dy
    else:
        # No eyes: anchor on the box centre. For an eye-anchored framing, the eyes' usual
        # place in the box is unknown here, so only the side is kept.
        ax, ay = x + w / 2.0, y + h / 2.0
        dx, dy = (framing.dx, framing.dy) if framing.anchor == "box" else (0.0, 0.0)
    cos, sin = math.cos(roll), math.sin(roll)
    cx = ax + (dx * cos - dy * sin) * w
    cy = ay + (dx * sin + dy * cos) * w
    return cx, cy, framing.side * w, roll


def face_crop(
    image: np.ndarray,
    box: Sequence[float],
    keypoints: Mapping[str, tuple[float, float]] | None = None,
    framing: Framing | None = None,
    size: int = IMAGE_SIZE,
) -> np.ndarray:
    """The face as a `size` x `size` uint8 grey patch framed like FER-2013: square, upright.

    The one crop used by training (on upscaled FER-2013 faces), evaluation and the bot.
    `framing` comes from `model.framing.framing_for(detector name)`. Parts of the square
    outside the frame repeat the edge pixels (a face that fills the frame still gets its
    chin and brows where the detector saw them). Large faces are reduced with area averaging
    so the patch is not aliased.
    """
    import cv2

    from model.framing import FALLBACK

    gray = to_gray(image)
    cx, cy, side, roll = crop_geometry(box, keypoints, framing or FALLBACK)
    if side < 1:
        raise ValueError(f"face box {tuple(box)} is too small to crop")
    # Warp to an intermediate square of up to 4x the output, then area-average down; a face
    # far larger than that is first shrunk with the frame, so the warp never skips pixels.
    inner = int(min(max(size, round(side)), 4 * size))
    shrink = 1.5 * inner / side
    if shrink < 1.0:
        gray = cv2.resize(gray, (max(1, round(gray.shape[1] * shrink)), max(1, round(gray.shape[0] * shrink))),
                          interpolation=cv2.INTER_AREA)
        cx, cy, side = cx * shrink, cy * shrink, side * shrink
    a = side / inner
    cos, sin = math.cos(roll), math.sin(roll)
    half = inner / 2.0 - 0.5
    # Patch pixel (u, v) -> frame point: centre + a * R(roll) @ (u - half, v - half).
    m = np.array([[a * cos, -a * sin, cx - a * cos * half + a * sin * half],
                  [a * sin, a * cos, cy - a * sin * half - a * cos * half]], dtype=np.float64)
    patch = cv2.warpAffine(gray, m, (inner, inner), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE)
    if inner != size:
        patch = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return patch


def center_crop(patches: np.ndarray) -> np.ndarray:
    """(N, 48, 48) patches → (N, 44, 44, 1) float32 network input (values 0..255)."""
    arr = np.asarray(patches)
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3 or arr.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected patches of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), got {arr.shape}")
    off = (IMAGE_SIZE - CROP_SIZE) // 2
    out = arr[:, off : off + CROP_SIZE, off : off + CROP_SIZE].astype(np.float32)
    return out[..., None]
