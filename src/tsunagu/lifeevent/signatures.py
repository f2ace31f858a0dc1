"""The HMAC header of life-event webhooks, for the sender and for a receiving company.

Kept free of the platform's imports so a receiver (or the sample one in
:mod:`tsunagu.lifeevent.receiver`) can check notices without loading it.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Tsunagu-Signature"
SEAL_HEADER = "X-Tsunagu-Seal"
NOTICE_HEADER = "X-Tsunagu-Notice-Id"


def hmac_header(secret: bytes, body: bytes, timestamp: int) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_hmac(
    secret: bytes, body: bytes, header: str, *, now: float, tolerance: int = 300
) -> bool:
    """What a receiving company does with the header: right key, right body, recent enough."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = hmac_header(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
