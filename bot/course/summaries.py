"""Writing a session's term summaries when it ends (`SessionRunner._finish` calls `keep_summaries`).

Every session that ends is kept for the term view, whatever its end: a recorded or interrupted
one with its students' digests (`analysis.summaries`), a failed one as "not recorded". A
session whose data the platform revoked keeps nothing. Writing replaces what an earlier try
wrote, so a retried end is harmless.
"""

from __future__ import annotations

from analysis.store import Store, StoreError
from analysis.summaries import SessionDigest, digest_session, status_of
from bot.db.records import SessionRecord


def keep_summaries(store: Store, record: SessionRecord, state: str, failure: str, written_at: str
                   ) -> SessionDigest | None:
    """Write the term summaries of an ended session; returns its digest (None: nothing kept)."""
    if failure == "revoked":
        return None
    sid = record.session_id
    status = status_of(state, len(store.interruptions(sid)))
    try:
        info = store.session(sid)
    except StoreError:  # never got into the class: nothing measured
        digest = SessionDigest(sid, record.class_id, record.class_name, record.started_at or record.created_at,
                               record.ended_at, "failed" if state == "failed" else status, written_at=written_at)
        store.write_summaries(digest, ())
        return digest
    digest, students = digest_session(info, store.participants(sid), store.observations(sid),
                                      class_key=record.class_id, status=status, written_at=written_at)
    if not digest.started_at:
        from dataclasses import replace

        digest = replace(digest, started_at=record.started_at or record.created_at)
    store.write_summaries(digest, students)
    return digest
