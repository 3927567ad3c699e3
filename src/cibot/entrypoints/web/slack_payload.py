"""The shape of what Slack posts to ci-bot, checked before Bolt (or our listeners) read it.

Bolt reads a request's fields by indexing and `.get` on what it assumes are objects, and so
do our listeners; a signed body of another shape (a number where Slack puts an object, a
list of non-objects, bytes that are not UTF-8) raised inside them and became a 500. Slack
never sends such bodies, but "never a 5xx" holds for whoever holds the signing secret: here
every field that Bolt or ci-bot reads is given the type Slack documents, and a body that
does not fit is a 400 naming the field. Fields nobody reads are left as they come. Ids
are Slack's (a few characters; longer ones never fit a column), and no text anywhere may
hold what a database cannot store (`storable`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator
from slack_bolt.request.internals import parse_body

from cibot.entrypoints.web.storable import unstorable

# A Slack id (U0123ABCD, C0123ABCD, T…, E…, A…): a dozen characters; the store keeps 32.
SlackId = Annotated[str, StringConstraints(max_length=32)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Team(_Part):  # a workspace, or an enterprise grid
    id: SlackId | None = None
    enterprise_id: SlackId | None = None


class _User(_Part):
    id: SlackId | None = None
    team_id: SlackId | None = None


class _Channel(_Part):
    id: SlackId | None = None


class _Container(_Part):
    type: str | None = None  # "message", or "view" (a modal, the Home tab)
    channel_id: SlackId | None = None


class _Authorization(_Part):
    enterprise_id: SlackId | None = None
    team_id: SlackId | None = None
    is_enterprise_install: bool | None = None


class _Event(_Part):
    """An Events API event. Bolt reads who and where from it (`extract_user_id`,
    `extract_channel_id`, `extract_team_id`, `extract_enterprise_id`: a string, or an object
    with an `id`), and, when the body lacks them, its authorizations and nested objects."""

    type: str
    user: _User | SlackId | None = None
    channel: _Channel | SlackId | None = None
    team: _Team | SlackId | None = None
    enterprise: _Team | SlackId | None = None
    authorizations: list[_Authorization] | None = None
    item: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
    previous_message: dict[str, Any] | None = None
    assistant_thread: dict[str, Any] | None = None
    event: None = None  # Slack never nests one event in another
    tab: str | None = None  # app_home_opened: "home" or "messages"


class ButtonAction(_Part):
    action_id: str
    value: str | None = None


class _ViewState(_Part):
    values: dict[str, dict[str, dict[str, Any]]] = {}


class _View(_Part):
    callback_id: str  # Bolt matches submissions by these two
    type: str
    private_metadata: str = ""
    state: _ViewState = _ViewState()
    team_id: str | None = None
    app_installed_team_id: str | None = None


# Buttons, modal submissions, slash commands (no type), the Events API's callbacks and its URL
# check; ci-bot registers no shortcut or workflow step, so their payloads are refused up front.
_HANDLED = frozenset(
    {None, "block_actions", "view_submission", "url_verification", "event_callback"}
)
APP_HOME_OPENED = "app_home_opened"
_EVENTS = frozenset({APP_HOME_OPENED})  # the bot events ci-bot subscribes to (slack-manifest)
# Bolt tests these by presence (`"view" in body`) and then reads them as objects or lists.
_PRESENT_MEANS_NOT_NULL = ("actions", "command", "event", "response_urls", "view")


class SlackPayload(_Part):
    """An interaction payload or a slash command's form, as far as anyone reads it."""

    type: str | None = None
    api_app_id: SlackId | None = None
    team: _Team | SlackId | None = None
    team_id: SlackId | None = None
    enterprise: _Team | SlackId | None = None
    enterprise_id: SlackId | None = None
    is_enterprise_install: bool | str | None = None
    authorizations: list[_Authorization] | None = None
    user: _User | SlackId | None = None
    user_id: SlackId | None = None
    channel: _Channel | SlackId | None = None
    channel_id: SlackId | None = None
    container: _Container | None = None
    thread_ts: str | None = None
    message: dict[str, Any] | None = None
    previous_message: dict[str, Any] | None = None
    event: _Event | None = None
    event_id: SlackId | None = None  # Ev…: the same for each of Slack's retries of an event
    function_data: dict[str, Any] | None = None
    response_url: str | None = None
    response_urls: list[dict[str, Any]] | None = None
    trigger_id: str | None = None
    actions: list[ButtonAction] | None = None
    view: _View | None = None
    command: str | None = None
    text: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _present_means_not_null(cls, body: Any) -> Any:
        for name in _PRESENT_MEANS_NOT_NULL:
            if isinstance(body, dict) and name in body and body[name] is None:
                raise ValueError(f"{name} is null")
        return body

    @model_validator(mode="after")
    def _what_each_type_needs(self) -> SlackPayload:
        if self.type not in _HANDLED:
            raise ValueError(f"ci-bot does not handle {self.type!r} payloads")
        if self.type == "block_actions" and not self.actions:
            raise ValueError("block_actions without actions")
        if self.type == "view_submission" and (self.view is None or self.view.type != "modal"):
            raise ValueError("view_submission without a modal view")
        if self.type == "event_callback":
            self._an_event_we_handle()
        return self

    def _an_event_we_handle(self) -> None:
        event = self.event
        if event is None:
            raise ValueError("event_callback without an event")
        if event.type not in _EVENTS:
            raise ValueError(f"ci-bot does not handle {event.type!r} events")
        if not self.event_id:
            raise ValueError("event_callback without an event_id")
        if not isinstance(event.user, str) or not event.user:
            raise ValueError("app_home_opened without a user")
        if not isinstance(event.channel, str) or not event.channel:
            raise ValueError("app_home_opened without a channel")

    @property
    def team_of(self) -> str | None:
        team = self.team.id if isinstance(self.team, _Team) else self.team
        return team or self.team_id

    @property
    def user_of(self) -> str:
        user = self.user.id if isinstance(self.user, _User) else self.user
        return user or self.user_id or ""

    @property
    def channel_of(self) -> str | None:
        """Where it happened: the channel (a command's `channel_id`), or the container's."""
        channel = self.channel.id if isinstance(self.channel, _Channel) else self.channel
        container = self.container.channel_id if self.container else None
        return channel or self.channel_id or container or None

    @property
    def answer_to(self) -> str | None:
        """Where a click is answered: where it was made; a click on the Home tab (a view, no
        channel) in the person's DM with ci-bot, named by their user id as `chat.postMessage`
        reads it. None: nowhere (a modal opened without a channel)."""
        if where := self.channel_of:
            return where
        on_home = self.view is not None and self.view.type == "home"
        container = self.container.type if self.container else None
        return self.user_of or None if on_home and container == "view" else None

    @property
    def pressed(self) -> ButtonAction:
        assert self.actions, "a block_actions payload has actions (checked on parsing)"
        return self.actions[0]

    def submitted(self, block: str, element: str) -> tuple[str, str, str | None]:
        """(build id, channel, the text typed, stripped) of a reason modal's submission."""
        view = self.view
        if view is None:
            return "", "", None
        build_id, _, channel = view.private_metadata.partition("|")
        typed = view.state.values.get(block, {}).get(element, {}).get("value")
        return build_id, channel, (typed.strip() if isinstance(typed, str) else "") or None


