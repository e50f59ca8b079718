"""Per-address rate limits of the service, counted in the database (`DbRateLimiter`) so that
every API node enforces one shared budget.

- WHIP offers: `classroom.offers_per_minute_per_client` per client address (0: off; the
  benchmark publishes every simulated student from one address and turns it off). The
  classroom's pending-offer cap (`classroom.max_pending_per_client`) stays per process on
  purpose: it bounds the peer connections this process holds, which no other node can see
  or close.
- Dashboard log-ins: `service.login_attempts_per_minute` *failed* attempts per client
  address; a successful log-in clears the count.

The client address is the one `bot.web.proxies` settled on (trusted proxies only).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from bot.db.service_state import DbRateLimiter

WINDOW_S = 60.0


@dataclass(frozen=True)
class OfferLimiter:
    """The classroom's WHIP offer limit (`bot.web.app.offer_limiter_key`)."""

    limiter: DbRateLimiter
    per_minute: int

    async def __call__(self, client: str) -> int | None:
        """Seconds to wait before the next offer from `client`, or None when it may go ahead."""
        if self.per_minute <= 0:
            return None
        wait = await asyncio.get_running_loop().run_in_executor(
            None, self.limiter.hit, f"whip:{client}", self.per_minute, WINDOW_S)
        return None if wait is None else max(1, math.ceil(wait))


async def login_refused(limiter: DbRateLimiter, client: str, per_minute: int) -> int | None:
    """Seconds to wait when `client` has used up its failed log-ins this minute, else None."""
    if per_minute <= 0:
        return None
    wait = await asyncio.get_running_loop().run_in_executor(None, limiter.peek, f"login:{client}", per_minute,
                                                            WINDOW_S)
    return None if wait is None else max(1, math.ceil(wait))


async def login_failed(limiter: DbRateLimiter, client: str, per_minute: int) -> None:
    if per_minute > 0:
        await asyncio.get_running_loop().run_in_executor(None, limiter.hit, f"login:{client}", per_minute, WINDOW_S)


async def login_succeeded(limiter: DbRateLimiter, client: str) -> None:
    await asyncio.get_running_loop().run_in_executor(None, limiter.clear, f"login:{client}")
