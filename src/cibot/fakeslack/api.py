"""The Web API methods: arguments in, `{"ok": true, …}` out, errors as `SlackError`.

One function per method, each translating Slack's loosely typed arguments (form strings or JSON
values) into calls on the `Workspace`. Nothing here knows about HTTP; `app` does that.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from cibot.fakeslack import blocks as blockkit
from cibot.fakeslack.records import JsonDict, Message
from cibot.fakeslack.shapes import bot_message_object, channel_object, dm_object, user_object
from cibot.fakeslack.state import SlackError, Workspace

Handler = Callable[[Workspace, "Args"], JsonDict]

_MODAL = frozenset({"modal"})
_HOME = frozenset({"home"})


class Args:
    """A call's arguments, from the query string and the form or JSON body."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = copy.deepcopy(dict(values))  # the call log keeps the originals

    def has(self, name: str) -> bool:
        return self.values.get(name) is not None

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        return None if value is None else str(value)

    def required(self, name: str, error: str = "invalid_arguments") -> str:
        value = self.text(name)
        if not value:
            raise SlackError(error)
        return value

    def raw(self, name: str) -> object:
        return self.values.get(name)


def _blocks_error(exc: blockkit.BlocksError) -> SlackError:
    messages = [f"[ERROR] {e}" for e in exc.errors]
    return SlackError(exc.code, errors=exc.errors, response_metadata={"messages": messages})


def _blocks(args: Args) -> tuple[JsonDict, ...] | None:
    """The validated `blocks` argument, with Slack's block ids; None when not given."""
    if not args.has("blocks"):
        return None
    try:
        parsed = blockkit.decode_json_list(args.raw("blocks"), "blocks")
        blockkit.validate_blocks(parsed)
    except blockkit.BlocksError as exc:
        raise _blocks_error(exc) from exc
    return blockkit.with_block_ids(parsed, secrets.token_hex(4))


def _view(args: Args, allowed: frozenset[str]) -> JsonDict:
    if not args.has("view"):
        raise SlackError("invalid_arguments")
    try:
        view = blockkit.decode_json_object(args.raw("view"), "view")
        blockkit.validate_view(view, allowed_types=allowed)
    except blockkit.BlocksError as exc:
        raise _blocks_error(exc) from exc
    view["blocks"] = list(blockkit.with_block_ids(view.get("blocks", []), secrets.token_hex(4)))
    return view


def _content(args: Args) -> tuple[str | None, tuple[JsonDict, ...] | None]:
    """`text` and `blocks`, checked; `no_text` when both are missing or empty."""
    text, blocks = args.text("text"), _blocks(args)
    if not text and not blocks:
        raise SlackError("no_text")
    if text is not None and len(text) > blockkit.MAX_TEXT_CHARS:
        raise SlackError("msg_too_long")
    return text, blocks


def _metadata(args: Args) -> JsonDict | None:
    if not args.has("metadata"):
        return None
    try:
        return blockkit.decode_json_object(args.raw("metadata"), "metadata")
    except blockkit.BlocksError as exc:
        raise SlackError("invalid_metadata_format") from exc


def _missing_is_invalid(args: Args, name: str) -> str:
    """A required argument, or Slack's answer when it is missing (as when a JSON body was
    sent to a method that reads only query or form arguments)."""
    value = args.text(name)
    if not value:
        message = f"[ERROR] missing required field: {name}"
        raise SlackError("invalid_arguments", response_metadata={"messages": [message]})
    return value


def auth_test(ws: Workspace, args: Args) -> JsonDict:
    config = ws.config
    return {
        "url": config.url,
        "team": config.team_name,
        "user": config.bot_name,
        "team_id": config.team_id,
        "user_id": config.bot_user_id,
        "bot_id": config.bot_id,
        "is_enterprise_install": False,
    }


def chat_post_message(ws: Workspace, args: Args) -> JsonDict:
    channel = args.required("channel", "channel_not_found")
    text, blocks = _content(args)
    message = ws.post_message(
        channel,
        text=text or "",
        blocks=blocks or (),
        thread_ts=args.text("thread_ts") or None,
        metadata=_metadata(args),
    )
    body = bot_message_object(message, ws.config)
    return {"channel": message.channel, "ts": message.ts, "message": body}


def chat_update(ws: Workspace, args: Args) -> JsonDict:
    channel = args.required("channel", "channel_not_found")
    ts = args.required("ts", "message_not_found")
    text, blocks = _content(args)
    message = ws.update_message(channel, ts, text=text, blocks=blocks)
    body = bot_message_object(message, ws.config)
    return {"channel": message.channel, "ts": message.ts, "text": message.text, "message": body}


def chat_post_ephemeral(ws: Workspace, args: Args) -> JsonDict:
    channel = args.required("channel", "channel_not_found")
    user = args.required("user", "user_not_found")
    text, blocks = _content(args)
    ephemeral = ws.post_ephemeral(channel, user, text=text or "", blocks=blocks or ())
    return {"message_ts": ephemeral.ts}


