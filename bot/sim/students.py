"""Simulated students for the demo and benchmarks: real faces, scripted class events.

A `FrameSource` returns the frame a student's camera shows at class time t (or None while
the camera is off). Two kinds of real faces, no pixels committed to the project:
- `VideoStudent` loops a local face video (e.g. ``../shared/datasets/videos``);
- `PhotoStudent` animates a public-domain photograph shipped inside scikit-image
  (NASA's portrait of astronaut Eileen Collins) with small head motion, glances away
  and lighting changes, so a fresh machine without videos still sees a human face.
`Script` adds camera-off and away-from-desk intervals on top of either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


class FrameSource(Protocol):
    def frame_at(self, t: float) -> np.ndarray | None: ...


@dataclass(frozen=True)
class Script:
    """Intervals (start_s, end_s) of camera off and of an empty seat (video on, nobody there)."""

    camera_off: tuple[tuple[float, float], ...] = ()
    away: tuple[tuple[float, float], ...] = ()

    def camera_off_at(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.camera_off)

    def away_at(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.away)


def empty_room(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A rendered empty room: wall gradient, a shelf, a door and sensor noise — no face."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None]
    wall = (150 + 50 * y + 10 * np.sin(np.linspace(0, 3, width))[None, :]).astype(np.float32)
    img = np.repeat(wall[:, :, None], 3, axis=2) * np.array([0.9, 1.0, 1.05], dtype=np.float32)
    img[int(height * 0.75):, :] *= 0.6  # desk
    img[int(height * 0.2):int(height * 0.7), int(width * 0.7):int(width * 0.85)] *= 0.7  # door
    img[int(height * 0.3):int(height * 0.33), int(width * 0.1):int(width * 0.4)] *= 0.5  # shelf
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


class VideoStudent:
    """Loops a video; frames are decoded once at the sampling times and reused."""

    def __init__(self, path: str | Path, interval_s: float, script: Script = Script()) -> None:
        from analysis.media import sample_video

        self.path = Path(path)
        self.frames = [f for _, f in sample_video(self.path, interval_s)]
        self.interval_s = interval_s
        self.script = script
        h, w = self.frames[0].shape[:2]
        self._room = empty_room(w, h, seed=hash(self.path.name) % 1000)

    def frame_at(self, t: float) -> np.ndarray | None:
        if self.script.camera_off_at(t):
            return None
        if self.script.away_at(t):
            return self._room
        return self.frames[round(t / self.interval_s) % len(self.frames)]


def astronaut() -> np.ndarray:
    """The public-domain astronaut portrait shipped in scikit-image, as BGR."""
    from skimage import data

    rgb = data.astronaut()
    return np.ascontiguousarray(rgb[:, :, ::-1])


class PhotoStudent:
    """A webcam-like 480x360 view of a photo with gentle, deterministic head motion."""

    def __init__(self, photo: np.ndarray, seed: int, script: Script = Script(),
                 size: tuple[int, int] = (480, 360)) -> None:
        self.photo = photo
        self.rng_phase = seed * 1.7
        self.flip = seed % 2 == 1
        self.gain = 0.8 + 0.08 * (seed % 5)
        self.script = script
        self.size = size
        self._room = empty_room(size[0], size[1], seed=seed)

    def frame_at(self, t: float) -> np.ndarray | None:
        import cv2

        if self.script.camera_off_at(t):
            return None
        if self.script.away_at(t):
            return self._room
        w, h = self.size
        ph = self.phase = self.rng_phase + t / 7.0
        # Centre the face (around x=0.36, y=0.22 of the 512x512 photo), sway and zoom a little;
        # every ~40 s the student glances sideways for a few seconds (horizontal squeeze).
        cx, cy = 185 + 12 * math.sin(ph), 150 + 8 * math.cos(ph * 1.3)
        scale = 1.5 + 0.15 * math.sin(ph * 0.7)
        angle = 6 * math.sin(ph * 0.9)
        m = cv2.getRotationMatrix2D((cx, cy), angle, scale).astype(np.float64)
        m[0, 2] += w / 2 - cx
        m[1, 2] += h / 2 - cy
        glance = (t + self.rng_phase * 10) % 40 < 4
        if glance:
            m[0, :2] *= 0.55
            m[0, 2] = w / 2 - 0.55 * (m[0, 0] / 0.55 * cx + m[0, 1] / 0.55 * cy) + w * 0.1
        img = cv2.warpAffine(self.photo, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        if self.flip:
            img = img[:, ::-1]
        return np.clip(img.astype(np.float32) * self.gain, 0, 255).astype(np.uint8)
