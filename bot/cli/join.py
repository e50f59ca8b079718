"""`classpulse join URL`: one live session in the foreground, through the one session runner.

The session is recorded like every other (owner, attempts, interruptions), so it shows up
in `classpulse sessions` and in the service's API when both share a store. Before joining,
sessions a previous `join` left open (the process was killed) are taken care of: the one for
this same meeting continues in a new attempt (the dead attempt closed, the gap recorded as
an interruption: one class, one session), any other is closed as `interrupted` with its
partial report, never left `joining`. Meeting URLs: `bot.connectors.registry`.

Ctrl-C (or SIGTERM) asks the bot to leave: it stops sampling, leaves the meeting, stores
everything and renders the reports; a second Ctrl-C aborts.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import re
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from bot.config import Config
from bot.sessions.runner import Meetings, Outcome, SessionRunner, SessionSpec
from bot.sessions.sampler import Analyze

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


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


def progress_line(p: dict[str, Any]) -> str:
    elapsed = int(p["elapsed_s"])
    total = p["samples"] + p["dropped"]
    share = 100.0 * p["dropped"] / total if total else 0.0
    p95 = "-" if p["latency_p95_s"] is None else f"{p['latency_p95_s']:.2f} s"
    reconnects = f"  reconnects {p['reconnects']}" if p.get("reconnects") else ""
    slowed = ""
    if p.get("deferred") and p.get("interval_s"):
        slowed = f"  over capacity: 1 sample per student every {p['interval_s']:.1f} s"
    return (f"{p['state']:<10} {elapsed // 3600:02d}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}  "
            f"students {p['present']} present / {p['students']} seen  samples {p['samples']}  "
            f"dropped {p['dropped']} ({share:.1f}%)  p95 latency {p95}{reconnects}{slowed}")


async def _show_progress(runner: SessionRunner, session_id: str, out: TextIO, every_s: float) -> None:
    tty = out.isatty()
    last = 0.0
    shown_link = False
    while True:
        await asyncio.sleep(1.0)
        running = runner.running.get(session_id)
        if running is not None and running.join_link and not shown_link:
            print(f"classpulse: students join at {running.join_link}", file=out, flush=True)
            shown_link = True
        numbers = runner.live_numbers(session_id)
        if numbers is None or (not tty and time.monotonic() - last < every_s):
            continue
        last = time.monotonic()
        print(("\r" if tty else "") + progress_line(numbers), end="" if tty else "\n", file=out, flush=True)


async def run_join(url: str, config: Config, *, duration_s: float | None = None, class_name: str = "Live class",
                   teacher: str = "", render: bool = True, out: TextIO | None = None,
                   progress_every_s: float = 10.0, meetings: Meetings | None = None,
                   analyze_factory: Callable[[], Analyze] | None = None) -> Outcome:
    from analysis.store import Store
    from bot.connectors.registry import Registry
    from bot.db.store import ServiceStore
    from bot.sessions.live import render_reports

    out = out if out is not None else sys.stderr  # looked up now: a default bound at import goes stale
    loop = asyncio.get_running_loop()
    store = await loop.run_in_executor(None, Store, config.store.url)
    try:
        db = await loop.run_in_executor(None, ServiceStore, store)
        runner = SessionRunner(config, store, db, meetings or Registry(config), analyze_factory=analyze_factory,
                               render=render_reports if render else None)
        same = await loop.run_in_executor(None, _open_session_for, db, url)
        continued = ""
        for sid in await runner.recover(origins=("cli",), resume=lambda r: r.session_id == same):
            if sid in runner.running:
                continued = sid
                print(f"classpulse: session {sid} was left open by a killed `join` of this meeting: continuing it",
                      file=out, flush=True)
            else:
                print(f"classpulse: session {sid} was left open by a killed `join`: closed as interrupted",
                      file=out, flush=True)
        session_id = continued or await runner.start(SessionSpec(
            meeting_url=url, owner=teacher or _user(), class_name=class_name, duration_s=duration_s, origin="cli"))
        print(f"classpulse: joining {db.session(session_id).meeting if db.session(session_id) else url} "  # type: ignore[union-attr]
              f"as session {session_id}", file=out, flush=True)
        interrupts = 0

        def interrupted() -> None:
            nonlocal interrupts
            interrupts += 1
            if interrupts > 1:
                raise KeyboardInterrupt
            print("\nclasspulse: leaving the class (Ctrl-C again to abort)", file=out, flush=True)
            runner.leave(session_id)

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, interrupted)
        shower = asyncio.ensure_future(_show_progress(runner, session_id, out, progress_every_s))
        try:
            outcome = await runner.wait(session_id)
        finally:
            shower.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
        assert outcome is not None, "a CLI session is never superseded"
        if outcome.result is not None and outcome.result.in_class:
            r = outcome.result
            slowed = ""
            if r.deferred and r.slowest_interval_s:
                slowed = (f"; over capacity, every student was sampled less often (at the slowest once "
                          f"every {r.slowest_interval_s:.1f} s, {r.deferred} ticks deferred)")
            got = r.received or {}
            quality = (f"; video received: median {got['fps_median']} fps at {got['size_median']}"
                       if got.get("fps_median") is not None else "")
            print(("\n" if out.isatty() else "") + f"classpulse: {r.students} students, {r.samples} samples, "
                  f"{r.dropped} dropped{slowed}{quality}", file=out, flush=True)
        return outcome
    finally:
        await loop.run_in_executor(None, store.close)


def _open_session_for(db: Any, url: str) -> str:
    """The newest open `join` session of this meeting URL ("" when none)."""
    found = [r for r in db.open_sessions() if r.origin == "cli" and r.meeting_url == url]
    return max(found, key=lambda r: r.created_at).session_id if found else ""


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def describe(outcome: Outcome) -> str:
    if outcome.state == "failed":
        return f"session {outcome.session_id} failed: {outcome.failure}: {outcome.detail}"
    r = outcome.result
    why = r.leave_reason.value if r is not None and r.leave_reason else outcome.state
    numbers = f": {r.students} students, {r.samples} samples, {r.dropped} dropped" if r is not None else ""
    return f"session {outcome.session_id} {outcome.state} ({why}){numbers}"
