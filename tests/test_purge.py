"""Retention for every session, whatever started it: `classpulse purge` (and `serve` at start)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analysis.records import Observation, SessionInfo, State
from analysis.store import Store
from bot.cli.main import main
from bot.db.records import SessionRecord
from bot.db.store import ServiceStore
from tests.databases import database_url


def _seed(url: str) -> None:
    store = Store(url)
    db = ServiceStore(store)
    old = (datetime.now(UTC) - timedelta(days=40)).replace(microsecond=0).isoformat()
    new = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0).isoformat()
    for sid, when, state in (("cli-old", old, "done"), ("cli-new", new, "done"), ("open-old", old, "in_class")):
        db.add_session(SessionRecord(session_id=sid, owner="t", class_name="C", meeting="m", state=state,
                                     created_at=when, origin="cli"))
        store.create_session(SessionInfo(sid, "C", started_at=when))
        store.add_observations([Observation(sid, "p1", 1.0, State.ABSENT)])
    store.create_session(SessionInfo("demo-old", "Demo", started_at=old))  # a demo from before the runner
    store.close()


def test_purge_deletes_what_is_past_retention_whoever_started_it(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    url = database_url(tmp_path)
    _seed(url)
    base = ["--set", f"store.url={url}", "purge"]
    assert main([*base, "--dry-run"]) == 0
    out = capsys.readouterr()
    assert out.out.split() == ["cli-old", "demo-old"] and "would delete 2" in out.err
    assert main(base) == 0
    assert capsys.readouterr().out.split() == ["cli-old", "demo-old"]
    store = Store(url)
    try:
        assert {s.session_id for s in store.sessions()} == {"cli-new", "open-old"}  # an open one is kept
        assert ServiceStore(store).session("cli-old") is None
    finally:
        store.close()
    assert main(base) == 0 and capsys.readouterr().out == ""


def test_purge_without_a_store_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--set", f"store.url=sqlite:///{tmp_path}/none.db", "purge"]) == 0
    assert "nothing has been recorded" in capsys.readouterr().err and not (tmp_path / "none.db").exists()
