"""Both migration histories, from empty and from every released schema, with data kept.

Runs on SQLite, and on PostgreSQL when CLASSPULSE_TEST_DB=postgresql (`make test` does both).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from analysis import schema
from analysis.migrate import SchemaTooNew, current_revision
from analysis.records import Interruption, SessionInfo
from analysis.store import Store, StoreError
from bot.db import tables
from bot.db.records import SessionRecord
from bot.db.store import ServiceStore, SessionConflict
from tests import legacy_schema
from tests.databases import database_url


def _open(url: str) -> tuple[Store, ServiceStore]:
    store = Store(url)
    return store, ServiceStore(store)


def _columns(engine: sa.Engine) -> dict[str, set[str]]:
    insp = sa.inspect(engine)
    return {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}


def test_from_empty_the_tables_match_the_code(tmp_path: Path) -> None:
    store, _ = _open(database_url(tmp_path))
    try:
        found = _columns(store.engine)
        for table in (*schema.metadata.tables.values(), *tables.metadata.tables.values()):
            assert found[table.name] == {c.name for c in table.columns}, table.name
        assert "schema_version" not in found and "apscheduler_jobs" in found
        with store.engine.connect() as conn:
            assert current_revision(conn, schema.HISTORY) == "a004"
            assert current_revision(conn, tables.HISTORY) == "s011"
    finally:
        store.close()
    store, _ = _open(store.url)  # opening again is a no-op
    store.close()


@pytest.mark.parametrize("version", [1, 2])
def test_released_schema_upgrades_with_its_data(tmp_path: Path, version: int) -> None:
    url = database_url(tmp_path, f"v{version}")
    engine = sa.create_engine(url)
    legacy_schema.create(engine, version)
    with engine.begin() as conn:
        conn.execute(sa.insert(legacy_schema.sessions).values(
            session_id="s1", class_name="Old", teacher="t", started_at="2026-01-01T09:00:00+00:00", ended_at="",
            emotions_enabled=True, sampling="", source=""))
        conn.execute(sa.insert(legacy_schema.participants).values(session_id="s1", participant_id="p1",
                                                                  display_name="Ada", opted_out=False))
        conn.execute(sa.insert(legacy_schema.observations).values(session_id="s1", participant_id="p1", t=1.0,
                                                                  state="absent", quality=""))
        if version == 2:
            for sid, state in (("s1", "done"), ("s2", "joining"), ("s3", "joining")):
                conn.execute(sa.insert(legacy_schema.service_sessions).values(
                    session_id=sid, owner="alice", class_id="c1", class_name="Old", meeting="m", state=state,
                    failure="", detail="", created_at=f"2026-01-0{sid[1]}T00:00:00+00:00", ended_at=""))
            conn.execute(sa.insert(legacy_schema.classes).values(
                class_id="c1", name="Old", owner="alice", meeting_url="fake:x", email="", webhook_url="",
                created_at="2026-01-01"))
    engine.dispose()
    store, db = _open(url)
    try:
        assert store.session("s1").class_name == "Old" and store.session("s1").model_version == ""
        assert [p.display_name for p in store.participants("s1")] == ["Ada"]
        assert store.count_observations("s1") == 1
        store.add_interruption(Interruption("s1", "2026-01-01T09:10:00+00:00", "2026-01-01T09:40:00+00:00", "crash"))
        assert store.interruptions("s1")[0].reason == "crash"
        if version == 2:
            assert db.get_class("c1") is not None and db.session("s1").state == "done"  # type: ignore[union-attr]
            # Two sessions a crash left `joining` for one class: the newest stays open, the other is closed.
            assert db.session("s2").state == "interrupted"  # type: ignore[union-attr]
            assert db.session("s3").state == "joining"  # type: ignore[union-attr]
        else:
            assert db.sessions() == ([], 0)
        with store.engine.connect() as conn:
            assert not sa.inspect(conn).has_table("schema_version")
    finally:
        store.close()


def test_one_open_session_per_class_is_kept_by_the_database(tmp_path: Path) -> None:
    store, db = _open(database_url(tmp_path))
    try:
        def record(sid: str, state: str = "joining", class_id: str = "c1") -> SessionRecord:
            return SessionRecord(session_id=sid, owner="a", class_name="C", meeting="m", state=state,
                                 created_at=f"2026-01-01T00:00:0{sid[-1]}+00:00", class_id=class_id)

        db.add_session(record("s1"))
        with pytest.raises(SessionConflict):
            db.add_session(record("s2"))
        db.add_session(record("s3", class_id=""))  # sessions without a class are not limited
        db.add_session(record("s4", class_id=""))
        db.update_session("s1", state="done")
        db.add_session(record("s5"))  # the class is free again
    finally:
        store.close()


def test_attempts_fence_a_superseded_process(tmp_path: Path) -> None:
    from analysis.records import Observation, State
    from analysis.store import ObservationBuffer, Superseded

    store, db = _open(database_url(tmp_path))
    try:
        db.add_session(SessionRecord(session_id="s1", owner="a", class_name="C", meeting="m", state="in_class",
                                     created_at="2026-01-01T00:00:00+00:00"))
        store.create_session(SessionInfo("s1", "C"))
        first = db.begin_attempt("s1", "host:1:1", "2026-01-01T00:00:00+00:00")
        buf = ObservationBuffer(store, flush_s=3600, guard=lambda conn: db.fence(conn, "s1", first.number, "t1"))
        buf.add([Observation("s1", "p1", 1.0, State.ABSENT)])
        assert buf.flush() == 1 and db.attempts("s1")[0].heartbeat_at == "t1"
        second = db.begin_attempt("s1", "host:2:1", "2026-01-01T00:01:00+00:00")
        assert (first.number, second.number) == (1, 2)
        buf.add([Observation("s1", "p1", 2.0, State.ABSENT)])
        with pytest.raises(Superseded):
            buf.flush()
        assert store.count_observations("s1") == 1  # nothing of the old attempt got in
        assert not db.heartbeat("s1", 1, "t2") and db.heartbeat("s1", 2, "t2")
    finally:
        store.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    store, _ = _open(url)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version_service SET version_num = 's999'"))
    store.close()
    store = Store(url)
    try:
        with pytest.raises(SchemaTooNew, match="newer"):
            ServiceStore(store)
    finally:
        store.close()


def test_read_only_commands_do_not_create_a_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="nothing has been recorded"):
        Store(f"sqlite:///{tmp_path}/none/cp.db", create=False)
    assert not (tmp_path / "none").exists()
