"""The immutable records the fake Slack keeps, and their JSON shapes.

Every record is frozen: the server replaces a record instead of changing it, so a test thread
can hold and read one while the server thread goes on. `to_json`/`from_json` give the shape the
admin HTTP API uses, so a test in another process sees the same objects: pydantic reads and
writes them from the fields (a record shown to people adds what they see: `_Shown`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    ConfigDict,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    computed_field,
    model_serializer,
    model_validator,
)

from cibot.fakeslack.reading import Button, HasBlocks, buttons, visible_text

JsonDict = dict[str, Any]
# A channel's members, listed sorted in JSON (a set has no order of its own).
Members = Annotated[frozenset[str], PlainSerializer(sorted, return_type=list[str])]

_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    """One pydantic adapter per record class, built on first use (building one takes ms)."""
    found = _ADAPTERS.get(cls)
    if found is None:
        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found


class JsonRecord:
    """`to_json`/`from_json` for a frozen dataclass, through pydantic: the JSON is its fields
    in order, and reading checks each field's type (a bad one is a ValueError naming it)."""

    # Seed files may spell an id or a name as a number (YAML `name: 2024`).
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(coerce_numbers_to_str=True)

    def to_json(self) -> JsonDict:
        data: JsonDict = _adapter(type(self)).dump_python(self, mode="json")
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        record: Self = _adapter(cls).validate_python(data)
        return record


class _Shown(JsonRecord):
    """A record people see (a message, an ephemeral, a view): its JSON adds the text as read
    on screen and the buttons, for a test in another process."""

    @property
    def visible_text(self: HasBlocks) -> str:
        return visible_text(self)

    @property
    def buttons(self: HasBlocks) -> list[Button]:
        return buttons(self)

    @model_serializer(mode="wrap")
    def _with_what_people_see(self: HasBlocks, fields: SerializerFunctionWrapHandler) -> JsonDict:
        data: JsonDict = fields(self)
        data["visible_text"] = visible_text(self)
        data["buttons"] = [dataclasses.asdict(b) for b in buttons(self)]
        return data


@dataclass(frozen=True)
class User(JsonRecord):
    """A workspace member, as seeded by the test (`name` defaults to the id)."""

    id: str
    name: str
    real_name: str = ""
    email: str | None = None
    is_bot: bool = False

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "id" in data:
            real_name = data.get("real_name") or data.get("name") or ""
            return {**data, "name": data.get("name") or data["id"], "real_name": real_name}
        return data


@dataclass(frozen=True)
class Channel(JsonRecord):
    """A channel the bot is in, as seeded by the test (`name` defaults to the id)."""

    id: str
    name: str
    members: Members = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "id" in data:
            return {**data, "name": data.get("name") or data["id"]}
        return data


@dataclass(frozen=True)
class Revision:
    """What a message looked like before one `chat.update`."""

    text: str
    blocks: tuple[JsonDict, ...]
    edited_ts: str


@dataclass(frozen=True)
class Message(_Shown):
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

    @computed_field  # type: ignore[prop-decorator]
    @property
    def update_count(self) -> int:
        return len(self.history)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

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


@dataclass(frozen=True)
class Ephemeral(_Shown):
    """An ephemeral message: only `user` sees it, in `channel`."""

    channel: str
    user: str
    ts: str
    text: str
    blocks: tuple[JsonDict, ...] = ()


@dataclass(frozen=True)
class ViewRecord(_Shown):
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


@dataclass(frozen=True)
class ApiCall(JsonRecord):
    """One request the fake received, and how it answered."""

    method: str
    args: JsonDict
    token: str | None
    time: float
    status: int
    ok: bool | None
    error: str | None = None
    fault: str | None = None
