"""Report delivery: a real SMTP server receives the PDF, signed webhooks retry, nothing is lost."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from pypdf import PdfReader

from bot.connectors.fake import solid
from bot.service.delivery import sign
from tests.service_fixtures import Service, run, service, until

pytestmark = pytest.mark.component

API = "/api/v1"
SECRET = "s3cret-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # the name aiosmtpd calls
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


async def class_session_with_report(s: Service, **cls: str) -> str:
    res = await s.client.post(f"{API}/classes", json={"name": "Art 9", "meeting_url": "fake:r1", **cls},
                              headers=s.auth("alice"))
    assert res.status == 201, await res.text()
    res = await s.client.post(f"{API}/sessions", json={"class_id": (await res.json())["class_id"]},
                              headers=s.auth("alice"))
    sid = str((await res.json())["session_id"])
    meeting = s.meetings.room("r1")
    await until(lambda: meeting.connector is not None and meeting.connector.inside)
    meeting.arrive("f1", "Ada", video=solid(100))
    await until(lambda: (s.manager.live_numbers(sid) or {}).get("samples", 0) >= 2)
    s.manager.leave(sid)
    await s.manager.wait(sid)
    return sid


async def delivery(s: Service, kind: str) -> dict[str, Any]:
    res = await s.client.get(f"{API}/deliveries", headers=s.auth("alice"))
    items = [d for d in (await res.json())["items"] if d["kind"] == kind]
    assert len(items) == 1, items
    return items[0]


async def settled(s: Service, kind: str, within_s: float = 10) -> dict[str, Any]:
    for _ in range(int(within_s / 0.05)):
        d = await delivery(s, kind)
        if d["state"] != "pending":
            return d
        await asyncio.sleep(0.05)
    raise AssertionError(f"{kind} delivery still pending")


def test_the_teacher_receives_the_pdf_by_email(tmp_path: Path) -> None:
    inbox = Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()

    async def main() -> str:
        sections = {"delivery": {"smtp_host": "127.0.0.1", "smtp_port": port, "backoff_s": 0.05}}
        async with service(tmp_path, sections) as s:
            sid = await class_session_with_report(s, email="rivera@school.example")
            d = await settled(s, "email")
            assert d["state"] == "delivered" and d["attempts"] == 1 and d["target"] == "rivera@school.example"
            bob = await (await s.client.get(f"{API}/deliveries", headers=s.auth("bob"))).json()
            assert bob["total"] == 0
            return sid

    try:
        sid = run(main)
    finally:
        smtp.stop()
    assert len(inbox.messages) == 1
    sender, rcpts, raw = inbox.messages[0]
    assert rcpts == ["rivera@school.example"] and "classpulse@localhost" in sender
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert "Art 9" in str(msg["Subject"])
    pdfs = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1 and pdfs[0].get_filename() == "class.pdf"
    reader = PdfReader(io.BytesIO(pdfs[0].get_content()))
    assert len(reader.pages) == 1 and reader.metadata is not None and reader.metadata.title == sid


@asynccontextmanager
async def receiver(fail_first: int, status: int = 500) -> AsyncIterator[tuple[TestServer, list[dict[str, Any]]]]:
    """A webhook endpoint answering `status` to the first `fail_first` calls (negative: always)."""
    calls: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        calls.append({"headers": dict(request.headers), "body": body})
        failing = fail_first < 0 or len(calls) <= fail_first
        return web.Response(status=status if failing else 204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server, calls
    finally:
        await server.close()


def hook_sections(**delivery: Any) -> dict[str, dict[str, Any]]:
    """Webhooks on: the test receivers listen on loopback, which a school would allow-list like this."""
    return {"delivery": {"webhook_secret": SECRET, "backoff_s": 0.05, "backoff_max_s": 0.2,
                         "allow_networks": ["127.0.0.0/8", "::1/128"], **delivery}}


def test_webhook_is_signed_retried_with_one_event_id(tmp_path: Path) -> None:
    async def main() -> None:
        async with receiver(fail_first=2) as (hook, calls), service(tmp_path, hook_sections(attempts=5)) as s:
            sid = await class_session_with_report(s, webhook_url=str(hook.make_url("/hook")))
            d = await settled(s, "webhook")
            assert d["state"] == "delivered" and d["attempts"] == 3 and len(calls) == 3
            ids = {c["headers"]["X-ClassPulse-Event-Id"] for c in calls}
            assert ids == {d["delivery_id"]}
            bodies = {c["body"] for c in calls}
            assert len(bodies) == 1  # the same event every time
            for c in calls:
                h = c["headers"]
                assert h["X-ClassPulse-Signature"] == sign(SECRET, h["X-ClassPulse-Timestamp"], c["body"])
                assert h["X-ClassPulse-Signature"] != sign("other", h["X-ClassPulse-Timestamp"], c["body"])
            event = json.loads(calls[0]["body"])
            assert event["type"] == "report.ready" and event["session_id"] == sid
            assert {r["path"] for r in event["reports"]} >= {"class.pdf", "class.html"}

    run(main)


def test_failed_deliveries_are_visible_and_can_be_retried(tmp_path: Path) -> None:
    async def main() -> None:
        async with receiver(fail_first=-1) as (hook, calls), service(tmp_path, hook_sections(attempts=2)) as s:
            await class_session_with_report(s, webhook_url=str(hook.make_url("/hook")))
            d = await settled(s, "webhook")
            assert d["state"] == "failed" and d["attempts"] == 2 and "HTTP 500" in d["last_error"]
            url = f"{API}/deliveries/{d['delivery_id']}/retry"
            assert (await s.client.post(url, headers=s.auth("bob"))).status == 404
            res = await s.client.post(url, headers=s.auth("alice"))
            assert res.status == 202 and (await res.json())["state"] == "pending"
            d = await settled(s, "webhook")
            assert d["state"] == "failed" and d["attempts"] == 4 and len(calls) == 4
            again = await s.client.get(f"{API}/deliveries/{d['delivery_id']}", headers=s.auth("alice"))
            assert (await again.json())["attempts"] == 4

    run(main)


def test_pending_deliveries_survive_a_restart(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"

    async def first() -> None:  # nobody listens: attempts fail, the service stops mid-way
        async with service(tmp_path, hook_sections(attempts=50, backoff_s=0.2, backoff_max_s=0.2)) as s:
            await class_session_with_report(s, webhook_url=url)
            await until(lambda: s.db.deliveries()[0][0].attempts >= 1)
            assert s.db.deliveries()[0][0].state == "pending"

    async def second() -> None:
        calls: list[bytes] = []

        async def hook(request: web.Request) -> web.Response:
            calls.append(await request.read())
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/hook", hook)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        try:
            async with service(tmp_path, hook_sections()) as s:
                d = await settled(s, "webhook")
                assert d["state"] == "delivered" and len(calls) == 1 and d["attempts"] >= 2
        finally:
            await server.close()

    run(first)
    run(second)


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/api/v1/classes", "http://localhost:{port}/x",
                                    "http://[::1]:{port}/x", "http://0.0.0.0:{port}/"])
def test_webhooks_pointing_back_at_the_service_are_refused(tmp_path: Path, target: str) -> None:
    async def main() -> None:
        async with service(tmp_path, hook_sections()) as s:
            url = target.format(port=s.client.server.port)
            res = await s.client.post(f"{API}/classes", json={"name": "Loop", "webhook_url": url},
                                      headers=s.auth("alice"))
            assert res.status == 422, await res.text()
            assert (await res.json())["error"]["fields"][0]["field"] == "webhook_url"
            ok = await s.client.post(f"{API}/classes", json={"name": "Elsewhere",
                                                             "webhook_url": f"http://127.0.0.1:{free_port()}/h"},
                                     headers=s.auth("alice"))
            assert ok.status == 201

    run(main)


@pytest.mark.parametrize(("sections", "url", "needle"), [
    ({}, "http://hooks.example/x", "webhook_secret"),
    (hook_sections(), "ftp://hooks.example/x", "http(s)"),
    (hook_sections(), "http://user:pw@hooks.example/x", "credentials"),
])
def test_bad_webhook_settings(tmp_path: Path, sections: dict[str, Any], url: str, needle: str) -> None:
    async def main() -> None:
        async with service(tmp_path, sections) as s:
            res = await s.client.post(f"{API}/classes", json={"name": "X", "webhook_url": url}, headers=s.auth("alice"))
            assert res.status == 422 and needle in await res.text()

    run(main)


def test_a_class_the_bot_could_not_record_is_told_to_its_owner_at_once(tmp_path: Path) -> None:
    # The meeting never lets the bot in: no report, but the teacher hears of it (e-mail, real SMTP
    # server) and the webhook gets a signed `session.failed` notice, both right away.
    inbox = Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()

    async def main() -> dict[str, Any]:
        async with receiver(fail_first=0) as (server, calls):
            sections = hook_sections(smtp_host="127.0.0.1", smtp_port=port)
            async with service(tmp_path, sections, join_timeout_s=0.3) as s:
                s.meetings.room("r9").admit = False  # a waiting room that never opens
                res = await s.client.post(f"{API}/classes", json={
                    "name": "Art 9", "meeting_url": "fake:r9", "email": "rivera@school.example",
                    "webhook_url": str(server.make_url("/hook"))}, headers=s.auth("alice"))
                class_id = (await res.json())["class_id"]
                res = await s.client.post(f"{API}/sessions", json={"class_id": class_id}, headers=s.auth("alice"))
                sid = (await res.json())["session_id"]
                outcome = await s.manager.wait(sid)
                assert outcome is not None and outcome.state == "failed" and not outcome.reports
                mail, hook = await settled(s, "email"), await settled(s, "webhook")
                assert mail["state"] == hook["state"] == "delivered" and mail["event"] == "session.failed"
                assert "never_admitted" in mail["detail"] and mail["class_id"] == class_id
                payload = json.loads(calls[0]["body"])
                assert payload["type"] == "session.failed" and payload["session_id"] == sid
                assert payload["class_name"] == "Art 9" and "never_admitted" in payload["detail"]
                return payload

    try:
        run(main)
    finally:
        smtp.stop()
    [(_, rcpts, raw)] = inbox.messages
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert rcpts == ["rivera@school.example"] and "Art 9 was not recorded" in str(msg["Subject"])
    body = msg.get_body(("plain",))
    assert body is not None and "not the students' absence" in body.get_content()
    assert not list(msg.iter_attachments())


def test_a_missed_scheduled_run_is_told_to_the_owner_once(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from bot.service.missed_runs import ScheduleRecord as RunRecord
    from bot.service.state import schedules_key

    async def main() -> None:
        async with receiver(fail_first=0) as (server, calls), service(tmp_path, hook_sections()) as s:
            res = await s.client.post(f"{API}/classes", json={
                "name": "Art 9", "meeting_url": "fake:r1", "webhook_url": str(server.make_url("/hook"))},
                headers=s.auth("alice"))
            class_id = (await res.json())["class_id"]
            res = await s.client.post(f"{API}/schedules", json={"class_id": class_id, "cron": "0 9 * * mon",
                                                                "duration_min": 50}, headers=s.auth("alice"))
            schedule_id = (await res.json())["schedule_id"]
            runner = s.client.server.app[schedules_key]
            due = datetime(2030, 1, 7, 9, tzinfo=UTC)
            missed = RunRecord(schedule_id, due, "missed", "no_capacity", "8 bots already run")
            assert runner._record(missed) and not runner._record(missed)  # kept and told once
            runner._record(RunRecord(schedule_id, due, "moved", "dst_gap"))  # moved: it did run
            await until(lambda: len(s.db.deliveries()[0]) >= 1)  # the notice is queued by a task
            hook = await settled(s, "webhook")
            assert hook["state"] == "delivered" and hook["event"] == "run.missed"
            payload = json.loads(calls[0]["body"])
            assert payload["type"] == "run.missed" and payload["class_id"] == class_id
            assert "no_capacity" in payload["detail"] and payload["session_id"] is None
            assert len(calls) == 1

    run(main)


def test_a_class_no_worker_had_room_for_is_told_to_its_owner_and_the_admins(tmp_path: Path) -> None:
    # A cluster's `no_capacity` is for the administrators to fix (more workers, more capacity):
    # they hear of it by e-mail (real SMTP server) and webhook, besides the class's owner. Other
    # failures (a meeting that never admits the bot) stay the owner's alone.
    from analysis.store import Store
    from bot.config import Config
    from bot.db.records import ClassRecord, SessionRecord
    from bot.db.store import ServiceStore
    from bot.service.delivery import Deliveries
    from bot.sessions.runner import Outcome
    from tests.databases import database_url

    inbox = Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    store = Store(database_url(tmp_path))
    db = ServiceStore(store)
    now = "2026-11-26T09:00:00+00:00"

    async def main() -> None:
        async with receiver(fail_first=0) as (owner_hook, owner_calls), \
                receiver(fail_first=0) as (admin_hook, admin_calls):
            config = Config.model_validate(hook_sections(
                smtp_host="127.0.0.1", smtp_port=port, admin_emails=["ops@school.example", "head@school.example"],
                admin_webhook_url=str(admin_hook.make_url("/hook"))))
            db.add_class(ClassRecord(class_id="c1", name="Art 9", owner="alice", created_at=now,
                                     meeting_url="sim:?students=40", webhook_url=str(owner_hook.make_url("/hook"))))
            for sid in ("s-full", "s-closed"):
                db.add_session(SessionRecord(session_id=sid, owner="alice", class_name="Art 9", meeting="sim",
                                             state="failed", created_at=now, class_id="c1"))
            deliveries = Deliveries(config, db)
            await deliveries.session_ended("s-full", Outcome("s-full", "failed", "no_capacity", "no worker had room"))
            await deliveries.session_ended("s-closed", Outcome("s-closed", "failed", "never_admitted", "waiting room"))
            for _ in range(200):
                if not db.deliveries(state="pending")[0]:
                    break
                await asyncio.sleep(0.05)
            await deliveries.close()
            full = {d.delivery_id: d for d in db.deliveries(session_id="s-full")[0]}
            assert sorted(full) == ["evt-s-full-session.failed-admin-webhook",
                                    "evt-s-full-session.failed-admin1-email",
                                    "evt-s-full-session.failed-admin2-email",
                                    "evt-s-full-session.failed-webhook"], sorted(full)
            assert all(d.state == "delivered" for d in full.values()), full
            assert {d.owner for k, d in full.items() if "admin" in k} == {""}  # not in the teacher's list
            assert [d.kind for d in db.deliveries(session_id="s-closed")[0]] == ["webhook"]  # the owner's only
            assert len(owner_calls) == 2 and len(admin_calls) == 1
            payload = json.loads(admin_calls[0]["body"])
            assert payload["type"] == "session.failed" and payload["session_id"] == "s-full"
            assert payload["class_name"] == "Art 9" and payload["detail"].startswith("no_capacity")

    try:
        asyncio.run(main())
    finally:
        smtp.stop()
        store.close()
    assert sorted(r for _, rcpts, _ in inbox.messages for r in rcpts) == ["head@school.example", "ops@school.example"]
    msg = email.message_from_bytes(inbox.messages[0][2], policy=email.policy.default)
    assert "Art 9 was not recorded" in str(msg["Subject"])


@pytest.mark.parametrize(("setting", "value"), [("admin_emails", ["not an address"]),
                                                ("admin_webhook_url", "ftp://ops.example/hook")])
def test_bad_admin_addresses_are_refused_at_start(setting: str, value: Any) -> None:
    from pydantic import ValidationError

    from bot.config import Config

    with pytest.raises(ValidationError, match=setting):
        Config.model_validate({"delivery": {setting: value}})
