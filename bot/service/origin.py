"""Same-origin checks for cookie-authenticated form posts (login CSRF).

A cross-site page can make a visitor's browser post a form to ``/dashboard/login`` with
the *attacker's* token, logging the teacher into the attacker's account (login CSRF);
everything the teacher then does lands where the attacker reads it. Browsers send
``Origin`` on every POST (``Referer`` as a fallback), so a post whose Origin or Referer
names another site is refused. Posts with neither (old browsers, privacy proxies) are
covered by the double-submit token the login form carries (`bot.service.dashboard`).
"""

from __future__ import annotations

from urllib.parse import urlsplit


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-case, default ports dropped ("" when not a URL)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    default = 443 if parts.scheme == "https" else 80
    try:
        port = parts.port
    except ValueError:
        return ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def cross_site(origin: str | None, referer: str | None, allowed: set[str]) -> str | None:
    """Why the post is refused (the foreign origin), or None when it is same-origin or says nothing."""
    if origin is not None and origin.strip():
        if origin.strip() == "null":
            return "an opaque origin (null)"
        return None if origin_of(origin) in allowed else f"origin {origin_of(origin) or origin.strip()[:100]}"
    if referer:
        return None if origin_of(referer) in allowed else f"referer origin {origin_of(referer) or '?'}"
    return None
