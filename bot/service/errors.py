"""One error shape for the whole API: ``{"error": {"status", "code", "message", "fields"}}``.

`ApiError` is raised by handlers; the middleware also turns aiohttp's own HTTP errors
(404 no route, 405, 413 body too large) and pydantic `ValidationError`s into that shape,
so a client never has to parse text/plain or an HTML error page under /api/.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.service.safe_json import JsonTooDeep, loads

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "body_too_large", 415: "unsupported_media_type",
          422: "invalid", 500: "internal", 503: "unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, fields: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or []
        self.headers = headers or {}


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def error_response(status: int, message: str, fields: list[dict[str, str]] | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"status": status, "code": _CODES.get(status, "error"), "message": message,
                      "fields": fields or []}}
    return web.json_response(body, status=status, headers=headers)


def from_validation(exc: ValidationError) -> ApiError:
    """A 422 listing every invalid field by its dotted path ("body" for whole-object rules)."""
    fields = [{"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
              for err in exc.errors()]
    first = fields[0]
    return ApiError(422, f"{first['field']}: {first['message']}", fields)


async def read_json(request: web.Request, model: type[M]) -> M:
    """Parse and validate the JSON body; every failure is a 4xx that names the problem."""
    if request.content_type != "application/json":
        raise ApiError(415, "send the body as application/json")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "the body is too large") from None
    try:
        data: Any = loads(raw)
    except JsonTooDeep as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(422, "the body must be a JSON object", [{"field": "body", "message": "expected an object"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc) from None


def query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise from_validation(exc) from None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, exc.fields, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason, headers={k: v for k, v in exc.headers.items()
                                                               if k in ("Allow",)})
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "internal error (logged on the server)")
