"""`create_app(config)`: the built-in classroom app (bot/web) plus the REST API, in one process.

Resources live in `cleanup_ctx` in dependency order — store, then sessions — so shutdown
runs the other way round: the running bots leave, store what they measured and render their
reports while the store is still open; then the store is closed. `serve()` is
`classpulse serve`: aiohttp's runner turns SIGINT/SIGTERM into exactly that shutdown.
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
from bot.connectors.base import Connector
from bot.connectors.registry import ClassroomHost, Registry
from bot.db.access_log import AccessLog
from bot.db.service_state import DbCapacity, DbLoginSessions, DbRateLimiter, DbScheduleRecords
from bot.db.store import ServiceStore
from bot.service.api import add_routes
from bot.service.capacity import Limits
from bot.service.dashboard import add_dashboard
from bot.service.delivery import Deliveries
from bot.service.errors import error_middleware
from bot.service.feeds import Feeds, guard_for
from bot.service.metrics import make_registry, metrics, registry_key
from bot.service.rate_limits import OfferLimiter
from bot.service.schedules import ScheduleRunner
from bot.service.state import (
    access_log_key,
    capacity_key,
    db_key,
    deliveries_key,
    feeds_key,
    limiter_key,
    login_sessions_key,
    manager_key,
    queue_key,
    schedules_key,
    store_key,
)
from bot.sessions.live import Render, render_reports
from bot.sessions.runner import SessionRunner
from bot.sessions.sampler import Analyze
from bot.web.app import OfferLimit, classroom_key, classroom_locator_key, init_app, offer_limiter_key
from bot.web.rtc import PeerFactory, receive_video

log = logging.getLogger(__name__)

#: meeting URL, class name → connector: an extra `fake:` scheme for tests.
ConnectorFactory = Callable[[str, str], Connector]


def create_app(config: Config, *, connectors: ConnectorFactory | None = None,
               analyze_factory: Callable[[], Analyze] | None = None, render: Render | None = render_reports,
               peers: PeerFactory = receive_video, shutdown_timeout_s: float = 120.0,
               listen: tuple[tuple[str, int], ...] = (), pulse_interval_s: float = 1.0) -> web.Application:
    app = init_app(config, peers=peers)
    cluster = config.queued_sessions  # PostgreSQL: sessions run on `classpulse worker`s (cluster.sessions)
    app.middlewares.append(error_middleware)

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        app[store_key] = await loop.run_in_executor(None, Store, config.store.url)
        app[db_key] = await loop.run_in_executor(None, ServiceStore, app[store_key])
        # Everything that limits or remembers callers lives in the database: every API node shares it.
        app[login_sessions_key] = DbLoginSessions(app[db_key])
        app[capacity_key] = DbCapacity(app[db_key], Limits(config.session.max_concurrent,
                                                           config.session.max_concurrent_per_teacher))
        app[limiter_key] = DbRateLimiter(app[db_key])
        offers: OfferLimit = OfferLimiter(app[limiter_key], config.classroom.offers_per_minute_per_client)
        app[offer_limiter_key] = offers
        app[access_log_key] = AccessLog(app[db_key])
        yield
        await loop.run_in_executor(None, app[store_key].close)

    async def deliveries_ctx(app: web.Application) -> AsyncIterator[None]:
        """Before sessions: the sessions' shutdown still queues deliveries, closed (kept pending) after."""
        app[deliveries_key] = Deliveries(config, app[db_key], own=set(listen))
        resumed = await app[deliveries_key].resume()
        if resumed:
            log.info("resuming %d pending deliveries", resumed)
        yield
        await app[deliveries_key].close()

    async def sessions_ctx(app: web.Application) -> AsyncIterator[None]:
        """The one session runner; at start it recovers what a crashed predecessor left open.

        With a PostgreSQL store this process runs no bot: sessions are queued for `classpulse
        worker`s (`bot.cluster`), and the workers' sweep recovers, not this process."""
        host = ClassroomHost(app[classroom_key], config.classroom.public_url.rstrip("/"))
        meetings = Registry(config, host, extra={"fake": connectors} if connectors else None)
        queue = None
        if cluster:
            from bot.cluster.classroom import classroom_locator
            from bot.cluster.enqueue import QueuedSessions
            from bot.cluster.jobqueue import conninfo, make_app
            from bot.cluster.live import LiveFeed

            app[classroom_locator_key] = classroom_locator(app[db_key])  # rooms live on the workers
            queue = make_app(config.store.url, retry_s=config.cluster.retry_s)
            await queue.open_async()
            app[queue_key] = queue
            feed = LiveFeed(conninfo(config.store.url), config.cluster.live_s)
            listening = asyncio.ensure_future(feed.run())
            runner: SessionRunner = QueuedSessions(config, app[store_key], app[db_key], meetings,
                                                   analyze_factory=analyze_factory, render=render, queue=queue,
                                                   live=feed)
        else:
            runner = SessionRunner(config, app[store_key], app[db_key], meetings, analyze_factory=analyze_factory,
                                   render=render)
        app[manager_key] = runner
        runner.on_finished.append(app[deliveries_key].session_ended)
        app[registry_key] = make_registry(runner)
        recovered = await runner.recover()
        if recovered:
            log.info("recovered %d session(s) left open by a previous run: %s", len(recovered), ", ".join(recovered))
        yield
        log.info("shutting down: %d running session(s) leave and render", len(app[manager_key].running))
        await app[manager_key].close(shutdown_timeout_s)
        if queue is not None:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
            await queue.close_async()

    async def schedules_ctx(app: web.Application) -> AsyncIterator[None]:
        """Started last, stopped first: no schedule fires while sessions are being wound down.

        In a cluster only the elected leader runs the scheduler (and the sweep): `bot.cluster.leader`."""
        runner = ScheduleRunner(app[db_key], app[manager_key], records=DbScheduleRecords(app[db_key]),
                                capacity=app[capacity_key])
        runner.on_missed.append(app[deliveries_key].run_not_recorded)  # owners hear of missed runs at once
        runner.feeds = app[feeds_key] = Feeds(config, app[db_key], guard_for(config, set(listen)),
                                              on_applied=runner.sync)
        app[schedules_key] = runner

        async def lead() -> None:
            runner.start()
            purged = await runner.retention()  # at every start, not only at 03:30: a service down then still purges
            if purged:
                log.info("retention at start deleted %d session(s) past store.retention_days", len(purged))

        stale = asyncio.ensure_future(runner.feeds.read_stale())  # feeds not read for a day, in the background
        try:
            if not cluster:
                await lead()
                yield
                runner.stop()  # AsyncIOScheduler shuts down on the next loop iteration: give it that
            else:
                from bot.cluster.leading import lead_the_cluster

                async with lead_the_cluster(config, app[queue_key], app[db_key], runner, app[manager_key], lead):
                    yield
        finally:
            stale.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stale
        await asyncio.sleep(0)

    app.cleanup_ctx.append(store_ctx)
    app.cleanup_ctx.append(deliveries_ctx)
    app.cleanup_ctx.append(sessions_ctx)
    app.cleanup_ctx.append(schedules_ctx)
    add_routes(app)
    add_dashboard(app, pulse_interval_s)
    if config.zoom.webhook_secret.get_secret_value():
        from bot.service.zoom_hooks import add_zoom_webhook

        add_zoom_webhook(app, config)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/readyz", readyz)
    return app


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the store answers and the scheduler runs (``/healthz`` is bare liveness)."""
    loop = asyncio.get_running_loop()
    checks: dict[str, bool] = {}
    try:
        await loop.run_in_executor(None, request.app[db_key].ping)
        checks["store"] = True
    except Exception:
        log.exception("readiness: store check failed")
        checks["store"] = False
    schedules = request.app[schedules_key]
    checks["scheduler"] = schedules.scheduler.running or schedules.standby  # a cluster's standby waits its turn
    ok = all(checks.values())
    return web.json_response({"ok": ok, **checks, "sessions": len(request.app[manager_key].running)},
                             status=200 if ok else 503)


def serve(config: Config, host: str, port: int, **kwargs: Any) -> None:
    """Run the service until SIGINT/SIGTERM, then shut down gracefully."""
    app = create_app(config, listen=((host, port),), **kwargs)
    web.run_app(app, host=host, port=port, print=lambda msg: log.info("%s", msg.strip()),
                shutdown_timeout=10.0)
