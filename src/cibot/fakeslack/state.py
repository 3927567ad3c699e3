"""The fake workspace: users, channels, DMs, messages, ephemerals, views and the call log.

This is where Slack's rules about *state* live (who may post where, what a DM id is, what an
update changes); argument parsing and response shapes stay in `api`. The server thread changes
it and test threads read it, so every access holds one re-entrant lock, and every change wakes
`wait_for` callers.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cibot.fakeslack.config import WorkspaceConfig
from cibot.fakeslack.limits import RateLimits
from cibot.fakeslack.manifest import App
from cibot.fakeslack.records import (
    ApiCall,
    Channel,
    Ephemeral,
    JsonDict,
    Message,
    Revision,
    User,
    ViewRecord,
)
from cibot.fakeslack.refusals import Refusals
from cibot.fakeslack.shapes import view_payload
from cibot.fakeslack.sockets import SocketHub


class SlackError(Exception):
    """A Web API error answer: `{"ok": false, "error": code, **extra}`."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


@dataclass
class _Stored:
    """Everything `reset` clears (seeded users and channels survive it)."""

    messages: dict[str, dict[str, Message]] = field(default_factory=dict)
    ephemerals: list[Ephemeral] = field(default_factory=list)
    views: dict[str, ViewRecord] = field(default_factory=dict)
    home: dict[str, ViewRecord] = field(default_factory=dict)
    triggers: dict[str, tuple[str, float]] = field(default_factory=dict)
    used_triggers: set[str] = field(default_factory=set)
    closed_views: set[str] = field(default_factory=set)  # modals submitted or cancelled
    calls: list[ApiCall] = field(default_factory=list)


