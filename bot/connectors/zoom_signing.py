"""Zoom's HMAC signatures: webhook requests, the URL-validation challenge, RTMS streams.

Three different things are signed with HMAC-SHA256 (hex digests), each with its own secret:

- Webhook requests Zoom sends us: ``x-zm-signature = "v0=" + HMAC(webhook secret token,
  "v0:{x-zm-request-timestamp}:{raw body}")``. Checking it is what stops anybody on the
  internet from starting sessions on our server.
- The ``endpoint.url_validation`` challenge, with which Zoom checks that the endpoint is
  ours: ``encryptedToken = HMAC(webhook secret token, plainToken)``.
- The RTMS stream handshakes we send to Zoom: ``signature = HMAC(client secret,
  "{client_id},{meeting_uuid},{rtms_stream_id}")``.

Pure functions, no I/O; comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac


def _hex_hmac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def webhook_signature(secret: str, timestamp: str, body: bytes | str) -> str:
    """The ``x-zm-signature`` header Zoom computes for a request body."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return "v0=" + _hex_hmac(secret, f"v0:{timestamp}:{text}")


def verify_webhook(secret: str, timestamp: str | None, body: bytes, signature: str | None,
                   *, now: float | None = None, max_age_s: float = 300.0) -> bool:
    """True when the request was signed with our secret and is recent (replay protection)."""
    if not secret or not timestamp or not signature:
        return False
    if now is not None:
        try:
            ts = float(timestamp)
        except ValueError:
            return False
        if ts > 1e11:  # Zoom sends seconds; tolerate milliseconds
            ts /= 1000.0
        if abs(now - ts) > max_age_s:
            return False
    return hmac.compare_digest(webhook_signature(secret, timestamp, body), signature)


def url_validation_reply(secret: str, plain_token: str) -> dict[str, str]:
    """The JSON body answering Zoom's ``endpoint.url_validation`` challenge."""
    return {"plainToken": plain_token, "encryptedToken": _hex_hmac(secret, plain_token)}


def stream_signature(client_id: str, client_secret: str, meeting_uuid: str, rtms_stream_id: str) -> str:
    """The ``signature`` field of RTMS signalling and media handshakes."""
    return _hex_hmac(client_secret, f"{client_id},{meeting_uuid},{rtms_stream_id}")


def same(a: str, b: str) -> bool:
    """Constant-time string equality (for the fake Zoom side checking our signatures)."""
    return hmac.compare_digest(a.encode(), b.encode())
