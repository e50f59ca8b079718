"""Where the development datasets live: the one place that spells the path.

The shared folder sits beside the checkout (``../shared/datasets``: FER-2013, the face
videos, ``expressions-dev``); ``CLASSPULSE_DATASETS`` points elsewhere. Datasets are for
tests, training and benchmarks only and are never committed or downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def datasets_dir() -> Path:
    return Path(os.environ.get("CLASSPULSE_DATASETS") or REPO_ROOT.parent / "shared" / "datasets")


def videos_dir() -> Path:
    return datasets_dir() / "videos"
