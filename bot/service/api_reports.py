"""Reports (listing, traversal-proof downloads, the access log) and their deliveries.

Every download of a report file is written to the access log (`bot.db.access_log`) before
the file is sent: who (token name and role), which session and student, how (API token or
dashboard log-in), which format, from which address. If the row cannot be written the file
is not sent. Admins read the log at ``GET /api/v1/access-log`` and ``/dashboard/access-log``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import web

from analysis.store import Store
from bot.cluster.reports import ensure_rendered
from bot.config import Config
from bot.db.access_log import AccessFilter
from bot.db.records import AccessRecord, SessionRecord
from bot.service import files
from bot.service.api_common import PREFIX, own_delivery, own_session, page_response, principal_of, run_db
from bot.service.auth import now_iso
from bot.service.errors import ApiError, not_found, query
from bot.service.schemas import (
    AccessLogQuery,
    AccessOut,
    DeliveryOut,
    Page,
    ReportFile,
    ReportOut,
)
from bot.service.state import access_log_key, db_key, deliveries_key, manager_key, store_key, via_key
from bot.web.app import config_key


def report_of(request: web.Request, record: SessionRecord) -> dict[str, Any]:
    """The report's files (synchronous: may render them on this cluster node first, `bot.cluster.reports`)."""
    config: Config = request.app[config_key]
    folder = ensure_rendered(request.app[store_key], config, request.app[manager_key].render, record)
    found = files.list_files(folder) if folder else []
    base = f"{PREFIX}/reports/{record.session_id}/files/"
    return ReportOut(session_id=record.session_id, class_name=record.class_name, owner=record.owner,
                     files=[ReportFile(path=p, bytes=n, url=base + p) for p, n in found]).model_dump()


async def list_reports(request: web.Request) -> web.Response:
    page = query(request, Page)
    owner = principal_of(request).owner_filter()

    def load() -> list[dict[str, Any]]:  # reads the folders too: off the event loop
        db = request.app[db_key]
        rows = db.sessions(owner=owner, state="done")[0] + db.sessions(owner=owner, state="interrupted")[0]
        rows.sort(key=lambda r: r.created_at, reverse=True)
        return [r for r in (report_of(request, row) for row in rows) if r["files"]]

    reports = await run_db(request, load)
    return page_response(reports[page.offset:page.offset + page.limit], len(reports), page)


async def get_report(request: web.Request) -> web.Response:
    record = await own_session(request, request.match_info["session_id"], "report")
    return web.json_response(await run_db(request, lambda: report_of(request, record)))


async def download(request: web.Request) -> web.StreamResponse:
    record = await own_session(request, request.match_info["session_id"], "report")
    config: Config = request.app[config_key]
    folder = await run_db(request, lambda: ensure_rendered(request.app[store_key], config,
                                                           request.app[manager_key].render, record))
    path = files.resolve(folder, request.match_info["path"]) if folder else None
    if path is None:
        raise not_found("report file")
    rel = path.relative_to(folder.resolve()) if folder else Path(path.name)
    await run_db(request, lambda: log_access(request, record, rel))
    return web.FileResponse(path, headers={"Content-Type": files.SUFFIXES[path.suffix],
                                           "X-Content-Type-Options": "nosniff"})


def student_of_stem(store: Store, session_id: str, stem: str) -> str:
    """The participant id whose student report file is `stem` ("" when none matches).

    Report files are named after display names (`reports.format.unique_stems`, in the order
    the class report lists students); the log keeps the id, never the name.
    """
    from reports.format import unique_stems

    names = {p.participant_id: p.display_name for p in store.participants(session_id) if not p.opted_out}
    ordered = sorted(names.items(), key=lambda kv: (kv[1].casefold(), kv[0]))
    return next((pid for pid, s in unique_stems(ordered).items() if s == stem), "")


def log_access(request: web.Request, record: SessionRecord, rel: Path) -> None:
    """One access-log row for opening `rel` (a path inside the session's report folder)."""
    who = principal_of(request)
    student = len(rel.parts) == 2 and rel.parts[0] == "students"
    pid = student_of_stem(request.app[store_key], record.session_id, rel.stem) if student else ""
    request.app[access_log_key].add(AccessRecord(
        at=now_iso(), who=who.name, role=who.role.value, token_id=who.token_id, session_id=record.session_id,
        class_id=record.class_id, subject="student" if student else "class", participant_id=pid,
        via=request.get(via_key, "api"), format=rel.suffix.lstrip("."), client=(request.remote or "")[:64]))


async def access_log(request: web.Request) -> web.Response:
    """The report access log, newest first (admins only: the route's role says so)."""
    q = query(request, AccessLogQuery)
    f = AccessFilter(**{k: v for k, v in q.model_dump().items() if k not in ("limit", "offset")})
    rows, total = await run_db(request, lambda: request.app[access_log_key].query(f, q.limit, q.offset))
    return page_response([AccessOut(**asdict(r)).model_dump() for r in rows], total, q)


# -- deliveries -------------------------------------------------------------------------------
async def list_deliveries(request: web.Request) -> web.Response:
    page = query(request, Page)
    rows, total = await run_db(request, lambda: request.app[db_key].deliveries(
        owner=principal_of(request).owner_filter(), limit=page.limit, offset=page.offset))
    return page_response([DeliveryOut(**asdict(r)).model_dump() for r in rows], total, page)


async def get_delivery(request: web.Request) -> web.Response:
    record = await own_delivery(request, request.match_info["delivery_id"])
    return web.json_response(DeliveryOut(**asdict(record)).model_dump())


async def retry_delivery(request: web.Request) -> web.Response:
    """Tries a failed delivery again (a fresh round of attempts); 409 unless it failed."""
    record = await own_delivery(request, request.match_info["delivery_id"])
    if record.state != "failed":
        raise ApiError(409, f"the delivery is {record.state}; only failed deliveries are retried")
    await request.app[deliveries_key].retry(record.delivery_id)
    fresh = await run_db(request, lambda: request.app[db_key].delivery(record.delivery_id))
    return web.json_response(DeliveryOut(**asdict(fresh or record)).model_dump(), status=202)

