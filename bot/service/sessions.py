"""The sessions the service runs: start a bot for a meeting, watch it, end it, record its outcome.

Each running session is a `LiveSession` task. Its service-level row (`service_sessions`)
exists from the moment it is requested, so a session that fails before class started is
still visible with its failure reason. The manager refuses a second bot for a class that
already has one (schedules and the API share this check). `close()` is the graceful
shutdown: every bot leaves, stores what it measured and renders its reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from analysis.store import Store
from bot.config import Config
from bot.connectors.base import Connector
from bot.service.auth import now_iso
from bot.sessions.lifecycle import State
from bot.sessions.live import LiveSession, Render, SessionResult, new_session_id, render_reports
from bot.sessions.sampler import Analyze

log = logging.getLogger(__name__)

#: meeting URL, class name → connector (the service's default knows Janus and its own classroom).
ConnectorFactory = Callable[[str, str], Connector]


class SessionConflict(Exception):
    """The class already has a bot in it."""


@dataclass
class Running:
    live: LiveSession
    task: asyncio.Task[SessionResult]
    class_id: str
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class SessionManager:
    config: Config
    store: Store
    connectors: ConnectorFactory
    analyze_factory: Callable[[], Analyze] | None = None
    render: Render | None = render_reports
    on_finished: list[Callable[[str, SessionResult], Any]] = field(default_factory=list)
    running: dict[str, Running] = field(default_factory=dict)

    def busy_class(self, class_id: str) -> str | None:
        """The id of the session running for `class_id`, if any."""
        if not class_id:
            return None
        for sid, r in self.running.items():
            if r.class_id == class_id and not r.done.is_set():
                return sid
        return None

    async def start(self, *, meeting_url: str, owner: str, class_name: str, class_id: str = "",
                    duration_s: float | None = None) -> str:
        """Create the session row and start the bot; returns the session id at once."""
        if self.busy_class(class_id):
            raise SessionConflict(f"class {class_id} already has a running session")
        connector = self.connectors(meeting_url, class_name)
        session_id = new_session_id()
        live = LiveSession(connector, self.config, self.store, session_id=session_id, class_name=class_name,
                           teacher=owner, analyze_factory=self.analyze_factory, render=self.render,
                           max_duration_s=duration_s)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: self.store.add_row(
            "service_sessions", session_id=session_id, owner=owner, class_id=class_id, class_name=class_name,
            meeting=connector.description, state=State.JOINING.value, failure="", detail="",
            created_at=now_iso(), ended_at=""))
        task = asyncio.ensure_future(self._run(live))
        self.running[session_id] = Running(live, task, class_id)
        log.info("session started session_id=%s class_id=%s owner=%s", session_id, class_id or "-", owner)
        return session_id

    async def _run(self, live: LiveSession) -> SessionResult:
        try:
            result = await live.run()
        except Exception as exc:  # a bug in one session must not take the service down
            log.exception("session %s crashed", live.session_id)
            result = SessionResult(live.session_id, State.FAILED, detail=f"crashed: {exc!r}")
        running = self.running.get(live.session_id)
        fields = {"state": result.state.value, "failure": result.failure.value if result.failure else "",
                  "detail": (result.detail or result.report_error)[:1000], "ended_at": now_iso()}
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: self.store.update_row("service_sessions", live.session_id, **fields))
        except Exception:
            log.exception("could not record the end of session %s", live.session_id)
        log.info("session finished session_id=%s state=%s failure=%s reports=%d", live.session_id,
                 result.state.value, fields["failure"] or "-", len(result.reports))
        for callback in self.on_finished:
            try:
                out = callback(live.session_id, result)
                if asyncio.iscoroutine(out):
                    await out
            except Exception:
                log.exception("session-finished hook failed for %s", live.session_id)
        if running is not None:
            running.done.set()
            self.running.pop(live.session_id, None)
        return result

    def live_numbers(self, session_id: str) -> dict[str, Any] | None:
        r = self.running.get(session_id)
        return r.live.progress() if r else None

    def leave(self, session_id: str) -> bool:
        r = self.running.get(session_id)
        if r is None:
            return False
        r.live.request_leave()
        return True

    async def wait(self, session_id: str) -> None:
        r = self.running.get(session_id)
        if r is not None:
            await r.done.wait()

    async def close(self, timeout_s: float = 120.0) -> None:
        """Graceful shutdown: every bot leaves, stores and renders; then the tasks are awaited."""
        tasks = [r.task for r in self.running.values()]
        for r in self.running.values():
            r.live.request_leave()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for t in pending:
                t.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*tasks, return_exceptions=True)
