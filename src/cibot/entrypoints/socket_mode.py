"""Socket Mode: Slack's clicks, commands and events over a WebSocket that ci-bot opens.

A team without a public URL (a cluster behind a firewall, a laptop) cannot give Slack a
Request URL. With `slack.mode: socket`, ci-bot calls `apps.connections.open` with the app-level
token (`xapp-…`) and keeps a WebSocket open to the URL it gets; Slack sends each event, click
and slash command down one of the app's connections and waits for an ack
(https://docs.slack.dev/apis/events-api/using-socket-mode). Bolt's async Socket Mode handler
(aiohttp, as ci-bot's Slack client already is) does the connecting, reconnecting and acking;
the envelopes go to the same Bolt app and listeners as `POST /slack/events`, so authorisation,
idempotency and audit are the same code. What the HTTP route's guard does before Bolt sees a
body is done here too: a payload of a shape Slack never sends is refused (and acked, so Slack
does not send it again) before any listener reads it. Slack signs nothing sent over the
socket; the token that opened it is the proof.

Each replica opens its own connection; Slack gives each envelope to one of them and sends it
again to another when it is not acked in a few seconds, so a replica that dies mid-click
loses nothing, and the compare-and-set transitions make a second delivery change nothing.
On shutdown the socket is closed first, so envelopes go to the other replicas while this one
drains its jobs.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import send_async_response
from slack_bolt.adapter.socket_mode.internals import build_headers
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from cibot.entrypoints.web import slack_payload
from cibot.entrypoints.web.slack import bolt_context
from cibot.entrypoints.web.slack_payload import MalformedPayload

log = structlog.get_logger(__name__)

PING_SECONDS = 5.0  # how often the connection is checked; a dead one is replaced after 4 misses


class AppTokenRefused(Exception):
    """Slack refused the app-level token: the message names `slack.app_token` and the error."""


async def open_connection_url(client: AsyncWebClient, app_token: str) -> str:
    """A WebSocket URL from `apps.connections.open`; AppTokenRefused naming the key if Slack
    refuses the token (`invalid_auth`, `not_allowed_token_type` for a bot token, …)."""
    try:
        answer = await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        raise AppTokenRefused(
            f"slack.app_token: Slack refused it ({error or exc.response.status_code}); "
            "it must be an app-level token (xapp-…) with the connections:write scope"
        ) from None
    url = answer.get("url")
    if not isinstance(url, str):
        raise AppTokenRefused("slack.app_token: apps.connections.open returned no URL")
    return url


async def connect(
    mode: str, bolt: AsyncApp | None, app_token: str | None, client: AsyncWebClient
) -> SocketMode | None:
    """In Socket Mode (`slack.mode: socket`), the connection, started; None over HTTP.
    AppTokenRefused when there is no token or Slack refuses it."""
    if mode != "socket":
        return None
    if app_token is None or bolt is None:
        raise AppTokenRefused("slack.app_token: mode: socket needs an app-level token (xapp-…)")
    socket = SocketMode(bolt, app_token, client)
    await socket.start()
    return socket


class GuardedSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's handler, with the HTTP guard's check and context before Bolt dispatches."""

    async def handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        started = time.time()
        try:
            payload = slack_payload.of(req.payload)
        except MalformedPayload as problem:
            log.warning("slack.socket.malformed", kind=req.type, message=str(problem))
            await client.send_socket_mode_response(SocketModeResponse(req.envelope_id))
            return
        request = AsyncBoltRequest(
            mode="socket_mode",
            body=req.payload,
            headers=build_headers(req),
            context=bolt_context(self.app, payload),
        )
        answer = await self.app.async_dispatch(request)
        if answer.status != 200:  # refused (another workspace or app): acked, not retried
            log.warning("slack.socket.refused", kind=req.type, status=answer.status)
            await client.send_socket_mode_response(SocketModeResponse(req.envelope_id))
            return
        await send_async_response(client, req, answer, started)


class SocketMode:
    """ci-bot's Socket Mode connection: `start` once serving, `close` on the way out."""

    def __init__(self, bolt: AsyncApp, app_token: str, client: AsyncWebClient) -> None:
        self._bolt = bolt
        self._app_token = app_token
        self._client = client
        self._handler: GuardedSocketModeHandler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Checks the token (AppTokenRefused) and connects; reconnects by itself after."""
        self._loop = asyncio.get_running_loop()
        url = await open_connection_url(self._client, self._app_token)
        handler = GuardedSocketModeHandler(
            self._bolt, self._app_token, web_client=self._client, ping_interval=PING_SECONDS
        )
        handler.client.wss_uri = url  # the URL just issued: no second apps.connections.open
        self._handler = handler
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("slack.socket.connected")

    def close_soon(self) -> None:
        """On SIGTERM: starts closing at once, so Slack sends envelopes to other replicas.
        Safe to call from a signal handler (it only schedules the close on the event loop);
        `close` waits for it."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._begin_close)

    def _begin_close(self) -> None:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close())

    async def close(self) -> None:
        """Closes the socket (or waits for the close `close_soon` began)."""
        self._begin_close()
        if self._closing is not None:
            await self._closing

    async def _close(self) -> None:
        handler = self._handler
        if handler is None:
            return
        await handler.close_async()  # type: ignore[no-untyped-call]
        session = getattr(handler.client, "aiohttp_client_session", None)
        if session is not None:
            await session.close()
        log.info("slack.socket.closed")