def conversations_open(ws: Workspace, args: Args) -> JsonDict:
    if args.has("channel"):
        dm_id = ws.resolve_channel(args.required("channel"), loose=False)
        return {"no_op": True, "already_open": True, "channel": {"id": dm_id}}
    users = [u.strip() for u in (args.text("users") or "").split(",") if u.strip()]
    if not users:
        raise SlackError("users_list_not_supplied")
    if len(users) > 1:
        raise SlackError("not_supported", detail="the fake Slack has no multi-person DMs")
    dm_id, already_open = ws.open_dm(users[0])
    return {"no_op": already_open, "already_open": already_open, "channel": {"id": dm_id}}


def conversations_info(ws: Workspace, args: Args) -> JsonDict:
    channel_id = ws.resolve_channel(args.required("channel", "channel_not_found"), loose=False)
    peer = ws.dm_peer(channel_id)
    if peer is not None:
        return {"channel": dm_object(channel_id, peer)}
    channel = ws.channel(channel_id)
    if channel is None:
        raise SlackError("channel_not_found")
    return {"channel": channel_object(channel)}


_MAX_LIMIT = 999  # conversations.history: "maximum of 999"; fewer are returned past it


def _limit(args: Args) -> int:
    text = args.text("limit") or "100"
    try:
        wanted = int(text)
    except ValueError:
        raise SlackError("invalid_limit") from None
    return min(max(wanted, 1), _MAX_LIMIT) if wanted > 0 else 100


def _ts_arg(args: Args, name: str, default: float) -> float:
    text = args.text(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise SlackError(f"invalid_ts_{name}") from None


def _cursor_ts(args: Args) -> str | None:
    """The `ts` a page starts at, from Slack's opaque cursor (base64 of `next_ts:<ts>`)."""
    cursor = args.text("cursor")
    if not cursor:
        return None
    try:
        decoded = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if not decoded.startswith("next_ts:"):
        raise SlackError("invalid_cursor")
    return decoded.removeprefix("next_ts:")


def _cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _in_range(messages: list[Message], args: Args) -> list[Message]:
    """`oldest` and `latest` bound the messages, each exclusive unless `inclusive` is true
    (https://docs.slack.dev/reference/methods/conversations.history, arguments)."""
    oldest = _ts_arg(args, "oldest", 0.0)
    latest = _ts_arg(args, "latest", float("inf"))
    inclusive = (args.text("inclusive") or "").lower() in ("true", "1")

    def within(ts: float) -> bool:
        if inclusive:
            return oldest <= ts <= latest
        return oldest < ts < latest

    return [m for m in messages if within(float(m.ts))]


def _page(ws: Workspace, messages: list[Message], args: Args) -> JsonDict:
    """One page of messages as the history methods list them, with Slack's cursor; metadata
    only with `include_all_metadata`, as on Slack."""
    limit = _limit(args)
    start_ts = _cursor_ts(args)
    start = 0
    if start_ts is not None:
        start = next((i for i, m in enumerate(messages) if m.ts == start_ts), -1)
        if start < 0:
            raise SlackError("invalid_cursor")
    page, rest = messages[start : start + limit], messages[start + limit :]
    with_metadata = (args.text("include_all_metadata") or "").lower() in ("true", "1")
    listed = []
    for message in page:
        shown = bot_message_object(message, ws.config)
        if not with_metadata:
            shown.pop("metadata", None)
        listed.append(shown)
    body: JsonDict = {"messages": listed, "has_more": bool(rest)}
    body["response_metadata"] = {"next_cursor": _cursor(rest[0].ts) if rest else ""}
    return body


def conversations_history(ws: Workspace, args: Args) -> JsonDict:
    """Top-level messages, newest first (as Slack, replies are not listed)."""
    channel = ws.resolve_channel(args.required("channel", "channel_not_found"), loose=False)
    found = _in_range(list(reversed(ws.messages(channel))), args)
    return _page(ws, found, args)


def conversations_replies(ws: Workspace, args: Args) -> JsonDict:
    """A thread: its parent, then the replies (bounded by `oldest`/`latest`), oldest first."""
    channel = ws.resolve_channel(args.required("channel", "channel_not_found"), loose=False)
    ts = args.required("ts", "thread_not_found")
    parent = ws.message(channel, ts)
    if parent is None:
        raise SlackError("thread_not_found")
    return _page(ws, [parent, *_in_range(ws.thread(channel, ts), args)], args)


def users_info(ws: Workspace, args: Args) -> JsonDict:
    user = ws.user(args.required("user", "user_not_found"))
    return {"user": user_object(user, ws.config)}


def users_lookup_by_email(ws: Workspace, args: Args) -> JsonDict:
    user = ws.user_by_email(_missing_is_invalid(args, "email"))
    return {"user": user_object(user, ws.config)}


def usergroups_users_list(ws: Workspace, args: Args) -> JsonDict:
    members = ws.group_members(_missing_is_invalid(args, "usergroup"))
    return {"users": list(members)}


_APP_ID = re.compile(r"^A[A-Z0-9]{2,}$")


def apps_manifest_export(ws: Workspace, args: Args) -> JsonDict:
    """The app's manifest (https://docs.slack.dev/reference/methods/apps.manifest.export):
    `invalid_app_id` for an id that is none, `app_not_found` for another app."""
    app_id = args.text("app_id") or ""
    if not _APP_ID.match(app_id):
        raise SlackError("invalid_app_id")
    if app_id != ws.config.app_id:
        raise SlackError("app_not_found")
    return {"manifest": ws.manifest()}


def apps_connections_open(ws: Workspace, args: Args) -> JsonDict:
    """A WebSocket URL for one Socket Mode connection
    (https://docs.slack.dev/reference/methods/apps.connections.open): app-level token only,
    a single-use ticket in the URL (`sockets`)."""
    return {"url": ws.sockets.new_link()}


def views_open(ws: Workspace, args: Args) -> JsonDict:
    trigger_id = args.required("trigger_id", "invalid_trigger_id")
    record = ws.open_view(trigger_id, _view(args, _MODAL))
    return {"view": record.payload}


def views_publish(ws: Workspace, args: Args) -> JsonDict:
    """A person's Home tab (https://docs.slack.dev/reference/methods/views.publish): refused
    with `not_enabled` while the app's Home tab is off, and with `invalid_arguments` ("invalid
    `user_id`") for a user the workspace does not have."""
    if not ws.app.settings.home_tab_enabled:
        raise SlackError("not_enabled")
    user_id = args.text("user_id") or ""
    if not ws.has_user(user_id):
        raise SlackError("invalid_arguments", response_metadata={"messages": ["invalid `user_id`"]})
    record = ws.publish_home(user_id, _view(args, _HOME), hash=args.text("hash"))
    return {"view": record.payload}


# Methods that read a JSON body. Slack's Web API overview: "Most write methods allow arguments
# with application/json attributes" (https://docs.slack.dev/apis/web-api/#posting_json); the
# read methods take query-string or form arguments only, and slack_sdk calls them so (GET with
# params: conversations_history, conversations_replies, users_lookupByEmail,
# usergroups_users_list, users_info, conversations_info). A JSON body sent
# to any other method is not read: its arguments are missing.
JSON_METHODS = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "conversations.open",
        "views.open",
        "views.publish",
        "apps.manifest.export",
    }
)

