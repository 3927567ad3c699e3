"""The Chat port on slack_sdk's AsyncWebClient.

slack_sdk retries only connection errors by default; here rate limits (honouring
`Retry-After`) and server errors are retried too, per the retry policy. What is left after
that becomes ChatUnavailable (try the job again later) or ChatRejected (Slack said no).
"""

from __future__ import annotations

from datetime import datetime
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

from cibot.adapters.retry import RetryPolicy, retry_after_seconds
from cibot.adapters.slack.blocks import override_modal, reject_modal, render
from cibot.service.errors import ChatRejected, ChatUnavailable
from cibot.service.ports import MessageRef
from cibot.service.views import OverrideReasonModal, RejectReasonModal

METADATA_EVENT = "cibot_post"  # the metadata event type of every message ci-bot posts
HISTORY_LIMIT = 200
CLOCK_SKEW_SECONDS = 60  # look a little before the post was begun, in case clocks differ

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


def web_client(
    token: str,
    api_url: str,
    policy: RetryPolicy,
    timeout: int = 10,
    session: aiohttp.ClientSession | None = None,
) -> AsyncWebClient:
    """The SDK client. Give it a `session` in a long-lived process: without one, the SDK opens
    (and closes) a new connection for every call, a TLS handshake to Slack each time."""
    return AsyncWebClient(
        token=token,
        base_url=api_url,
        timeout=timeout,
        retry_handlers=retry_handlers(policy),
        session=session,
    )


def _retry_after(headers: Any) -> float | None:
    """Slack's `Retry-After` (seconds), when a rate limit outlasted the client's own retries."""
    headers = headers or {}
    return retry_after_seconds(headers.get("Retry-After") or headers.get("retry-after"))


def _metadata(key: str | None) -> dict[str, Any]:
    """Message metadata naming the store's slot of the message, so it can be found again."""
    if key is None:
        return {}
    return {"metadata": {"event_type": METADATA_EVENT, "event_payload": {"key": key}}}


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

    async def post(self, channel: str, view: object, key: str | None = None) -> MessageRef:
        text, blocks = render(view)
        data = await self._call(
            "chat.postMessage",
            channel=channel,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            **_metadata(key),
        )
        return MessageRef(channel=str(data["channel"]), ts=str(data["ts"]))

    async def update(self, ref: MessageRef, view: object) -> None:
        text, blocks = render(view)
        await self._call("chat.update", channel=ref.channel, ts=ref.ts, text=text, blocks=blocks)

    async def post_dm(self, user: str, view: object, key: str | None = None) -> MessageRef:
        """Posting to a user id lands in the bot's DM with them; Slack answers its D… id."""
        return await self.post(user, view, key)

    async def reply(self, ref: MessageRef, view: object, key: str | None = None) -> MessageRef:
        text, blocks = render(view)
        data = await self._call(
            "chat.postMessage",
            channel=ref.channel,
            thread_ts=ref.ts,
            text=text,
            blocks=blocks,
            **_metadata(key),
        )
        return MessageRef(channel=str(data["channel"]), ts=str(data["ts"]))

    async def find_posted(
        self, where: str, key: str, since: datetime, thread: MessageRef | None = None
    ) -> MessageRef | None:
        """Look for the bot's message with `key` in its metadata (history scopes needed)."""
        try:
            if thread is not None:
                channel = thread.channel
                data = await self._call(
                    "conversations.replies",
                    channel=channel,
                    ts=thread.ts,
                    include_all_metadata=True,
                    limit=HISTORY_LIMIT,
                )
            else:
                channel = await self._conversation(where)
                data = await self._call(
                    "conversations.history",
                    channel=channel,
                    oldest=f"{since.timestamp() - CLOCK_SKEW_SECONDS:.6f}",
                    include_all_metadata=True,
                    limit=HISTORY_LIMIT,
                )
        except ChatRejected:
            return None  # cannot look (no history scope): post again rather than lose it
        for message in data.get("messages") or ():
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("key") == key:
                return MessageRef(channel=channel, ts=str(message["ts"]))
        return None

    async def _conversation(self, where: str) -> str:
        """A channel id as it is; a user id becomes the id of the bot's DM with them."""
        if not where.startswith(("U", "W")):
            return where
        data = await self._call("conversations.open", users=where)
        return str((data.get("channel") or {})["id"])

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

    async def user_exists(self, user_id: str) -> bool:
        try:
            data = await self._call("users.info", user=user_id)
        except ChatRejected as exc:
            if "user_not_found" in str(exc):
                return False
            raise
        return bool((data.get("user") or {}).get("id"))

    async def group_members(self, group_id: str) -> frozenset[str]:
        data = await self._call("usergroups.users.list", usergroup=group_id)
        return frozenset(str(u) for u in data.get("users") or ())
