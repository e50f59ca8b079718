"""Dashboard log-ins: a random session id in the cookie, mapped on the server to the API token's id.

The cookie used to hold the API token itself: anyone who saw it once (a shared computer,
a proxy log) held the token for good, and logging out did not end anything. Now the
cookie holds a 256-bit random id; the server keeps only SHA-256(id) → (token id,
expiry), so a copy of the table cannot be replayed as cookies. Logging out deletes the
entry (the cookie stops working at once, on every copy); revoking the API token ends its
log-ins too, because each request looks the token up again.

`LoginSessions` is the interface; `MemoryLoginSessions` keeps them in this process (lost
on restart: people log in again). The service store will hold them in a table
``dashboard_sessions(id_sha256 PK, token_id FK api_tokens, created_at, expires_at)``
so several API nodes share them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

LIFETIME_S = 12 * 3600.0


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_for(session_id: str) -> str:
    """The form token of a log-in: bound to the session, useless without the cookie."""
    return hmac.new(session_id.encode(), b"classpulse-csrf", hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class LoginSession:
    token_id: str
    created_at: float
    expires_at: float


class LoginSessions(Protocol):
    def create(self, token_id: str) -> str:
        """A new log-in for `token_id`; returns the id to put in the cookie."""
        ...

    def token_of(self, session_id: str) -> str | None:
        """The token id of a live log-in, or None (unknown, expired or logged out)."""
        ...

    def end(self, session_id: str) -> None:
        """Log out: the id stops working at once."""
        ...


class MemoryLoginSessions:
    """In-process log-ins with an absolute lifetime; expired ones are dropped as they are met."""

    def __init__(self, lifetime_s: float = LIFETIME_S, clock: Callable[[], float] = time.time,
                 max_sessions: int = 100_000) -> None:
        self.lifetime_s = lifetime_s
        self.max_sessions = max_sessions
        self._clock = clock
        self._by_key: dict[str, LoginSession] = {}

    def create(self, token_id: str) -> str:
        now = self._clock()
        if len(self._by_key) >= self.max_sessions:
            self._purge(now)
            if len(self._by_key) >= self.max_sessions:  # the oldest log-in makes room
                self._by_key.pop(min(self._by_key, key=lambda k: self._by_key[k].created_at))
        session_id = secrets.token_urlsafe(32)
        self._by_key[_key(session_id)] = LoginSession(token_id, now, now + self.lifetime_s)
        return session_id

    def token_of(self, session_id: str) -> str | None:
        if not session_id:
            return None
        key = _key(session_id)
        found = self._by_key.get(key)
        if found is None:
            return None
        if self._clock() >= found.expires_at:
            del self._by_key[key]
            return None
        return found.token_id

    def end(self, session_id: str) -> None:
        self._by_key.pop(_key(session_id), None)

    def _purge(self, now: float) -> None:
        for k in [k for k, v in self._by_key.items() if now >= v.expires_at]:
            del self._by_key[k]

    def __len__(self) -> int:
        return len(self._by_key)
