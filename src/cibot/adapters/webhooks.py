"""The Standard Webhooks scheme: how CI proves that a build notification is really from it.

`POST /build-complete` is a path to production, so whoever can forge one request can ship any
image (TRUST T1). CI signs each notification with a shared secret and ci-bot checks it on the
raw body before looking at anything else. The scheme is Standard Webhooks
(https://www.standardwebhooks.com): three headers, `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.

- Replays (T2) are bounded by the timestamp window here; the caller makes `webhook-id`
  unique per project.
- Rotation (T15): `verify` takes several secrets, and the header may carry several
  signatures, so old and new secrets can both be live for a while.
- Leakage (T12): `WebhookVerificationError` messages are fixed phrases, safe to return to a
  client; they never carry a secret, a signature or header contents.

Where this differs from the reference library, on purpose: a secret without the `whsec_`
prefix is used as raw UTF-8 bytes (the reference library base64-decodes it too); timestamps
must be canonical base-10 integers; a `webhook-id` may not contain `.` or spaces, so that the
signed string `{id}.{timestamp}.{body}` has exactly one reading.

Stdlib only, no I/O, no clock: `now` is passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Mapping, Sequence

__all__ = [
    "DEFAULT_TOLERANCE",
    "ID_HEADER",
    "SECRET_PREFIX",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookVerificationError",
    "decode_secret",
    "headers",
    "sign",
    "signed_by",
    "verify",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix, not a secret
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
DEFAULT_TOLERANCE = 300  # seconds either side of now, as the spec recommends

_SIGNATURE_VERSION = "v1"
_MAX_SIGNATURE_HEADER_LENGTH = 4096  # room for dozens of v1 entries, bounded work
# Printable ASCII except space and ".", 1..256 characters.
_MSG_ID = re.compile(r"[!-\-/-~]{1,256}")
# Canonical non-negative base-10 integer, no sign, no leading zeros, at most 12 digits.
_TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,11}")


class WebhookVerificationError(Exception):
    """A request that does not carry a valid Standard Webhooks signature.

    The message is a fixed phrase that is safe to send back to the client.
    """


def decode_secret(secret: str) -> bytes:
    """The HMAC key for a configured secret; raises `ValueError` when it cannot be one.

    `whsec_<base64>` is decoded per the spec (missing `=` padding is tolerated); any other
    string is used as its UTF-8 bytes. The error message never repeats the secret.
    """
    if secret.startswith(SECRET_PREFIX):
        key = _decode_prefixed(secret[len(SECRET_PREFIX) :])
    else:
        key = secret.encode()
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _decode_prefixed(encoded: str) -> bytes:
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"webhook secret starts with {SECRET_PREFIX!r} but the rest is not valid base64"
        ) from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one message: `v1,<base64 HMAC-SHA256>`."""
    if not _MSG_ID.fullmatch(msg_id):
        raise ValueError("webhook id must be 1-256 printable ASCII characters, no '.' or space")
    if timestamp < 0:
        raise ValueError("webhook timestamp must not be negative")
    mac = _mac(decode_secret(secret), msg_id, str(timestamp), body)
    return f"{_SIGNATURE_VERSION},{base64.b64encode(mac).decode('ascii')}"


def headers(
    secret: str, body: bytes, msg_id: str | None = None, now: float | None = None
) -> dict[str, str]:
    """The three headers that authenticate `body`, for the CI client (`cibot notify`).

    `msg_id` defaults to a fresh `msg_<uuid hex>`; reuse an id only to retry the same body.
    """
    msg_id = f"msg_{uuid.uuid4().hex}" if msg_id is None else msg_id
    timestamp = int(time.time() if now is None else now)
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, msg_id, timestamp, body),
    }


def verify(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
) -> str:
    """The `webhook-id` of a correctly signed request, else `WebhookVerificationError`.

    Any of `secrets` may have signed it (rotation). Every problem with the request ends as
    `WebhookVerificationError`; only a bad configuration (no secret, an undecodable secret)
    raises `ValueError`, before the request is looked at.
    """
    if not _keys(secrets):
        raise ValueError("no webhook secret configured")
    return signed_by(secrets, headers, body, now, tolerance)[0]


