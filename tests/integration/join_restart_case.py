"""Runs inside a network namespace with Janus on 127.0.0.1:8088: `classpulse join` SIGKILLed mid-class.

Ada and Ben publish into room 1234 from this process. The real CLI (`python -m bot join
janus+http://…`, real analyser, emotions off) samples them, is SIGKILLed (no goodbye: its
Janus session — the "ghost" — stays in the room until Janus times it out), and is started
again with the same meeting URL. Before the second bot leaves (SIGINT), Janus is asked who
is in the room, to show the ghost was really there. Prints one JSON document with what
the service store holds afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from analysis.store import Store
from bot.config import Config
from bot.connectors.janus_client import HttpTransport, JanusClient
from bot.connectors.janus_protocol import parse_target
from bot.db.store import ServiceStore
from tests.integration.janus_case import BASE, JanusStudent, wait_for_janus
from tests.integration.students import load_clip

URL = f"{BASE}?room=1234&pin=letmein"


class Join:
    """One `python -m bot join URL` process; its stderr lines are kept for the test."""

    def __init__(self, sets: list[str]) -> None:
        self.sets = sets
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        args = [x for s in self.sets for x in ("--set", s)]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args, "join", URL, "--class-name", "Physics",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip())

    async def said(self, text: str, within_s: float = 180) -> str:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            found = next((line for line in self.lines if text in line), None)
            if found is not None:
                return found
            if self.proc is not None and self.proc.returncode is not None:
                break
            await asyncio.sleep(0.2)
        raise RuntimeError(f"`join` never said {text!r}: " + "\n".join(self.lines[-30:]))

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no leave, no flush, no goodbye to Janus
        await self.proc.wait()

    async def interrupt(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)  # Ctrl-C: leave, store, render
        rc = await asyncio.wait_for(self.proc.wait(), 120)
        if self._reader is not None:
            await self._reader
        return rc


async def samples(url: str, sid: str, after_t: float = -1.0) -> int:
    def count() -> int:
        store = Store(url)
        try:
            return sum(1 for o in store.observations(sid) if o.t > after_t)
        except Exception:
            return 0
        finally:
            store.close()

    return await asyncio.get_running_loop().run_in_executor(None, count)


async def until_samples(url: str, sid: str, n: int, after_t: float = -1.0, within_s: float = 120) -> None:
    deadline = time.monotonic() + within_s
    while await samples(url, sid, after_t) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {n} samples after t={after_t} in {sid}")
        await asyncio.sleep(0.5)


async def room_displays() -> list[str]:
    """Who Janus lists in room 1234 (VideoRoom `listparticipants`)."""
    target = parse_target(URL)
    client = JanusClient(HttpTransport(target.base_url), target)
    await client.create()
    try:
        handle = await client.attach()
        data, _ = await client.message(handle, {"request": "listparticipants", "room": 1234})
        return [str(p.get("display", "")) for p in data.get("participants", [])]
    finally:
        with contextlib.suppress(Exception):
            await client.destroy()
        await client.close()


async def run(videos: list[str]) -> dict[str, Any]:
    await wait_for_janus()
    tmp = Path(tempfile.mkdtemp(prefix="cp-join-restart-"))
    url = f"sqlite:///{tmp}/cp.db"
    sets = [f"store.url={url}", f"reports.out_dir={tmp}/reports", "reports.formats=[html]",
            "analysis.sample_interval_s=0.5", "analysis.emotions=off", "store.flush_s=0.5",
            "session.nobody_timeout_s=120", "session.empty_timeout_s=120", "session.join_timeout_s=60"]
    target = parse_target(URL)
    students = [JanusStudent(target, name, load_clip(videos[i % len(videos)], 10, (320, 240)))
                for i, name in enumerate(("Ada", "Ben"))]
    for s in students:
        await s.join()
    first = Join(sets)
    await first.start()
    sid = (await first.said("as session ")).rsplit("as session ", 1)[1].strip()
    await until_samples(url, sid, 12)
    await asyncio.sleep(1.0)  # a flush after the samples
    before = await samples(url, sid)
    await first.kill()
    killed_at = time.monotonic()
    second = Join(sets)
    await second.start()
    continuing = await second.said("continuing it")
    joined = await second.said("as session ")
    store = Store(url)
    last_t = max(o.t for o in store.observations(sid))
    store.close()
    await until_samples(url, sid, 8, after_t=last_t)
    in_room = await room_displays()
    rc = await second.interrupt()
    for s in students:
        await s.leave()
    store = Store(url)
    db = ServiceStore(store)
    try:
        every, _ = db.sessions()
        record = db.session(sid)
        assert record is not None
        return {
            "session_id": sid, "restart_s": time.monotonic() - killed_at, "samples_before_kill": before,
            "continuing_line": continuing, "joined_line": joined, "rc": rc,
            "sessions": [(r.session_id, r.meeting_url, r.state) for r in every],
            "state": record.state, "ended_at": record.ended_at,
            "attempts": [{"number": a.number, "end_reason": a.end_reason, "ended_at": a.ended_at}
                         for a in db.attempts(sid)],
            "interruptions": [{"reason": g.reason, "from": g.from_at, "to": g.to_at}
                              for g in store.interruptions(sid)],
            "participants": sorted(p.display_name for p in store.participants(sid)),
            "in_room": in_room, "bot_name": Config().bot.name,
            "stderr_tail": second.lines[-5:],
        }
    finally:
        store.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("videos", nargs="+")
    json.dump(asyncio.run(run(p.parse_args().videos)), sys.stdout, default=str)