# How pydantic names the member of a union it tried (`user._User.id`): not a field of the body.
_UNION_TAGS = frozenset({"_Team", "_User", "_Channel", "str", "bool", "constrained-str"})


class MalformedPayload(ValueError):
    """A signed Slack body ci-bot cannot read; the message names what is wrong."""


def parse(raw: bytes, content_type: str | None) -> SlackPayload:
    """The body as Bolt will parse it, checked; MalformedPayload if it does not fit."""
    return of(decode(raw, content_type))


def decode(raw: bytes, content_type: str | None) -> object:
    """The body parsed as Bolt parses it (a form's `payload` field, or JSON), not yet checked:
    `of` checks it. MalformedPayload if it is not UTF-8 or not JSON.

    `content_type`: the request's header, parameters and all (Bolt looks at the media type).
    """
    media_type = content_type.split(";")[0] if content_type else None
    try:
        return parse_body(raw.decode("utf-8"), media_type)
    except UnicodeDecodeError:
        raise MalformedPayload("the body is not UTF-8") from None
    except (ValueError, RecursionError):
        raise MalformedPayload("the payload is not JSON (or is nested too deeply)") from None


def of(body: object) -> SlackPayload:
    """A parsed body, checked; MalformedPayload naming the first field that does not fit."""
    if not isinstance(body, dict):
        raise MalformedPayload("the payload is not a JSON object")
    where = unstorable(body)
    if where is not None:
        raise MalformedPayload(f"{where}: text with a NUL character or an unpaired surrogate")
    try:
        return SlackPayload.model_validate(body)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"] if part not in _UNION_TAGS)
        where = where or "payload"
        raise MalformedPayload(f"{where}: {first['msg']}") from None
    except RecursionError:
        raise MalformedPayload("the payload is nested too deeply") from None
