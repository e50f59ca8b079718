"""Hostile input gets a short 4xx that names the problem: nested JSON, huge URLs, control characters."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.service.auth import Role, create_token
from tests.service_fixtures import run, service

pytestmark = pytest.mark.component

API = "/api/v1"


def test_deeply_nested_json_is_400_not_500(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            for body in ("[" * 5000 + "]" * 5000, '{"name": ' + "[" * 3000 + "]" * 3000 + "}"):
                res = await s.client.post(f"{API}/classes", data=body, headers={
                    **s.auth("alice"), "Content-Type": "application/json"})
                assert res.status == 400, await res.text()
                assert "nests deeper than 32" in (await res.json())["error"]["message"]
            # brackets inside strings are text, not nesting
            res = await s.client.post(f"{API}/classes", json={"name": "[" * 100 + "{" * 90}, headers=s.auth("alice"))
            assert res.status == 201, await res.text()

    with caplog.at_level(logging.ERROR):
        run(main)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_request_line_over_the_limit_is_a_short_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            for path in (f"{API}/classes", "/whip/maths-7b", "/dashboard/login"):
                res = await s.client.get(path, params={"name": "n" * 10_000})
                assert res.status == 400

    with caplog.at_level(logging.INFO):
        run(main)
    server = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(server) == 3
    for r in server:
        assert r.levelno == logging.WARNING and r.exc_info is None and "LineTooLong" in r.getMessage()
        assert len(r.getMessage()) < 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/classes", {"name": "Art 9\r\nBcc: everyone@school.example"}, "name"),
    ("/classes", {"name": "Art\x00"}, "name"),
    ("/classes", {"name": "Art \u202eevil"}, "name"),  # right-to-left override
    ("/classes", {"name": "Art", "email": "a@b.\x07example"}, "email"),
    ("/sessions", {"meeting_url": "fake:r1", "class_name": "Maths\n7B"}, "class_name"),
    ("/classes/{cls}/opt-out", {"display_name": "Ada\tLovelace\x1b[31m"}, "display_name"),
])
def test_control_characters_in_typed_names_are_422(tmp_path: Path, path: str, body: dict[str, str],
                                                   field: str) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            made = await s.client.post(f"{API}/classes", json={"name": "Art"}, headers=s.auth("alice"))
            cls = (await made.json())["class_id"]
            res = await s.client.post(API + path.format(cls=cls), json=body, headers=s.auth("alice"))
            assert res.status == 422, await res.text()
            err = (await res.json())["error"]
            assert err["fields"][0]["field"] == field and "control character U+" in err["message"]

    run(main)


def test_plain_unicode_names_are_fine(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            res = await s.client.post(f"{API}/classes", json={"name": "Ästhetik 9 — Ms Ödön (ليلى) 学"},
                                      headers=s.auth("alice"))
            assert res.status == 201

    run(main)


def test_token_names_refuse_control_characters(tmp_path: Path) -> None:
    from analysis.store import Store
    from bot.db.store import ServiceStore

    store = Store(f"sqlite:///{tmp_path}/t.db")
    try:
        db = ServiceStore(store)
        with pytest.raises(ValueError, match="U\\+000A at position 3"):
            create_token(db, "Ms\nRivera", Role.TEACHER)
        assert create_token(db, "Ms Rivera", Role.TEACHER)[1].startswith("cp_")
    finally:
        store.close()
