"""`classpulse worker`: runs classes from the queue, as many as fit its capacity in students.

A worker is a procrastinate worker on the `sessions` queue whose one task runs a session
through `SessionRunner.adopt` (the one way to run a session). It takes a class only while
the class's `expected_students` fit what is left of `--capacity`; otherwise the job goes
back to the queue (`NoRoom`) for a worker with room. It also runs the cluster sweep
(`bot.cluster.sweep`), so a cluster of workers alone notices a dead member.

Signals: SIGTERM or SIGINT drains the worker. Each running class is handed over (the bot
leaves, its attempt ends as ``handover``, the session stays open, no report, no platform
"end stream") and its job goes straight back to the queue for another worker; then the
worker unregisters and exits 0. A worker that finds one of its attempts superseded (it was
declared dead while only stopped or cut off, and another worker took its classes) exits at
once with status 75 without touching the queue: its jobs belong to the other workers now,
and finishing them would mark a class done that another worker still runs. A supervisor
(systemd ``Restart=always``) starts it again fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable
from datetime import UTC, datetime

import procrastinate
from procrastinate.worker import Worker

from analysis.store import Store
from bot.cluster import sweep
from bot.cluster.classroom import WorkerClassroom
from bot.cluster.jobqueue import QUEUE, HandedOver, NoRoom, conninfo, make_app
from bot.cluster.live import publish_forever
from bot.config import Config
from bot.connectors.registry import Registry
from bot.db.store import ServiceStore
from bot.service.delivery import Deliveries
from bot.sessions.live import Render, render_reports
from bot.sessions.runner import SessionRunner
from bot.sessions.sampler import Analyze

log = logging.getLogger(__name__)

EXIT_FENCED = 75


class WorkerNode:
    def __init__(self, config: Config, capacity: int, *, analyze_factory: Callable[[], Analyze] | None = None,
                 render: Render | None = render_reports, name: str = "") -> None:
        self.config = config
        self.capacity = capacity
        self.analyze_factory = analyze_factory
        self.render = render
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.used = 0  # expected students of the classes running here
        self.draining = False
        self.worker: Worker | None = None
        self.runner: SessionRunner | None = None
        self._pause: asyncio.Future[None] | None = None

    async def run_job(self, context: procrastinate.JobContext, session_id: str, expected_students: int,
                      enqueued_at: str) -> None:
        """The job body: run the class here if it fits, until it ends, is handed over or is fenced."""
        runner = self.runner
        assert runner is not None
        if self.draining:
            raise HandedOver(session_id)
        if self.used + expected_students > self.capacity:
            self._pause_fetching()
            raise NoRoom(f"{expected_students} students do not fit: {self.used}/{self.capacity} taken")
        self.used += expected_students
        log.info("worker %s takes session %s (%d students, %d/%d taken)", self.name, session_id,
                 expected_students, self.used, self.capacity)
        try:
            try:
                await runner.adopt(session_id)
            except asyncio.CancelledError:  # the job was aborted: someone ended the class
                runner.leave(session_id, end_stream=True)
                running = runner.running.get(session_id)
                if running is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(running.task)
                raise
        finally:
            self.used -= expected_students
        if session_id in runner.superseded:
            self._fenced(session_id)
        if self.draining:
            record = await asyncio.get_running_loop().run_in_executor(None, runner.db.session, session_id)
            if record is not None and not record.final:
                raise HandedOver(session_id)

    def _pause_fetching(self) -> None:
        """After a class did not fit here: fetch nothing for a moment, so a worker with room takes it
        instead of this one bouncing it back again and again (both poll the queue every second).

        procrastinate 3.10 has no public way to pause a worker's fetching; its job semaphore is
        the gate of the fetch loop, so the free permits are held for `3 × cluster.retry_s`.
        Running jobs keep theirs. (The version is pinned; `tests/test_cluster.py` covers it.)"""
        sem = getattr(self.worker, "_job_semaphore", None)
        if sem is None or (self._pause is not None and not self._pause.done()):
            return
        self._pause = asyncio.ensure_future(self._hold(sem, 3 * self.config.cluster.retry_s))

    @staticmethod
    async def _hold(sem: asyncio.Semaphore, seconds: float) -> None:
        held = 0
        try:
            while not sem.locked():
                await sem.acquire()
                held += 1
            await asyncio.sleep(seconds)
        finally:
            for _ in range(held):
                sem.release()

    def _fenced(self, session_id: str) -> None:
        log.error("worker %s: session %s was taken over while this worker was unreachable; this worker's "
                  "classes belong to others now: exiting without writing (status %d)", self.name, session_id,
                  EXIT_FENCED)
        logging.shutdown()
        os._exit(EXIT_FENCED)

    def drain(self) -> None:
        """SIGTERM: hand every class over to another worker, then stop."""
        if self.draining:
            return
        self.draining = True
        running = list(self.runner.running) if self.runner else []
        log.warning("worker %s draining: handing over %d class(es)", self.name, len(running))
        for sid in running:
            assert self.runner is not None
            self.runner.hand_over(sid)
        if self.worker is not None:
            self.worker.stop()

    async def run(self) -> None:
        c = self.config.cluster
        loop = asyncio.get_running_loop()
        if self.analyze_factory is None:  # load TensorFlow and the models before taking any class
            await loop.run_in_executor(None, warm_analyser, self.config)
        store = await loop.run_in_executor(None, Store, self.config.store.url)
        try:
            db = await loop.run_in_executor(None, ServiceStore, store)
            deliveries = Deliveries(self.config, db)
            classroom = WorkerClassroom(self.config, db)
            runner = SessionRunner(self.config, store, db, Registry(self.config, classroom_host=classroom.host),
                                   analyze_factory=self.analyze_factory, render=self.render)
            runner.on_finished.append(deliveries.session_ended)
            self.runner = runner
            app = make_app(self.config.store.url, retry_s=c.retry_s, run=self.run_job)
            async with app.open_async():
                self.worker = Worker(app, queues=[QUEUE], name=self.name, concurrency=max(1, min(self.capacity, 200)),
                                     install_signal_handlers=False, update_heartbeat_interval=c.heartbeat_s,
                                     stalled_worker_timeout=c.stalled_after_s,
                                     fetch_job_polling_interval=max(c.retry_s, 1.0))
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, self.drain)
                publisher = asyncio.ensure_future(publish_forever(conninfo(self.config.store.url), runner, c.live_s))
                sweeper = asyncio.ensure_future(sweep.sweep_forever(
                    app, db, every_s=c.sweep_s, stalled_after_s=c.stalled_after_s,
                    join_timeout_s=self.config.session.join_timeout_s, fail=runner.fail,
                    now=lambda: datetime.now(UTC)))
                log.info("worker %s started: capacity %d students", self.name, self.capacity)
                try:
                    await self.worker.run()
                finally:
                    for side in (sweeper, publisher):
                        side.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await side
            await deliveries.close()
            await classroom.close()
        finally:
            await loop.run_in_executor(None, store.close)
        log.info("worker %s stopped", self.name)


def warm_analyser(config: Config) -> None:
    """Import TensorFlow and build one analyser (the models stay cached in the process), so a class
    taken later joins within `session.join_timeout_s` even on a busy machine."""
    from analysis.pipeline import Analyzer
    from bot.quiet import preload_tensorflow
    from bot.sessions.analyzer import settings_from

    preload_tensorflow()
    analyzer = Analyzer(settings_from(config))
    if config.analysis.emotions:
        _ = analyzer.classifier  # the emotion model stays cached for the process (shared_classifier)
    analyzer.close()
    log.info("analyser ready")


def run_worker(config: Config, capacity: int, **kwargs: object) -> int:
    from bot.cluster.jobqueue import is_postgres

    if not is_postgres(config.store.url):
        raise ValueError("classpulse worker needs a PostgreSQL store.url (with SQLite, `classpulse serve` "
                         "runs the sessions itself)")
    node = WorkerNode(config, capacity, **kwargs)  # type: ignore[arg-type]
    asyncio.run(node.run())
    return 0
