"""`classpulse join URL`: one live session in the foreground, progress on the terminal.

Meeting URLs:
  janus+http://HOST:PORT/janus?room=ROOM[&pin=PIN][&token=T][&apisecret=S]   a Janus VideoRoom
  janus+https://…                                                           the same over TLS
  zoom:?meeting_uuid=U&rtms_stream_id=S&server_urls=wss://…                  one Zoom RTMS stream (docs/zoom.md)
  classroom:CODE                                                            the built-in classroom
                                                                            (students open the link
                                                                            printed at the start)

Ctrl-C (or SIGTERM) asks the bot to leave: it stops sampling, leaves the meeting, stores
everything and renders the reports; a second Ctrl-C aborts.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TextIO

from bot.config import Config
from bot.connectors.base import Connector
from bot.sessions.live import LiveSession, SessionResult

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


class MeetingUrlError(ValueError):
    pass


def parse_duration(text: str) -> float:
    """Seconds from "90", "90s", "45m", "1h30m" or "1.5h"."""
    m = _DURATION.match(text.strip().lower())
    if not text.strip() or m is None or not any(m.groups()):
        raise ValueError(f"{text!r} is not a duration (e.g. 90s, 45m, 1h30m)")
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    seconds = h * 3600 + mi * 60 + s
    if seconds <= 0:
        raise ValueError(f"{text!r}: the duration must be positive")
    return seconds


@dataclass
class Meeting:
    connector: Connector
    join_link: str = ""  # for the built-in classroom: what students open


@contextlib.asynccontextmanager
async def open_meeting(url: str, config: Config, class_name: str) -> AsyncIterator[Meeting]:
    """The connector for `url`, with the built-in classroom's web server running if needed."""
    if url.startswith(("janus:", "janus+http:", "janus+https:")):
        from bot.connectors.janus import JanusConnector
        from bot.connectors.janus_protocol import JanusUrlError, parse_target

        try:
            target = parse_target(url)
        except JanusUrlError as exc:
            raise MeetingUrlError(str(exc)) from None
        yield Meeting(JanusConnector(target, config))
        return
    if url.startswith("classroom:"):
        from aiohttp import web

        from bot.connectors.classroom import ClassroomConnector
        from bot.web.app import classroom_key, init_app
        from bot.web.whip import CODE_RE, new_code

        code = url.removeprefix("classroom:").strip("/") or new_code()
        if not CODE_RE.match(code):
            raise MeetingUrlError(f"class code {code!r}: use 3-40 letters, digits, - or _")
        c = config.classroom
        app = init_app(config)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            await web.TCPSite(runner, c.host, c.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise MeetingUrlError(f"cannot serve the classroom on {c.host}:{c.port}: {exc.strerror}") from None
        base = c.public_url.rstrip("/") or f"http://{c.host}:{c.port}"
        try:
            yield Meeting(ClassroomConnector(app[classroom_key], code, class_name, base), f"{base}/join/{code}")
        finally:
            await runner.cleanup()
        return
    if url.startswith("zoom:?"):  # a Zoom RTMS stream (zoom://… and meeting links are not streams)
        from bot.connectors.zoom import ZoomConnector
        from bot.connectors.zoom_protocol import ZoomUrlError, parse_stream_url

        try:
            ref = parse_stream_url(url)
        except ZoomUrlError as exc:
            raise MeetingUrlError(str(exc)) from None
        yield Meeting(ZoomConnector(ref, config.zoom, sample_interval_s=config.analysis.sample_interval_s))
        return
    raise MeetingUrlError(f"{url!r}: unsupported meeting URL (use janus+http://HOST:PORT/janus?room=ROOM, "
                          "classroom:CODE or zoom:?meeting_uuid=…&rtms_stream_id=…&server_urls=…)")


def progress_line(p: dict[str, Any]) -> str:
    elapsed = int(p["elapsed_s"])
    total = p["samples"] + p["dropped"]
    share = 100.0 * p["dropped"] / total if total else 0.0
    p95 = "-" if p["latency_p95_s"] is None else f"{p['latency_p95_s']:.2f} s"
    return (f"{p['state']:<10} {elapsed // 3600:02d}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}  "
            f"students {p['present']} present / {p['students']} seen  samples {p['samples']}  "
            f"dropped {p['dropped']} ({share:.1f}%)  p95 latency {p95}")


async def _show_progress(session: LiveSession, out: TextIO, every_s: float) -> None:
    tty = out.isatty()
    last = 0.0
    while True:
        await asyncio.sleep(1.0)
        if not tty and time.monotonic() - last < every_s:
            continue
        last = time.monotonic()
        print(("\r" if tty else "") + progress_line(session.progress()), end="" if tty else "\n",
              file=out, flush=True)


async def run_join(url: str, config: Config, *, duration_s: float | None = None, class_name: str = "Live class",
                   teacher: str = "", out_dir: str | None = None, render: bool = True,
                   out: TextIO = sys.stderr, progress_every_s: float = 10.0) -> SessionResult:
    from analysis.store import Store
    from bot.sessions.live import render_reports

    loop = asyncio.get_running_loop()
    store = await loop.run_in_executor(None, Store, config.store.url)
    try:
        async with open_meeting(url, config, class_name) as meeting:
            session = LiveSession(meeting.connector, config, store, class_name=class_name, teacher=teacher,
                                  render=render_reports if render else None, max_duration_s=duration_s,
                                  out_dir=out_dir)
            print(f"classpulse: joining {meeting.connector.description} as session {session.session_id}",
                  file=out, flush=True)
            if meeting.join_link:
                print(f"classpulse: students join at {meeting.join_link}", file=out, flush=True)
            interrupts = 0

            def interrupted() -> None:
                nonlocal interrupts
                interrupts += 1
                if interrupts > 1:
                    raise KeyboardInterrupt
                print("\nclasspulse: leaving the class (Ctrl-C again to abort)", file=out, flush=True)
                session.request_leave()

            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, interrupted)
            shower = asyncio.ensure_future(_show_progress(session, out, progress_every_s))
            try:
                result = await session.run()
            finally:
                shower.cancel()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    with contextlib.suppress(NotImplementedError, RuntimeError):
                        loop.remove_signal_handler(sig)
            if session.sampler is not None:  # got in: the final tally
                print(("\n" if out.isatty() else "") + progress_line(session.progress()), file=out, flush=True)
            return result
    finally:
        await loop.run_in_executor(None, store.close)


def describe(result: SessionResult) -> str:
    if result.failure is not None:
        return f"session {result.session_id} failed: {result.failure.value}: {result.detail}"
    why = result.leave_reason.value if result.leave_reason else "done"
    return (f"session {result.session_id} {result.state.value} ({why}): {result.students} students, "
            f"{result.samples} samples, {result.dropped} dropped")

