"""Delivering a finished report: e-mail with the class PDF, and a signed webhook.

Every delivery is a row (`deliveries`) written before the first attempt, so none is lost:
attempts follow an exponential back-off (tenacity), each failure is recorded with its
error and is visible in the API; after the last attempt the row stays ``failed`` until
someone retries it (`POST /api/v1/deliveries/{id}/retry`). Rows still ``pending`` when the
service stops are resumed when it starts again.

The webhook's event id is the delivery id, stable across retries, so receivers can drop
duplicates. The body is signed: ``X-ClassPulse-Signature: sha256=HEX`` where HEX is
HMAC-SHA256(delivery.webhook_secret, f"{timestamp}.{body}") and the timestamp is sent as
``X-ClassPulse-Timestamp`` (receivers reject old timestamps against replay).

Webhook URLs go through `bot.service.urlguard` when a class is saved and again at every
call, where aiohttp connects only to addresses the guard passed (`GuardedResolver`), so a
DNS answer that changes in between cannot reach the intranet, the cloud metadata service or
this service itself. Permanent failures (`bot.service.delivery_errors`) are not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiosmtplib
from aiohttp.abc import AbstractResolver
from tenacity import AsyncRetrying, RetryError, retry_if_exception, stop_after_attempt, wait_exponential

from bot.config import Config
from bot.db.records import ClassRecord, DeliveryRecord, SessionRecord
from bot.db.store import ServiceStore
from bot.service import files
from bot.service.auth import now_iso
from bot.service.delivery_errors import HttpStatus, Permanent, describe, permanent
from bot.service.urlguard import Guard, GuardedResolver, Resolve, parse_networks, system_resolve
from bot.sessions.runner import Outcome

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-ClassPulse-Signature"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def check_webhook_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("webhook_url must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise ValueError("webhook_url must not carry credentials")
    return url


@dataclass
class Deliveries:
    config: Config
    db: ServiceStore
    own: set[tuple[str, int]] = field(default_factory=set)  # (ip, port) the service listens on
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    resolve: Resolve = system_resolve  # the guard's resolver (tests inject DNS answers)
    connect_resolver: AbstractResolver | None = None  # aiohttp's resolver under the guard (tests: rebinding)

    @property
    def guard(self) -> Guard:
        """The SSRF rule: public unicast or `delivery.allow_networks`, never this service (shares `own`)."""
        return Guard(parse_networks(self.config.delivery.allow_networks), self.own,
                     self.config.classroom.public_url, self.resolve)

    # -- creating ----------------------------------------------------------------------------
    async def session_ended(self, session_id: str, outcome: Outcome) -> None:
        """Session hook: the report when there is one; otherwise a notice that the class was not recorded."""
        if outcome.reports and outcome.state in ("done", "interrupted"):
            await self.report_ready(session_id, outcome)
        elif outcome.state in ("failed", "interrupted") and outcome.failure != "revoked":
            why = f"{outcome.failure}: {outcome.detail}" if outcome.failure else outcome.detail
            # no worker had room: the owner can do nothing about it, the administrators can
            await self.notice(session_id=session_id, event="session.failed", detail=why,
                              admins=outcome.failure == "no_capacity")

    async def run_not_recorded(self, schedule_id: str, class_id: str, due_at: str, reason: str, detail: str) -> None:
        """Schedule hook: a run that did not start (service down, past the grace time, no capacity)."""
        await self.notice(class_id=class_id, event="run.missed", detail=f"{due_at}: {reason}: {detail}",
                          key=f"{schedule_id}-{due_at}")

    async def notice(self, *, event: str, detail: str, session_id: str = "", class_id: str = "",
                     key: str = "", admins: bool = False) -> list[str]:
        """Tell the class's owner at once (its e-mail and/or webhook) that something was not recorded;
        with `admins`, also the administrators (`delivery.admin_emails`, `delivery.admin_webhook_url`)."""
        made = await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(self._notice_rows, event, detail, session_id, class_id, key, admins))
        for delivery_id in made:
            self.start(delivery_id)
        return made

    def _notice_rows(self, event: str, detail: str, session_id: str, class_id: str, key: str,
                     admins: bool = False) -> list[str]:
        session = self.db.session(session_id) if session_id else None
        cls = self.db.get_class(class_id or (session.class_id if session else ""))
        targets = [(kind, target, kind) for kind, target in self._targets(cls)] if cls is not None else []
        if admins:
            targets += self._admin_targets()
        made = []
        for kind, target, label in targets:
            # an administrator's notice has no owner: a teacher's delivery list does not show it
            owner = (cls.owner if cls is not None else "") if not label.startswith("admin") else ""
            delivery = DeliveryRecord(delivery_id=f"evt-{key or session_id}-{event}-{label}", session_id=session_id,
                                      owner=owner, kind=kind, target=target, state="pending",
                                      created_at=now_iso(), updated_at=now_iso(), event=event,
                                      class_id=cls.class_id if cls is not None else class_id, detail=detail[:1000])
            if self.db.add_delivery(delivery):
                made.append(delivery.delivery_id)
        return made

    def _admin_targets(self) -> list[tuple[str, str, str]]:
        """(kind, target, label in the delivery id) of each administrator address."""
        d = self.config.delivery
        found = [("email", address, f"admin{i + 1}-email")
                 for i, address in enumerate(d.admin_emails) if d.smtp_host]
        if d.admin_webhook_url:
            found.append(("webhook", d.admin_webhook_url, "admin-webhook"))
        return found

    def _targets(self, cls: ClassRecord) -> list[tuple[str, str]]:
        targets = []
        if cls.email and self.config.delivery.smtp_host:
            targets.append(("email", cls.email))
        if cls.webhook_url:
            targets.append(("webhook", cls.webhook_url))
        return targets

    async def report_ready(self, session_id: str, outcome: Outcome) -> None:
        """Session hook (once per session, when it ends): queue the deliveries of its reports.

        Interrupted sessions are delivered too: their partial report says what is missing.
        """
        if outcome.state not in ("done", "interrupted") or not outcome.reports:
            return
        loop = asyncio.get_running_loop()
        made = await loop.run_in_executor(None, self._create_rows, session_id)
        for delivery_id in made:
            self.start(delivery_id)

    def _create_rows(self, session_id: str) -> list[str]:
        session = self.db.session(session_id)
        cls = self.db.get_class(session.class_id) if session and session.class_id else None
        if session is None or cls is None:
            return []
        made = []
        for kind, target in self._targets(cls):
            delivery = DeliveryRecord(delivery_id=f"evt-{session_id}-{kind}", session_id=session_id,
                                      owner=session.owner, kind=kind, target=target, state="pending",
                                      created_at=now_iso(), updated_at=now_iso(), class_id=cls.class_id)
            if self.db.add_delivery(delivery):
                made.append(delivery.delivery_id)
        return made

    def start(self, delivery_id: str) -> None:
        if delivery_id in self.tasks and not self.tasks[delivery_id].done():
            return
        task = asyncio.ensure_future(self._run(delivery_id))
        self.tasks[delivery_id] = task
        task.add_done_callback(lambda _t: self.tasks.pop(delivery_id, None))

    async def resume(self) -> int:
        """Start every delivery left pending by the previous run of the service."""
        rows, _ = await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.db.deliveries(state="pending"))
        for r in rows:
            self.start(r.delivery_id)
        return len(rows)

    async def retry(self, delivery_id: str) -> None:
        await self._update(delivery_id, state="pending")
        self.start(delivery_id)

    async def close(self) -> None:
        """Stop trying; pending rows stay pending and resume at the next start."""
        tasks = list(self.tasks.values())
        for t in tasks:
            t.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- attempting --------------------------------------------------------------------------
    async def _run(self, delivery_id: str) -> None:
        loop = asyncio.get_running_loop()
        d = self.config.delivery
        retrying = AsyncRetrying(stop=stop_after_attempt(d.attempts),
                                 retry=retry_if_exception(lambda e: not permanent(e)),
                                 wait=wait_exponential(multiplier=d.backoff_s, max=d.backoff_max_s))
        try:
            async for attempt in retrying:
                with attempt:
                    row = await loop.run_in_executor(None, self.db.delivery, delivery_id)
                    if row is None:
                        return
                    try:
                        await asyncio.wait_for(self._send(row), d.timeout_s)
                    except Exception as exc:
                        error = describe(exc)
                        log.warning("delivery failed delivery_id=%s attempt=%d permanent=%s error=%s", delivery_id,
                                    row.attempts + 1, permanent(exc), f"{type(exc).__name__}: {exc}"[:500])
                        await self._update(delivery_id, attempts=row.attempts + 1, last_error=error)
                        raise
                    await self._update(delivery_id, attempts=row.attempts + 1, state="delivered", last_error="")
                    log.info("delivered delivery_id=%s kind=%s", delivery_id, row.kind)
        except RetryError:
            await self._update(delivery_id, state="failed")
            log.error("delivery gave up delivery_id=%s after %d attempts", delivery_id, d.attempts)
        except Exception as exc:
            if not permanent(exc):
                raise
            await self._update(delivery_id, state="failed")
            log.error("delivery failed permanently delivery_id=%s: %s", delivery_id, describe(exc))

    async def _update(self, delivery_id: str, *, state: str | None = None, attempts: int | None = None,
                      last_error: str | None = None) -> None:
        update = functools.partial(self.db.update_delivery, delivery_id, state=state, attempts=attempts,
                                   last_error=last_error, updated_at=now_iso())
        await asyncio.get_running_loop().run_in_executor(None, update)

    async def _send(self, row: DeliveryRecord) -> None:
        if row.kind == "email":
            await self._email(row)
        else:
            await self._webhook(row)

    def _session(self, session_id: str) -> SessionRecord:
        found = self.db.session(session_id)
        if found is None:
            raise Permanent(f"session {session_id} was deleted")
        return found

    async def _email(self, row: DeliveryRecord) -> None:
        if row.event != "report.ready":
            await self._notice_email(row)
            return
        loop = asyncio.get_running_loop()
        session = await loop.run_in_executor(None, self._session, row.session_id)
        folder = files.session_dir(self.config.reports.out_dir, row.session_id)
        pdf = folder / "class.pdf" if folder else None
        if pdf is None or not pdf.is_file():
            raise Permanent("class.pdf is missing")
        msg = EmailMessage()
        msg["From"] = self.config.delivery.mail_from
        msg["To"] = row.target
        msg["Subject"] = f"ClassPulse report: {session.class_name}"
        msg["Message-ID"] = f"<{row.delivery_id}@classpulse>"  # stable: retries are recognisable
        link = self._link(row.session_id, "class.pdf")
        msg.set_content(f"The engagement report of {session.class_name} ({row.session_id}) is attached."
                        + (f"\nAll reports: {link}" if link else ""))
        data = await loop.run_in_executor(None, Path(pdf).read_bytes)
        msg.add_attachment(data, maintype="application", subtype="pdf", filename="class.pdf")
        await self._smtp(msg)

    async def _notice_email(self, row: DeliveryRecord) -> None:
        cls = await asyncio.get_running_loop().run_in_executor(None, self.db.get_class, row.class_id)
        name = cls.name if cls else row.class_id
        msg = EmailMessage()
        msg["From"] = self.config.delivery.mail_from
        msg["To"] = row.target
        msg["Subject"] = f"ClassPulse: {name} was not recorded"
        msg["Message-ID"] = f"<{row.delivery_id}@classpulse>"
        what = {"session.failed": "The engagement-notes bot could not record this class",
                "run.missed": "A scheduled class was not recorded"}.get(row.event, row.event)
        msg.set_content(f"{what}: {name}.\n{row.detail}\n\nThis is not the students' absence: nothing was "
                        "recorded for this class." + (f"\nSession: {row.session_id}" if row.session_id else ""))
        await self._smtp(msg)

    async def _smtp(self, msg: EmailMessage) -> None:
        d = self.config.delivery
        await aiosmtplib.send(msg, hostname=d.smtp_host, port=d.smtp_port, username=d.smtp_username or None,
                              password=d.smtp_password.get_secret_value() or None, start_tls=d.smtp_starttls,
                              timeout=d.timeout_s)

    def _link(self, session_id: str, path: str) -> str:
        base = self.config.classroom.public_url.rstrip("/")
        return f"{base}/api/v1/reports/{session_id}/files/{path}" if base else ""

    async def _webhook(self, row: DeliveryRecord) -> None:
        secret = self.config.delivery.webhook_secret.get_secret_value()
        if not secret:
            raise Permanent("delivery.webhook_secret is not set")
        url = row.target
        guard = self.guard
        await guard.check_url(url)  # IP literals never reach the resolver: checked here
        loop = asyncio.get_running_loop()
        if row.event == "report.ready":
            session = await loop.run_in_executor(None, self._session, row.session_id)
            folder = files.session_dir(self.config.reports.out_dir, row.session_id)
            found = await loop.run_in_executor(None, files.list_files, folder) if folder else []
            payload: dict[str, Any] = {"id": row.delivery_id, "type": "report.ready", "created_at": row.created_at,
                       "session_id": row.session_id, "class_id": session.class_id,
                       "class_name": session.class_name, "state": session.state,
                       "reports": [{"path": p, "bytes": n, "url": f"/api/v1/reports/{row.session_id}/files/{p}"}
                                   for p, n in found]}
        else:  # a notice: nothing was recorded (never the students' absence)
            cls = await loop.run_in_executor(None, self.db.get_class, row.class_id)
            payload = {"id": row.delivery_id, "type": row.event, "created_at": row.created_at,
                       "session_id": row.session_id or None, "class_id": row.class_id,
                       "class_name": cls.name if cls else "", "detail": row.detail}
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-ClassPulse-Event-Id": row.delivery_id,
                   "X-ClassPulse-Timestamp": timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body),
                   "User-Agent": "ClassPulse-webhook/1"}
        timeout = aiohttp.ClientTimeout(total=self.config.delivery.timeout_s)
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(guard, self.connect_resolver), use_dns_cache=False,
                                         force_close=True)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector, trust_env=False) as http, \
                http.post(url, data=body, headers=headers, allow_redirects=False) as res:
            if not 200 <= res.status < 300:
                raise HttpStatus(res.status)
