"""`sim:` meetings: a simulated class behind the real connector interface.

Only the transport is simulated: students are real faces (the development clips, or the
built-in public-domain photo), their frames are decoded arrays handed to the production
sampler and analyser, and joins, leaves and camera switches follow a script in the URL:

  sim:?students=4&faces=builtin&fps=5&join=3@10&leave=2@60&off=1@20-40&away=4@30-50&names=Ada,Ben

- ``students`` 1–60 (default 4); ``faces`` ``videos`` or ``builtin`` (default: the clips when
  present); ``fps`` frames per second each camera produces (1–30, default 5);
- ``join=S@T``: student S (1-based) joins T s after the bot (default: at once);
  ``leave=S@T`` leaves; ``off=S@A-B`` camera off from A to B s (``B`` empty: for good);
  ``away=S@A-B`` camera on, nobody in the seat; several entries separated by commas;
- ``names``: display names, comma-separated (defaults: a fixed list);
- ``clips``: face videos to loop instead of the development clips (paths, comma-separated,
  URL-encoded), one per student round robin.

Used by the demo, tests and the cluster bench: every code path after the connector is
the one a real class takes.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

from bot.connectors.base import Connector, Joined, Left, VideoOff, VideoOn
from bot.sim.students import FrameSource, PhotoStudent, Script, VideoStudent, astronaut

NAMES = ("Ada", "Ben", "Chloé", "Dev", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kemal", "Lea")
_KEYS = {"students", "faces", "fps", "join", "leave", "off", "away", "names", "clips"}


class SimUrlError(ValueError):
    pass


@dataclass(frozen=True)
class SimStudent:
    name: str
    joins_at: float = 0.0
    leaves_at: float = math.inf
    camera_off: tuple[tuple[float, float], ...] = ()
    away: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class SimPlan:
    students: tuple[SimStudent, ...]
    faces: str = "videos"  # videos | builtin
    fps: float = 5.0
    clips: tuple[str, ...] = ()  # face videos to use instead of the shared development clips


def _number(text: str, what: str, url: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SimUrlError(f"{url!r}: {what} {text!r} is not a number of seconds") from None
    if value < 0 or not math.isfinite(value):
        raise SimUrlError(f"{url!r}: {what} {text!r} must be 0 or more")
    return value


def _entries(value: str, key: str, n: int, url: str) -> list[tuple[int, float, float]]:
    """``S@T`` or ``S@A-B`` entries → (student index, start, end)."""
    out = []
    for item in filter(None, (v.strip() for v in value.split(","))):
        who, at, when = item.partition("@")
        if not at or not who.isdigit() or not 1 <= int(who) <= n:
            raise SimUrlError(f"{url!r}: {key}={item!r} must look like STUDENT@SECONDS with STUDENT in 1..{n}")
        start, dash, end = when.partition("-")
        a = _number(start, key, url)
        b = (_number(end, key, url) if end else math.inf) if dash else a
        if b < a:
            raise SimUrlError(f"{url!r}: {key}={item!r} ends before it starts")
        out.append((int(who) - 1, a, b))
    return out


def parse_sim_url(url: str) -> SimPlan:
    parts = urlsplit(url)
    if parts.scheme != "sim":
        raise SimUrlError(f"{url!r}: a simulated class URL starts with sim:")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(query) - _KEYS)
    if unknown:
        raise SimUrlError(f"{url!r}: unknown parameter(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    count = query.get("students", "4")
    if not count.isdigit() or not 1 <= int(count) <= 60:
        raise SimUrlError(f"{url!r}: students={count!r} must be 1-60")
    n = int(count)
    faces = query.get("faces", "videos")
    if faces not in ("videos", "builtin"):
        raise SimUrlError(f"{url!r}: faces={faces!r} must be videos or builtin")
    fps = _number(query.get("fps", "5"), "fps", url)
    if not 1 <= fps <= 30:
        raise SimUrlError(f"{url!r}: fps must be 1-30")
    names = [x.strip() for x in query.get("names", "").split(",") if x.strip()]
    joins = [0.0] * n
    leaves = [math.inf] * n
    offs: list[list[tuple[float, float]]] = [[] for _ in range(n)]
    aways: list[list[tuple[float, float]]] = [[] for _ in range(n)]
    for i, a, _ in _entries(query.get("join", ""), "join", n, url):
        joins[i] = a
    for i, a, _ in _entries(query.get("leave", ""), "leave", n, url):
        leaves[i] = a
    for i, a, b in _entries(query.get("off", ""), "off", n, url):
        offs[i].append((a, b))
    for i, a, b in _entries(query.get("away", ""), "away", n, url):
        aways[i].append((a, b))
    students = tuple(
        SimStudent(names[i] if i < len(names) else NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i + 1}"),
                   joins[i], leaves[i], tuple(offs[i]), tuple(aways[i]))
        for i in range(n))
    clips = tuple(c for c in (x.strip() for x in query.get("clips", "").split(",")) if c)
    missing = [c for c in clips if not Path(c).is_file()]
    if missing:
        raise SimUrlError(f"{url[:200]!r}: clips not found: {', '.join(missing)}")
    return SimPlan(students, faces, fps, clips)


def frame_sources(plan: SimPlan, interval_s: float = 0.2) -> list[FrameSource]:
    """One face per student: the development clips (round robin), else the built-in photo."""
    from model.datasets import videos_dir

    clips = ([Path(c) for c in plan.clips] or sorted(videos_dir().glob("*.mp4"))) if plan.faces == "videos" else []
    photo = None if clips else astronaut()
    out: list[FrameSource] = []
    for i, s in enumerate(plan.students):
        script = Script(away=s.away)
        if clips:
            out.append(VideoStudent(clips[i % len(clips)], interval_s, script))
        else:
            assert photo is not None
            out.append(PhotoStudent(photo, i, script))
    return out


class SimCamera:
    """A pull-based camera: `recv()` waits for the next frame time and returns that frame (BGR)."""

    kind = "video"

    def __init__(self, source: FrameSource, fps: float, t0: float) -> None:
        self.source = source
        self.period = 1.0 / fps
        self.t0 = t0
        self.next = time.monotonic()
        self.live = True

    async def recv(self) -> np.ndarray:
        from aiortc.mediastreams import MediaStreamError

        while self.live:
            delay = self.next - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.next = max(self.next + self.period, time.monotonic())
            frame = self.source.frame_at(time.monotonic() - self.t0)
            if frame is not None:
                return frame
        raise MediaStreamError

    def stop(self) -> None:
        self.live = False


class SimConnector(Connector):
    def __init__(self, plan: SimPlan, sources: Sequence[FrameSource] | None = None) -> None:
        """`sources` default to `frame_sources(plan)` (decoding the clips takes a moment, off the loop)."""
        super().__init__()
        self.plan = plan
        self.sources = sources
        self.cameras: dict[str, SimCamera] = {}
        self.description = f"simulated class of {len(self.plan.students)} ({self.plan.faces} faces)"
        self._task: asyncio.Task[None] | None = None

    async def join(self) -> None:
        loop = asyncio.get_running_loop()
        if self.sources is None:
            self.sources = await loop.run_in_executor(None, frame_sources, self.plan)
        self._task = asyncio.ensure_future(self._script(time.monotonic()))

    async def _script(self, t0: float) -> None:
        """Emit the plan's events at their times (seconds after the bot joined)."""
        assert self.sources is not None
        events: list[tuple[float, int, str]] = []
        for i, s in enumerate(self.plan.students):
            events.append((s.joins_at, i, "join"))
            if math.isfinite(s.leaves_at):
                events.append((s.leaves_at, i, "leave"))
            for a, b in s.camera_off:
                events.append((a, i, "off"))
                if math.isfinite(b):
                    events.append((b, i, "on"))
        order = {"join": 0, "off": 1, "on": 2, "leave": 3}
        for at, i, what in sorted(events, key=lambda e: (e[0], order[e[2]], e[1])):
            delay = t0 + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            feed = f"sim-{i + 1}"
            s = self.plan.students[i]
            if what == "join":
                off_now = any(a <= at < b for a, b in s.camera_off)
                self.channel.put(Joined(feed, s.name, video_expected=not off_now))
                if not off_now:
                    self._camera_on(feed, i, t0)
            elif what == "on":
                self._camera_on(feed, i, t0)
            elif what == "off":
                self._camera_off(feed)
                self.channel.put(VideoOff(feed))
            else:
                self._camera_off(feed)
                self.channel.put(Left(feed))

    def _camera_on(self, feed: str, i: int, t0: float) -> None:
        assert self.sources is not None
        self._camera_off(feed)
        cam = self.cameras[feed] = SimCamera(self.sources[i], self.plan.fps, t0)
        self.channel.put(VideoOn(feed, cam))

    def _camera_off(self, feed: str) -> None:
        cam = self.cameras.pop(feed, None)
        if cam is not None:
            cam.stop()

    async def leave(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for feed in list(self.cameras):
            self._camera_off(feed)
        self.channel.close()
