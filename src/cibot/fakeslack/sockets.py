"""Socket Mode: the app's WebSocket connections and Slack's envelope protocol over them.

With Socket Mode on, Slack posts nothing to a Request URL: the app asks for a URL with its
app-level token (`apps.connections.open`), opens a WebSocket there, and Slack sends every
event, click and command down one of the app's connections (up to ten) as an envelope, which
the app must acknowledge. Protocol as Slack documents it
(https://docs.slack.dev/apis/events-api/using-socket-mode):

- on connect Slack sends `{"type": "hello", "num_connections", "debug_info",
  "connection_info": {"app_id"}}`;
- an envelope is `{"envelope_id", "type": "events_api" | "interactive" | "slash_commands",
  "payload", "accepts_response_payload", "retry_attempt", "retry_reason"}`;
- the app acks with `{"envelope_id", "payload"?}`: the payload is the answer an HTTP app would
  give in its response body (a slash command's message, a `view_submission`'s
  `response_action`); an envelope not acked is sent again (`retry_attempt` + 1) on the app's
  other or next connection, so a dropped socket does not lose a click;
- `{"type": "disconnect", "reason": "refresh_requested" | "link_disabled" | "warning"}` asks
  the app to reconnect (refresh, warning) or tells it Socket Mode was turned off.

Each envelope goes to exactly one connection at a time (round robin). Tickets (the `ticket`
of the URL `apps.connections.open` returns) are single use, as Slack's are. Everything here
runs on the fake's event loop; only `new_link` is called from elsewhere (under a lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.websockets import WebSocket, WebSocketDisconnect

from cibot.fakeslack.records import JsonDict

logger = logging.getLogger(__name__)

EnvelopeType = Literal["events_api", "interactive", "slash_commands"]
DisconnectReason = Literal["refresh_requested", "link_disabled", "warning"]
DISCONNECT_REASONS = ("refresh_requested", "link_disabled", "warning")
LINK_PATH = "/link/"


class NotDelivered(Exception):
    """No connection acknowledged the envelope after every attempt."""


@dataclass
class Connection:
    """One app connection: its socket and the envelopes sent on it that wait for an ack."""

    id: str
    websocket: WebSocket
    opened: float
    waiting: dict[str, asyncio.Future[JsonDict | None]] = field(default_factory=dict)
    envelopes: int = 0

    def to_json(self) -> JsonDict:
        return {"id": self.id, "opened": self.opened, "envelopes": self.envelopes}


@dataclass(frozen=True)
class Acked:
    """How an envelope was delivered: its id, the attempts it took, the ack's payload."""

    envelope_id: str
    attempts: int
    connection: str
    payload: JsonDict | None


