"""Helpers for the service tests: a configured app with fake meetings, tokens and a file-writing render."""

from __future__ import annotations

import asyncio
import io
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from pypdf import PdfWriter

from analysis.store import Store
from bot.config import Config
from bot.connectors.base import Connector
from bot.connectors.fake import FakeConnector, FakeMeeting
from bot.db.store import ServiceStore
from bot.service.app import create_app
from bot.service.auth import Role, create_token
from bot.service.state import db_key, manager_key, store_key
from bot.sim.fake_analyzer import RecordingAnalyzer
from reports.format import unique_stems
from tests.databases import database_url

_template: list[Path] = []


def migrated_url(tmp_path: Path) -> str:
    """`database_url(tmp_path)`, and on SQLite a copy of a database migrated once per test run: every
    service test would otherwise run both migration histories again (a tenth of a second each, several
    hundred tests). `test_migrations.py` migrates from empty and from old releases itself."""
    url = database_url(tmp_path)
    path = Path(url.removeprefix("sqlite:///"))
    if not url.startswith("sqlite:///") or path.exists():
        return url
    if not _template:
        folder = Path(tempfile.mkdtemp(prefix="classpulse-template-"))
        store = Store(f"sqlite:///{folder}/template.db")
        ServiceStore(store)
        store.close()
        _template.append(folder / "template.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template[0], path)
    return url


def make_config(tmp_path: Path, sections: dict[str, dict[str, Any]] | None = None, **session: float) -> Config:
    return Config.model_validate({
        "analysis": {"sample_interval_s": 0.05},
        "store": {"url": migrated_url(tmp_path), "flush_s": 0.1},
        "reports": {"out_dir": str(tmp_path / "reports")},
        "session": {"join_timeout_s": 2, "empty_timeout_s": 30, "nobody_timeout_s": 30, "media_timeout_s": 30,
                    **session},
        # The service suites run the bots in the `serve` process on either database; the cluster
        # (PostgreSQL workers) has its own tests (tests/test_cluster.py).
        "cluster": {"sessions": "embedded"},
        **(sections or {}),
    })


def pdf_bytes(text: str = "") -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    if text:
        writer.add_metadata({"/Title": text})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


@dataclass
class FilesRender:
    """Writes a class report and one student report, like reports.render does, without WeasyPrint."""

    calls: list[str] = field(default_factory=list)
    skip_pdf: bool = False  # a render that produced HTML only (delivery tests)

    rolls: dict[str, Any] = field(default_factory=dict)  # session id → the ClassRoll it was given

    def __call__(self, store: Store, session_id: str, out_dir: Path, formats: Sequence[str],
                 paper: str = "a4", *, roll: Any = None, opted_out: frozenset[str] = frozenset()) -> list[Path]:
        self.calls.append(session_id)
        self.rolls[session_id] = roll
        people = [p for p in store.participants(session_id) if not p.opted_out and p.participant_id not in opted_out]
        (out_dir / "students").mkdir(parents=True, exist_ok=True)
        not_seen = ", ".join(roll.not_seen) if roll is not None else ""
        (out_dir / "class.html").write_text("<h1>class " + ", ".join(p.display_name for p in people) + "</h1>"
                                            + (f"<p>not seen: {not_seen}</p>" if not_seen else ""))
        if not self.skip_pdf:
            (out_dir / "class.pdf").write_bytes(pdf_bytes(session_id))
        ordered = sorted(((p.participant_id, p.display_name) for p in people), key=lambda kv: (kv[1].casefold(), kv[0]))
        for pid, stem in unique_stems(ordered).items():  # named like reports.render names them
            (out_dir / "students" / f"{stem}.html").write_text(dict(ordered)[pid])
        return sorted(out_dir.rglob("*.*"))


@dataclass
class Meetings:
    """`fake:NAME` URLs → one FakeMeeting per name, created on first use."""

    rooms: dict[str, FakeMeeting] = field(default_factory=dict)

    def __call__(self, url: str, class_name: str) -> Connector:
        if not url.startswith("fake:"):
            raise ValueError(f"{url!r}: unsupported meeting URL")
        return FakeConnector(self.room(url.removeprefix("fake:")))

    def room(self, name: str) -> FakeMeeting:
        return self.rooms.setdefault(name, FakeMeeting())


@dataclass
class Service:
    client: TestClient[Any, Any]
    meetings: Meetings
    render: FilesRender
    config: Config
    tokens: dict[str, str]  # "admin", "alice", "bob" → bearer token

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    @property
    def store(self) -> Store:
        return self.client.server.app[store_key]

    @property
    def db(self) -> ServiceStore:
        return self.client.server.app[db_key]

    @property
    def manager(self) -> Any:
        return self.client.server.app[manager_key]


@asynccontextmanager
async def service(tmp_path: Path, sections: dict[str, dict[str, Any]] | None = None,
                  analyze_factory: Callable[[], Any] = RecordingAnalyzer, **session: float) -> AsyncIterator[Service]:
    config = make_config(tmp_path, sections, **session)
    meetings, render = Meetings(), FilesRender()
    app = create_app(config, connectors=meetings, analyze_factory=analyze_factory, render=render,
                     shutdown_timeout_s=10, pulse_interval_s=0.2)
    async with TestClient(TestServer(app)) as client:
        db = app[db_key]
        tokens = {"admin": create_token(db, "root", Role.ADMIN)[1],
                  "alice": create_token(db, "alice", Role.TEACHER)[1],
                  "bob": create_token(db, "bob", Role.TEACHER)[1]}
        yield Service(client, meetings, render, config, tokens)


def run(body: Callable[[], Any]) -> Any:
    return asyncio.run(body())


async def until(cond: Callable[[], bool], within_s: float = 5.0) -> None:
    for _ in range(int(within_s / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


class ThreadedService:
    """The service on a real socket, its event loop in a background thread (for requests, browsers)."""

    def __init__(self, tmp_path: Path, analyze_factory: Callable[[], Any] = RecordingAnalyzer,
                 pulse_interval_s: float = 0.5, sections: dict[str, dict[str, Any]] | None = None) -> None:
        from aiohttp import web

        self.config = make_config(tmp_path, sections)
        self.meetings = Meetings()
        self.app = create_app(self.config, connectors=self.meetings, analyze_factory=analyze_factory,
                              render=FilesRender(), shutdown_timeout_s=10, pulse_interval_s=pulse_interval_s)
        self.runner = web.AppRunner(self.app)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.base = ""

    def __enter__(self) -> ThreadedService:
        from aiohttp import web

        async def start() -> str:
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            port = self.runner.addresses[0][1]
            return f"http://127.0.0.1:{port}"

        self.thread.start()
        self.base = self.call(start())
        return self

    def call(self, coro: Any, timeout_s: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def soon(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run `fn` in the service's loop thread (fake meetings create tasks there)."""
        self.loop.call_soon_threadsafe(lambda: fn(*args, **kwargs))

    def token(self, name: str, role: Role = Role.TEACHER) -> str:
        return create_token(self.app[db_key], name, role)[1]

    def __exit__(self, *exc: object) -> None:
        self.call(self.runner.cleanup(), 60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
