"""Schedules: recurring sessions of a class (see bot/service/schedules.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from bot.db.records import ClassRecord, ScheduleRecord
from bot.service.api_common import own_class, own_schedule, page_response, principal_of, run_db
from bot.service.errors import ApiError, query, read_json
from bot.service.schemas import (
    DeletedOut,
    Page,
    ScheduleIn,
    ScheduleOut,
)
from bot.service.state import db_key, schedules_key


def _schedule_out(request: web.Request, record: ScheduleRecord) -> dict[str, Any]:
    runner = request.app[schedules_key]
    return ScheduleOut(**{**asdict(record), "skip_dates": [d for d in record.skip_dates.split(",") if d]},
                       next_run_at=runner.next_run(record.schedule_id)).model_dump()


async def list_schedules(request: web.Request) -> web.Response:
    page = query(request, Page)
    rows, total = await run_db(request, lambda: request.app[db_key].schedules(
        owner=principal_of(request).owner_filter(), limit=page.limit, offset=page.offset))
    return page_response([_schedule_out(request, r) for r in rows], total, page)


async def create_schedule(request: web.Request) -> web.Response:
    body = await read_json(request, ScheduleIn)
    cls = await own_class(request, body.class_id)
    if not cls.meeting_url:
        raise ApiError(422, "the class has no meeting_url", [{"field": "class_id", "message": "no meeting_url"}])
    row = add_schedule(request, body, cls)
    return web.json_response(_schedule_out(request, row), status=201)


def add_schedule(request: web.Request, body: ScheduleIn, cls: ClassRecord) -> ScheduleRecord:
    """Registers a validated schedule for an owned class (API and dashboard)."""
    return request.app[schedules_key].add(
        owner=cls.owner, class_id=cls.class_id, cron=body.cron, timezone=body.timezone,
        duration_s=body.duration_min * 60, start_date=body.start_date.isoformat() if body.start_date else "",
        end_date=body.end_date.isoformat() if body.end_date else "",
        skip_dates=tuple(d.isoformat() for d in body.skip_dates), misfire_grace_s=body.misfire_grace_s)


async def get_schedule(request: web.Request) -> web.Response:
    record = await own_schedule(request, request.match_info["schedule_id"])
    runs = await run_db(request, lambda: request.app[schedules_key].records.of(record.schedule_id))
    out = _schedule_out(request, record)
    out["runs_not_as_planned"] = [{"due_at": r.due_at.isoformat(), "kind": r.kind, "reason": r.reason,
                                   "detail": r.detail} for r in runs]
    return web.json_response(out)


async def delete_schedule(request: web.Request) -> web.Response:
    record = await own_schedule(request, request.match_info["schedule_id"])
    request.app[schedules_key].remove(record.schedule_id)
    return web.json_response(DeletedOut(deleted=record.schedule_id).model_dump())

