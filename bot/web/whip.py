"""WHIP (RFC 9725) request rules, without HTTP or WebRTC: what a valid publish looks like.

The handlers in `bot.web.app` call these checks before any WebRTC object exists, so a
malformed or hostile request costs a few string operations and gets a clear 4xx.
"""

from __future__ import annotations

import re
import secrets

SDP = "application/sdp"
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,39}$")


class WhipError(Exception):
    """A request the endpoint refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


def check_code(code: str) -> str:
    if not CODE_RE.match(code):
        raise WhipError(404, "no such class")
    return code


def new_code() -> str:
    """A class code that is hard to guess (it is the only key to the classroom)."""
    return secrets.token_urlsafe(8).replace("_", "x").replace("-", "y")


def new_resource_id() -> str:
    return secrets.token_urlsafe(12)


def check_content_type(content_type: str) -> None:
    if content_type.split(";")[0].strip().lower() != SDP:
        raise WhipError(415, f"send the SDP offer as {SDP}")


def check_length(length: int | None, limit: int) -> None:
    if length is not None and length > limit:
        raise WhipError(413, f"the offer is larger than {limit} bytes")


def check_offer(body: bytes) -> str:
    """The offer as text, if it looks like an SDP offer that sends video with ICE and DTLS."""
    try:
        sdp = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WhipError(400, "the offer is not UTF-8 text") from None
    lines = [line.strip() for line in sdp.splitlines()]
    if not lines or lines[0] != "v=0":
        raise WhipError(400, "malformed SDP: it must start with v=0")
    media = [line for line in lines if line.startswith("m=")]
    if not any(m.startswith("m=video ") for m in media):
        raise WhipError(400, "the offer has no video")
    if not any(line.startswith("a=fingerprint:") for line in lines):
        raise WhipError(400, "malformed SDP: no DTLS fingerprint")
    if not any(line.startswith("a=ice-ufrag:") for line in lines):
        raise WhipError(400, "malformed SDP: no ICE credentials")
    return sdp


def check_name(name: str | None) -> str:
    shown = " ".join("".join(ch for ch in (name or "") if ch.isprintable()).split())
    if not shown:
        raise WhipError(400, "enter your name first (?name=…)")
    if len(shown) > 64:
        raise WhipError(400, "the name is longer than 64 characters")
    return shown