class SocketHub:
    """The app's Socket Mode connections (`serve`) and the delivery of envelopes (`send`)."""

    def __init__(self, app_id: str, *, ack_seconds: float = 3.0, attempts: int = 4) -> None:
        self.app_id = app_id
        self.ack_seconds = ack_seconds  # Slack retries an envelope not acked in about 3 s
        self.attempts = attempts  # the first delivery and Slack's three retries
        self.connect_seconds = 10.0  # how long an envelope waits for the app to (re)connect
        self.origin: str | None = None  # ws://host:port, learnt from the first request
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._connections: dict[str, Connection] = {}
        self._turn = itertools.count()
        self._changed: asyncio.Condition | None = None
        self._drop_next = 0  # the next envelopes' connections die before they arrive
        self.delivered: list[Acked] = []

    # -- connecting ----------------------------------------------------------------------------

    def new_link(self) -> str:
        """A single-use WebSocket URL, as `apps.connections.open` returns."""
        ticket = secrets.token_hex(16)
        with self._lock:
            self._tickets.add(ticket)
        origin = self.origin or "ws://127.0.0.1"
        return f"{origin}{LINK_PATH}?ticket={ticket}&app_id={self.app_id}"

    def _spend(self, ticket: str | None) -> bool:
        with self._lock:
            if ticket is None or ticket not in self._tickets:
                return False
            self._tickets.discard(ticket)
            return True

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        async with self._condition():
            self._condition().notify_all()

    def connections(self) -> list[Connection]:
        """The open connections (read from any thread)."""
        with self._lock:
            return list(self._connections.values())

    async def serve(self, websocket: WebSocket) -> None:
        """One connection's life: ticket, hello, then acks until it closes."""
        if not self._spend(websocket.query_params.get("ticket")):
            await websocket.close(code=1008)  # policy violation: no (or a spent) ticket
            return
        await websocket.accept()
        connection = Connection(f"C{uuid.uuid4().hex[:10]}", websocket, time.time())
        with self._lock:
            self._connections[connection.id] = connection
        await websocket.send_json(self._hello(connection))
        await self._notify()
        try:
            while True:
                text = await websocket.receive_text()
                self._acked(connection, text)
        except (WebSocketDisconnect, RuntimeError):
            pass  # closed by the app, or by us (`drop`, `disconnect`)
        finally:
            with self._lock:
                self._connections.pop(connection.id, None)
            for waiting in connection.waiting.values():
                if not waiting.done():  # sent again on another connection by `send`
                    waiting.set_exception(ConnectionError("the connection closed"))
            await self._notify()

    def _hello(self, connection: Connection) -> JsonDict:
        return {
            "type": "hello",
            "num_connections": len(self._connections),
            "debug_info": {
                "host": "fakeslack-socket",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }

    @staticmethod
    def _acked(connection: Connection, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            logger.warning("socket mode: a message that is not JSON: %.80r", text)
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        waiting = connection.waiting.pop(str(envelope_id), None)
        if waiting is None or waiting.done():
            return  # an ack for an envelope this connection was not sent, or a late one
        payload = message.get("payload")
        waiting.set_result(payload if isinstance(payload, dict) else None)

    # -- delivering ----------------------------------------------------------------------------

    async def send(
        self, kind: EnvelopeType, payload: JsonDict, *, accepts_response_payload: bool
    ) -> Acked:
        """Delivers one envelope: to one connection, again to another until one acks."""
        envelope_id = str(uuid.uuid4())
        last: str | None = None
        for attempt in range(self.attempts):
            connection = await self._pick(avoid=last)
            if connection is None:
                raise NotDelivered(f"no connection for {self.connect_seconds} s")
            last = connection.id
            envelope = {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
                "retry_attempt": attempt,
                "retry_reason": "timeout" if attempt else "",
            }
            answer = await self._one_attempt(connection, envelope)
            if answer is not None:
                acked = Acked(envelope_id, attempt + 1, connection.id, answer[0])
                self.delivered.append(acked)
                return acked
        raise NotDelivered(f"envelope {envelope_id} not acked after {self.attempts} attempts")

    async def _one_attempt(
        self, connection: Connection, envelope: JsonDict
    ) -> tuple[JsonDict | None] | None:
        """(the ack's payload,) or None when the connection did not ack in time."""
        waiting: asyncio.Future[JsonDict | None] = asyncio.get_running_loop().create_future()
        connection.waiting[envelope["envelope_id"]] = waiting
        connection.envelopes += 1
        try:
            if self._drop_next:
                self._drop_next -= 1
                await _close(connection.websocket)  # it dies before the envelope arrives
            else:
                await connection.websocket.send_json(envelope)
            return (await asyncio.wait_for(waiting, self.ack_seconds),)
        except (TimeoutError, ConnectionError, RuntimeError, WebSocketDisconnect):
            return None
        finally:
            connection.waiting.pop(envelope["envelope_id"], None)

    async def _pick(self, avoid: str | None) -> Connection | None:
        """The next connection in turn, another than `avoid` when there is one; waits for the
        app to (re)connect for up to `connect_seconds` (None: still nobody)."""
        deadline = time.monotonic() + self.connect_seconds
        async with self._condition():
            while not self._connections:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._condition().wait(), left)
        open_now = self.connections()
        candidates = [c for c in open_now if c.id != avoid] or open_now
        return candidates[next(self._turn) % len(candidates)] if candidates else None

    # -- misbehaving on request ------------------------------------------------------------------

    async def disconnect(self, reason: DisconnectReason, *, close: bool = False) -> int:
        """Sends `disconnect` with `reason` to every connection (closing them if `close`);
        how many there were."""
        targets = self.connections()
        for connection in targets:
            message: dict[str, Any] = {
                "type": "disconnect",
                "reason": reason,
                "debug_info": {"host": "fakeslack-socket"},
            }
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await connection.websocket.send_json(message)
            if close:
                await _close(connection.websocket)
        return len(targets)

    async def drop(self, *, on_next_envelope: bool = False) -> int:
        """Closes every connection now, or (`on_next_envelope`) the one the next envelope goes
        to, just before it would arrive: the envelope is lost on it and must come again."""
        if on_next_envelope:
            self._drop_next += 1
            return 0
        targets = self.connections()
        for connection in targets:
            await _close(connection.websocket)
        return len(targets)

    def to_json(self) -> JsonDict:
        return {
            "connections": [c.to_json() for c in self.connections()],
            "ack_seconds": self.ack_seconds,
            "delivered": [
                {"envelope_id": a.envelope_id, "attempts": a.attempts, "connection": a.connection}
                for a in self.delivered
            ],
        }


async def _close(websocket: WebSocket) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code=1001)
