"""Alembic, run from code: each store upgrades its own tables when it is opened.

Two migration histories share one database and never touch each other's tables: the
observation store's (`analysis/migrations`, version table ``alembic_version_analysis``)
and the service's (`bot/db/migrations`, ``alembic_version_service``). Keeping them apart
keeps the dependency direction (nothing in `analysis` knows the service) while a school
still runs one database.

Every revision is fixed DDL (never "create the current tables"), so a database created by
any released ClassPulse upgrades step by step. SQLite goes through Alembic's batch mode
(`render_as_batch`), which rebuilds a table where SQLite cannot ALTER it. Databases made
by the pre-Alembic runner (table ``schema_version``, versions 1 and 2) are stamped with the
revision that matches their version before upgrading. On PostgreSQL an advisory lock
serialises processes that start at the same moment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

LEGACY_TABLE = "schema_version"
_LOCK_KEY = 0x436C_5075  # "ClPu": one advisory lock for every ClassPulse migration


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer ClassPulse than this one."""


@dataclass(frozen=True)
class History:
    """One migration history: where its revisions live and which table records its head."""

    name: str
    script_location: Path
    version_table: str
    #: legacy `schema_version` value → the revision that database already has
    legacy: tuple[tuple[int, str], ...] = ()


def _alembic_config(history: History, conn: sa.Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(history.script_location))
    cfg.attributes["connection"] = conn
    cfg.attributes["version_table"] = history.version_table
    return cfg


def legacy_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table(LEGACY_TABLE):
        return 0
    row = conn.execute(sa.text(f"SELECT version FROM {LEGACY_TABLE}")).first()
    return int(row[0]) if row else 0


def current_revision(conn: sa.Connection, history: History) -> str | None:
    ctx = MigrationContext.configure(conn, opts={"version_table": history.version_table})
    return ctx.get_current_revision()


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def upgrade(engine: sa.Engine, history: History, target: str = "head") -> tuple[str | None, str | None]:
    """Bring `history`'s tables to `target`; returns (revision before, revision after)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    script = ScriptDirectory(str(history.script_location))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        cfg = _alembic_config(history, conn)
        before = current_revision(conn, history)
        if before is not None and not _known(script, before):
            raise SchemaTooNew(f"the database's {history.name} schema is at revision {before}, which this "
                               "ClassPulse does not know: it was upgraded by a newer version")
        if before is None:
            old = legacy_version(conn)
            known = [rev for version, rev in history.legacy if version <= old]
            stamp = known[-1] if old and known else None
            if stamp is not None:
                command.stamp(cfg, stamp)
                before = stamp
        command.upgrade(cfg, target)
        after = current_revision(conn, history)
    return before, after
