"""Sessions: invite the bot, follow it live, end it, participants, opt-out, data deletion."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.config import Config
from bot.service import files
from bot.service.api_common import PREFIX, SessionsQuery, own_row, page_response, principal_of, run_db
from bot.service.auth import Principal
from bot.service.capacity import CapacityExceeded
from bot.service.errors import ApiError, not_found, query, read_json
from bot.service.schemas import (
    DeletedOut,
    OptOutOut,
    Page,
    ParticipantOut,
    SessionIn,
    SessionOut,
)
from bot.service.sessions import SessionConflict
from bot.service.state import capacity_key, manager_key, principal_key, store_key
from bot.session import Render
from bot.web.app import config_key

log = logging.getLogger(__name__)


def _session_out(request: web.Request, row: dict[str, Any]) -> dict[str, Any]:
    manager = request.app[manager_key]
    live = manager.live_numbers(row["session_id"])
    out = SessionOut(**row, live=live)
    if live is not None:
        out.state = live["state"]
    return out.model_dump()


async def list_sessions(request: web.Request) -> web.Response:
    page = query(request, SessionsQuery)
    equal = {"class_id": page.class_id} if page.class_id else {}
    rows, total = await run_db(request, lambda: request.app[store_key].rows(
        "service_sessions", owner=principal_of(request).owner_filter(), limit=page.limit, offset=page.offset,
        **equal))
    return page_response([_session_out(request, r) for r in rows], total, page)


async def create_session(request: web.Request) -> web.Response:
    body = await read_json(request, SessionIn)
    row = await start_session(request, body, principal_of(request))
    return web.json_response(_session_out(request, row), status=201,
                             headers={"Location": f"{PREFIX}/sessions/{row['session_id']}"})


async def start_session(request: web.Request, body: SessionIn, who: Principal) -> dict[str, Any]:
    """Starts the bot for the API and the dashboard alike; returns the new session's row."""
    request[principal_key] = who
    owner, class_id = who.name, ""
    class_name = body.class_name or "Live class"
    url = body.meeting_url or ""
    if body.class_id is not None:
        cls = await own_row(request, "classes", body.class_id, "class")
        if not cls["meeting_url"]:
            raise ApiError(422, "the class has no meeting_url", [{"field": "class_id", "message": "no meeting_url"}])
        owner, class_id, url = cls["owner"], cls["class_id"], cls["meeting_url"]
        class_name = body.class_name or cls["name"]
    manager = request.app[manager_key]
    try:
        with request.app[capacity_key].reserve(running_owners(manager), owner):
            session_id = await manager.start(meeting_url=url, owner=owner, class_name=class_name,
                                             class_id=class_id, duration_s=body.duration_s)
    except CapacityExceeded as exc:
        raise ApiError(429, str(exc), headers={"Retry-After": str(exc.refusal.retry_after_s)}) from None
    except SessionConflict as exc:
        raise ApiError(409, str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, str(exc), [{"field": "meeting_url", "message": str(exc)}]) from None
    row = await run_db(request, lambda: request.app[store_key].row("service_sessions", session_id))
    assert row is not None
    return row


def running_owners(manager: Any) -> list[str]:
    """One owner per session still running (the capacity check counts them)."""
    return [r.live.teacher for r in manager.running.values() if not r.done.is_set()]


async def get_session(request: web.Request) -> web.Response:
    row = await own_row(request, "service_sessions", request.match_info["session_id"], "session")
    return web.json_response(_session_out(request, row))


async def leave_session(request: web.Request) -> web.Response:
    """Asks the bot to leave; 202 while it stores and renders, 200 if it had already ended."""
    row = await own_row(request, "service_sessions", request.match_info["session_id"], "session")
    asked = request.app[manager_key].leave(row["session_id"])
    return web.json_response(_session_out(request, row), status=202 if asked else 200)


async def erase_session(request: web.Request, session_id: str) -> tuple[int, int]:
    store = request.app[store_key]
    config: Config = request.app[config_key]

    def erase() -> tuple[int, int]:
        obs = store.count_observations(session_id)
        try:
            store.delete_session(session_id)
        except LookupError:
            obs = 0  # failed before class started: no measured data
        folder = files.session_dir(config.reports.out_dir, session_id)
        n = files.delete_folder(folder) if folder else 0
        store.delete_row("service_sessions", session_id)
        return obs, n

    return await run_db(request, erase)


async def delete_session_data(request: web.Request) -> web.Response:
    row = await own_row(request, "service_sessions", request.match_info["session_id"], "session")
    if row["session_id"] in request.app[manager_key].running:
        raise ApiError(409, "the session is still running: end it first")
    obs, n = await erase_session(request, row["session_id"])
    return web.json_response(DeletedOut(deleted=row["session_id"], observations_deleted=obs,
                                        report_files_deleted=n).model_dump())


async def list_participants(request: web.Request) -> web.Response:
    row = await own_row(request, "service_sessions", request.match_info["session_id"], "session")
    page = query(request, Page)
    people = await run_db(request, lambda: request.app[store_key].participants(row["session_id"]))
    items = [ParticipantOut(participant_id=p.participant_id, display_name=p.display_name,
                            opted_out=p.opted_out).model_dump() for p in people]
    return page_response(items[page.offset:page.offset + page.limit], len(items), page)


async def opt_out(request: web.Request) -> web.Response:
    """Deletes everything measured about one student; rendered reports are rendered again without them."""
    row = await own_row(request, "service_sessions", request.match_info["session_id"], "session")
    pid = request.match_info["participant_id"]
    store = request.app[store_key]
    try:
        deleted = await run_db(request, lambda: store.opt_out(row["session_id"], pid))
    except LookupError:
        raise not_found("participant") from None
    await rerender_reports(request, row["session_id"])
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
            render(store, session_id, folder, config.reports.formats, config.reports.paper.lower())

    try:
        await run_db(request, rerender)
    except Exception:
        log.exception("re-rendering %s after an opt-out failed", session_id)

