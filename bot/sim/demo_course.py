"""`classpulse demo --course N`: N short simulated lessons of one class, then its course report.

Each lesson is a `sim:` meeting (`bot.sim.meeting`) run through the one session runner, as
`classpulse demo` runs one: real frames, the real analyser, the store, and the term summaries
written when each session ends. Only the clock is shortened: a lesson lasts `seconds` (20 by
default) instead of 45 minutes, and the late/absent thresholds of the report scale with it
(late after 15 % of the lesson, absent after 50 %), which the report states. The analyser is
loaded once and shared by the lessons, so N lessons take about N × `seconds` plus one model load.

The lessons differ as a term does: someone arrives late, someone never joins, a camera goes
off, someone steps away or leaves early. With three or more lessons, the second one simulates a
fault (the analyser cannot start): the runner records it as failed, and the course report shows
it as "not recorded", never as anyone's absence. Per-session reports are not rendered (the
course report is the point); `classpulse report SESSION` renders any of them afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot.config import Config
from bot.sim.demo import NAMES

LATE_SHARE, ABSENT_SHARE = 0.15, 0.5


def lesson_url(k: int, seconds: float, videos: Sequence[str] | None = None, builtin: bool = False) -> str:
    """Lesson `k` (0-based) of the demo course: five students whose roles rotate from lesson to lesson."""
    s, n = seconds, len(NAMES)

    def who(shift: int) -> int:
        return (k + shift) % n + 1

    query = {"students": str(n), "faces": "builtin" if builtin else "videos", "fps": "5",
             "join": f"{who(2)}@{0.3 * s:.0f},{who(4)}@{3 * s:.0f}",  # one late, one never joins
             "off": f"{who(1)}@{0.3 * s:.0f}-{0.5 * s:.0f}", "away": f"{who(3)}@{0.55 * s:.0f}-{0.75 * s:.0f}",
             "leave": f"{who(0)}@{0.8 * s:.0f}", "names": ",".join(NAMES)}
    if videos:
        query["clips"] = ",".join(str(Path(v).expanduser().resolve()) for v in videos)
    return "sim:?" + "&".join(f"{k_}={quote(v, safe=',@-.')}" for k_, v in query.items())


class _Shared:
    """The analyser built once and handed to every lesson (lessons run one after another).

    Each session closes its analyser when it ends; the lessons get a plain function instead of
    the analyser's bound method, so only `close` here (after the last lesson) releases it.
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory
        self.analyze: Any = None

    def __call__(self) -> Callable[[Any], Any]:
        if self.analyze is None:
            self.analyze = self.factory()

        def analyze(samples: Any) -> Any:
            return self.analyze(samples)

        return analyze

    def close(self) -> None:
        owner = getattr(self.analyze, "__self__", None)
        if owner is not None and callable(getattr(owner, "close", None)):
            owner.close()


def _broken() -> Any:
    raise RuntimeError("simulated fault: the analyser could not start")


def _lessons(config: Config, n: int, name: str, seconds: float, videos: Sequence[str] | None, builtin: bool,
             shared: _Shared, progress: Callable[[str], None]) -> None:
    from bot.cli.join import run_join

    for k in range(n):
        fault = n >= 3 and k == 1
        progress(f"classpulse: lesson {k + 1} of {n} of {name!r}" + (" (simulated fault)" if fault else ""))
        quiet = logging.getLogger("bot.sessions.live")
        quiet.disabled = fault  # the simulated fault is expected: no traceback for it
        try:
            outcome = asyncio.run(run_join(lesson_url(k, seconds, videos, builtin), config, duration_s=seconds,
                                           class_name=name, teacher="Demo teacher", render=False,
                                           progress_every_s=max(seconds, 10.0),
                                           analyze_factory=_broken if fault else shared))
        finally:
            quiet.disabled = False
        if fault:
            time.sleep(1.0)  # start times are kept to the second: the next lesson must not share this one's
        if outcome.state == "failed" and not fault:
            raise RuntimeError(f"demo lesson {k + 1} failed: {outcome.failure}: {outcome.detail}")


def run_course_demo(config: Config, n: int, *, seconds: float = 20.0, videos: Sequence[str] | None = None,
                    out_dir: str | None = None, builtin: bool = False,
                    progress: Callable[[str], None] = print,
                    analyze_factory: Callable[[], Any] | None = None) -> list[Path]:
    """Run `n` lessons of one demo class, then write its course report; returns the report's paths.

    `analyze_factory` replaces the real analyser (tests)."""
    from analysis.store import Store
    from bot.course.inputs import ClassRef
    from bot.course.report import course_folder, write_course_report
    from bot.db.store import ServiceStore
    from bot.sessions.analyzer import analyzer_factory

    if n < 1:
        raise ValueError("--course needs at least 1 lesson")
    if out_dir:
        config = config.model_copy(update={"reports": config.reports.model_copy(
            update={"out_dir": str(Path(out_dir).expanduser().resolve())})})
    name = f"Demo course {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
    shared = _Shared(analyze_factory or analyzer_factory(config))
    try:
        _lessons(config, n, name, seconds, videos, builtin, shared, progress)
    finally:
        shared.close()
    store = Store(config.store.url)
    try:
        cls = ClassRef("", name, "Demo teacher")
        return write_course_report(
            store, ServiceStore(store), config, cls, out_dir=course_folder(config.reports.out_dir, cls),
            late_after_s=LATE_SHARE * seconds, absent_after_s=ABSENT_SHARE * seconds)
    finally:
        store.close()
