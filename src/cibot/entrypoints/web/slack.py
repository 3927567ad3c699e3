"""`POST /slack/events` (and `/slack-interactions`): button clicks and the reject modal.

Bolt's AsyncApp, mounted in our ASGI app, with `process_before_response`: a listener
verifies (Bolt checks the signature), authorises and commits the click's intent in one
transaction, and only then acknowledges; the slow work is in jobs. Nothing that must not be
lost runs after the ack. Before Bolt sees a request, a guard refuses oversized bodies and
any request whose signature does not verify (whatever makes the verifier raise), with a
401 that says nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cibot.adapters.slack.actions import (
    REASON_MAX,
    REJECT_MODAL_CALLBACK,
    REJECT_REASON_BLOCK,
    REJECT_REASON_INPUT,
    ActionId,
)
from cibot.domain.project import Project
from cibot.domain.review import Action
from cibot.entrypoints.web.build_complete import BodyTooLarge, read_body
from cibot.service import review
from cibot.service.errors import ServiceError
from cibot.service.ports import Chat, Clock, Store
from cibot.service.views import RejectReasonModal

ACTION_IDS = re.compile("^(" + "|".join(a.value for a in ActionId) + ")$")


def _click(
    body: Mapping[str, Any], action: Action, build_id: str, reason: str | None = None
) -> review.Click:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    return review.Click(
        build_id=build_id[:64],
        user=str((body.get("user") or {}).get("id", "")),
        action=action,
        channel=channel,
        reason=reason,
    )


def slack_app(
    *,
    token: str,
    signing_secret: str,
    client: AsyncWebClient,
    store: Store,
    clock: Clock,
    chat: Chat,
    projects: Mapping[str, Project],
    team_id: str | None = None,
    app_id: str | None = None,
) -> AsyncApp:
    app = AsyncApp(
        token=token,
        signing_secret=signing_secret,
        client=client,
        process_before_response=True,
    )

    @app.middleware
    async def only_our_workspace(
        req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        body = req.body
        team = (body.get("team") or {}).get("id") or body.get("team_id")
        if (team_id and team != team_id) or (app_id and body.get("api_app_id") != app_id):
            return BoltResponse(status=401, body="")
        return await next()

    @app.action(ACTION_IDS)
    async def on_button(ack: AsyncAck, body: dict[str, Any]) -> None:
        pressed = body["actions"][0]
        action_id = ActionId(pressed["action_id"])
        click = _click(body, action_id.action, str(pressed.get("value", "")))
        if action_id is ActionId.QA_REJECT and await _ask_reason(
            store, chat, projects, body, click
        ):
            await ack()
            return
        await review.click(store, clock, projects, click)
        await ack()

    @app.view(REJECT_MODAL_CALLBACK)
    async def on_reject_reason(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body["view"]
        build_id, _, channel = str(view.get("private_metadata", "")).partition("|")
        values = view.get("state", {}).get("values", {})
        reason = (values.get(REJECT_REASON_BLOCK, {}).get(REJECT_REASON_INPUT, {}) or {}).get(
            "value"
        )
        click = _click(body, Action.REJECT, build_id, (reason or "").strip()[:REASON_MAX] or None)
        if channel:
            click = review.Click(click.build_id, click.user, click.action, channel, click.reason)
        await review.click(store, clock, projects, click)
        await ack()

    return app


async def _ask_reason(
    store: Store,
    chat: Chat,
    projects: Mapping[str, Project],
    body: Mapping[str, Any],
    click: review.Click,
) -> bool:
    """Open the reject-reason modal if the rejection would be taken; True when opened."""
    form = await review.reject_form(store, projects, click)
    if form is None:
        return False
    modal = RejectReasonModal(form.build, form.project, channel=click.channel)
    try:
        await chat.open_modal(str(body.get("trigger_id", "")), modal)
    except ServiceError:
        return False  # no modal: take the rejection without a reason rather than lose it
    return True


class SlackGuard:
    """Refuses what Bolt should never parse: oversized bodies and unverifiable signatures."""

    def __init__(self, signing_secret: str, max_body_bytes: int, bolt: AsyncApp) -> None:
        self._verifier = SignatureVerifier(signing_secret)
        self._max = max_body_bytes
        self._bolt = bolt

    async def __call__(self, request: Request) -> Response:
        try:
            body = await read_body(request, self._max)
        except BodyTooLarge:
            return JSONResponse({"error": "body too large"}, status_code=413)
        if not self._verified(request, body):
            return JSONResponse({"error": "invalid or missing signature"}, status_code=401)
        answer = await self._bolt.async_dispatch(to_async_bolt_request(request, body))
        return to_starlette_response(answer)

    def _verified(self, request: Request, body: bytes) -> bool:
        try:
            return self._verifier.is_valid(
                body=body,
                timestamp=request.headers.get("x-slack-request-timestamp", ""),
                signature=request.headers.get("x-slack-signature", ""),
            )
        except Exception:  # the SDK raises on some malformed headers: all mean "not verified"
            return False
