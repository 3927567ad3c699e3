"""A message is posted once, even when ci-bot dies between Slack's answer and the save."""

from __future__ import annotations

from cibot.service import posting
from cibot.service.posting import Slot, To
from cibot.service.views import Notice
from tests.support.fakes import FakeChat, FakeClock, MemoryStore

CLOCK = FakeClock()
SLOT = Slot("b1", "card")
TO = To(channel="C0SHOP")


async def test_a_message_is_posted_once_and_then_found_in_the_store() -> None:
    store, chat = MemoryStore(), FakeChat()

    first, new = await posting.post_once(store, chat, CLOCK, SLOT, to=TO, view=Notice("hi"))
    again, again_new = await posting.post_once(store, chat, CLOCK, SLOT, to=TO, view=Notice("hi"))

    assert new and not again_new
    assert first == again and len(chat.posts) == 1


async def test_a_post_that_landed_but_was_never_saved_is_found_in_slack_not_posted_again() -> None:
    store, chat = MemoryStore(), FakeChat()
    async with store.transaction() as tx:  # the first try got this far, then ci-bot died
        await tx.messages.begin_post(SLOT.build_id, SLOT.role, SLOT.user, CLOCK.now())
    landed = await chat.post("C0SHOP", Notice("hi"), key=SLOT.key)

    found = await posting.post_or_update(store, chat, CLOCK, SLOT, to=TO, view=Notice("hi!"))

    assert found == landed
    assert len(chat.posts) == 1, "adopted, not posted twice"
    assert chat.updates == [(landed, Notice("hi!"))], "and brought up to date"
    async with store.transaction() as tx:
        assert await tx.messages.get(SLOT.build_id, SLOT.role, SLOT.user) == landed, "and saved"


async def test_a_post_begun_that_never_landed_is_made_again() -> None:
    store, chat = MemoryStore(), FakeChat()
    async with store.transaction() as tx:
        await tx.messages.begin_post(SLOT.build_id, SLOT.role, SLOT.user, CLOCK.now())

    ref, new = await posting.post_once(store, chat, CLOCK, SLOT, to=TO, view=Notice("hi"))

    assert new and len(chat.posts) == 1
    assert chat.keyed == {SLOT.key: ref}


async def test_a_reply_and_a_dm_carry_their_slots_key_too() -> None:
    store, chat = MemoryStore(), FakeChat()
    card, _ = await posting.post_once(store, chat, CLOCK, SLOT, to=TO, view=Notice("card"))
    dm = Slot("b1", "owner_dm", "U0OWNER")
    reply = Slot("b1", "reply:U0QA", "U0OWNER")

    await posting.post_once(store, chat, CLOCK, dm, to=To(dm="U0OWNER"), view=Notice("dm"))
    await posting.post_once(store, chat, CLOCK, reply, to=To(thread=card), view=Notice("re"))

    assert set(chat.keyed) == {SLOT.key, dm.key, reply.key}


async def test_a_message_the_caller_read_as_saved_is_updated_in_place() -> None:
    store, chat = MemoryStore(), FakeChat()
    first = await posting.post_or_update(store, chat, CLOCK, SLOT, to=TO, view=Notice("hi"))

    again = await posting.post_or_update(
        store, chat, CLOCK, SLOT, to=TO, view=Notice("hi!"), saved=first
    )

    assert again == first and len(chat.posts) == 1
    assert chat.updates == [(first, Notice("hi!"))]
