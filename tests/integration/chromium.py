"""Real headless Chromium students: a y4m fake camera made from a face clip, and the browser.

Chromium's `--use-file-for-fake-video-capture` plays a y4m file as the camera (looped), so
the browser publishes real faces with its own WebRTC stack. Debian's `chromium` is driven
by Playwright from PyPI with `executable_path`; `playwright install` is never needed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

CHROMIUM = "/usr/bin/chromium"


def missing() -> str | None:
    """None when Chromium and Playwright are both here, else what is missing."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return "Chromium is not installed (apt-get install -y chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright; never `playwright install`)"
    return None


def launch_args(y4m: Path) -> list[str]:
    return ["--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"]


def write_y4m(clip: Path, out: Path, size: tuple[int, int] = (640, 480), fps: int = 15,
              seconds: float = 3.0) -> Path:
    """A y4m (4:2:0) camera file from `clip`: `seconds` at `fps`, frames picked by timestamp."""
    cap = cv2.VideoCapture(str(clip))
    src_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames: list[np.ndarray] = []
    i = 0
    while len(frames) < seconds * fps:
        ok, bgr = cap.read()
        if not ok:
            break
        if i / src_fps >= len(frames) / fps:
            frames.append(cv2.cvtColor(cv2.resize(bgr, size), cv2.COLOR_BGR2YUV_I420))
        i += 1
    cap.release()
    if not frames:
        raise ValueError(f"{clip}: no frames")
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{size[0]} H{size[1]} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for yuv in frames:
            f.write(b"FRAME\n")
            f.write(yuv.tobytes())
    return out
