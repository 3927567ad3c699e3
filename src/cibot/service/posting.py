"""Posting a message exactly once, even when ci-bot dies between Slack's answer and the save.

Every message ci-bot sends has a place in the store, a `Slot` (build, role, user). Its
channel and `ts` are saved once posted; later changes are updates. The gap is the moment
between Slack accepting a post and the `ts` being saved: a crash (or an answer lost on the
way back) there would make the next try post again. So a post is first recorded as begun,
and carries its slot's key in its Slack metadata; a later try that finds a post begun but
never saved looks for that key in Slack before posting, and adopts the message it finds.
"""

from __future__ import annotations

from dataclasses import dataclass

from cibot.service.ports import Chat, Clock, MessageRef, Store
from cibot.service.views import MessageView


@dataclass(frozen=True, slots=True)
class Slot:
    """Where one message lives in the store: a build's message of one role, for one user."""

    build_id: str
    role: str
    user: str = ""

    @property
    def key(self) -> str:
        return f"{self.build_id}/{self.role}/{self.user}"


@dataclass(frozen=True, slots=True)
class To:
    """Where a message goes: a channel, a user's DM, or the thread of another message."""

    channel: str | None = None
    dm: str | None = None  # a user id
    thread: MessageRef | None = None

    @property
    def conversation(self) -> str:
        """Where to look for it: the channel, the user (their DM), or the thread's channel."""
        where = self.channel or self.dm or (self.thread.channel if self.thread else None)
        assert where is not None, "a message goes somewhere"
        return where


async def post_once(
    store: Store, chat: Chat, clock: Clock, slot: Slot, *, to: To, view: MessageView
) -> tuple[MessageRef, bool]:
    """The slot's message, posted now unless it already was: (where it is, posted now)."""
    async with store.transaction() as tx:
        ref = await tx.messages.get(slot.build_id, slot.role, slot.user)
        begun = await tx.messages.post_begun(slot.build_id, slot.role, slot.user)
        if ref is None and begun is None:
            await tx.messages.begin_post(slot.build_id, slot.role, slot.user, clock.now())
    if ref is not None:
        return ref, False
    if begun is not None:
        found = await chat.find_posted(to.conversation, slot.key, begun, to.thread)
        if found is not None:
            await _save(store, slot, found)
            return found, False
    if to.thread is not None:
        ref = await chat.reply(to.thread, view, key=slot.key)
    elif to.dm is not None:
        ref = await chat.post_dm(to.dm, view, key=slot.key)
    else:
        ref = await chat.post(to.conversation, view, key=slot.key)
    await _save(store, slot, ref)
    return ref, True


async def post_or_update(
    store: Store,
    chat: Chat,
    clock: Clock,
    slot: Slot,
    *,
    to: To,
    view: MessageView,
    saved: MessageRef | None = None,
) -> MessageRef:
    """Post the slot's message once; if it was there already, bring it up to date.

    `saved`: the slot's message as the caller just read it in its own transaction, if it
    was posted; then this is an update, with no second trip to the store.
    """
    if saved is not None:
        await chat.update(saved, view)
        return saved
    ref, new = await post_once(store, chat, clock, slot, to=to, view=view)
    if not new:
        await chat.update(ref, view)
    return ref


async def _save(store: Store, slot: Slot, ref: MessageRef) -> None:
    async with store.transaction() as tx:
        await tx.messages.save(slot.build_id, slot.role, ref, slot.user)
