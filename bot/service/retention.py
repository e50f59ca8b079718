"""Retention: a daily job deletes sessions (observations, participants, reports) past `store.retention_days`,
and report access-log rows past `service.access_log_days` (default 365: an audit trail outlives the
30-day data it audits, and holds no student names, only participant ids).

It runs in the service's scheduler (job id ``retention``, 03:30 UTC, coalesced), so a
service that was down at that hour catches up once when it starts again. Sessions still
running are never touched.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from analysis.store import Store
from bot.config import Config
from bot.db.store import ServiceStore
from bot.service import files

log = logging.getLogger(__name__)


def expired(store: Store, db: ServiceStore, config: Config, now: datetime | None = None) -> tuple[list[str], str]:
    """The sessions past `retention_days` (whoever started them: CLI, demo, service, Zoom), and the cutoff.

    A session still open (another process may be running it) is never among them.
    """
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=config.store.retention_days)).isoformat()
    old = {s.session_id for s in store.sessions() if s.started_at and s.started_at < cutoff}
    rows, _ = db.sessions()
    old |= {r.session_id for r in rows if r.created_at < cutoff and r.final}
    still_open = {r.session_id for r in rows if not r.final}
    return sorted(old - still_open), cutoff


def purge(store: Store, db: ServiceStore, config: Config, running: set[str],
          now: datetime | None = None) -> list[str]:
    """Delete every session past `retention_days` (observations, participants, reports, deliveries)."""
    old, cutoff = expired(store, db, config, now)
    deleted = []
    for sid in sorted(set(old) - running):
        try:
            store.delete_session(sid)
        except LookupError:  # failed before class: only the service row exists
            store.delete_interruptions(sid)
        folder = files.session_dir(config.reports.out_dir, sid)
        if folder is not None:
            files.delete_folder(folder)
        db.delete_session(sid)
        for d in db.deliveries(session_id=sid)[0]:
            db.delete_delivery(d.delivery_id)
        deleted.append(sid)
    if deleted:
        log.info("retention deleted=%d cutoff=%s", len(deleted), cutoff)
    purge_access_log(db, config, now)
    return deleted


def purge_access_log(db: ServiceStore, config: Config, now: datetime | None = None) -> int:
    """Delete access-log rows older than `service.access_log_days`."""
    from bot.db.access_log import AccessLog

    cutoff = ((now or datetime.now(UTC)) - timedelta(days=config.service.access_log_days))
    n = AccessLog(db).purge(cutoff.replace(microsecond=0).isoformat())
    if n:
        log.info("retention access_log_deleted=%d cutoff=%s", n, cutoff.isoformat())
    return n
