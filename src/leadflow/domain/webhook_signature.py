"""Decides whether a webhook is authentic: HMAC-SHA256 over `"{timestamp}.{raw body}"` (I2, R13).

The same scheme signs what leadflow receives and what it sends. The signed text is the decimal
Unix timestamp, a dot, then the raw body bytes exactly as they travel, so a receiver verifies
before parsing and a replayed request with a new timestamp fails. Pure: the caller passes `now`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

PREFIX = "sha256="
SIGNATURE_HEADER = "X-Leadflow-Signature"
TIMESTAMP_HEADER = "X-Leadflow-Timestamp"
DELIVERY_HEADER = "X-Leadflow-Delivery"
EVENT_HEADER = "X-Leadflow-Event"


@dataclass(frozen=True)
class SignatureProblem:
    """Why a request is not authentic: the header at fault, a short message and how to fix it.

    `malformed` is true when a header is missing or unreadable (the request is broken), false when
    it is well formed but does not prove the sender (wrong secret, stale timestamp).
    """

    field: str
    error: str
    detail: str
    malformed: bool = False


SCHEME = (
    f"{SIGNATURE_HEADER} is 'sha256=' + hex(HMAC-SHA256(secret, '{{{TIMESTAMP_HEADER}}}.' + raw body)); "
    f"{TIMESTAMP_HEADER} is the Unix time in seconds when the request was signed"
)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return PREFIX + mac.hexdigest()


def unix_seconds(now: dt.datetime) -> int:
    """`now` as whole Unix seconds, the unit of the timestamp header."""
    return int(now.timestamp())


def verify(
    secrets: list[str],
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    now: dt.datetime,
    tolerance_seconds: int,
) -> SignatureProblem | None:
    """None when one of `secrets` signed this body within the tolerance, else what is wrong.

    Several secrets are accepted so that a source's secret can be rotated without downtime.
    The comparison is constant-time (`hmac.compare_digest`).
    """
    if not timestamp_header:
        return SignatureProblem(TIMESTAMP_HEADER, "timestamp header missing", SCHEME, malformed=True)
    try:
        timestamp = int(timestamp_header.strip())
    except ValueError:
        return SignatureProblem(TIMESTAMP_HEADER, "timestamp is not whole Unix seconds", SCHEME, malformed=True)
    if not signature_header:
        return SignatureProblem(SIGNATURE_HEADER, "signature header missing", SCHEME)
    given = signature_header.strip()
    if not given.startswith(PREFIX):
        return SignatureProblem(SIGNATURE_HEADER, "signature must start with 'sha256='", SCHEME)
    if not secrets:
        return SignatureProblem(SIGNATURE_HEADER, "no secret is configured for this source", "ask the operator")
    if not any(hmac.compare_digest(sign(s, timestamp, body), given) for s in secrets):
        return SignatureProblem(SIGNATURE_HEADER, "signature does not match", SCHEME)
    age = unix_seconds(now) - timestamp
    if age > tolerance_seconds:
        return SignatureProblem(
            TIMESTAMP_HEADER,
            f"timestamp is {age} s old; requests older than {tolerance_seconds} s are refused as replays",
            "sign every attempt afresh with the current time",
        )
    if age < -tolerance_seconds:
        return SignatureProblem(
            TIMESTAMP_HEADER,
            f"timestamp is {-age} s in the future (tolerance {tolerance_seconds} s)",
            "check the sender's clock",
        )
    return None
