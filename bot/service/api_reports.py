"""Reports (listing, traversal-proof downloads) and their deliveries."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from bot.cluster.reports import ensure_rendered
from bot.config import Config
from bot.db.records import SessionRecord
from bot.service import files
from bot.service.api_common import PREFIX, own_delivery, own_session, page_response, principal_of, run_db
from bot.service.errors import ApiError, not_found, query
from bot.service.schemas import (
    DeliveryOut,
    Page,
    ReportFile,
    ReportOut,
)
from bot.service.state import db_key, deliveries_key, manager_key, store_key
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
    return web.FileResponse(path, headers={"Content-Type": files.SUFFIXES[path.suffix],
                                           "X-Content-Type-Options": "nosniff"})


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

