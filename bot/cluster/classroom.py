"""The built-in classroom in a cluster: each worker serves the classrooms of the classes it runs.

A worker that takes a `classroom:CODE` class starts (once, at the first such class) the same
web application `classpulse serve` hosts (join page and WHIP endpoint, `bot.web.app`) on
`classroom.host`:`classroom.port`, and its attempts record their join link
(`{cluster.classroom_url}/join/CODE`) in the database. A `serve` node's join page reads the
link of the class's current attempt (`classroom_locator`) and sends the browser's WHIP offer
to that worker; after a takeover the new attempt's link points at the new worker, and the
page re-offers there. Students keep opening the one public join link on the `serve` nodes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from functools import partial

from aiohttp import web

from bot.config import Config
from bot.connectors.registry import ClassroomHost, MeetingUrlError
from bot.db.store import ServiceStore
from bot.web.app import ClassroomLocator, OfferLimit, classroom_key, init_app, offer_limiter_key, serve_app

log = logging.getLogger(__name__)


class WorkerClassroom:
    """A worker's one classroom web server, started at its first `classroom:` class.

    Its address for browsers is `cluster.classroom_url`; without one, http://HOST:PORT as bound
    (a wildcard host: this machine's name), which only suits a network without TLS."""

    def __init__(self, config: Config, db: ServiceStore | None = None) -> None:
        self.config = config
        self.db = db  # the WHIP offer rate limit is counted there, shared with every node
        self._host: ClassroomHost | None = None
        self._runner: web.AppRunner | None = None
        self._lock = asyncio.Lock()

    async def host(self) -> ClassroomHost:
        async with self._lock:
            if self._host is None:
                c = self.config.classroom
                app = init_app(self.config)
                if self.db is not None:  # the same per-address offer limit as on the `serve` nodes
                    from bot.db.service_state import DbRateLimiter
                    from bot.service.rate_limits import OfferLimiter

                    limit: OfferLimit = OfferLimiter(DbRateLimiter(self.db),
                                                     self.config.classroom.offers_per_minute_per_client)
                    app[offer_limiter_key] = limit
                try:
                    runner = await serve_app(app, c.host, c.port)
                except OSError as exc:
                    raise MeetingUrlError(f"this worker cannot serve the classroom on {c.host}:{c.port}: "
                                          f"{exc.strerror}") from None
                port = runner.addresses[0][1] if runner.addresses else c.port
                name = socket.getfqdn() if c.host in ("0.0.0.0", "::", "") else c.host  # a wildcard: this machine
                base = self.config.cluster.classroom_url.rstrip("/") or f"http://{name}:{port}"
                self._runner, self._host = runner, ClassroomHost(app[classroom_key], base)
                log.info("serving the built-in classroom at %s", base)
            return self._host

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._host = None


def meeting_urls(code: str) -> tuple[str, ...]:
    """The spellings of one class code's meeting URL that `bot.connectors.registry.class_code` accepts."""
    return (f"classroom:{code}", f"classroom:{code}/", f"classroom:/{code}", f"classroom://{code}")


def whip_url(join_link: str, code: str) -> str:
    """A worker's join page link → its WHIP endpoint for the class ("" stays "")."""
    base, found, _ = join_link.rpartition("/join/")
    return f"{base}/whip/{code}" if found else ""


def classroom_locator(db: ServiceStore) -> ClassroomLocator:
    """For a `serve` node of a cluster: class code → (class name, WHIP endpoint of the worker running it;
    "" while none does), or None when the class has no open session."""

    async def locate(code: str) -> tuple[str, str] | None:
        found = await asyncio.get_running_loop().run_in_executor(None, partial(db.classroom_owner,
                                                                               meeting_urls(code)))
        if found is None:
            return None
        session, link = found
        return session.class_name, whip_url(link, code)

    return locate
