"""`classpulse demo`: a simulated class through the live path, end to end to PDF reports.

Five students in a `sim:` meeting (`bot.sim.meeting`): the development face videos when
they are there (or videos you pass), else the built-in public-domain photo. Scripted events
give one student a late arrival, one a camera-off period, one an empty seat and one an
early departure, so the reports show every state. The class runs in real time through the
one session runner: sampling, batching, the store and the reports are the production ones,
only the transport is simulated.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.config import Config

NAMES = ("Ada", "Ben", "Chloé", "Dev", "Emil")


def demo_url(seconds: float, videos: Sequence[str] | None = None, builtin: bool = False) -> str:
    """The demo class as a `sim:` meeting: 5 students; one joins late, one turns the camera off,
    one steps away, one leaves before the end (times scale with the class length)."""
    from urllib.parse import quote

    s = seconds
    query = {"students": "5", "faces": "builtin" if builtin else "videos", "fps": "5",
             "join": f"3@{0.2 * s:.0f}", "off": f"2@{0.3 * s:.0f}-{0.45 * s:.0f}",
             "away": f"4@{0.6 * s:.0f}-{0.72 * s:.0f}", "leave": f"5@{0.85 * s:.0f}",
             "names": ",".join(NAMES[:5])}
    if videos:
        query["clips"] = ",".join(str(Path(v).expanduser().resolve()) for v in videos)
    return "sim:?" + "&".join(f"{k}={quote(v, safe=',@-.')}" for k, v in query.items())


def run_demo(config: Config, videos: Sequence[str] | None = None, seconds: float = 60.0,
             out_dir: str | None = None, builtin: bool = False) -> list[Path]:
    """A simulated class through the one session runner, in real time; returns the report paths.

    Only the transport is simulated (`sim:` meeting): sampling, the analyser, the store and
    the reports are the ones a live class uses, so the demo shows what a teacher would get.
    """
    import asyncio

    from bot.cli.join import run_join

    if out_dir:
        config = config.model_copy(update={"reports": config.reports.model_copy(
            update={"out_dir": str(Path(out_dir).expanduser().resolve())})})
    outcome = asyncio.run(run_join(demo_url(seconds, videos, builtin), config, duration_s=seconds,
                                   class_name="Demo class", teacher="Demo teacher", progress_every_s=10.0))
    if outcome.state == "failed":
        raise RuntimeError(f"the demo class failed: {outcome.failure}: {outcome.detail}")
    if outcome.report_error:
        raise RuntimeError(f"the demo's reports failed: {outcome.report_error}")
    return list(outcome.reports)
