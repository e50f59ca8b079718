"""How long the dashboard's live view takes to build one pulse: `python -m bot.bench.live_view`.

A session of N students sampled every second for `--minutes` is written to a fresh SQLite
store; the live feed then builds the first pulse (which reads the whole chart span, 10
minutes) and `--pulses` steady ones, each three seconds of class time after the last (so
a chart window completes now and then). Prints one line with the first and the median and
worst steady pulse. A stand-in roster replaces the live session: only the feed is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.records import FaceReading, Observation, SessionInfo, State
from analysis.store import Store
from bot.service.live_feed import LiveFeeds
from bot.service.live_timeline import LiveSettings


@dataclass
class _Student:
    participant_id: str
    display_name: str
    present: bool = True


class _Roster:
    def __init__(self, n: int) -> None:
        self.students = [_Student(f"p{i}", f"Student {i}") for i in range(n)]

    def all(self) -> list[_Student]:
        return self.students


@dataclass
class _Live:
    """The parts of a `LiveSession` that the feed reads."""

    session_id: str
    roster: _Roster
    now: float = 0.0

    def progress(self) -> dict[str, Any]:
        return {"state": "in_class", "elapsed_s": self.now, "students": len(self.roster.all()), "samples": 0}


async def measure(students: int, minutes: float, pulses: int) -> dict[str, float]:
    store = Store(f"sqlite:///{Path(tempfile.mkdtemp(prefix='classpulse-bench-')) / 'live.db'}")
    sid = "bench-live"
    store.ensure_session(SessionInfo(session_id=sid, class_name="bench", teacher="",
                                     started_at="2026-01-01T00:00:00+00:00"))
    face = FaceReading(0, (100, 100, 120, 120), 0.95, attentive=True, eyes_open=True,
                       emotions=(0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.7))
    end = int(minutes * 60)
    store.add_observations([Observation(sid, f"p{i}", float(t), State.PRESENT, (face,))
                            for t in range(end) for i in range(students)])
    live = _Live(sid, _Roster(students), now=end - 5.0)
    feeds = LiveFeeds(LiveSettings(), lag_s=3.0, emotions=True, reuse_s=0.0)
    t0 = time.perf_counter()
    await feeds.pulse(store, live)  # type: ignore[arg-type]
    first = time.perf_counter() - t0
    steady = []
    for _ in range(pulses):
        live.now += 3.0
        t0 = time.perf_counter()
        await feeds.pulse(store, live)  # type: ignore[arg-type]
        steady.append(time.perf_counter() - t0)
    store.close()
    return {"first_s": first, "median_s": statistics.median(steady), "max_s": max(steady)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--minutes", type=float, default=12.0)
    ap.add_argument("--pulses", type=int, default=20)
    args = ap.parse_args()
    r = asyncio.run(measure(args.students, args.minutes, args.pulses))
    print(f"{args.students} students, 1 sample/s, {args.minutes:g} min stored: "
          f"first pulse {r['first_s'] * 1000:.0f} ms (reads 10 min), "
          f"steady median {r['median_s'] * 1000:.0f} ms, worst {r['max_s'] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
