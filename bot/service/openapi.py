"""The OpenAPI 3.1 document, built from the route table and the pydantic models.

Generated rather than hand-written so that it cannot drift from what the server checks:
the request schemas are the same models that validate the bodies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from bot.service.schemas import ErrorOut, page_of

if TYPE_CHECKING:
    from bot.service.api import Route

_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(ErrorOut)}}}


def document(routes: Sequence[Route], prefix: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}

    def register(model: type[BaseModel], mode: str) -> None:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema

    register(ErrorOut, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        path = _PARAM.sub(r"{\1}", prefix + r.path)
        op: dict[str, Any] = {"summary": r.summary, "operationId": r.handler.__name__ + "_" + r.method.lower(),
                              "responses": {}}
        names = _PARAM.findall(r.path)
        params: list[dict[str, Any]] = [
            {"name": n, "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 300}} for n in names]
        if r.paged:
            params += [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                       {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}}]
        if params:
            op["parameters"] = params
        if r.body is not None:
            register(r.body, "validation")
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(r.body)}}}
        if r.upload:
            op["requestBody"] = {"required": True, "content": {r.upload: {"schema": {"type": "string"}}}}
        ok: dict[str, Any] = {"description": "OK"}
        if r.response is not None:
            register(r.response, "serialization")
            schema = page_of(r.response) if r.paged else _ref(r.response)
            ok["content"] = {"application/json": {"schema": schema}}
        elif r.content != "application/json":
            ok["content"] = {"application/pdf": {"schema": {"type": "string", "format": "binary"}},
                             "text/html": {"schema": {"type": "string"}}}
        else:
            ok["content"] = {"application/json": {"schema": {"type": "object"}}}
        op["responses"][str(r.status)] = ok
        if r.status == 202:
            op["responses"]["200"] = {**ok, "description": "already ended"}
        if r.role is None:
            op["security"] = []
        else:
            op["responses"]["401"] = _error("missing or invalid token")
            op["responses"]["403"] = _error("role not allowed")
            op["responses"]["404"] = _error("not found, or not yours")
            op["responses"]["422"] = _error("invalid input; `fields` names each bad field")
        if r.body is not None:
            op["responses"]["400"] = _error("malformed JSON")
            op["responses"]["409"] = _error("conflict with the current state")
            op["responses"]["413"] = _error("body too large")
            op["responses"]["415"] = _error("not application/json")
        if r.upload:
            op["responses"]["200"] = {**ok, "description": "nothing changed (or a dry run)"}
            op["responses"]["413"] = _error("body too large")
            op["responses"]["415"] = _error(f"not {r.upload}")
        paths.setdefault(path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "ClassPulse API", "version": "1",
                 "description": "Invite the engagement-notes bot, follow sessions, download reports, "
                                "opt students out and delete data. Bearer tokens from `classpulse token create`."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
