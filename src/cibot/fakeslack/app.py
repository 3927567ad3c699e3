"""The ASGI application: Slack's HTTP conventions around the API methods, plus faults.

Beside them: the admin API under `/_fake/` and the playground (a web client) at `/`.

`/api/<method>` is served by hand rather than through Starlette routing, because dropping a
connection needs the server's own `send` (Starlette wraps it). Everything else (the admin API
under `/_fake/`) is an ordinary Starlette app. Socket Mode's WebSocket (`/link/`, the URL
`apps.connections.open` hands out) is served by the workspace's `sockets.SocketHub`.

Before a method runs, the call passes Slack's gates in Slack's order: armed faults, the
token, the method's rate limit (`limits`: 429, `Retry-After`), the workspace's refusals
(`refusals`). Arguments are read as Slack reads them: the query string, a form body, and a
JSON body only for the methods that take one (`api.JSON_METHODS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from cibot.fakeslack import api
from cibot.fakeslack.admin import admin_app
from cibot.fakeslack.delivery import Delivery
from cibot.fakeslack.faults import Fault, FaultKind, FaultPlan
from cibot.fakeslack.playground import playground_routes
from cibot.fakeslack.records import ApiCall, JsonDict
from cibot.fakeslack.sockets import LINK_PATH
from cibot.fakeslack.state import Workspace

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


class _BadRequest(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class _Incoming:
    """One API request as read off the wire."""

    method: str
    received: float
    values: JsonDict = field(default_factory=dict)
    token: str | None = None
    parse_error: str | None = None


class FakeSlackApp:
    """ASGI app of the fake Slack: the Web API under `/api/`, the admin API under `/_fake/`."""

    def __init__(self, workspace: Workspace, faults: FaultPlan) -> None:
        self.workspace = workspace
        self.faults = faults
        self.delivery = Delivery(
            workspace
        )  # where clicks go; `FakeSlackServer.connect` sets the bot
        self._admin = admin_app(workspace, faults, playground_routes(workspace, self.delivery))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = self.workspace.sockets
        if hub.origin is None and scope["type"] in ("http", "websocket") and scope.get("server"):
            host, port = scope["server"][:2]
            hub.origin = f"ws://{host}:{port}"  # where apps.connections.open points the app
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            await self._api(scope, receive, send)
            return
        if scope["type"] == "websocket":
            if scope["path"] == LINK_PATH:
                await hub.serve(WebSocket(scope, receive, send))
            else:
                await WebSocket(scope, receive, send).close(code=1008)
            return
        await self._admin(scope, receive, send)

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        incoming = _Incoming(scope["path"][len(API_PREFIX) :], time.time())
        try:
            incoming.values, incoming.token = await _read_args(request, incoming.method)
        except _BadRequest as exc:
            incoming.parse_error = exc.code
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        fault = self.faults.take(incoming.method)
        if fault is not None and fault.kind is FaultKind.STALL:
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind is FaultKind.DROP:
            self._log(incoming, 0, None, fault)
            await _drop_connection(scope, receive, send)
            return
        status, body, headers = self._answer(incoming, fault)
        self._log(incoming, status, body, fault)
        await JSONResponse(body, status_code=status, headers=headers)(scope, receive, send)

    def _answer(
        self, incoming: _Incoming, fault: Fault | None
    ) -> tuple[int, JsonDict, dict[str, str]]:
        if fault is not None and fault.kind is FaultKind.RATE_LIMIT:
            headers = {"Retry-After": str(fault.retry_after)}
            return 429, {"ok": False, "error": "ratelimited"}, headers
        if fault is not None and fault.kind is FaultKind.SERVER_ERROR:
            return fault.status, {"ok": False, "error": "fatal_error"}, {}
        if incoming.parse_error is not None:
            return 200, {"ok": False, "error": incoming.parse_error}, {}
        limited = self._rate_limited(incoming)
        if limited is not None:
            headers = {"Retry-After": str(limited)}
            return 429, {"ok": False, "error": self.workspace.limits.error}, headers
        body = api.call(self.workspace, incoming.method, incoming.values, incoming.token)
        return 200, body, {}

    def _rate_limited(self, incoming: _Incoming) -> int | None:
        """`Retry-After` seconds when this call is past its method's limit, else None.

        Limits count the calls of an authenticated app, per method (chat.postMessage per
        channel too); a call refused for its token or an unknown method spends nothing.
        """
        ws = self.workspace
        if incoming.method not in api.METHODS or not incoming.token:
            return None
        if ws.token_kind(incoming.token) not in ("bot", "config", "app"):
            return None
        channel = incoming.values.get("channel")
        key = ws.conversation_key(channel) if isinstance(channel, str) else None
        return ws.limits.check(incoming.method, key)

    def _log(
        self, incoming: _Incoming, status: int, body: JsonDict | None, fault: Fault | None
    ) -> None:
        call = ApiCall(
            method=incoming.method,
            args=_decoded(incoming.values),
            token=incoming.token,
            time=incoming.received,
            status=status,
            ok=None if body is None else bool(body.get("ok")),
            error=None if body is None else body.get("error"),
            fault=None if fault is None else fault.kind.value,
        )
        self.workspace.record_call(call)


_JSON_ARGS = ("blocks", "view", "metadata")


def _decoded(values: JsonDict) -> JsonDict:
    """The arguments for the call log, with form-encoded JSON arguments decoded."""
    out = dict(values)
    for name in _JSON_ARGS:
        raw = out.get(name)
        if isinstance(raw, str):
            with contextlib.suppress(ValueError):
                out[name] = json.loads(raw)
    return out


async def _read_args(request: Request, method: str) -> tuple[JsonDict, str | None]:
    """The call's arguments (query string + form, or JSON body where the method takes one)
    and its token."""
    values: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and content_type == "application/json" and method not in api.JSON_METHODS:
        pass  # not read: as on Slack, the arguments it carries are simply missing
    elif body and content_type == "application/json":
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise _BadRequest("invalid_json") from exc
        if not isinstance(parsed, dict):
            raise _BadRequest("invalid_json")
        values.update(parsed)
    elif body and content_type in ("application/x-www-form-urlencoded", ""):
        try:
            values.update(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError as exc:
            raise _BadRequest("invalid_form_data") from exc
    elif body:
        raise _BadRequest("invalid_form_data")
    token = values.pop("token", None)
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        token = authorization[len("bearer ") :].strip()
    return values, None if token is None else str(token)


async def _drop_connection(scope: Scope, receive: Receive, send: Send) -> None:
    """Closes the connection without a byte of answer.

    ASGI has no message for this, so it reaches for the transport of uvicorn's protocol
    object (the `send` it hands us is a bound method of it). Under another server, it answers
    503 instead.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.BaseTransport):
        logger.warning("cannot drop the connection under this ASGI server; answering 503")
        body = {"ok": False, "error": "fatal_error"}
        await JSONResponse(body, status_code=503)(scope, receive, send)
        return
    transport.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(receive(), timeout=1.0)  # lets the server see the disconnect
