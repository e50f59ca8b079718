"""Shared fixtures: paths to the shared datasets (tests skip cleanly when they are absent)."""

from __future__ import annotations

import os
import sys
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


_TF_BEFORE = pytest.StashKey[bool]()


def _tensorflow_loaded() -> bool:
    return "tensorflow" in sys.modules


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> object:
    item.stash[_TF_BEFORE] = _tensorflow_loaded()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    """The quick suite (``-m "not slow and not integration"``) must never load TensorFlow (seconds
    of import, gigabytes of memory): a test that loads it first, unmarked, fails here. Once a slow
    test has loaded it (a full run), the check has nothing left to see."""
    result = yield
    if not item.stash.get(_TF_BEFORE, True) and _tensorflow_loaded() and item.get_closest_marker("slow") is None:
        raise pytest.fail.Exception(f"{item.nodeid} imports TensorFlow: mark it @pytest.mark.slow", pytrace=False)
    return result

