"""The dashboard's class page: the roster (upload, view, CSV), matches to confirm, opt-out,
"delete this student everywhere", and the class's late / absent thresholds.

Same access rules and handlers as the API (`bot.service.api_rosters`); every form post carries
the log-in's CSRF value. Destructive actions need a ticked confirmation box (no JavaScript).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.db.records import ClassRecord
from bot.service.api_common import own_class, run_db
from bot.service.api_rosters import (
    class_matches,
    decide_match,
    erase_everywhere,
    set_student_opt_out,
    store_roster,
)
from bot.service.dashboard import _checked_form, _logged_in, _page
from bot.service.errors import ApiError
from bot.service.login_sessions import csrf_for
from bot.service.schemas import ClassPatchIn
from bot.service.state import db_key
from bot.sessions.roster_match import RosterError

MAX_UPLOAD = 1 << 20


async def _class(request: web.Request) -> ClassRecord:
    try:
        return await own_class(request, request.match_info["class_id"])
    except ApiError:
        raise web.HTTPNotFound(text="no such class") from None


async def class_page(request: web.Request, *, error: str = "", notice: str = "", status: int = 200) -> web.Response:
    who, login_id = await _logged_in(request)
    cls = await _class(request)
    db = request.app[db_key]
    roster = await run_db(request, lambda: db.rosters.roster(cls.class_id))
    matches = await run_db(request, lambda: class_matches(request, cls.class_id))
    return _page(request, "class.html", status=status, who=who, csrf=csrf_for(login_id), cls=cls, roster=roster,
                 pending=[m for m in matches if m.needs_confirmation],
                 unmatched=[m for m in matches if m.kind == "unmatched"], error=error, notice=notice)


async def class_view(request: web.Request) -> web.Response:
    return await class_page(request)


async def upload(request: web.Request) -> web.Response:
    """A CSV file (multipart) or pasted text; errors name the line and column, as in the API."""
    if request.content_length is not None and request.content_length > MAX_UPLOAD + 4096:
        return await class_page(request, error="the roster is larger than 1 MB", status=413)
    _, form = await _checked_form(request)
    cls = await _class(request)
    field: Any = form.get("file")
    raw = field.file.read(MAX_UPLOAD + 1) if getattr(field, "file", None) is not None else b""
    if not raw:
        raw = str(form.get("text", "")).encode()
    if not raw.strip():
        return await class_page(request, error="choose a CSV file or paste the roster", status=422)
    try:
        text = raw.decode("utf-8")
        out = await run_db(request, lambda: store_roster(request, cls, text))
    except UnicodeDecodeError:
        return await class_page(request, error="the roster is not UTF-8 text; save the CSV as UTF-8", status=422)
    except RosterError as exc:
        return await class_page(request, error=f"Roster not saved: {exc}", status=422)
    return await class_page(request, notice=f"Roster saved: {len(out.students)} students ({out.added} new, "
                                            f"{out.kept} kept, {out.removed} removed).")


async def decide(request: web.Request) -> web.Response:
    _, form = await _checked_form(request)
    cls = await _class(request)
    try:
        out = await decide_match(request, cls, str(form.get("session_id", "")), str(form.get("participant_id", "")),
                                 str(form.get("roster_student_id", "")))
    except ApiError as exc:
        return await class_page(request, error=exc.message, status=exc.status)
    what = f"is {out.roster_name}" if out.roster_student_id else "is not on the roster"
    return await class_page(request, notice=f"Noted: “{out.display_name}” {what}. Reports were rendered again.")


async def _student(request: web.Request, cls: ClassRecord) -> Any:
    rsid = request.match_info["roster_student_id"]
    found = await run_db(request, lambda: request.app[db_key].rosters.student(rsid))
    if found is None or found.class_id != cls.class_id:
        raise web.HTTPNotFound(text="no such student")
    return found


async def opt_out(request: web.Request) -> web.Response:
    _, form = await _checked_form(request)
    cls = await _class(request)
    student = await _student(request, cls)
    opted = str(form.get("opted_out", "1")) == "1"
    try:
        await set_student_opt_out(request, cls, student, opted)
    except ApiError as exc:
        return await class_page(request, error=exc.message, status=exc.status)
    done = "opted out: their data in this class was deleted" if opted else "measured again from the next session"
    return await class_page(request, notice=f"{student.name} is {done}.")


async def erase(request: web.Request) -> web.Response:
    _, form = await _checked_form(request)
    cls = await _class(request)
    student = await _student(request, cls)
    if form.get("sure") != "yes":
        return await class_page(request, error=f"Tick the box to confirm deleting {student.name} everywhere.",
                                status=422)
    try:
        out = await erase_everywhere(request, cls, student, "delete" if form.get("possible") == "yes" else "keep")
    except ApiError as exc:
        return await class_page(request, error=exc.message, status=exc.status)
    parts = [f"{student.name} was deleted everywhere: {len(out.roster_rows_deleted)} roster row(s), "
             f"{out.participants_deleted} participant(s) with {out.observations_deleted} observations",
             f"reports rendered again: {', '.join(out.reports_rerendered) or 'none'}",
             f"reports removed (nobody left): {', '.join(out.reports_removed) or 'none'}"]
    if out.possible:
        parts.append("kept, only proposed as this student: "
                     + ", ".join(f"“{p['display_name']}” in {p['session_id']}" for p in out.possible))
    return await class_page(request, notice="; ".join(parts) + ".")


async def rules(request: web.Request) -> web.Response:
    _, form = await _checked_form(request)
    cls = await _class(request)
    try:
        sent = {k: str(form.get(k, "")).strip() for k in ("late_after_min", "absent_after_min")}
        body = ClassPatchIn.model_validate({k: v for k, v in sent.items() if v})
    except ValueError as exc:
        return await class_page(request, error=f"thresholds: {exc}".splitlines()[0], status=422)
    late = body.late_after_min if body.late_after_min is not None else cls.late_after_min
    absent = body.absent_after_min if body.absent_after_min is not None else cls.absent_after_min
    if late > absent:
        return await class_page(request, error="“late after” must not exceed “absent after”", status=422)
    await run_db(request, lambda: request.app[db_key].update_class(cls.class_id, late_after_min=late,
                                                                   absent_after_min=absent))
    return await class_page(request, notice=f"Late after {late:g} min, absent after {absent:g} min, from the next "
                                            "session on.")


def add_class_pages(app: web.Application) -> None:
    base = "/dashboard/classes/{class_id}"
    app.router.add_get(base, class_view)
    app.router.add_post(base + "/roster", upload)
    app.router.add_post(base + "/matches", decide)
    app.router.add_post(base + "/roster/{roster_student_id}/opt-out", opt_out)
    app.router.add_post(base + "/roster/{roster_student_id}/delete", erase)
    app.router.add_post(base + "/rules", rules)
