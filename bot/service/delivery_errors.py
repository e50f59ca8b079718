"""Which delivery failures are worth another attempt, and what a failure may say.

A missing signing secret, a deleted session, a missing PDF, an address the guard refuses
or a receiver answering 4xx will fail the same way next time: retrying them six times
only hides the problem for an hour. Those are `Permanent` and fail at once, visibly.
Connection failures, timeouts, 5xx, 408 and 429 are transient and are retried.

`describe` is what `last_error` shows. Every connection-level failure reads the same
("could not reach the receiver"), so the delivery list cannot be used to tell an open
port from a closed or filtered one.
"""

from __future__ import annotations

import aiohttp

from bot.service.urlguard import RefusedAddress

#: 4xx answers that mean "try again later" (RFC 9110 408, RFC 6585 429).
RETRYABLE_4XX = frozenset({408, 429})
UNREACHABLE = "could not reach the receiver (connection failed or timed out)"


class DeliveryFailed(Exception):
    """An attempt failed; another attempt may succeed."""


class Permanent(DeliveryFailed):
    """An attempt failed in a way that no retry can fix."""


class HttpStatus(DeliveryFailed):
    """The receiver answered with a non-2xx status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"webhook answered HTTP {status}")
        self.status = status


def permanent(exc: BaseException) -> bool:
    """True when retrying `exc` cannot help."""
    if isinstance(exc, Permanent | RefusedAddress):
        return True
    if isinstance(exc, HttpStatus):
        return 400 <= exc.status < 500 and exc.status not in RETRYABLE_4XX
    return False


def describe(exc: BaseException) -> str:
    """The `last_error` text: refusals and HTTP statuses say what happened; connection failures do not."""
    if isinstance(exc, DeliveryFailed | RefusedAddress):
        return str(exc)[:1000]
    if isinstance(exc, TimeoutError | aiohttp.ClientConnectionError | OSError):
        return UNREACHABLE
    return f"{type(exc).__name__}: {exc}"[:1000]
