"""Helpers shared by the API handler modules: thread offloading, the caller, pages, ownership."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from bot.db.records import ClassRecord, DeliveryRecord, ScheduleRecord, SessionRecord
from bot.service.auth import Principal, principal_for
from bot.service.errors import not_found
from bot.service.schemas import Page
from bot.service.state import db_key, login_sessions_key, principal_key

PREFIX = "/api/v1"
T = TypeVar("T")
COOKIE = "classpulse_session"  # a dashboard log-in id (bot.service.login_sessions), never the API token


class SessionsQuery(Page):
    class_id: str | None = None


async def run_db(request: web.Request, fn: Callable[[], T]) -> T:
    """Runs a synchronous store/file call on a worker thread: SQLite must never block the loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn)


async def cookie_principal(request: web.Request) -> tuple[Principal, str] | None:
    """The logged-in principal and log-in id from the dashboard cookie, or None."""
    session_id = request.cookies.get(COOKIE, "")
    logins = request.app[login_sessions_key]
    token_id = await run_db(request, lambda: logins.token_of(session_id)) if session_id else None
    if token_id is None:
        return None
    who = await run_db(request, lambda: principal_for(request.app[db_key], token_id))
    return (who, session_id) if who else None


def principal_of(request: web.Request) -> Principal:
    return request[principal_key]


def page_response(items: list[Any], total: int, page: Page) -> web.Response:
    return web.json_response({"items": items, "total": total, "limit": page.limit, "offset": page.offset})


R = TypeVar("R", ClassRecord, SessionRecord, ScheduleRecord, DeliveryRecord)


def _owned(request: web.Request, found: R | None, what: str) -> R:
    """404 for what does not exist and for what belongs to another teacher alike (no existence oracle)."""
    if found is None or not principal_of(request).may_see(found.owner):
        raise not_found(what)
    return found


async def own_class(request: web.Request, class_id: str) -> ClassRecord:
    return _owned(request, await run_db(request, lambda: request.app[db_key].get_class(class_id)), "class")


async def own_session(request: web.Request, session_id: str, what: str = "session") -> SessionRecord:
    return _owned(request, await run_db(request, lambda: request.app[db_key].session(session_id)), what)


async def own_schedule(request: web.Request, schedule_id: str) -> ScheduleRecord:
    return _owned(request, await run_db(request, lambda: request.app[db_key].schedule(schedule_id)), "schedule")


async def own_delivery(request: web.Request, delivery_id: str) -> DeliveryRecord:
    return _owned(request, await run_db(request, lambda: request.app[db_key].delivery(delivery_id)), "delivery")

