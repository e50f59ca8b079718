"""RTMS webhooks → live sessions: one `LiveSession` per Zoom stream, started and ended by Zoom.

`ZoomSessions` is what the webhook handler calls: ``meeting.rtms_started`` starts a
session on its own task (a retried webhook for a stream already running is ignored),
``meeting.rtms_stopped`` asks it to leave; the session then stores, renders and finishes
as any other. `init_zoom_app` wraps it in an aiohttp app for `classpulse zoom-webhook`;
its cleanup context ends every running session gracefully on shutdown.

The session records which sampling it used: Zoom delivers one individual video at a time,
so the stored `SessionInfo.sampling` names the rotation and its rate instead of the
generic "one frame per student per interval".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from analysis.store import Store
from bot.config import Config
from bot.connectors.zoom import ZoomConnector
from bot.connectors.zoom_protocol import StreamRef, failure_for_stop, is_revoked
from bot.connectors.zoom_webhook import webhook_handler
from bot.lifecycle import LeaveReason
from bot.sampler import Analyze
from bot.session import LiveSession, Render, SessionResult, render_reports

log = logging.getLogger(__name__)


async def label_sampling(session: LiveSession, sampling: str, timeout_s: float = 600.0) -> None:
    """Store the connector's sampling description once the session row exists."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(session.in_class.wait(), timeout_s)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: session.store.update_session(session.session_id, sampling=sampling))


class ZoomSessions:
    def __init__(self, config: Config, store: Store, *, analyze_factory: Callable[[], Analyze] | None = None,
                 render: Render | None = render_reports, class_name: str = "Zoom class") -> None:
        self.config = config
        self.store = store
        self.analyze_factory = analyze_factory
        self.render = render
        self.class_name = class_name
        self.running: dict[str, LiveSession] = {}
        self.results: dict[str, SessionResult] = {}
        self.finished = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()

    def started(self, ref: StreamRef) -> None:
        if ref.rtms_stream_id in self.running:
            log.info("RTMS stream %s already has a session (webhook retry): ignored", ref.rtms_stream_id)
            return
        connector = ZoomConnector(ref, self.config.zoom, sample_interval_s=self.config.analysis.sample_interval_s)
        session = LiveSession(connector, self.config, self.store, class_name=self.class_name,
                              analyze_factory=self.analyze_factory, render=self.render)
        self.running[ref.rtms_stream_id] = session
        task = asyncio.ensure_future(self._run(ref.rtms_stream_id, session, connector.sampling))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("RTMS stream %s of meeting %s: session %s", ref.rtms_stream_id, ref.meeting_uuid,
                 session.session_id)

    def stopped(self, meeting_uuid: str, rtms_stream_id: str, stop_reason: int) -> None:
        session = self.running.get(rtms_stream_id)
        revoked = is_revoked(stop_reason)
        if session is None:
            done = self.results.get(rtms_stream_id)
            if revoked and done is not None and not done.data_deleted:  # revoked after the class ended
                log.warning("RTMS stream %s revoked: deleting session %s", rtms_stream_id, done.session_id)
                with contextlib.suppress(KeyError):
                    self.store.delete_session(done.session_id)
                for path in done.reports:
                    path.unlink(missing_ok=True)
                done.reports.clear()
                done.data_deleted = True
            return
        log.info("RTMS stream %s stopped: %s", rtms_stream_id, failure_for_stop(stop_reason)[1])
        if revoked:
            session.discard_data(f"Zoom revoked RTMS stream {rtms_stream_id} (stop reason 8)")
        else:
            session.request_leave(LeaveReason.MEETING_ENDED)

    async def _run(self, stream_id: str, session: LiveSession, sampling: str) -> None:
        labeller = asyncio.ensure_future(label_sampling(session, sampling))
        try:
            result = await session.run()
        finally:
            labeller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await labeller
            self.running.pop(stream_id, None)
        self.results[stream_id] = result
        async with self.finished:
            self.finished.notify_all()

    async def wait_finished(self, stream_id: str) -> SessionResult:
        async with self.finished:
            await self.finished.wait_for(lambda: stream_id in self.results)
        return self.results[stream_id]

    async def close(self) -> None:
        """Leave every running class gracefully (stores and renders what was collected)."""
        for session in list(self.running.values()):
            session.request_leave()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


zoom_sessions_key = web.AppKey("zoom_sessions", ZoomSessions)


def init_zoom_app(config: Config, store: Store, **kwargs: Any) -> web.Application:
    """The webhook receiver app; `kwargs` go to `ZoomSessions` (tests pass a fake analyser)."""
    app = web.Application(client_max_size=1 << 20)
    sessions = ZoomSessions(config, store, **kwargs)
    app[zoom_sessions_key] = sessions
    handler = webhook_handler(config.zoom.webhook_secret.get_secret_value(), sessions.started, sessions.stopped)
    app.router.add_post(config.zoom.webhook_path, handler)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[zoom_sessions_key].close()

    app.cleanup_ctx.append(lifetime)
    return app


def run_webhook_server(config: Config, host: str, port: int) -> None:
    """`classpulse zoom-webhook`: serve the endpoint until Ctrl-C/SIGTERM, then end classes gracefully."""
    import logging as _logging

    if not config.zoom.webhook_secret.get_secret_value():
        raise ValueError("zoom.webhook_secret is not set (CLASSPULSE_ZOOM__WEBHOOK_SECRET): "
                         "without it no webhook can be verified")
    if not config.zoom.client_id or not config.zoom.client_secret.get_secret_value():
        raise ValueError("zoom.client_id / zoom.client_secret are not set (CLASSPULSE_ZOOM__CLIENT_ID, "
                         "CLASSPULSE_ZOOM__CLIENT_SECRET)")
    _logging.basicConfig(level=_logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = Store(config.store.url)
    app = init_zoom_app(config, store)

    async def close_store(app: web.Application) -> AsyncIterator[None]:
        yield
        await asyncio.get_running_loop().run_in_executor(None, store.close)

    app.cleanup_ctx.insert(0, close_store)  # runs last: after the sessions have ended
    web.run_app(app, host=host, port=port,
                print=lambda _: log.info("Zoom webhook endpoint on http://%s:%d%s", host, port,
                                         config.zoom.webhook_path))
