"""The analyser a session runs, built from the configuration, and the record of what it ran with.

`settings_from` is the one mapping from `config.analysis` to the pipeline's settings, used
by `classpulse analyze` and the demo; live sessions add the live-only shortcuts
(`live_settings_from`). `run_settings` is what a session
stores about itself (model version and settings), so a report or a term trend can say when
either changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Config

if TYPE_CHECKING:  # importing the sampler imports aiortc/PyAV, which must not follow TensorFlow
    from bot.sessions.sampler import Analyze


def settings_from(config: Config) -> Any:
    from analysis.pipeline import Settings

    a = config.analysis
    return Settings(detector=a.detector, landmarks=a.landmarks, emotions=a.emotions, min_face_px=a.min_face_px,
                    model_dir=a.model_dir, batch_size=a.batch_size)


def live_settings_from(config: Config) -> Any:
    """`settings_from` plus the live-only shortcuts of `config.analysis` (never for analyze/evaluate).

    Choosing the detector per stream needs YuNet as the configured detector; with any other
    (e.g. "auto" where yuface is missing, which means BlazeFace) that shortcut stays off.
    """
    from dataclasses import replace

    from analysis.detect import resolve_name
    from analysis.pipeline import Shortcuts

    a = config.analysis
    choose = a.live_choose_detector and resolve_name(a.detector) == "yunet"
    return replace(settings_from(config), shortcuts=Shortcuts(
        choose_detector=choose, mesh_every=a.live_mesh_every, mesh_move=a.live_mesh_move,
        skip_uncertain_emotion=a.live_skip_uncertain_emotion))


def analyzer_factory(config: Config) -> Callable[[], Analyze]:
    """Builds the real analyser inside the worker thread, loading the model before class starts:
    in a process of its own with `analysis.process` (`bot.sessions.analysis_process`), else here."""
    if config.analysis.process:
        return lambda: process_analyzer(config)

    def make() -> Analyze:
        from analysis.pipeline import Analyzer

        analyzer = Analyzer(live_settings_from(config))
        if config.analysis.emotions:
            _ = analyzer.classifier  # load now, not at the first face
        return analyzer.analyze

    return make


def process_analyzer(config: Config) -> Analyze:
    """The live analyser in its own process; returns its bound `analyze` (the sampler closes it
    and the session asks it to `describe()` itself through `__self__`)."""
    from bot.sessions.analysis_child import live_analyzer
    from bot.sessions.analysis_process import AnalysisProcess

    return AnalysisProcess(live_analyzer, (live_settings_from(config),)).analyze


@lru_cache(maxsize=8)
def model_version(model_dir: str | None) -> str:
    """``<folder name>@<first 12 hex of SHA-256 over meta.json and the weights>``; cheap after the first call."""
    from model.bundle import DEFAULT_MODEL_DIR

    folder = Path(model_dir) if model_dir else Path(DEFAULT_MODEL_DIR)
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".json", ".h5"))
    if not files:
        return f"{folder.name}@missing"
    for p in files:
        digest.update(p.relative_to(folder).as_posix().encode())
        digest.update(p.read_bytes())
    return f"{folder.name}@{digest.hexdigest()[:12]}"


def run_settings(config: Config) -> tuple[str, str]:
    """(model version, analysis settings as JSON) for the session record."""
    a = config.analysis
    version = model_version(a.model_dir) if a.emotions else ""
    return version, json.dumps(a.model_dump(mode="json"), sort_keys=True)
