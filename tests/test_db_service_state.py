"""Dashboard log-ins and schedule-run records kept in the service database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from analysis.store import Store
from bot.db.service_state import DbLoginSessions, DbScheduleRecords
from bot.db.store import ServiceStore
from bot.service.missed_runs import ScheduleRecord
from tests.databases import database_url


def test_log_ins_survive_a_restart_expire_and_end(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    now = [1000.0]
    store = Store(url)
    logins = DbLoginSessions(ServiceStore(store), lifetime_s=60, clock=lambda: now[0])
    a, b = logins.create("tok1"), logins.create("tok2")
    store.close()
    store = Store(url)  # another process (or the restarted service) reads the same log-ins
    again = DbLoginSessions(ServiceStore(store), lifetime_s=60, clock=lambda: now[0])
    try:
        assert again.token_of(a) == "tok1" and again.token_of(b) == "tok2"
        assert again.token_of("forged") is None and again.token_of("") is None
        again.end(a)
        assert again.token_of(a) is None and again.token_of(b) == "tok2"
        now[0] += 61
        assert again.token_of(b) is None  # expired
        with store.engine.connect() as conn:
            import sqlalchemy as sa
            ids = [r[0] for r in conn.execute(sa.text("SELECT id_sha256 FROM dashboard_logins"))]
        assert b not in ids and all(len(i) == 64 for i in ids)  # only hashes are kept
    finally:
        store.close()


def test_schedule_runs_are_kept_once_and_survive_a_restart(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    store = Store(url)
    records = DbScheduleRecords(ServiceStore(store))
    due = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    missed = ScheduleRecord("sch-1", due, "missed", "service_down", "the service was not running")
    assert records.add(missed) and not records.add(missed)  # once per (schedule, due time, kind)
    assert records.add(ScheduleRecord("sch-1", due, "moved", "dst_gap"))
    store.close()
    store = Store(url)
    try:
        kept = DbScheduleRecords(ServiceStore(store)).of("sch-1")
        assert [(r.kind, r.reason, r.due_at) for r in kept] == [("missed", "service_down", due),
                                                                ("moved", "dst_gap", due)]
        DbScheduleRecords(ServiceStore(store)).delete_schedule("sch-1")
        assert DbScheduleRecords(ServiceStore(store)).of("sch-1") == []
    finally:
        store.close()