def signed_by(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
) -> tuple[str, frozenset[str]]:
    """The `webhook-id` and which of `secrets` signed the request; else the one error.

    For a server that knows several secrets (one per project) and may look at the body only
    once it is signed: every candidate is tried on the raw bytes. No secret at all signs
    nothing (`WebhookVerificationError`); an undecodable secret raises `ValueError`.
    """
    keyed = dict(zip(secrets, _keys(secrets), strict=True))
    try:
        msg_id, matched = _verify(list(keyed.values()), headers, body, now, tolerance)
    except WebhookVerificationError:
        raise
    except Exception:
        # Belt and braces: whatever the input, the caller sees one error type (-> 401).
        raise WebhookVerificationError("malformed webhook request") from None
    return msg_id, frozenset(secret for secret, key in keyed.items() if key in matched)


def _keys(secrets: Sequence[str]) -> list[bytes]:
    if isinstance(secrets, str):
        raise TypeError("secrets must be a sequence of secrets, not one string")
    return [decode_secret(secret) for secret in secrets]


def _verify(
    keys: list[bytes], headers: Mapping[str, str], body: bytes, now: float, tolerance: int
) -> tuple[str, set[bytes]]:
    found = _find_headers(headers)
    msg_id = _checked(found, ID_HEADER, _MSG_ID)
    timestamp = _checked(found, TIMESTAMP_HEADER, _TIMESTAMP)
    if abs(int(timestamp) - now) > tolerance:
        raise WebhookVerificationError("timestamp outside the allowed window")
    offered = _offered_signatures(_required(found, SIGNATURE_HEADER))
    matched = _matching(keys, offered, msg_id, timestamp, body)
    if not matched:
        raise WebhookVerificationError("no matching signature")
    return msg_id, matched


def _find_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The three webhook headers, looked up case-insensitively; a name given twice is refused."""
    wanted = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
    found: dict[str, str] = {}
    for key, value in headers.items():
        # ASCII first: str.lower() maps e.g. the Kelvin sign to "k".
        if not (isinstance(key, str) and key.isascii()) or key.lower() not in wanted:
            continue
        name = key.lower()
        if name in found:
            raise WebhookVerificationError(f"duplicate {name} header")
        if not isinstance(value, str):
            raise WebhookVerificationError(f"invalid {name} header")
        found[name] = value
    return found


def _required(found: dict[str, str], name: str) -> str:
    value = found.get(name, "")
    if not value:
        raise WebhookVerificationError(f"missing {name} header")
    return value


def _checked(found: dict[str, str], name: str, syntax: re.Pattern[str]) -> str:
    value = _required(found, name)
    if not syntax.fullmatch(value):
        raise WebhookVerificationError(f"invalid {name} header")
    return value


def _offered_signatures(header: str) -> list[bytes]:
    """The decoded `v1` signatures of a header; other versions and junk entries are skipped."""
    if len(header) > _MAX_SIGNATURE_HEADER_LENGTH or not (
        header.isascii() and header.isprintable()
    ):
        raise WebhookVerificationError(f"invalid {SIGNATURE_HEADER} header")
    offered = []
    for entry in header.split(" "):
        version, comma, encoded = entry.partition(",")
        if version == _SIGNATURE_VERSION and comma:
            decoded = _decode_signature(encoded)
            if decoded is not None:
                offered.append(decoded)
    return offered


def _decode_signature(encoded: str) -> bytes | None:
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        return None


def _matching(
    keys: list[bytes], offered: list[bytes], msg_id: str, timestamp: str, body: bytes
) -> set[bytes]:
    """The keys that made one of the offered signatures (each compared in constant time)."""
    matched: set[bytes] = set()
    if not offered:
        return matched  # nothing to compare: no HMAC is worth computing
    for key in set(keys):
        expected = _mac(key, msg_id, timestamp, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            matched.add(key)
    return matched


def _mac(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()
