"""Shared fixtures: paths to the shared datasets (tests skip cleanly when they are absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
VIDEOS = SHARED / "videos"
FER = SHARED / "fer2013"


@pytest.fixture
def videos_dir() -> Path:
    if not any(VIDEOS.glob("*.mp4")):
        pytest.skip(f"face videos not found at {VIDEOS}")
    return VIDEOS


@pytest.fixture
def fer_dir() -> Path:
    if not (FER / "test").is_dir():
        pytest.skip(f"FER-2013 not found at {FER}")
    return FER
