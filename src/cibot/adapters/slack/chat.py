"""The Chat port on slack_sdk's AsyncWebClient.

slack_sdk retries only connection errors by default; here rate limits (honouring
`Retry-After`) and server errors are retried too, per the retry policy. What is left after
that becomes ChatUnavailable (try the job again later) or ChatRejected (Slack said no).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from cibot.adapters.retry import RetryPolicy
from cibot.adapters.slack.blocks import override_modal, reject_modal, render
from cibot.service.errors import ChatRejected, ChatUnavailable
from cibot.service.ports import MessageRef
from cibot.service.views import OverrideReasonModal, RejectReasonModal

TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)


def retry_handlers(policy: RetryPolicy) -> list[AsyncRetryHandler]:
    retries = max(policy.attempts - 1, 0)
    backoff = BackoffRetryIntervalCalculator(backoff_factor=policy.base_seconds)
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
        AsyncRateLimitErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
        AsyncServerErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
    ]


def web_client(token: str, api_url: str, policy: RetryPolicy, timeout: int = 10) -> AsyncWebClient:
    return AsyncWebClient(
        token=token, base_url=api_url, timeout=timeout, retry_handlers=retry_handlers(policy)
    )


def _retry_after(headers: Any) -> float | None:
    """Slack's `Retry-After` (seconds), when a rate limit outlasted the client's own retries."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    return float(value) if isinstance(value, str) and value.isdigit() else None


class SlackChat:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._client.api_call(method, json=kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            if error in TRANSIENT_ERRORS or exc.response.status_code >= 500:
                wait = _retry_after(exc.response.headers)
                raise ChatUnavailable(f"Slack {method}: {error}", retry_after=wait) from exc
            raise ChatRejected(f"Slack {method}: {error}") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ChatUnavailable(f"Slack {method}: {type(exc).__name__}") from exc
        data: dict[str, Any] = response.data if isinstance(response.data, dict) else {}
        return data

    async def post(self, channel: str, view: object) -> MessageRef:
        text, blocks = render(view)
        data = await self._call(
            "chat.postMessage", channel=channel, text=text, blocks=blocks, unfurl_links=False
        )
        return MessageRef(channel=str(data["channel"]), ts=str(data["ts"]))

    async def update(self, ref: MessageRef, view: object) -> None:
        text, blocks = render(view)
        await self._call("chat.update", channel=ref.channel, ts=ref.ts, text=text, blocks=blocks)

    async def post_dm(self, user: str, view: object) -> MessageRef:
        """Posting to a user id lands in the bot's DM with them; Slack answers its D… id."""
        return await self.post(user, view)

    async def reply(self, ref: MessageRef, view: object) -> MessageRef:
        text, blocks = render(view)
        data = await self._call(
            "chat.postMessage", channel=ref.channel, thread_ts=ref.ts, text=text, blocks=blocks
        )
        return MessageRef(channel=str(data["channel"]), ts=str(data["ts"]))

    async def post_ephemeral(self, channel: str, user: str, view: object) -> None:
        text, blocks = render(view)
        await self._call("chat.postEphemeral", channel=channel, user=user, text=text, blocks=blocks)

    async def open_modal(self, trigger_id: str, view: object) -> None:
        if isinstance(view, RejectReasonModal):
            payload = reject_modal(view)
        elif isinstance(view, OverrideReasonModal):
            payload = override_modal(view)
        else:
            raise TypeError(f"no modal for {type(view).__name__}")
        await self._call("views.open", trigger_id=trigger_id, view=payload)

    async def user_by_email(self, email: str) -> str | None:
        try:
            data = await self._call("users.lookupByEmail", email=email)
        except ChatRejected as exc:
            if "users_not_found" in str(exc):
                return None
            raise
        user = data.get("user") or {}
        return str(user["id"]) if user.get("id") else None

    async def group_members(self, group_id: str) -> frozenset[str]:
        data = await self._call("usergroups.users.list", usergroup=group_id)
        return frozenset(str(u) for u in data.get("users") or ())
