"""Timetables: POST a school's iCalendar file, or subscribe to its URL (re-read daily); its lessons
become classes with calendar schedules."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.config import Config
from bot.db.records import FeedRecord
from bot.service import timetables
from bot.service.api_common import PREFIX, page_response, principal_of, run_db
from bot.service.errors import ApiError, not_found, query, read_json
from bot.service.feeds import ReadResult
from bot.service.schemas import DeletedOut, FeedIn, FeedOut, Page
from bot.service.state import db_key, feeds_key, schedules_key
from bot.service.urlguard import RefusedAddress
from bot.web.app import config_key

MAX_CALENDAR_BYTES = 5 << 20  # a large school's whole timetable is a few hundred kB
TYPES = ("text/calendar", "application/octet-stream", "text/plain")


class TimetableQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    owner: str | None = Field(default=None, min_length=1, max_length=200,
                              description="the teacher the classes belong to (admins only; default: the caller)")
    from_: date | None = Field(default=None, alias="from", description="plan from this date (YYYY-MM-DD)")
    tz: str | None = Field(default=None, max_length=64, description="zone for floating times (IANA name)")
    dry_run: bool = Field(default=False, description="plan only: show what would change, change nothing")


async def _read_calendar(request: web.Request) -> bytes:
    if request.content_type not in TYPES:
        raise ApiError(415, "send the timetable as text/calendar (an .ics export)")
    data = bytearray()
    while chunk := await request.content.read(1 << 16):
        data += chunk
        if len(data) > MAX_CALENDAR_BYTES:
            raise ApiError(413, f"the calendar is larger than {MAX_CALENDAR_BYTES >> 20} MB")
    if not data:
        raise ApiError(422, "the body is empty: send the .ics file", [{"field": "body", "message": "empty"}])
    return bytes(data)


async def import_timetable(request: web.Request) -> web.Response:
    """Plan the import and, unless `dry_run`, apply it: 201 when something changed, 200 otherwise."""
    q = query(request, TimetableQuery)
    who = principal_of(request)
    owner = q.owner or who.name
    if owner != who.name and not who.is_admin:
        raise ApiError(403, "only an admin can import a timetable for another teacher",
                       [{"field": "owner", "message": "not allowed for a teacher token"}])
    data = await _read_calendar(request)
    config: Config = request.app[config_key]
    db = request.app[db_key]
    result = await run_db(request, lambda: timetables.plan_for(
        db, data, source="the request body", owner=owner, now=datetime.now(UTC),
        start=q.from_.isoformat() if q.from_ else None, as_json=True, default_tz=q.tz,
        classroom_base=config.classroom.public_url.rstrip("/")))
    if result.exit_code or result.plan is None:
        message = result.stderr.strip().removeprefix("error: ")
        raise ApiError(422, message, [{"field": "body", "message": message}])
    out = {"plan": json.loads(result.stdout), "applied": None}
    if q.dry_run:
        return web.json_response(out)
    plan = result.plan
    applied = await run_db(request, lambda: timetables.apply(db, plan, owner))
    request.app[schedules_key].sync()  # the new rows get their jobs now
    out["applied"] = applied.as_json()
    changed = bool(applied.created or applied.updated)
    return web.json_response(out, status=201 if changed else 200)


# -- subscribed feeds -------------------------------------------------------------------------
def feed_out(feed: FeedRecord) -> dict[str, Any]:
    return FeedOut(**{k: v for k, v in asdict(feed).items() if k != "last_result"},
                   last_result=json.loads(feed.last_result) if feed.last_result else None).model_dump()


def _read_out(read: ReadResult) -> dict[str, Any]:
    return {**feed_out(read.feed), "plan": read.plan}


async def subscribe_feed(request: web.Request) -> web.Response:
    """Subscribe to a timetable feed URL and read it now: 201 with the read's outcome (an error is
    recorded on the feed and shown, the subscription stays); 422 when the URL is refused."""
    body = await read_json(request, FeedIn)
    who = principal_of(request)
    owner = body.owner or who.name
    if owner != who.name and not who.is_admin:
        raise ApiError(403, "only an admin can subscribe a timetable for another teacher",
                       [{"field": "owner", "message": "not allowed for a teacher token"}])
    try:
        read = await request.app[feeds_key].subscribe(owner, body.url, body.tz or "")
    except RefusedAddress as exc:
        raise ApiError(422, f"url: {exc}", [{"field": "url", "message": str(exc)}]) from None
    return web.json_response(_read_out(read), status=201,
                             headers={"Location": f"{PREFIX}/timetables/feeds/{read.feed.feed_id}"})


async def list_feeds(request: web.Request) -> web.Response:
    page = query(request, Page)
    rows, total = await run_db(request, lambda: request.app[db_key].feeds(
        owner=principal_of(request).owner_filter(), limit=page.limit, offset=page.offset))
    return page_response([feed_out(r) for r in rows], total, page)


async def _own_feed(request: web.Request) -> FeedRecord:
    found = await run_db(request, lambda: request.app[db_key].feed(request.match_info["feed_id"]))
    if found is None or not principal_of(request).may_see(found.owner):
        raise not_found("feed")
    return found


async def get_feed(request: web.Request) -> web.Response:
    return web.json_response(feed_out(await _own_feed(request)))


async def refresh_feed(request: web.Request) -> web.Response:
    """Read the feed now (as the daily job does); 200 with the outcome, errors included."""
    feed = await _own_feed(request)
    return web.json_response(_read_out(await request.app[feeds_key].read(feed)))


async def delete_feed(request: web.Request) -> web.Response:
    """Stop reading the feed; the classes and schedules it made stay."""
    feed = await _own_feed(request)
    await run_db(request, lambda: request.app[db_key].delete_feed(feed.feed_id))
    return web.json_response(DeletedOut(deleted=feed.feed_id).model_dump())
