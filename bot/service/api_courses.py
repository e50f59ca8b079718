"""A class's course report across the term: rendered on request, never left on disk."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from bot.config import Config
from bot.course.inputs import ClassRef, CourseNotFound
from bot.service.api_common import own_class, run_db
from bot.service.errors import ApiError, query
from bot.service.state import db_key, store_key
from bot.web.app import config_key

CONTENT_TYPES = {"pdf": "application/pdf", "html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8"}
FILES = {"pdf": "course.pdf", "html": "course.html", "csv": "attendance.csv"}


class CourseReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["pdf", "html", "csv"] = "pdf"


async def course_report(request: web.Request) -> web.Response:
    """The course report of a class (owner or admin; others get 404): PDF, HTML or the attendance CSV."""
    cls = await own_class(request, request.match_info["class_id"])
    fmt = query(request, CourseReportQuery).format
    config: Config = request.app[config_key]
    store, db = request.app[store_key], request.app[db_key]

    def render() -> bytes:
        from bot.course.report import write_course_report

        with tempfile.TemporaryDirectory(prefix="classpulse-course-") as tmp:
            write_course_report(store, db, config, ClassRef(cls.class_id, cls.name, cls.owner), out_dir=tmp,
                                formats=(fmt,), now=datetime.now(UTC))
            return (Path(tmp) / FILES[fmt]).read_bytes()

    try:
        body = await run_db(request, render)
    except CourseNotFound as exc:
        raise ApiError(404, str(exc)) from None
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return web.Response(body=body, headers={
        "Content-Type": CONTENT_TYPES[fmt], "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="{cls.class_id}-{stamp}-{FILES[fmt]}"',
        "Cache-Control": "no-store"})
