"""`classpulse demo`: an offline class from local face videos, end to end to PDF reports.

Each video is one student (looped to the class length); scripted events give one student a
camera-off period, one an empty seat and one a late arrival, so the reports show every
state. Sampling, batching, the store and the reports are the production ones: only the
frames come from files instead of a meeting.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from analysis.records import Participant, SessionInfo
from bot.config import Config
from bot.sim.students import FrameSource, PhotoStudent, Script, VideoStudent, astronaut
from model.datasets import videos_dir

NAMES = ("Ada", "Ben", "Chloé", "Dev", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kemal", "Lea")
SHARED_VIDEOS = videos_dir()


@dataclass(frozen=True)
class DemoStudent:
    participant_id: str
    name: str
    source: FrameSource
    joins_at: float = 0.0


def _script(i: int, seconds: float) -> Script:
    if i == 1:
        return Script(camera_off=((0.30 * seconds, 0.45 * seconds),))
    if i == 3:
        return Script(away=((0.60 * seconds, 0.72 * seconds),))
    return Script()


def make_students(videos: Sequence[str | Path] | None, seconds: float,
                  interval_s: float, builtin: bool = False) -> list[DemoStudent]:
    """Students from the given videos, else the shared test videos, else the built-in photo."""
    paths = [Path(v) for v in videos] if videos else sorted(SHARED_VIDEOS.glob("*.mp4"))
    if builtin:
        paths = []
    students: list[DemoStudent] = []
    if paths:
        for i, p in enumerate(paths):
            src = VideoStudent(p, interval_s, _script(i, seconds))
            students.append(DemoStudent(f"p{i + 1}", NAMES[i % len(NAMES)], src,
                                        joins_at=0.2 * seconds if i == 2 else 0.0))
        return students
    photo = astronaut()
    for i in range(5):
        students.append(DemoStudent(f"p{i + 1}", NAMES[i], PhotoStudent(photo, i, _script(i, seconds)),
                                    joins_at=0.2 * seconds if i == 2 else 0.0))
    return students


def run_demo(config: Config, videos: Sequence[str] | None = None, seconds: float = 180.0,
             out_dir: str | None = None, builtin: bool = False) -> list[Path]:
    """Simulate the class, store observations, render reports; returns the report paths."""
    from analysis.pipeline import Analyzer, Sample
    from analysis.store import ObservationBuffer, Store
    from bot.sessions.analyzer import settings_from
    from reports.render import render_session

    interval = config.analysis.sample_interval_s
    students = make_students(videos, seconds, interval, builtin=builtin)
    start = datetime.now(UTC).replace(microsecond=0)
    session_id = "demo-" + start.strftime("%Y%m%d-%H%M%S")
    store = Store(config.store.url)
    buffer = ObservationBuffer(store, flush_s=config.store.flush_s)
    try:
        store.create_session(SessionInfo(
            session_id=session_id, class_name="Demo class", teacher="Demo teacher",
            started_at=start.isoformat(), emotions_enabled=config.analysis.emotions,
            sampling=f"1 frame per student every {interval:g} s", source="classpulse demo (simulated students: "
            + ("built-in photo" if isinstance(students[0].source, PhotoStudent) else "local videos") + ")",
        ))
        for s in students:
            store.upsert_participant(Participant(session_id, s.participant_id, s.name))
        from bot.quiet import quiet_native_stderr

        with quiet_native_stderr():
            analyzer = Analyzer(settings_from(config))
        ticks = int(seconds / interval)
        t0 = time.monotonic()
        for k in range(ticks):
            t = round(k * interval, 3)
            batch = [Sample(session_id, s.participant_id, t, s.source.frame_at(t))
                     for s in students if t >= s.joins_at]
            buffer.add(analyzer.analyze(batch))
            if sys.stderr.isatty() or k % 30 == 0:
                print(f"\rdemo: class time {t:6.0f}/{seconds:.0f} s, {len(batch)} students, "
                      f"{analyzer.timings.faces} faces read", end="" if sys.stderr.isatty() else "\n",
                      file=sys.stderr, flush=True)
        buffer.close()
        end = start + timedelta(seconds=seconds)
        store.update_session(session_id, ended_at=end.isoformat())
        print(f"\ndemo: analysed {analyzer.timings.samples} samples in {time.monotonic() - t0:.1f} s; "
              "rendering reports", file=sys.stderr)
        out = Path(out_dir or config.reports.out_dir) / session_id
        return render_session(store, session_id, out, formats=config.reports.formats,
                              paper=config.reports.paper.lower())
    finally:
        buffer.close()
        store.close()
