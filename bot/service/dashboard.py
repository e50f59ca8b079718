"""The teacher dashboard: server-rendered pages, a token login, and a live view fed by SSE.

Login exchanges an API token for an HttpOnly, SameSite=Strict cookie holding a random
log-in id (`bot.service.login_sessions`; never the token itself, ended by logging out);
the pages then use the same access rules as the API (a teacher sees only their own
classes, sessions and reports; the report links are the API's download URLs, which accept
the cookie for GET). Every form post carries a CSRF value derived from the log-in id; the
login form itself is protected against login CSRF by an Origin/Referer check
(`bot.service.origin`) and a double-submit token in a short-lived cookie.
The live view's only JavaScript fills numbers, tiles and a chart from `text/event-stream`
events (`bot.service.live_feed`); `/` leads here.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from aiohttp_sse import sse_response
from pydantic import ValidationError

from bot.config import Config
from bot.db.access_log import AccessFilter
from bot.db.records import ScheduleRecord, SessionRecord
from bot.service import rate_limits
from bot.service.api_common import COOKIE, cookie_principal, own_class, own_session
from bot.service.api_reports import report_of
from bot.service.api_schedules import add_schedule
from bot.service.api_sessions import start_session
from bot.service.auth import Principal, authenticate
from bot.service.errors import ApiError
from bot.service.home_view import upcoming
from bot.service.live_feed import LiveFeeds, expected_of
from bot.service.live_timeline import LiveSettings
from bot.service.live_view import LEGEND, TILE_TEXT, class_pulse
from bot.service.login_sessions import csrf_for
from bot.service.origin import cross_site, origin_of
from bot.service.schemas import AccessLogQuery, ScheduleIn, SessionIn
from bot.service.state import (
    access_log_key,
    db_key,
    limiter_key,
    login_sessions_key,
    manager_key,
    principal_key,
    schedules_key,
    store_key,
)
from bot.sessions.runner import SessionConflict
from bot.web.app import config_key

TEMPLATES = Path(__file__).with_name("templates")
pages_key = web.AppKey("dashboard_templates", jinja2.Environment)
pulse_key = web.AppKey("pulse_interval_s", float)
#: what the live view looks back on; tests set short windows before the app starts
live_settings_key = web.AppKey("live_settings", LiveSettings)
feeds_key = web.AppKey("live_feeds", LiveFeeds)
LOGIN_COOKIE = "classpulse_login"  # double-submit token of the login form
LOGIN_PATH = "/dashboard/login"


async def _who(request: web.Request) -> tuple[Principal, str] | None:
    """The logged-in principal and the log-in id."""
    return await cookie_principal(request)


async def _logged_in(request: web.Request) -> tuple[Principal, str]:
    found = await _who(request)
    if found is None:
        raise web.HTTPSeeOther("/dashboard/login")
    request[principal_key] = found[0]
    return found


async def _checked_form(request: web.Request) -> tuple[Principal, Any]:
    who, login_id = await _logged_in(request)
    form = await request.post()
    if not hmac.compare_digest(str(form.get("csrf", "")), csrf_for(login_id)):
        raise web.HTTPForbidden(text="invalid form token; reload the page")
    return who, form


def _page(request: web.Request, name: str, status: int = 200, **ctx: Any) -> web.Response:
    html = request.app[pages_key].get_template(name).render(**ctx)
    return web.Response(text=html, content_type="text/html", status=status,
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})


def _login_form(request: web.Request, status: int = 200, error: str = "") -> web.Response:
    """The login page with a fresh double-submit token (cookie and hidden field)."""
    value = secrets.token_urlsafe(24)
    res = _page(request, "login.html", status=status, who=None, error=error, login_csrf=value)
    res.set_cookie(LOGIN_COOKIE, value, httponly=True, samesite="Strict", path=LOGIN_PATH,
                   secure=request.secure, max_age=3600)
    return res


def own_origins(request: web.Request) -> set[str]:
    """This service's origins: the one the request came to, and `classroom.public_url`."""
    config: Config = request.app[config_key]
    found = {origin_of(f"{request.scheme}://{request.host}"), origin_of(config.classroom.public_url)}
    return {o for o in found if o}


