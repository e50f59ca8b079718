"""Any API node serves any report: reports missing on this node are rendered on demand from the store.

A worker renders a session's reports where the session ends, into its own `reports.out_dir`,
and delivers them from there. Everything a report shows is in the database (observations,
participants, interruptions, the model and settings the session ran with), so an API node
that lacks the files renders them again from the store the first time they are asked for
and keeps them as its local copy; the same data gives the same report. Chosen over storing
files in the database: no large blobs in every backup and no second copy to keep in step
after an opt-out re-render. Rendering goes to a temporary folder renamed into place, so two
requests at once never serve half a report.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from pathlib import Path

from analysis.store import Store, StoreError
from bot.config import Config
from bot.db.records import SessionRecord
from bot.service import files
from bot.sessions.live import Render

log = logging.getLogger(__name__)

REPORTED = ("done", "interrupted")


def ensure_rendered(store: Store, config: Config, render: Render | None, record: SessionRecord) -> Path | None:
    """The session's report folder on this node, rendered from the store first if it is missing here.

    Only in a cluster (`Config.queued_sessions`) and only for sessions that ended with data;
    synchronous (rendering takes seconds): run it off the event loop."""
    folder = files.session_dir(config.reports.out_dir, record.session_id)
    if folder is None or files.list_files(folder) or render is None:
        return folder
    if not config.queued_sessions or record.state not in REPORTED:
        return folder
    try:
        store.session(record.session_id)
    except StoreError:
        return folder  # no data: nothing to render
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{record.session_id}-", dir=folder.parent))
    try:
        render(store, record.session_id, tmp, config.reports.formats, config.reports.paper.lower())
        with contextlib.suppress(OSError):  # another request got there first: keep its copy
            tmp.rename(folder)
        log.info("rendered the reports of %s on demand on this node", record.session_id)
    except Exception:
        log.exception("rendering the reports of %s on demand failed", record.session_id)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
