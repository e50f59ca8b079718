"""Sessions: invite the bot, follow it live, end it, participants, opt-out, data deletion."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.config import Config
from bot.db.records import SessionRecord
from bot.service import files
from bot.service.api_common import PREFIX, SessionsQuery, own_class, own_session, page_response, principal_of, run_db
from bot.service.auth import Principal, now_iso
from bot.service.capacity import CapacityExceeded, reserve
from bot.service.errors import ApiError, not_found, query, read_json
from bot.service.schemas import (
    AttemptOut,
    DeletedOut,
    OptOutOut,
    Page,
    ParticipantOut,
    SessionIn,
    SessionOut,
)
from bot.service.state import capacity_key, db_key, manager_key, principal_key, store_key
from bot.sessions.live import Render
from bot.sessions.roster_apply import render_with_roster
from bot.sessions.runner import SessionConflict, SessionSpec
from bot.web.app import config_key

log = logging.getLogger(__name__)


def session_out(request: web.Request, record: SessionRecord, *, detail: bool = False) -> dict[str, Any]:
    """The API view of a session; `detail` adds its attempts and interruptions (reads the store)."""
    live = request.app[manager_key].live_numbers(record.session_id)
    data = {k: v for k, v in asdict(record).items() if k in SessionOut.model_fields}
    out = SessionOut(**data, live=live)
    if live is not None:
        # The bot has left but the runner is still rendering and recording the end: not done yet.
        out.state = "processing" if live["state"] in ("done", "failed") else live["state"]
    if detail:
        db, store = request.app[db_key], request.app[store_key]
        out.attempts = [AttemptOut(**{k: v for k, v in asdict(a).items() if k in AttemptOut.model_fields})
                        for a in db.attempts(record.session_id)]
        out.interruptions = [{"from": g.from_at, "to": g.to_at, "reason": g.reason}
                             for g in store.interruptions(record.session_id)]
    return out.model_dump()


async def list_sessions(request: web.Request) -> web.Response:
    page = query(request, SessionsQuery)
    rows, total = await run_db(request, lambda: request.app[db_key].sessions(
        owner=principal_of(request).owner_filter(), class_id=page.class_id or None, limit=page.limit,
        offset=page.offset))
    return page_response([session_out(request, r) for r in rows], total, page)


async def create_session(request: web.Request) -> web.Response:
    body = await read_json(request, SessionIn)
    record = await start_session(request, body, principal_of(request))
    out = await run_db(request, lambda: session_out(request, record, detail=True))
    return web.json_response(out, status=201, headers={"Location": f"{PREFIX}/sessions/{record.session_id}"})


async def start_session(request: web.Request, body: SessionIn, who: Principal) -> SessionRecord:
    """Starts the bot for the API and the dashboard alike; returns the new session's record."""
    request[principal_key] = who
    spec = SessionSpec(meeting_url=body.meeting_url or "", owner=who.name,
                       class_name=body.class_name or "Live class", duration_s=body.duration_s, origin="api")
    if body.class_id is not None:
        cls = await own_class(request, body.class_id)
        if not cls.meeting_url:
            raise ApiError(422, "the class has no meeting_url", [{"field": "class_id", "message": "no meeting_url"}])
        spec = SessionSpec(meeting_url=cls.meeting_url, owner=cls.owner, class_name=body.class_name or cls.name,
                           class_id=cls.class_id, duration_s=body.duration_s, origin="api")
    try:
        manager = request.app[manager_key]
        async with reserve(request.app[capacity_key], spec.owner):
            session_id = await manager.start(spec)
    except CapacityExceeded as exc:
        raise ApiError(429, str(exc), headers={"Retry-After": str(exc.refusal.retry_after_s)}) from None
    except SessionConflict as exc:
        raise ApiError(409, str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, str(exc), [{"field": "meeting_url", "message": str(exc)}]) from None
    record = await run_db(request, lambda: request.app[db_key].session(session_id))
    assert record is not None
    return record


async def get_session(request: web.Request) -> web.Response:
    record = await own_session(request, request.match_info["session_id"])
    return web.json_response(await run_db(request, lambda: session_out(request, record, detail=True)))


async def leave_session(request: web.Request) -> web.Response:
    """Asks the bot to leave; 202 while it stores and renders, 200 if it had already ended."""
    record = await own_session(request, request.match_info["session_id"])
    asked = request.app[manager_key].leave(record.session_id, end_stream=True)
    return web.json_response(session_out(request, record), status=202 if asked else 200)


async def erase_session(request: web.Request, session_id: str) -> tuple[int, int]:
    store, db = request.app[store_key], request.app[db_key]
    config: Config = request.app[config_key]

    def erase() -> tuple[int, int]:
        obs = store.count_observations(session_id)
        try:
            store.delete_session(session_id)
        except LookupError:
            obs = 0  # failed before class started: no measured data
            store.delete_interruptions(session_id)
        folder = files.session_dir(config.reports.out_dir, session_id)
        n = files.delete_folder(folder) if folder else 0
        db.delete_session(session_id)
        return obs, n

    return await run_db(request, erase)


async def delete_session_data(request: web.Request) -> web.Response:
    record = await own_session(request, request.match_info["session_id"])
    if not record.final or record.session_id in request.app[manager_key].running:  # any node's, or this one's
        raise ApiError(409, "the session is still running: end it first")
    obs, n = await erase_session(request, record.session_id)
    return web.json_response(DeletedOut(deleted=record.session_id, observations_deleted=obs,
                                        report_files_deleted=n).model_dump())


async def list_participants(request: web.Request) -> web.Response:
    record = await own_session(request, request.match_info["session_id"])
    page = query(request, Page)
    people = await run_db(request, lambda: request.app[store_key].participants(record.session_id))
    items = [ParticipantOut(participant_id=p.participant_id, display_name=p.display_name,
                            opted_out=p.opted_out).model_dump() for p in people]
    return page_response(items[page.offset:page.offset + page.limit], len(items), page)


async def opt_out(request: web.Request) -> web.Response:
    """Deletes everything measured about one student; rendered reports are rendered again without them."""
    record = await own_session(request, request.match_info["session_id"])
    pid = request.match_info["participant_id"]
    store = request.app[store_key]
    try:
        deleted = await run_db(request, lambda: store.opt_out(record.session_id, pid))
    except LookupError:
        raise not_found("participant") from None
    await rerender_reports(request, record.session_id)
    return web.json_response(OptOutOut(participant_id=pid, opted_out=True,
                                       observations_deleted=deleted).model_dump())


async def rerender_reports(request: web.Request, session_id: str) -> None:
    """Renders an ended session's reports again (after an opt-out), if it had any."""
    manager = request.app[manager_key]
    config: Config = request.app[config_key]
    store = request.app[store_key]
    folder = files.session_dir(config.reports.out_dir, session_id)
    render = manager.render
    if folder is None or session_id in manager.running or render is None:
        return

    def rerender(folder: Path = folder, render: Render = render) -> None:
        if files.list_files(folder):
            files.delete_folder(folder)
            render_with_roster(render, store, request.app[db_key], session_id, folder, config.reports.formats,
                               config.reports.paper.lower(), now_iso())

    try:
        await run_db(request, rerender)
    except Exception:
        log.exception("re-rendering %s after an opt-out failed", session_id)

