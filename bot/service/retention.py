"""Retention: a daily job deletes sessions (observations, participants, reports) past `store.retention_days`,
and the term view's summaries past `store.summary_retention_days` (their own, longer retention),
and class rosters (students' names, aliases, e-mails) past `store.roster_retention_days`,
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


def summary_cutoff(config: Config, now: datetime | None = None) -> str:
    """Term summaries of sessions that started before this are deleted (never sooner than the raw data)."""
    days = max(config.store.summary_retention_days, config.store.retention_days)
    return ((now or datetime.now(UTC)) - timedelta(days=days)).isoformat()


def purge_summaries(store: Store, config: Config, now: datetime | None = None) -> list[str]:
    """Delete the term summaries past `summary_retention_days`; returns the sessions they were of."""
    gone = store.purge_summaries_before(summary_cutoff(config, now))
    if gone:
        log.info("retention deleted term summaries of %d session(s)", len(gone))
    return gone


def roster_cutoff(config: Config, now: datetime | None = None) -> str:
    return ((now or datetime.now(UTC)) - timedelta(days=config.store.roster_retention_days)).isoformat()


def expired_rosters(db: ServiceStore, config: Config, now: datetime | None = None) -> tuple[dict[str, int], str]:
    """Classes whose roster was last uploaded before `roster_retention_days` ago → students on it."""
    cutoff = roster_cutoff(config, now)
    found: dict[str, int] = {}
    for cls in db.classes()[0]:
        rows = db.rosters.roster(cls.class_id)
        if rows and rows[0].uploaded_at < cutoff:
            found[cls.class_id] = len(rows)
    return found, cutoff


def purge_rosters(db: ServiceStore, config: Config, now: datetime | None = None) -> tuple[list[str], int]:
    """Roster retention: rosters past `store.roster_retention_days` (and their matches) go;
    returns (class ids, students deleted). Sessions keep their own, shorter retention."""
    classes, n = db.rosters.purge_before(roster_cutoff(config, now))
    if n:
        log.info("roster retention deleted=%d classes=%d", n, len(classes))
    return classes, n


def purge(store: Store, db: ServiceStore, config: Config, running: set[str],
          now: datetime | None = None) -> list[str]:
    """Delete every session past `retention_days` (observations, participants, reports, deliveries,
    roster matches) and every roster past `roster_retention_days`; the sessions' term summaries stay
    until `summary_retention_days` (`purge_summaries`, run here too). Returns the sessions deleted."""
    old, cutoff = expired(store, db, config, now)
    deleted = []
    for sid in sorted(set(old) - running):
        try:
            store.delete_session(sid, keep_summaries=True)
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
    purge_summaries(store, config, now)
    purge_rosters(db, config, now)
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
