"""The Chat port on slack_sdk's AsyncWebClient.

Every call goes through the SDK's typed method, so each is sent the way Slack reads it (JSON
for the write methods, query arguments for the reads: a JSON body sent to
conversations.history or users.lookupByEmail is not read by Slack at all). Before each call
the process-wide `Pacer` gives it a slot within its method's rate-limit tier; a 429 that comes
anyway (another replica spent the budget) holds the method for `Retry-After` and the call is
tried again, per the retry policy. slack_sdk's own handlers retry connection and server
errors. What is left becomes ChatUnavailable (try the job again later) or ChatRejected (Slack
said no; a workspace's refusal, such as DMs turned off, is logged with what to change).

`views.open` has a fast path: it must land within the 3 s Slack gives a click, so it gets a
client of its own with a short deadline, no retries, and no waiting for a slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from cibot.adapters.retry import RetryPolicy, retry_after_seconds
from cibot.adapters.slack.blocks import home_view, modal, render
from cibot.adapters.slack.pacing import Pacer
from cibot.service.errors import ChatRejected, ChatUnavailable
from cibot.service.ports import MessageRef
from cibot.service.views import HomeView, MessageView, ModalView

log = structlog.get_logger(__name__)

METADATA_EVENT = "cibot_post"  # the metadata event type of every message ci-bot posts
HISTORY_PAGE = 200  # messages per history page (Slack: at most 999, "no more than 200" advised)
HISTORY_PAGES = 10  # pages read at most when looking for a post whose answer was lost
CLOCK_SKEW_SECONDS = 60  # look a little before the post was begun, in case clocks differ
MODAL_DEADLINE = 1.5  # seconds views.open may take: the click's ack is due within 3 s

RATE_LIMITED = frozenset({"ratelimited", "rate_limited"})
TRANSIENT_ERRORS = RATE_LIMITED | frozenset(
    {"fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)
# Refusals that come from how the workspace or the app is set up: retrying cannot help; the
# log says what to change (README, "Slack").
WORKSPACE_REFUSALS = {
    "messages_tab_disabled": "the app's Messages tab is off: turn on App Home > Messages Tab",
    "not_enabled": "the app's Home tab is off: turn on App Home > Home Tab",
    "plan_upgrade_required": "user groups need a paid Slack plan: list the members' ids instead",
    "edit_window_closed": "the workspace's message editing window has closed for this message",
    "not_in_channel": "the bot is not in the channel: invite it",
    "channel_not_found": "no such channel, or the bot cannot see it",
    "missing_scope": "the bot token lacks a scope (see README, Slack)",
    "invalid_auth": "the bot token is not valid",
    "account_inactive": "the bot token belongs to a deactivated app or user",
}


def retry_handlers(policy: RetryPolicy) -> list[AsyncRetryHandler]:
    """Connection and server errors, retried inside the SDK. Rate limits are not: they are
    paced and retried by `SlackChat`, so every worker waits for the same `Retry-After`."""
    retries = max(policy.attempts - 1, 0)
    backoff = BackoffRetryIntervalCalculator(backoff_factor=policy.base_seconds)
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
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


def fast_client(client: AsyncWebClient) -> AsyncWebClient:
    """A client for calls a click waits on: the same session and token, no retries."""
    return AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=int(MODAL_DEADLINE) + 1,
        retry_handlers=[],
        session=client.session,
    )


def _retry_after(headers: Any) -> float | None:
    """Slack's `Retry-After` (seconds) of a 429."""
    headers = headers or {}
    return retry_after_seconds(headers.get("Retry-After") or headers.get("retry-after"))


def _metadata(key: str | None) -> dict[str, Any]:
    """Message metadata naming the store's slot of the message, so it can be found again."""
    if key is None:
        return {}
    return {"metadata": {"event_type": METADATA_EVENT, "event_payload": {"key": key}}}


Call = Callable[[], Awaitable[AsyncSlackResponse]]


