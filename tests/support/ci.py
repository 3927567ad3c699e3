"""Signed CI requests, made the way `cibot notify` makes them, for tests that need to tamper."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from cibot.adapters import webhooks


def body_of(**fields: Any) -> bytes:
    return json.dumps({k: v for k, v in fields.items() if v is not None}).encode()


def post_build(
    base_url: str,
    secret: str,
    body: bytes,
    *,
    webhook_id: str | None = None,
    timestamp: float | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    signed = webhooks.headers(secret, body, msg_id=webhook_id, now=timestamp or time.time())
    signed["content-type"] = content_type
    signed.update(headers or {})
    return httpx.post(f"{base_url}/build-complete", content=body, headers=signed, timeout=30)
