"""Timetables: POST a school's iCalendar file; its lessons become classes with calendar schedules."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.config import Config
from bot.service import timetables
from bot.service.api_common import principal_of, run_db
from bot.service.errors import ApiError, query
from bot.service.state import db_key, schedules_key
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
