"""Subscribed timetable feeds: a school's iCalendar URL, read now and again every day.

A feed is the same import as an uploaded file (`bot.service.timetables`: planned against
the owner's earlier imports, idempotent by UID, skipped events listed), only the bytes come
from a URL the service fetches itself. That URL is user-supplied, so it goes through the
webhook guard (`bot.service.urlguard`): refused on subscribe and again before every read
when it is not public unicast (`delivery.allow_networks` lets a school's own server in);
aiohttp connects only to addresses the guard passed (no DNS rebinding in between); no
redirects; at most `service.feed_max_bytes`; `service.feed_timeout_s` for the whole read;
only ``text/calendar`` answers are imported. A failed read keeps the classes and schedules of
the last good one and records the error on the feed (``last_error``, visible in the API and
the CLI); connection failures all read alike, so the error is no port-scan oracle.

Reads: at subscription, then daily by the service's scheduler (job ``timetable_feeds``),
and at every start of ``serve`` for feeds not read in the last day. With several API nodes
each feed's daily read is claimed in the database (`ServiceStore.claim_feed`), so one node
reads it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import aiohttp
from aiohttp.abc import AbstractResolver

from bot.config import Config
from bot.db.records import FeedRecord
from bot.db.store import ServiceStore
from bot.service import timetables
from bot.service.auth import now_iso
from bot.service.urlguard import Guard, GuardedResolver, RefusedAddress, parse_networks

log = logging.getLogger(__name__)

T = TypeVar("T")
CALENDAR = "text/calendar"
STALE_AFTER = timedelta(hours=23)  # "daily", with room for the job to drift a little


class FeedError(Exception):
    """A read that failed; the message is safe to show to the feed's owner."""


def guard_for(config: Config, own: set[tuple[str, int]] | None = None) -> Guard:
    """The same rule as webhooks: public unicast or `delivery.allow_networks`, never this service."""
    return Guard(parse_networks(config.delivery.allow_networks), own or set(),
                 public_url=config.classroom.public_url)


async def fetch(url: str, guard: Guard, *, timeout_s: float, max_bytes: int,
                connect_resolver: AbstractResolver | None = None) -> bytes:
    """The feed's bytes; FeedError (or RefusedAddress) saying why not."""
    target = await guard.check_url(url)  # IP literals never reach the resolver: checked here
    if not target.addresses:
        raise FeedError(f"the feed's host {target.host!r} does not resolve")
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(guard, connect_resolver), use_dns_cache=False,
                                     force_close=True)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector, trust_env=False) as http, \
                http.get(url, allow_redirects=False, headers={"Accept": CALENDAR,
                                                              "User-Agent": "ClassPulse-timetable/1"}) as res:
            if 300 <= res.status < 400:
                raise FeedError(f"the feed answered HTTP {res.status} (a redirect); give its final URL")
            if res.status != 200:
                raise FeedError(f"the feed answered HTTP {res.status}")
            if res.content_type != CALENDAR:
                raise FeedError(f"the feed is not {CALENDAR} (it answered {res.content_type or 'no type'})")
            if res.content_length is not None and res.content_length > max_bytes:
                raise FeedError(f"the feed is larger than {max_bytes} bytes")
            data = bytearray()
            async for chunk in res.content.iter_chunked(1 << 16):
                data += chunk
                if len(data) > max_bytes:
                    raise FeedError(f"the feed is larger than {max_bytes} bytes")
            return bytes(data)
    except RefusedAddress:
        raise
    except TimeoutError:
        raise FeedError(f"the feed did not answer within {timeout_s:g} s") from None
    except aiohttp.ClientError:
        raise FeedError("could not reach the feed (connection failed or timed out)") from None


@dataclass(frozen=True)
class ReadResult:
    feed: FeedRecord
    error: str = ""
    applied: dict[str, list[str]] | None = None
    plan: dict[str, object] | None = None  # the import plan (as `--json` prints it) of a good read


class Feeds:
    """Subscribing and reading feeds for one service (or one CLI command)."""

    def __init__(self, config: Config, db: ServiceStore, guard: Guard,
                 connect_resolver: AbstractResolver | None = None, now: Callable[[], datetime] | None = None,
                 on_applied: Callable[[], object] | None = None) -> None:
        self.config = config
        self.db = db
        self.guard = guard
        self.connect_resolver = connect_resolver
        self.now = now or (lambda: datetime.now(UTC).replace(microsecond=0))
        self.on_applied = on_applied  # the scheduler's sync: new schedule rows get their jobs

    async def _db(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    async def _fresh(self, feed: FeedRecord) -> FeedRecord:
        found: FeedRecord | None = await self._db(lambda: self.db.feed(feed.feed_id))
        return found or feed

    async def subscribe(self, owner: str, url: str, tz: str = "") -> ReadResult:
        """Check the URL (RefusedAddress: not saved), save the feed, and read it once now."""
        target = await self.guard.check_url(url)
        if not target.addresses:
            log.warning("timetable feed %s does not resolve now; kept, checked again before each read", target.host)
        feed = FeedRecord(feed_id=f"feed-{secrets.token_hex(6)}", owner=owner, url=url, tz=tz,
                          created_at=now_iso())
        await self._db(lambda: self.db.add_feed(feed))
        return await self.read(feed)

    async def read(self, feed: FeedRecord) -> ReadResult:
        """Fetch, plan and apply; the outcome is recorded on the feed either way."""
        at = self.now().isoformat()
        cfg = self.config.service
        try:
            data = await fetch(feed.url, self.guard, timeout_s=cfg.feed_timeout_s, max_bytes=cfg.feed_max_bytes,
                               connect_resolver=self.connect_resolver)
            result = await asyncio.get_running_loop().run_in_executor(None, lambda: timetables.plan_for(
                self.db, data, source="the feed", owner=feed.owner, now=self.now(), as_json=True,
                default_tz=feed.tz or None, classroom_base=self.config.classroom.public_url.rstrip("/")))
            if result.exit_code or result.plan is None:
                raise FeedError(result.stderr.strip().removeprefix("error: "))
            plan = result.plan
            applied = await asyncio.get_running_loop().run_in_executor(
                None, lambda: timetables.apply(self.db, plan, feed.owner))
        except (FeedError, RefusedAddress) as exc:
            error = str(exc)
            log.warning("timetable feed %s (%s) not read: %s", feed.feed_id, feed.owner, error)
            await self._db(lambda: self.db.feed_read(feed.feed_id, at=at, error=error))
            return ReadResult(await self._fresh(feed), error=error)
        summary = applied.as_json()
        await self._db(lambda: self.db.feed_read(feed.feed_id, at=at, result=json.dumps(summary)))
        if self.on_applied is not None and (applied.created or applied.updated):
            self.on_applied()
        log.info("timetable feed read feed_id=%s owner=%s created=%d updated=%d unchanged=%d", feed.feed_id,
                 feed.owner, len(applied.created), len(applied.updated), len(applied.unchanged))
        return ReadResult(await self._fresh(feed), applied=summary,
                          plan=json.loads(result.stdout))

    async def read_stale(self) -> list[ReadResult]:
        """Read every feed not read for a day (daily job, and at start); each claimed first."""
        now = self.now()
        stale_before = (now - STALE_AFTER).isoformat()
        rows = await self._db(lambda: self.db.feeds()[0])
        out = []
        for feed in rows:
            fid = feed.feed_id
            if await self._db(lambda fid=fid: self.db.claim_feed(fid, stale_before, now.isoformat())):  # type: ignore[misc]
                out.append(await self.read(feed))
        return out
