"""Preprocessing shared by training and inference.

FER-2013 faces are 48x48 grayscale crops that run roughly from the eyebrows to the chin.
The networks see a 44x44 window of that image: random windows while training (a cheap
translation augmentation) and the centre window at inference. Both paths go through the
functions here so the bot feeds the classifier exactly what evaluation measured.

Pixel values stay in 0..255 float32; scaling to 0..1 happens inside the network
(a `Rescaling` layer), so a saved model carries its own normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

IMAGE_SIZE = 48
CROP_SIZE = 44
#: Fraction of the detector box added on each side before resizing. Detector boxes are
#: tighter than FER-2013's framing on the forehead and looser at the chin; a small margin
#: brings them closer to what the network was trained on.
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


def expand_box(
    box: Sequence[int], frame_w: int, frame_h: int, margin: float = DEFAULT_MARGIN
) -> tuple[int, int, int, int]:
    """Grow an (x, y, w, h) box by `margin` of its size on each side, clipped to the frame."""
    x, y, w, h = (int(v) for v in box)
    dx, dy = round(w * margin), round(h * margin)
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(frame_w, x + w + dx), min(frame_h, y + h + dy)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"face box {tuple(box)} lies outside the {frame_w}x{frame_h} frame")
    return x0, y0, x1 - x0, y1 - y0


def face_patch(
    image: np.ndarray, box: Sequence[int], margin: float = DEFAULT_MARGIN
) -> np.ndarray:
    """Cut the face in `box` out of a frame and resize it to a 48x48 uint8 grayscale patch."""
    import cv2

    gray = to_gray(image)
    x, y, w, h = expand_box(box, gray.shape[1], gray.shape[0], margin)
    crop = gray[y : y + h, x : x + w]
    interp = cv2.INTER_AREA if min(w, h) >= IMAGE_SIZE else cv2.INTER_LINEAR
    return cv2.resize(crop, (IMAGE_SIZE, IMAGE_SIZE), interpolation=interp)


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