# Methods an app configuration token calls, and only it; every other method takes a bot token.
# Either token sent to the other's methods is answered `not_allowed_token_type` ("The token
# type used in this request is not allowed", on each method's page of errors).
CONFIG_TOKEN_METHODS = frozenset({"apps.manifest.export"})
# Methods an app-level token (`xapp-…`) calls, and only it.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})

METHODS: dict[str, Handler] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.postEphemeral": chat_post_ephemeral,
    "conversations.open": conversations_open,
    "conversations.info": conversations_info,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "users.info": users_info,
    "users.lookupByEmail": users_lookup_by_email,
    "usergroups.users.list": usergroups_users_list,
    "views.open": views_open,
    "views.publish": views_publish,
    "apps.manifest.export": apps_manifest_export,
    "apps.connections.open": apps_connections_open,
}


def _authenticate(ws: Workspace, method: str, token: str | None) -> None:
    """Slack's answers for a missing, unknown, expired or wrong kind of token."""
    if not token:
        raise SlackError("not_authed")
    kind = ws.token_kind(token)
    if kind is None:
        raise SlackError("invalid_auth")
    if kind == "expired":
        raise SlackError("token_expired")
    if (kind == "config") != (method in CONFIG_TOKEN_METHODS):
        raise SlackError("not_allowed_token_type")
    if (kind == "app") != (method in APP_TOKEN_METHODS):
        raise SlackError("not_allowed_token_type")


def call(ws: Workspace, method: str, values: Mapping[str, Any], token: str | None) -> JsonDict:
    """Runs one Web API call and returns its JSON body (ok or not), as Slack would."""
    try:
        handler = METHODS.get(method)
        if handler is None:
            raise SlackError("unknown_method")
        _authenticate(ws, method, token)
        channel = values.get("channel") or values.get("users")
        into_dm = isinstance(channel, str) and ws.is_dm(channel)
        refusal = ws.refusals.find(method, into_dm=into_dm)
        if refusal is not None:
            return refusal.body()
        return {"ok": True, **handler(ws, Args(values))}
    except SlackError as exc:
        return {"ok": False, "error": exc.code, **exc.extra}