class Workspace:
    """The in-memory Slack workspace behind the fake Web API."""

    def __init__(
        self,
        config: WorkspaceConfig | None = None,
        *,
        users: Iterable[User] = (),
        channels: Iterable[Channel] = (),
        groups: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.config = config or WorkspaceConfig()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        bot = User(self.config.bot_user_id, self.config.bot_name, self.config.bot_name, is_bot=True)
        self._users: dict[str, User] = {bot.id: bot}
        self._channels: dict[str, Channel] = {}
        self._dms: dict[str, str] = {}  # DM channel id -> user id
        self._groups: dict[str, tuple[str, ...]] = {}  # user group id (S…) -> member ids
        self._stored = _Stored()
        self._last_micros = 0
        self.limits = RateLimits()  # Slack's tiers by default; `limits.relax()` to lift them
        self.refusals = Refusals()  # what this workspace's settings and plan make Slack refuse
        self.app = App()  # the app's settings, as its manifest shows them
        # Its Socket Mode connections; envelopes go through `delivery.deliver`.
        self.sockets = SocketHub(self.config.app_id, ack_seconds=self.config.socket_ack_seconds)
        self._expired: set[str] = set()  # tokens Slack answers `token_expired`
        for user in users:
            self.add_user(user)
        for channel in channels:
            self.add_channel(channel)
        for group_id, members in (groups or {}).items():
            self.set_group(group_id, members)

    # -- seeding -------------------------------------------------------------------------------

    def add_user(self, user: User) -> User:
        with self._lock:
            self._users[user.id] = user
            self._changed.notify_all()
        return user

    def add_channel(self, channel: Channel) -> Channel:
        with self._lock:
            self._channels[channel.id] = channel
            self._changed.notify_all()
        return channel

    def set_group(self, group_id: str, members: Iterable[str]) -> None:
        """Create a user group, or replace its members (as an admin editing it in Slack)."""
        with self._lock:
            self._groups[group_id] = tuple(members)
            self._changed.notify_all()

    def group_members(self, group_id: str) -> tuple[str, ...]:
        with self._lock:
            found = self._groups.get(group_id)
        if found is None:
            raise SlackError("no_such_subteam")
        return found

    def reset(self) -> None:
        """Forgets messages, ephemerals, views, calls, refusals and spent rate limits; keeps
        users, channels, DM ids and a relaxed rate."""
        with self._lock:
            self._stored = _Stored()
            self.limits.reset()
            self.refusals.clear()
            self.app.reset()
            self._changed.notify_all()

    # -- lookups -------------------------------------------------------------------------------

    def token_kind(self, token: str) -> str | None:
        """`bot`, `config` (an app configuration token), `app` (app-level), `expired`, or None
        (unknown)."""
        if token in self._expired:
            return "expired"
        if token in self.config.tokens:
            return "bot"
        if token in self.config.config_tokens:
            return "config"
        if token in self.config.app_tokens:
            return "app"
        return None

    def expire_token(self, token: str) -> None:
        """From now on Slack answers `token_expired` to `token` (an app configuration token
        lasts 12 hours: https://docs.slack.dev/app-manifests/configuring-apps-with-app-manifests)."""
        with self._lock:
            self._expired.add(token)

    def set_app_settings(self, **changes: Any) -> None:
        """Change the app's settings its manifest shows (`socket_mode_enabled`, …)."""
        self.app.change(**changes)

    def manifest(self) -> JsonDict:
        """The app's manifest, as `apps.manifest.export` returns it."""
        tab = not self.refusals.is_on("messages_tab_disabled")
        return self.app.manifest(self.config, messages_tab=tab)

    def has_user(self, user_id: str) -> bool:
        with self._lock:
            return user_id in self._users

    def user(self, user_id: str) -> User:
        with self._lock:
            found = self._users.get(user_id)
        if found is None:
            raise SlackError("user_not_found")
        return found

    def user_by_email(self, email: str) -> User:
        wanted = email.strip().lower()
        with self._lock:
            for user in self._users.values():
                if user.email is not None and user.email.lower() == wanted:
                    return user
        raise SlackError("users_not_found")

    def channel(self, channel_id: str) -> Channel | None:
        with self._lock:
            return self._channels.get(channel_id)

    def dm_peer(self, channel_id: str) -> str | None:
        """The user a DM channel id belongs to, or None for anything else."""
        with self._lock:
            return self._dms.get(channel_id)

    # -- conversations -------------------------------------------------------------------------

    def open_dm(self, user_id: str) -> tuple[str, bool]:
        """The bot's DM channel with the user (stable id) and whether it was already open."""
        with self._lock:
            self.user(user_id)
            dm_id = self._dm_id(user_id)
            already_open = dm_id in self._dms
            self._dms[dm_id] = user_id
            self._changed.notify_all()
            return dm_id, already_open

    def resolve_channel(self, channel: str, *, loose: bool = True) -> str:
        """The conversation id of a channel or DM id; `loose` also takes `#name` and user ids.

        Posting accepts a user id (it means the bot's DM with that user) or a channel name;
        `chat.update` and friends need the id that the post returned.
        """
        with self._lock:
            if channel in self._channels or channel in self._dms:
                return channel
            if not loose:
                raise SlackError("channel_not_found")
            if channel in self._users:
                return self.open_dm(channel)[0]
            name = channel.removeprefix("#")
            for candidate in self._channels.values():
                if candidate.name == name:
                    return candidate.id
        raise SlackError("channel_not_found")

    def conversation_key(self, channel: str) -> str:
        """The conversation a post to `channel` lands in, for per-channel limits: a user id
        means the bot's DM with them (opened or not)."""
        with self._lock:
            if channel in self._users and channel not in self._channels:
                return self._dm_id(channel)
        return channel

    def is_dm(self, channel: str) -> bool:
        """Whether a post to `channel` goes into a DM (a user id or a DM's D… id)."""
        with self._lock:
            if channel in self._dms:
                return True
            return channel in self._users and channel not in self._channels

    def is_member(self, channel_id: str, user_id: str) -> bool:
        with self._lock:
            if channel_id in self._dms:
                return user_id in (self._dms[channel_id], self.config.bot_user_id)
            found = self._channels.get(channel_id)
            return found is not None and user_id in found.members

    # -- messages ------------------------------------------------------------------------------

    def post_message(
        self,
        channel: str,
        *,
        text: str,
        blocks: tuple[JsonDict, ...] = (),
        thread_ts: str | None = None,
        metadata: JsonDict | None = None,
        user: str | None = None,
    ) -> Message:
        """Posts as the bot (or as `user`, for tests that need someone else's message)."""
        with self._lock:
            channel_id = self.resolve_channel(channel)
            if user is not None:
                self.user(user)
            parent = self._thread_parent(channel_id, thread_ts) if thread_ts else None
            message = Message(
                channel=channel_id,
                ts=self._next_ts(),
                user=user or self.config.bot_user_id,
                text=text,
                blocks=blocks,
                thread_ts=parent,
                bot_id=None if user else self.config.bot_id,
                metadata=metadata,
            )
            self._stored.messages.setdefault(channel_id, {})[message.ts] = message
            self._changed.notify_all()
            return message

    def update_message(
        self,
        channel: str,
        ts: str,
        *,
        text: str | None,
        blocks: tuple[JsonDict, ...] | None,
    ) -> Message:
        """Applies `chat.update`: fields left out (None) keep their value, as on Slack."""
        with self._lock:
            channel_id = self.resolve_channel(channel, loose=False)
            current = self._stored.messages.get(channel_id, {}).get(ts)
            if current is None:
                raise SlackError("message_not_found")
            if current.user != self.config.bot_user_id:
                raise SlackError("cant_update_message")
            before = Revision(current.text, current.blocks, self._next_ts())
            updated = replace(
                current,
                text=current.text if text is None else text,
                blocks=current.blocks if blocks is None else blocks,
                history=(*current.history, before),
            )
            self._stored.messages[channel_id][ts] = updated
            self._changed.notify_all()
            return updated

    def post_ephemeral(
        self,
        channel: str,
        user: str,
        *,
        text: str,
        blocks: tuple[JsonDict, ...] = (),
    ) -> Ephemeral:
        with self._lock:
            channel_id = self.resolve_channel(channel)
            self.user(user)
            if not self.is_member(channel_id, user):
                raise SlackError("user_not_in_channel")
            ephemeral = Ephemeral(channel_id, user, self._next_ts(), text, blocks)
            self._stored.ephemerals.append(ephemeral)
            self._changed.notify_all()
            return ephemeral

    # -- views ---------------------------------------------------------------------------------

    def new_trigger_id(self, user_id: str) -> str:
        """A trigger id as a click by `user_id` would carry, usable for `trigger_id_ttl` s."""
        trigger_id = f"{int(time.time())}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"
        with self._lock:
            self.user(user_id)
            self._stored.triggers[trigger_id] = (user_id, time.monotonic())
        return trigger_id

    def open_view(self, trigger_id: str, view: JsonDict) -> ViewRecord:
        with self._lock:
            user = self._use_trigger(trigger_id)
            view_id = self._new_view_id()
            record = ViewRecord(
                view_id, str(view["type"]), user, view_payload(view_id, view, self.config)
            )
            self._stored.views[view_id] = record
            self._changed.notify_all()
            return record

    def publish_home(self, user_id: str, view: JsonDict, *, hash: str | None) -> ViewRecord:
        with self._lock:
            self.user(user_id)
            current = self._stored.home.get(user_id)
            if current is not None and hash is not None and hash != current.payload.get("hash"):
                raise SlackError("hash_conflict")
            view_id = current.id if current else self._new_view_id()
            version = current.version + 1 if current else 1
            payload = view_payload(view_id, view, self.config)
            record = ViewRecord(view_id, "home", user_id, payload, version=version)
            self._stored.home[user_id] = record
            self._changed.notify_all()
            return record

    def close_view(self, view_id: str) -> None:
        """The person submitted or cancelled the modal: Slack takes it off their screen."""
        with self._lock:
            self._stored.closed_views.add(view_id)
            self._changed.notify_all()

    def open_modal(self, user_id: str) -> ViewRecord | None:
        """The modal on `user_id`'s screen (the latest opened and not yet closed), if any."""
        with self._lock:
            found = [
                v
                for v in self._stored.views.values()
                if v.user == user_id and v.id not in self._stored.closed_views
            ]
        return found[-1] if found else None

    def show_ephemeral(
        self, channel: str, user: str, *, text: str, blocks: tuple[JsonDict, ...] = ()
    ) -> Ephemeral:
        """An answer only `user` sees (a slash command's, a `response_url`'s): Slack shows it
        wherever they typed, without `chat.postEphemeral`'s membership checks."""
        with self._lock:
            ephemeral = Ephemeral(channel, user, self._next_ts(), text, blocks)
            self._stored.ephemerals.append(ephemeral)
            self._changed.notify_all()
            return ephemeral

    # -- call log ------------------------------------------------------------------------------

    def record_call(self, call: ApiCall) -> None:
        with self._lock:
            self._stored.calls.append(call)
            self._changed.notify_all()

    # -- queries for tests ---------------------------------------------------------------------

    def users(self) -> list[User]:
        with self._lock:
            return list(self._users.values())

    def channels(self) -> list[Channel]:
        with self._lock:
            return list(self._channels.values())

    def dm_channel(self, user_id: str) -> str | None:
        """The id of the bot's DM with the user, if it was ever opened or posted to."""
        dm_id = self._dm_id(user_id)
        with self._lock:
            return dm_id if dm_id in self._dms else None

    def messages(self, channel: str) -> list[Message]:
        """Top-level messages of a conversation, oldest first, each with its `replies`."""
        with self._lock:
            stored = list(self._stored.messages.get(channel, {}).values())
        replies: dict[str, list[Message]] = {}
        for message in stored:
            if message.is_reply and message.thread_ts is not None:
                replies.setdefault(message.thread_ts, []).append(message)
        return [replace(m, replies=tuple(replies.get(m.ts, ()))) for m in stored if not m.is_reply]

    def dm_messages(self, user_id: str) -> list[Message]:
        """What the user sees in their DM with the bot (top-level, with replies)."""
        dm_id = self.dm_channel(user_id)
        return self.messages(dm_id) if dm_id else []

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The replies under the message `ts`, oldest first (the parent not included)."""
        with self._lock:
            stored = list(self._stored.messages.get(channel, {}).values())
        return [m for m in stored if m.is_reply and m.thread_ts == ts]

    def message(self, channel: str, ts: str) -> Message | None:
        """One message (top-level or reply) in its current version."""
        with self._lock:
            return self._stored.messages.get(channel, {}).get(ts)

    def all_messages(self) -> list[Message]:
        """Every message in every conversation (replies included), in posting order."""
        with self._lock:
            found = [m for per in self._stored.messages.values() for m in per.values()]
        return sorted(found, key=lambda m: m.ts)

    def ephemerals(self, user_id: str, channel: str | None = None) -> list[Ephemeral]:
        """The ephemeral messages only `user_id` saw (optionally in one conversation)."""
        with self._lock:
            found = list(self._stored.ephemerals)
        return [e for e in found if e.user == user_id and channel in (None, e.channel)]

    def all_ephemerals(self) -> list[Ephemeral]:
        """Every ephemeral message, whoever saw it, oldest first."""
        with self._lock:
            return list(self._stored.ephemerals)

    def views(self, user_id: str | None = None) -> list[ViewRecord]:
        """Modals opened with `views.open` (current versions), optionally for one user."""
        with self._lock:
            found = list(self._stored.views.values())
        return [v for v in found if user_id in (None, v.user)]

    def home_view(self, user_id: str) -> ViewRecord | None:
        """The App Home last published for the user."""
        with self._lock:
            return self._stored.home.get(user_id)

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Every API call received (optionally of one method), oldest first."""
        with self._lock:
            found = list(self._stored.calls)
        return [c for c in found if method in (None, c.method)]

    def wait_for(self, predicate: Callable[[Workspace], bool], within: float = 5.0) -> None:
        """Blocks until `predicate(self)` holds; raises TimeoutError after `within` seconds.

        For tests whose code under test runs in another thread or process. In a coroutine on
        the loop that runs that code, use `wait_for_async` instead.
        """
        deadline = time.monotonic() + within
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the fake Slack did not reach the expected state")
                self._changed.wait(remaining)

    async def wait_for_async(
        self, predicate: Callable[[Workspace], bool], within: float = 5.0
    ) -> None:
        """Like `wait_for`, polling without blocking the event loop."""
        deadline = time.monotonic() + within
        while not predicate(self):
            if time.monotonic() >= deadline:
                raise TimeoutError("the fake Slack did not reach the expected state")
            await asyncio.sleep(0.02)

    # -- internals -----------------------------------------------------------------------------

    def _dm_id(self, user_id: str) -> str:
        return "D" + hashlib.sha256(user_id.encode()).hexdigest()[:10].upper()

    def _next_ts(self) -> str:
        micros = max(time.time_ns() // 1000, self._last_micros + 1)
        self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _new_view_id(self) -> str:
        return "V" + secrets.token_hex(5).upper()

    def _thread_parent(self, channel_id: str, thread_ts: str) -> str:
        """The parent ts a reply attaches to: replying to a reply joins the parent's thread."""
        target = self._stored.messages.get(channel_id, {}).get(thread_ts)
        if target is None:
            raise SlackError("thread_not_found")
        return target.thread_ts if target.is_reply and target.thread_ts else target.ts

    def _use_trigger(self, trigger_id: str) -> str:
        """A trigger opens one view (`exchanged_trigger_id` after), within 3 s of the click
        (`expired_trigger_id`): https://docs.slack.dev/reference/methods/views.open, errors."""
        if trigger_id in self._stored.used_triggers:
            raise SlackError("exchanged_trigger_id")
        issued = self._stored.triggers.get(trigger_id)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        user, at = issued
        if time.monotonic() - at > self.config.trigger_id_ttl:
            raise SlackError("expired_trigger_id")
        self._stored.used_triggers.add(trigger_id)
        return user
