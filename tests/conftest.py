"""Shared fixtures: paths to the shared datasets (tests skip cleanly when they are absent)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Nothing a test runs may write to the real data folder (~/.local/share/classpulse).
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="classpulse-test-data-")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
VIDEOS = SHARED / "videos"
FER = SHARED / "fer2013"


def _missing(what: str) -> None:
    """Skip on a developer's laptop; under CI a missing dataset is a failure, not a silent skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI needs ../shared/datasets)")
    pytest.skip(what)


@pytest.fixture
def videos_dir() -> Path:
    if not any(VIDEOS.glob("*.mp4")):
        _missing(f"face videos not found at {VIDEOS}")
    return VIDEOS


@pytest.fixture
def fer_dir() -> Path:
    if not (FER / "test").is_dir():
        _missing(f"FER-2013 not found at {FER}")
    return FER
