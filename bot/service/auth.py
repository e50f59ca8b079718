"""API tokens with roles: ``cp_<id>_<secret>``, of which only SHA-256(secret) is stored.

The id part lets the lookup use the primary key; the secret is then compared with
`hmac.compare_digest`, so response time does not depend on how much of it was right.
A teacher's token carries the teacher's name, which is the owner of every class and
session it creates; admins see everything.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.db.records import TokenRecord
from bot.db.store import ServiceStore
from bot.service.names import check_typed

TOKEN_RE = re.compile(r"^cp_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class Role(StrEnum):
    ADMIN = "admin"
    TEACHER = "teacher"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id, its owner name and role."""

    token_id: str
    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def owner_filter(self) -> str | None:
        """The owner to restrict queries to (None: admins see every teacher's data)."""
        return None if self.is_admin else self.name

    def may_see(self, owner: str) -> bool:
        return self.is_admin or hmac.compare_digest(owner.encode(), self.name.encode())


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def create_token(db: ServiceStore, name: str, role: Role) -> tuple[str, str]:
    """A new token; returns (token_id, the full token — shown once, never stored)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValueError("a token needs a name of 1-200 characters")
    check_typed(name)
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    db.add_token(TokenRecord(token_id=token_id, name=name, role=role.value, secret_sha256=_digest(secret),
                             created_at=now_iso()))
    return token_id, f"cp_{token_id}_{secret}"


def revoke_token(db: ServiceStore, token_id: str) -> bool:
    return db.revoke_token(token_id, now_iso())


def list_tokens(db: ServiceStore) -> list[dict[str, Any]]:
    return [{k: v for k, v in asdict(r).items() if k != "secret_sha256"} for r in db.tokens()]


def principal_for(db: ServiceStore, token_id: str) -> Principal | None:
    """The principal of a token id (a dashboard log-in), or None when unknown or revoked."""
    row = db.token(token_id)
    if row is None or row.revoked_at:
        return None
    return Principal(row.token_id, row.name, Role(row.role))


def authenticate(db: ServiceStore, token: str) -> Principal | None:
    """The principal for a presented token, or None (malformed, unknown, revoked or wrong secret)."""
    m = TOKEN_RE.match(token)
    if m is None:
        return None
    row = db.token(m.group(1))
    if row is None or row.revoked_at:
        return None
    if not hmac.compare_digest(row.secret_sha256, _digest(m.group(2))):
        return None
    return Principal(row.token_id, row.name, Role(row.role))
