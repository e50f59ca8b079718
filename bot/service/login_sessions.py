"""Dashboard log-ins: a random session id in the cookie, mapped on the server to the API token's id.

The cookie used to hold the API token itself: anyone who saw it once (a shared computer,
a proxy log) held the token for good, and logging out did not end anything. Now the
cookie holds a 256-bit random id; the server keeps only SHA-256(id) → (token id,
expiry), so a copy of the table cannot be replayed as cookies. Logging out deletes the
entry (the cookie stops working at once, on every copy); revoking the API token ends its
log-ins too, because each request looks the token up again.

`LoginSessions` is the interface; `bot.db.service_state.DbLoginSessions` keeps them in the
service database (``dashboard_logins``), so they survive restarts and every API node shares
them. There is no in-memory version: a log-in held by one process would not work on another.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

LIFETIME_S = 12 * 3600.0


def csrf_for(session_id: str) -> str:
    """The form token of a log-in: bound to the session, useless without the cookie."""
    return hmac.new(session_id.encode(), b"classpulse-csrf", hashlib.sha256).hexdigest()[:32]


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
