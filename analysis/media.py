"""Read local images and videos as timed frames (the offline input of `classpulse analyze`/demo).

A video is sampled every `interval_s` seconds of *media* time (frame index / fps), so
the result does not depend on how fast this machine decodes. An image is one sample at
t = 0. Unreadable input raises `MediaError` naming the file; callers report it and
carry on with the other files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}


class MediaError(ValueError):
    """A file that cannot be read as an image or a video."""


def read_image(path: Path) -> np.ndarray:
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if img is None:
        raise MediaError(f"{path}: not a readable image")
    return img


def sample_video(path: Path, interval_s: float) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (t, BGR frame) every `interval_s` seconds of the video, starting at t = 0."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise MediaError(f"{path}: not a readable video")
        fps = cap.get(cv2.CAP_PROP_FPS)
        if not fps or fps <= 0 or fps > 1000:
            raise MediaError(f"{path}: video reports no usable frame rate")
        next_t = 0.0
        index = 0
        got_any = False
        while True:
            ok = cap.grab()
            if not ok:
                break
            t = index / fps
            index += 1
            if t + 1e-9 < next_t:
                continue
            ok, frame = cap.retrieve()
            if not ok or frame is None:
                raise MediaError(f"{path}: frame {index - 1} could not be decoded")
            got_any = True
            yield round(t, 3), frame
            next_t += interval_s
            while next_t <= t:
                next_t += interval_s
        if not got_any:
            raise MediaError(f"{path}: no decodable frames")
    finally:
        cap.release()


def sample_file(path: str | Path, interval_s: float) -> Iterator[tuple[float, np.ndarray]]:
    """Frames of an image (one, t = 0) or a video (every `interval_s` s)."""
    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: no such file")
    if p.is_dir():
        raise MediaError(f"{p}: is a folder, expected an image or video file")
    if p.suffix.lower() in IMAGE_SUFFIXES:
        yield 0.0, read_image(p)
        return
    yield from sample_video(p, interval_s)
