"""The immutable records the fake Slack keeps, and their JSON shapes.

Every record is frozen: the server replaces a record instead of changing it, so a test thread
can hold and read one while the server thread goes on. `to_json`/`from_json` give the shape the
admin HTTP API uses, so a test in another process sees the same objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cibot.fakeslack.reading import Button, buttons, visible_text

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class User:
    """A workspace member, as seeded by the test."""

    id: str
    name: str
    real_name: str = ""
    email: str | None = None
    is_bot: bool = False

    def to_json(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "real_name": self.real_name,
            "email": self.email,
            "is_bot": self.is_bot,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> User:
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or data["id"]),
            real_name=str(data.get("real_name") or data.get("name") or ""),
            email=data.get("email"),
            is_bot=bool(data.get("is_bot", False)),
        )


@dataclass(frozen=True)
class Channel:
    """A channel the bot is in, as seeded by the test."""

    id: str
    name: str
    members: frozenset[str] = frozenset()

    def to_json(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "members": sorted(self.members),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Channel:
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or data["id"]),
            members=frozenset(str(m) for m in data.get("members", ())),
        )


@dataclass(frozen=True)
class Revision:
    """What a message looked like before one `chat.update`."""

    text: str
    blocks: tuple[JsonDict, ...]
    edited_ts: str

    def to_json(self) -> JsonDict:
        return {"text": self.text, "blocks": list(self.blocks), "edited_ts": self.edited_ts}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Revision:
        return cls(str(data["text"]), tuple(data["blocks"]), str(data["edited_ts"]))


@dataclass(frozen=True)
class Message:
    """A message in a channel or DM, in its current version.

    `history` holds the earlier versions, oldest first, so `update_count` is how many times
    `chat.update` changed it. `replies` is filled by the read queries for top-level messages.
    """

    channel: str
    ts: str
    user: str
    text: str
    blocks: tuple[JsonDict, ...] = ()
    thread_ts: str | None = None
    bot_id: str | None = None
    metadata: JsonDict | None = None
    history: tuple[Revision, ...] = ()
    replies: tuple[Message, ...] = ()

    @property
    def update_count(self) -> int:
        return len(self.history)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def visible_text(self) -> str:
        return visible_text(self)

    @property
    def buttons(self) -> list[Button]:
        return buttons(self)

    def to_api(self, *, team_id: str, app_id: str) -> JsonDict:
        """The message object as Slack's Web API shows it."""
        out: JsonDict = {"type": "message", "user": self.user, "text": self.text, "ts": self.ts}
        out["team"] = team_id
        if self.bot_id is not None:
            out["bot_id"] = self.bot_id
            out["app_id"] = app_id
        if self.blocks:
            out["blocks"] = list(self.blocks)
        if self.thread_ts is not None:
            out["thread_ts"] = self.thread_ts
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.history:
            out["edited"] = {"user": self.user, "ts": self.history[-1].edited_ts}
        return out

    def to_json(self) -> JsonDict:
        return {
            "channel": self.channel,
            "ts": self.ts,
            "user": self.user,
            "text": self.text,
            "blocks": list(self.blocks),
            "thread_ts": self.thread_ts,
            "bot_id": self.bot_id,
            "metadata": self.metadata,
            "history": [r.to_json() for r in self.history],
            "replies": [r.to_json() for r in self.replies],
            "update_count": self.update_count,
            "visible_text": self.visible_text,
            "buttons": [b.to_json() for b in self.buttons],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        return cls(
            channel=str(data["channel"]),
            ts=str(data["ts"]),
            user=str(data["user"]),
            text=str(data["text"]),
            blocks=tuple(data.get("blocks", ())),
            thread_ts=data.get("thread_ts"),
            bot_id=data.get("bot_id"),
            metadata=data.get("metadata"),
            history=tuple(Revision.from_json(r) for r in data.get("history", ())),
            replies=tuple(Message.from_json(r) for r in data.get("replies", ())),
        )


@dataclass(frozen=True)
class Ephemeral:
    """An ephemeral message: only `user` sees it, in `channel`."""

    channel: str
    user: str
    ts: str
    text: str
    blocks: tuple[JsonDict, ...] = ()

    @property
    def visible_text(self) -> str:
        return visible_text(self)

    @property
    def buttons(self) -> list[Button]:
        return buttons(self)

    def to_json(self) -> JsonDict:
        return {
            "channel": self.channel,
            "user": self.user,
            "ts": self.ts,
            "text": self.text,
            "blocks": list(self.blocks),
            "visible_text": self.visible_text,
            "buttons": [b.to_json() for b in self.buttons],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Ephemeral:
        return cls(
            channel=str(data["channel"]),
            user=str(data["user"]),
            ts=str(data["ts"]),
            text=str(data["text"]),
            blocks=tuple(data.get("blocks", ())),
        )


@dataclass(frozen=True)
class ViewRecord:
    """A modal opened with `views.open` or an App Home published with `views.publish`.

    `payload` is the view as Slack returns it (with `id`, `hash`, `state`…); `user` is the user
    it was shown to (the clicker whose trigger id opened a modal).
    """

    id: str
    type: str
    user: str
    payload: JsonDict
    version: int = 1

    @property
    def blocks(self) -> tuple[JsonDict, ...]:
        return tuple(self.payload.get("blocks", ()))

    @property
    def text(self) -> str:
        return ""

    @property
    def visible_text(self) -> str:
        return visible_text(self)

    @property
    def buttons(self) -> list[Button]:
        return buttons(self)

    def to_json(self) -> JsonDict:
        return {
            "id": self.id,
            "type": self.type,
            "user": self.user,
            "payload": self.payload,
            "version": self.version,
            "visible_text": self.visible_text,
            "buttons": [b.to_json() for b in self.buttons],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ViewRecord:
        return cls(
            id=str(data["id"]),
            type=str(data["type"]),
            user=str(data["user"]),
            payload=dict(data["payload"]),
            version=int(data.get("version", 1)),
        )


@dataclass(frozen=True)
class ApiCall:
    """One request the fake received, and how it answered."""

    method: str
    args: JsonDict
    token: str | None
    time: float
    status: int
    ok: bool | None
    error: str | None = None
    fault: str | None = None

    def to_json(self) -> JsonDict:
        return {
            "method": self.method,
            "args": self.args,
            "token": self.token,
            "time": self.time,
            "status": self.status,
            "ok": self.ok,
            "error": self.error,
            "fault": self.fault,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApiCall:
        return cls(
            method=str(data["method"]),
            args=dict(data["args"]),
            token=data.get("token"),
            time=float(data["time"]),
            status=int(data["status"]),
            ok=data.get("ok"),
            error=data.get("error"),
            fault=data.get("fault"),
        )