async def login_page(request: web.Request) -> web.Response:
    return _login_form(request)


async def login(request: web.Request) -> web.Response:
    foreign = cross_site(request.headers.get("Origin"), request.headers.get("Referer"), own_origins(request))
    if foreign is not None:
        return _page(request, "login.html", status=403, who=None,
                     error=f"Log-in refused: the form was sent from {foreign}, not from this site.")
    form = await request.post()
    sent, expected = str(form.get("login_csrf", "")), request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(sent, expected):
        return _login_form(request, 403, "The log-in form expired; please log in again from this page.")
    config: Config = request.app[config_key]
    limiter, client = request.app[limiter_key], request.remote or ""
    per_minute = config.service.login_attempts_per_minute
    wait = await rate_limits.login_refused(limiter, client, per_minute)
    if wait is not None:
        res = _login_form(request, 429, f"Too many failed log-ins from your address; try again in {wait} s.")
        res.headers["Retry-After"] = str(wait)
        return res
    token = str(form.get("token", "")).strip()
    db = request.app[db_key]
    who = await asyncio.get_running_loop().run_in_executor(None, authenticate, db, token) if token else None
    if who is None:
        await rate_limits.login_failed(limiter, client, per_minute)
        return _login_form(request, 401, "That token is not valid.")
    await rate_limits.login_succeeded(limiter, client)
    res = web.HTTPSeeOther("/dashboard")
    logins = request.app[login_sessions_key]
    session_id = await asyncio.get_running_loop().run_in_executor(None, logins.create, who.token_id)
    res.set_cookie(COOKIE, session_id, httponly=True, samesite="Strict", path="/",
                   secure=request.secure, max_age=12 * 3600)
    res.del_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
    raise res


async def logout(request: web.Request) -> web.Response:
    _, session_id = await _logged_in(request)
    await _checked_form(request)
    await asyncio.get_running_loop().run_in_executor(None, request.app[login_sessions_key].end, session_id)
    res = web.HTTPSeeOther("/dashboard/login")
    res.del_cookie(COOKIE, path="/")
    raise res


async def home(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    who, login_id = await _logged_in(request)
    db = request.app[db_key]
    owner = who.owner_filter()

    def load() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[ScheduleRecord]]:
        return ([asdict(r) for r in db.classes(owner=owner, limit=200)[0]],
                [asdict(r) for r in db.sessions(owner=owner, limit=30)[0]],
                db.schedules(owner=owner, limit=200)[0])

    classes, sessions, rows = await asyncio.get_running_loop().run_in_executor(None, load)
    schedules = [asdict(r) for r in rows]
    running = request.app[manager_key].running
    for s in sessions:
        s["running"] = s["session_id"] in running
        live = running[s["session_id"]].live if s["running"] else None
        if live is not None:
            s["state"] = live.state.value
    runner = request.app[schedules_key]
    for sch in schedules:
        sch["next_run_at"] = runner.next_run(sch["schedule_id"])
    names = {c["class_id"]: c["name"] for c in classes}
    today, after_today = await asyncio.get_running_loop().run_in_executor(
        None, upcoming, rows, names, runner.trigger_for, datetime.now(UTC))
    reports = await asyncio.get_running_loop().run_in_executor(None, lambda: [
        r for r in (report_of(request, SessionRecord(**{k: v for k, v in s.items() if k != "running"}))
                    for s in sessions if s["state"] in ("done", "interrupted")) if r["files"]])
    return _page(request, "home.html", status=status, who=who, csrf=csrf_for(login_id), classes=classes,
                 sessions=sessions, running=[s for s in sessions if s["running"]], schedules=schedules,
                 today=today, after_today=after_today, reports=reports[:10], error=error)


async def home_page(request: web.Request) -> web.Response:
    return await home(request)


