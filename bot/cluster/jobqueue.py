"""The job queue: procrastinate 3 on the service's own PostgreSQL database.

One task, `classpulse.run_session`, carries a session id: whoever starts a class (the API,
the scheduler's leader, a Zoom webhook) records the session and defers the job; a
`classpulse worker` runs it through `SessionRunner.adopt`. Two engine features keep a
class to one bot before the database's own rules (one open session per class, the attempt
fence) have to: `queueing_lock` (one waiting job per class) and `lock` (one running job per
class). A job that cannot run here yet (`NoRoom`: the class does not fit this worker) or was
handed over (`HandedOver`: the worker got SIGTERM) goes back to the queue at once or after
`cluster.retry_s`; every other error fails the job (the session records what happened).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import procrastinate
import sqlalchemy as sa
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision

TASK = "classpulse.run_session"
QUEUE = "sessions"


class NoRoom(Exception):
    """This worker has no room for the class's expected students: another worker may have."""


class HandedOver(Exception):
    """The worker is stopping (SIGTERM): the class continues on another worker."""


class Requeue(BaseRetryStrategy):
    """Back to the queue for `NoRoom` (after `wait_s` to `2 × wait_s`) and `HandedOver` (at once);
    nothing else retries.

    The random part matters: the full worker that refused the class polls the queue every
    `wait_s` from the moment it refused, so with a fixed delay it polled again the instant the
    job was due, every time, and a worker with room (polling at another phase) never got the
    job: a class the cluster had room for failed as `no_capacity` (seen in `bench cluster`
    with 2 workers and 2 classes). With a random due time every polling worker has the same chance.
    """

    def __init__(self, wait_s: float = 1.0, jitter: Callable[[], float] = random.random) -> None:
        self.wait_s = wait_s
        self.jitter = jitter  # in [0, 1)

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, HandedOver):
            return RetryDecision(retry_at=dt.datetime.now(dt.UTC))
        if isinstance(exception, NoRoom):
            delay = self.wait_s * (1.0 + self.jitter())
            return RetryDecision(retry_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay))
        return None


def is_postgres(url: str) -> bool:
    return sa.engine.make_url(url).get_backend_name() == "postgresql"


def conninfo(url: str) -> str:
    """The libpq URI of a SQLAlchemy PostgreSQL URL (`postgresql+psycopg://…` → `postgresql://…`)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"the job queue needs a PostgreSQL store.url, not {parsed.get_backend_name()!r}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def class_lock(class_id: str, session_id: str) -> str:
    """The queue lock of a class (a session without a class locks on itself)."""
    return f"class:{class_id}" if class_id else f"session:{session_id}"


def make_app(url: str, *, retry_s: float = 1.0, run: Any = None) -> procrastinate.App:
    """The procrastinate app on `url`; `run(context, session_id, expected_students, enqueued_at)` is the
    worker's job body (None where jobs are only deferred: `serve`, the scheduler, the bench)."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(url),
                                                                     min_size=1, max_size=4))

    async def run_session(context: procrastinate.JobContext, session_id: str, expected_students: int,
                          enqueued_at: str) -> None:
        if run is None:
            raise RuntimeError("this process only defers sessions; run `classpulse worker`")
        await run(context, session_id, expected_students, enqueued_at)

    app.task(name=TASK, queue=QUEUE, pass_context=True, retry=Requeue(retry_s))(run_session)
    return app