class SlackChat:
    def __init__(
        self,
        client: AsyncWebClient,
        *,
        pacer: Pacer | None = None,
        policy: RetryPolicy | None = None,
        fast: AsyncWebClient | None = None,
    ) -> None:
        self._client = client
        self._fast = fast or fast_client(client)
        self._pacer = pacer or Pacer()
        self._policy = policy or RetryPolicy()
        self.rate_limited = 0  # 429s received (for figures and tests)

    async def _call(self, method: str, call: Call, channel: str | None = None) -> dict[str, Any]:
        """One Web API call, paced; a 429 holds the method and is tried again."""
        attempt = 1
        while True:
            await self._pacer.wait(method, channel)
            try:
                return _data(await call())
            except SlackApiError as exc:
                error = str(exc.response.get("error", "unknown_error"))
                status = exc.response.status_code
                if status == 429 or error in RATE_LIMITED:
                    self.rate_limited += 1
                    wait = _retry_after(exc.response.headers) or 1.0
                    self._pacer.hold(method, channel, wait)
                    if attempt < self._policy.attempts:
                        attempt += 1
                        continue
                    raise ChatUnavailable(f"Slack {method}: {error}", retry_after=wait) from exc
                raise _translated(method, error, status) from exc
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise ChatUnavailable(f"Slack {method}: {type(exc).__name__}") from exc

    async def post(self, channel: str, view: MessageView, key: str | None = None) -> MessageRef:
        text, blocks = render(view)
        data = await self._call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, unfurl_links=False, **_metadata(key)
            ),
            channel,
        )
        return MessageRef(channel=str(data["channel"]), ts=str(data["ts"]))

    async def update(self, ref: MessageRef, view: MessageView) -> None:
        text, blocks = render(view)
        await self._call(
            "chat.update",
            lambda: self._client.chat_update(
                channel=ref.channel, ts=ref.ts, text=text, blocks=blocks
            ),
        )

    async def post_dm(self, user: str, view: MessageView, key: str | None = None) -> MessageRef:
        """Posting to a user id lands in the bot's DM with them; Slack answers its D… id."""
        return await self.post(user, view, key)

    async def reply(self, ref: MessageRef, view: MessageView, key: str | None = None) -> MessageRef:
        text, blocks = render(view)
        data = await self._call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=ref.channel, thread_ts=ref.ts, text=text, blocks=blocks, **_metadata(key)
            ),
            ref.channel,
        )
        return MessageRef(channel=str(data["channel"]), ts=str(data["ts"]))

    async def find_posted(
        self, where: str, key: str, since: datetime, thread: MessageRef | None = None
    ) -> MessageRef | None:
        """Look for the bot's message with `key` in its metadata (history scopes needed).

        Reads page after page (cursor), each paced like any call, from `since` on; at most
        HISTORY_PAGES pages, so a channel busier than that since the try is not searched to
        its end (README: when a message can still be posted twice).
        """
        try:
            channel = thread.channel if thread is not None else await self._conversation(where)
            oldest = f"{since.timestamp() - CLOCK_SKEW_SECONDS:.6f}"
            cursor: str | None = None
            for _ in range(HISTORY_PAGES):
                data = await self._history_page(channel, oldest, thread, cursor)
                for message in data.get("messages") or ():
                    payload = (message.get("metadata") or {}).get("event_payload") or {}
                    if payload.get("key") == key:
                        return MessageRef(channel=channel, ts=str(message["ts"]))
                cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
                if not data.get("has_more") or cursor is None:
                    return None
        except ChatRejected:
            return None  # cannot look (no history scope): post again rather than lose it
        log.warning("slack.history_not_searched_to_the_end", channel=where, key=key)
        return None

    async def _history_page(
        self, channel: str, oldest: str, thread: MessageRef | None, cursor: str | None
    ) -> dict[str, Any]:
        if thread is not None:
            return await self._call(
                "conversations.replies",
                lambda: self._client.conversations_replies(
                    channel=channel,
                    ts=thread.ts,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=HISTORY_PAGE,
                    cursor=cursor,
                ),
            )
        return await self._call(
            "conversations.history",
            lambda: self._client.conversations_history(
                channel=channel,
                oldest=oldest,
                include_all_metadata=True,
                limit=HISTORY_PAGE,
                cursor=cursor,
            ),
        )

    async def _conversation(self, where: str) -> str:
        """A channel id as it is; a user id becomes the id of the bot's DM with them."""
        if not where.startswith(("U", "W")):
            return where
        data = await self._call(
            "conversations.open", lambda: self._client.conversations_open(users=where)
        )
        return str((data.get("channel") or {})["id"])

    async def post_ephemeral(self, channel: str, user: str, view: MessageView) -> None:
        text, blocks = render(view)
        await self._call(
            "chat.postEphemeral",
            lambda: self._client.chat_postEphemeral(
                channel=channel, user=user, text=text, blocks=blocks
            ),
        )

    async def open_modal(self, trigger_id: str, view: ModalView) -> None:
        """The fast path: now or never, within MODAL_DEADLINE (the click's ack waits)."""
        payload = modal(view)
        if not self._pacer.take_now("views.open"):
            raise ChatUnavailable("Slack views.open: paced (rate limit), no time to wait")
        try:
            async with asyncio.timeout(MODAL_DEADLINE):
                await self._fast.views_open(trigger_id=trigger_id, view=payload)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            if exc.response.status_code == 429 or error in RATE_LIMITED:
                self.rate_limited += 1
                self._pacer.hold("views.open", None, _retry_after(exc.response.headers) or 1.0)
            raise _translated("views.open", error, exc.response.status_code) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ChatUnavailable(f"Slack views.open: {type(exc).__name__}") from exc

    async def publish_home(self, user: str, view: HomeView) -> None:
        """The person's Home tab, paced within views.publish's tier like any call."""
        payload = home_view(view)
        await self._call(
            "views.publish", lambda: self._client.views_publish(user_id=user, view=payload)
        )

    async def user_by_email(self, email: str) -> str | None:
        try:
            data = await self._call(
                "users.lookupByEmail", lambda: self._client.users_lookupByEmail(email=email)
            )
        except ChatRejected as exc:
            if "users_not_found" in str(exc):
                return None
            raise
        user = data.get("user") or {}
        return str(user["id"]) if user.get("id") else None

    async def user_exists(self, user_id: str) -> bool:
        try:
            data = await self._call("users.info", lambda: self._client.users_info(user=user_id))
        except ChatRejected as exc:
            if "user_not_found" in str(exc):
                return False
            raise
        return bool((data.get("user") or {}).get("id"))

    async def group_members(self, group_id: str) -> frozenset[str]:
        data = await self._call(
            "usergroups.users.list",
            lambda: self._client.usergroups_users_list(usergroup=group_id),
        )
        return frozenset(str(u) for u in data.get("users") or ())


def _data(response: AsyncSlackResponse) -> dict[str, Any]:
    return response.data if isinstance(response.data, dict) else {}


def _translated(method: str, error: str, status: int) -> ChatUnavailable | ChatRejected:
    """Slack's error as ours: worth retrying, or a refusal (logged with what to change)."""
    if error in TRANSIENT_ERRORS or status >= 500:
        return ChatUnavailable(f"Slack {method}: {error}")
    hint = WORKSPACE_REFUSALS.get(error)
    if hint is None:
        return ChatRejected(f"Slack {method}: {error}")
    log.error("slack.refused", method=method, error=error, hint=hint)
    return ChatRejected(f"Slack {method}: {error} ({hint})")