async def invite(request: web.Request) -> web.Response:
    who, form = await _checked_form(request)
    fields = {k: str(form.get(k, "")).strip() for k in ("class_id", "meeting_url", "class_name")}
    try:
        body = SessionIn.model_validate({k: v for k, v in fields.items() if v})
        record = await start_session(request, body, who)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "form"
        return await home(request, f"{where}: {err['msg']}", status=422)
    except (ApiError, SessionConflict) as exc:
        return await home(request, str(exc), status=getattr(exc, "status", 409))
    raise web.HTTPSeeOther(f"/dashboard/sessions/{record.session_id}")


async def schedule(request: web.Request) -> web.Response:
    """The schedule form: the same model and checks as POST /api/v1/schedules."""
    _, form = await _checked_form(request)
    data: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in ("class_id", "cron", "timezone", "duration_min")}
    skips = [d.strip() for d in str(form.get("skip_dates", "")).split(",") if d.strip()]
    try:
        body = ScheduleIn.model_validate({**{k: v for k, v in data.items() if v}, "skip_dates": skips})
        cls = await own_class(request, body.class_id)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "form"
        return await home(request, f"{where}: {err['msg']}", status=422)
    except ApiError as exc:
        return await home(request, exc.message, status=exc.status)
    if not cls.meeting_url:
        return await home(request, "the class has no meeting URL", status=422)
    add_schedule(request, body, cls)
    raise web.HTTPSeeOther("/dashboard")


async def session_page(request: web.Request) -> web.Response:
    who, login_id = await _logged_in(request)
    try:
        record = await own_session(request, request.match_info["session_id"])
    except ApiError:
        raise web.HTTPNotFound(text="no such session") from None
    config: Config = request.app[config_key]
    running = record.session_id in request.app[manager_key].running
    return _page(request, "session.html", who=who, csrf=csrf_for(login_id), session=asdict(record),
                 running=running, emotions=config.analysis.emotions, live=request.app[live_settings_key],
                 legend=LEGEND, tile_text=TILE_TEXT,
                 events_url=f"/dashboard/sessions/{record.session_id}/events")


async def leave(request: web.Request) -> web.Response:
    await _checked_form(request)
    try:
        record = await own_session(request, request.match_info["session_id"])
    except ApiError:
        raise web.HTTPNotFound(text="no such session") from None
    request.app[manager_key].leave(record.session_id, end_stream=True)
    raise web.HTTPSeeOther(f"/dashboard/sessions/{record.session_id}")


