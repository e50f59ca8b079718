"""`create_app(config)`: the built-in classroom app (bot/web) plus the REST API, in one process.

Resources live in `cleanup_ctx` in dependency order — store, then sessions — so shutdown
runs the other way round: the running bots leave, store what they measured and render their
reports while the store is still open; then the store is closed. `serve()` is
`classpulse serve`: aiohttp's runner turns SIGINT/SIGTERM into exactly that shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from analysis.store import Store
from bot.config import Config
from bot.connectors.base import Connector
from bot.rtc import PeerFactory, receive_video
from bot.sampler import Analyze
from bot.service.api import add_routes
from bot.service.capacity import CapacityGate, Limits
from bot.service.dashboard import add_dashboard
from bot.service.delivery import Deliveries
from bot.service.errors import error_middleware
from bot.service.metrics import make_registry, metrics, registry_key
from bot.service.schedules import ScheduleRunner
from bot.service.sessions import ConnectorFactory, SessionManager
from bot.service.state import capacity_key, deliveries_key, manager_key, schedules_key, store_key
from bot.session import Render, render_reports
from bot.web.app import classroom_key, init_app

log = logging.getLogger(__name__)


def default_connectors(app: web.Application, config: Config) -> ConnectorFactory:
    """Janus rooms, and the built-in classroom hosted by this very server (no second web server)."""

    def make(url: str, class_name: str) -> Connector:
        if url.startswith(("janus+http://", "janus+https://")):
            from bot.connectors.janus import JanusConnector
            from bot.connectors.janus_protocol import JanusUrlError, parse_target

            try:
                return JanusConnector(parse_target(url), config)
            except JanusUrlError as exc:
                raise ValueError(str(exc)) from None
        if url.startswith("classroom:"):
            from bot.connectors.classroom import ClassroomConnector

            base = config.classroom.public_url.rstrip("/")
            return ClassroomConnector(app[classroom_key], url.removeprefix("classroom:"), class_name, base)
        raise ValueError(f"{url!r}: unsupported meeting URL")

    return make


def create_app(config: Config, *, connectors: ConnectorFactory | None = None,
               analyze_factory: Callable[[], Analyze] | None = None, render: Render | None = render_reports,
               peers: PeerFactory = receive_video, shutdown_timeout_s: float = 120.0,
               listen: tuple[tuple[str, int], ...] = (), pulse_interval_s: float = 1.0) -> web.Application:
    app = init_app(config, peers=peers)
    app.middlewares.append(error_middleware)
    app[capacity_key] = CapacityGate(Limits(config.session.max_concurrent, config.session.max_concurrent_per_teacher))

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        app[store_key] = await loop.run_in_executor(None, Store, config.store.url)
        yield
        await loop.run_in_executor(None, app[store_key].close)

    async def deliveries_ctx(app: web.Application) -> AsyncIterator[None]:
        """Before sessions: the sessions' shutdown still queues deliveries, closed (kept pending) after."""
        app[deliveries_key] = Deliveries(config, app[store_key], own=set(listen))
        resumed = await app[deliveries_key].resume()
        if resumed:
            log.info("resuming %d pending deliveries", resumed)
        yield
        await app[deliveries_key].close()

    async def sessions_ctx(app: web.Application) -> AsyncIterator[None]:
        app[manager_key] = SessionManager(config, app[store_key], connectors or default_connectors(app, config),
                                          analyze_factory=analyze_factory, render=render)
        app[manager_key].on_finished.append(app[deliveries_key].report_ready)
        app[registry_key] = make_registry(app[manager_key])
        yield
        log.info("shutting down: %d running session(s) leave and render", len(app[manager_key].running))
        await app[manager_key].close(shutdown_timeout_s)

    async def schedules_ctx(app: web.Application) -> AsyncIterator[None]:
        """Started last, stopped first: no schedule fires while sessions are being wound down."""
        runner = ScheduleRunner(app[store_key], app[manager_key], capacity=app[capacity_key])
        runner.start()
        app[schedules_key] = runner
        yield
        runner.stop()  # AsyncIOScheduler shuts down on the next loop iteration: give it that
        await asyncio.sleep(0)

    app.cleanup_ctx.append(store_ctx)
    app.cleanup_ctx.append(deliveries_ctx)
    app.cleanup_ctx.append(sessions_ctx)
    app.cleanup_ctx.append(schedules_ctx)
    add_routes(app)
    add_dashboard(app, pulse_interval_s)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/readyz", readyz)
    return app


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the store answers and the scheduler runs (``/healthz`` is bare liveness)."""
    loop = asyncio.get_running_loop()
    checks: dict[str, bool] = {}
    try:
        await loop.run_in_executor(None, request.app[store_key].row, "classes", "")
        checks["store"] = True
    except Exception:
        log.exception("readiness: store check failed")
        checks["store"] = False
    checks["scheduler"] = request.app[schedules_key].scheduler.running
    ok = all(checks.values())
    return web.json_response({"ok": ok, **checks, "sessions": len(request.app[manager_key].running)},
                             status=200 if ok else 503)


def serve(config: Config, host: str, port: int, **kwargs: Any) -> None:
    """Run the service until SIGINT/SIGTERM, then shut down gracefully."""
    app = create_app(config, listen=((host, port),), **kwargs)
    web.run_app(app, host=host, port=port, print=lambda msg: log.info("%s", msg.strip()),
                shutdown_timeout=10.0)
