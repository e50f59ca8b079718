"""`python -m bot.bench.sessions`: what each finished session leaves behind (threads, fds, RSS).

Runs N short live sessions one after another in this process, each with the real analyser
(detector, face mesh, emotion model) and a fake meeting whose students show a real face
frame, then prints one JSON line per session with the process's native threads, Python
threads, open file descriptors (and how many point at ``.tflite`` files) and RSS. A leak
shows as a number that grows by the same step every session; a fixed process would be flat
after the first session (warm-up: TensorFlow's one-time allocations).

    PYTHONPATH=. python -m bot.bench.sessions --sessions 12 --seconds 3
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from analysis.store import Store
from bot.config import Config
from bot.connectors.fake import FakeConnector, FakeMeeting
from bot.sessions.analyzer import analyzer_factory
from bot.sessions.live import LiveSession

DEFAULT_VIDEO = "/work/shared/datasets/videos/liveportrait_driving_d0.mp4"


def snapshot() -> dict[str, Any]:
    """The process's native threads, Python threads, open fds (.tflite ones apart) and RSS in MB."""
    fds = list(Path("/proc/self/fd").iterdir())
    targets = []
    for fd in fds:
        try:
            targets.append(str(fd.readlink()))
        except OSError:
            continue
    rss_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                  if line.startswith("VmRSS:"))
    return {"threads": len(list(Path("/proc/self/task").iterdir())), "py_threads": threading.active_count(),
            "fds": len(fds), "tflite_fds": sum(t.endswith(".tflite") for t in targets),
            "rss_mb": round(rss_kb / 1024, 1)}


def face_frame(video: str) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(video)
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read a frame from {video}")
    return np.ascontiguousarray(cv2.resize(frame, (640, 360)))


async def one_session(config: Config, store: Store, frame: np.ndarray, seconds: float, n: int) -> None:
    meeting = FakeMeeting()
    session = LiveSession(FakeConnector(meeting), config, store, class_name=f"Leak check {n}",
                          analyze_factory=analyzer_factory(config), render=None, max_duration_s=seconds)
    task = asyncio.ensure_future(session.run())
    await asyncio.wait_for(session.in_class.wait(), 120)
    for i in range(2):
        meeting.arrive(f"f{i}", f"Student {i}", video=lambda _i: frame, fps=10)
    result = await task
    meeting.stop_all()
    if result.samples == 0:
        raise SystemExit(f"session {n} sampled nothing: {result}")


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="cp-leaks-"))
    config = Config.model_validate({
        "analysis": {"sample_interval_s": 0.25, "emotions": not args.no_emotions},
        "store": {"url": f"sqlite:///{tmp}/leaks.db", "flush_s": 0.5},
        "reports": {"out_dir": str(tmp / "reports")},
        "session": {"join_timeout_s": 120, "empty_timeout_s": 600, "nobody_timeout_s": 600}})
    store = Store(config.store.url)
    frame = face_frame(args.video)
    print(json.dumps({"session": 0, **snapshot()}), flush=True)
    try:
        for n in range(1, args.sessions + 1):
            await one_session(config, store, frame, args.seconds, n)
            if args.gc:
                gc.collect()
            await asyncio.sleep(0.2)
            print(json.dumps({"session": n, **snapshot()}), flush=True)
    finally:
        store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--video", default=DEFAULT_VIDEO)
    parser.add_argument("--no-emotions", action="store_true")
    parser.add_argument("--gc", action="store_true", help="a full garbage collection after each session")
    asyncio.run(main(parser.parse_args()))