async def _pulse(request: web.Request, session_id: str) -> dict[str, Any] | None:
    manager = request.app[manager_key]
    feeds = request.app[feeds_key]
    feeds.prune(manager.running)
    running = manager.running.get(session_id)
    if running is not None and running.live is not None:
        return await feeds.pulse(request.app[store_key], running.live)
    # a cluster: the worker's numbers arrive by LISTEN/NOTIFY (bot.cluster.live)
    remote = getattr(manager, "present_names", None)
    names = remote(session_id) if remote is not None else None
    numbers = manager.live_numbers(session_id) if names is not None else None
    if numbers is None or names is None:
        return None
    window_s = request.app[live_settings_key].window_s
    since = max(0.0, numbers["elapsed_s"] - window_s)
    store = request.app[store_key]
    obs = await asyncio.get_running_loop().run_in_executor(
        None, lambda: store.observations(session_id, since_t=since))
    return class_pulse(obs, names, numbers, window_s)


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent `pulse` events every `pulse_interval_s` until the session ends or the client goes."""
    found = await _who(request)
    if found is None:
        raise web.HTTPUnauthorized(text="log in first")
    request[principal_key] = found[0]
    try:
        record = await own_session(request, request.match_info["session_id"])
    except ApiError:
        raise web.HTTPNotFound(text="no such session") from None
    interval = request.app[pulse_key]

    async with sse_response(request) as resp:
        while resp.is_connected():
            pulse = await _pulse(request, record.session_id)
            if pulse is None:
                if record.session_id in request.app[manager_key].running:  # still joining
                    await asyncio.sleep(interval)
                    continue
                db = request.app[db_key]
                fresh = await asyncio.get_running_loop().run_in_executor(None, db.session, record.session_id)
                if request.app[manager_key].remote and fresh is not None and not fresh.final:
                    await asyncio.sleep(interval)  # queued, joining, or between two workers' messages
                    continue
                last = class_pulse([], [], None, request.app[live_settings_key].window_s)
                if not request.app[config_key].analysis.emotions:
                    last.pop("mood")
                await resp.send(json.dumps(last | {"state": (fresh or record).state}), event="pulse")
                break
            await resp.send(json.dumps(pulse), event="pulse")
            await asyncio.sleep(interval)
    return resp


async def root(request: web.Request) -> web.Response:
    """`/` is the dashboard (which sends a visitor who is not logged in on to the login page)."""
    raise web.HTTPFound("/dashboard")


async def _start_feeds(app: web.Application) -> None:
    config: Config = app[config_key]
    app[feeds_key] = LiveFeeds(app[live_settings_key], lag_s=config.store.flush_s + 1.0,
                               emotions=config.analysis.emotions, reuse_s=app[pulse_key] / 2,
                               expected=lambda session_id: expected_of(app[db_key], session_id))


def when(iso: str) -> str:
    """A stored ISO time as a person reads it ("26 Nov 13:00 UTC"); unparseable text as it is."""
    try:
        t = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso
    return f"{t.astimezone(UTC):%d %b %H:%M} UTC" if t.tzinfo else f"{t:%d %b %H:%M}"


def local_when(iso: str) -> str:
    """A run time in its own zone ("Mon 02 Mar 09:15 CET")."""
    try:
        t = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso
    return f"{t:%a %d %b %H:%M} {t.tzname() or ''}".strip()


async def access_log_page(request: web.Request) -> web.Response:
    """Admins: who opened which report (the API's filters as query parameters); teachers get 403."""
    who, login_id = await _logged_in(request)
    if not who.is_admin:
        return _page(request, "access_log.html", status=403, who=who, csrf=csrf_for(login_id), rows=[], total=0,
                     error="Only admins may read the access log.", filters={})
    try:
        q = AccessLogQuery.model_validate({k: v for k, v in request.query.items() if v})
    except ValidationError as exc:
        err = exc.errors()[0]
        return _page(request, "access_log.html", status=422, who=who, csrf=csrf_for(login_id), rows=[], total=0,
                     error=f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}", filters=dict(request.query))
    f = AccessFilter(**{k: v for k, v in q.model_dump().items() if k not in ("limit", "offset")})
    rows, total = await asyncio.get_running_loop().run_in_executor(
        None, lambda: request.app[access_log_key].query(f, q.limit, q.offset))
    return _page(request, "access_log.html", who=who, csrf=csrf_for(login_id), rows=[asdict(r) for r in rows],
                 total=total, error="", filters={k: v for k, v in request.query.items() if v})


def add_dashboard(app: web.Application, pulse_interval_s: float = 1.0,
                  live: LiveSettings | None = None) -> None:
    app[pages_key] = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    app[pages_key].filters["when"] = when
    app[pages_key].filters["local_when"] = local_when
    app[pulse_key] = pulse_interval_s
    app[live_settings_key] = live or LiveSettings()
    app.on_startup.append(_start_feeds)
    app.router.add_get("/", root)
    app.router.add_get("/dashboard/login", login_page)
    app.router.add_post("/dashboard/login", login)
    app.router.add_post("/dashboard/logout", logout)
    app.router.add_get("/dashboard", home_page)
    app.router.add_post("/dashboard/invite", invite)
    app.router.add_post("/dashboard/schedule", schedule)
    app.router.add_get("/dashboard/sessions/{session_id}", session_page)
    app.router.add_post("/dashboard/sessions/{session_id}/leave", leave)
    app.router.add_get("/dashboard/sessions/{session_id}/events", events)
    from bot.service.dashboard_rosters import add_class_pages  # it imports this module's helpers

    add_class_pages(app)
    app.router.add_get("/dashboard/access-log", access_log_page)
