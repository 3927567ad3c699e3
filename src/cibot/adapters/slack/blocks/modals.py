"""The two modals, as `views.open` takes them: why a QA member rejects a build (optional)
and why an owner deploys without the quorum (required). The build id, and where the button
was (answers after the modal go there), ride along in `private_metadata`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import InputBlock, PlainTextInputElement
from slack_sdk.models.views import View

from cibot.adapters.slack.actions import (
    OVERRIDE_MODAL_CALLBACK,
    OVERRIDE_REASON_BLOCK,
    OVERRIDE_REASON_INPUT,
    REASON_MAX,
    REJECT_MODAL_CALLBACK,
    REJECT_REASON_BLOCK,
    REJECT_REASON_INPUT,
)
from cibot.adapters.slack.blocks.lines import build_label
from cibot.adapters.slack.blocks.parts import plain, section, unrenderable
from cibot.adapters.slack.text import code, escape
from cibot.service.views import ModalView, OverrideReasonModal, RejectReasonModal


def modal(view: ModalView) -> dict[str, Any]:
    """The `views.open` payload of a modal view."""
    match view:
        case RejectReasonModal():
            return reject_modal(view)
        case OverrideReasonModal():
            return override_modal(view)
        case _:
            raise unrenderable(view)


def reject_modal(view: RejectReasonModal) -> dict[str, Any]:
    """The `views.open` payload that asks why a build is rejected; the build id rides along."""
    build = view.build
    about = (
        f"You are rejecting the preview of {build_label(build)} for "
        f"{escape(view.project.name)} (build {code(build.id)}). "
        "Tell the owners why, if you like."
    )
    reason = PlainTextInputElement(
        action_id=REJECT_REASON_INPUT,
        multiline=True,
        max_length=REASON_MAX,
        placeholder=plain("What is wrong with it?"),
    )
    field = InputBlock(
        block_id=REJECT_REASON_BLOCK, optional=True, label=plain("Reason"), element=reason
    )
    asked = _Asked(REJECT_MODAL_CALLBACK, "Reject build", "Reject", about, field)
    return _reason_modal(asked, build.id, view.channel)


def override_modal(view: OverrideReasonModal) -> dict[str, Any]:
    """The `views.open` payload that asks an owner why they deploy without the quorum."""
    build = view.build
    about = (
        f"You are deploying {build_label(build)} of {escape(view.project.name)} "
        f"(build {code(build.id)}) to production although {escape(view.quorum.missing())}. "
        "Your reason goes to the audit trail and to the channel."
    )
    reason = PlainTextInputElement(
        action_id=OVERRIDE_REASON_INPUT,
        multiline=True,
        min_length=3,
        max_length=REASON_MAX,
        placeholder=plain("Why can this not wait for QA?"),
    )
    field = InputBlock(block_id=OVERRIDE_REASON_BLOCK, label=plain("Reason"), element=reason)
    asked = _Asked(OVERRIDE_MODAL_CALLBACK, "Deploy without QA", "Deploy", about, field)
    return _reason_modal(asked, build.id, view.channel)


@dataclass(frozen=True, slots=True)
class _Asked:
    """What sets one reason modal apart from the other."""

    callback_id: str
    title: str
    submit: str
    about: str  # mrkdwn: what the person is about to do
    field: InputBlock


def _reason_modal(asked: _Asked, build_id: str, channel: str | None) -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=asked.callback_id,
        private_metadata=f"{build_id}|{channel or ''}",
        title=plain(asked.title),
        submit=plain(asked.submit),
        close=plain("Cancel"),
        blocks=[section(asked.about), asked.field],
    ).to_dict()
