"""`POST /slack/events` (and `/slack-interactions`): button clicks and the reject modal.

Bolt's AsyncApp, mounted in our ASGI app, with `process_before_response`: a listener
verifies (Bolt checks the signature), authorises and commits the click's intent in one
transaction, and only then acknowledges; the slow work is in jobs. Nothing that must not be
lost runs after the ack. Before Bolt sees a request, a guard refuses oversized bodies and
any request whose signature does not verify (whatever makes the verifier raise), with a
401 that says nothing more.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cibot.adapters.slack.actions import (
    OVERRIDE_MODAL_CALLBACK,
    OVERRIDE_REASON_BLOCK,
    OVERRIDE_REASON_INPUT,
    REASON_MAX,
    REJECT_MODAL_CALLBACK,
    REJECT_REASON_BLOCK,
    REJECT_REASON_INPUT,
    ActionId,
)
from cibot.adapters.slack.blocks import render
from cibot.crashpoints import crashpoint
from cibot.domain.project import Project
from cibot.domain.review import Action
from cibot.entrypoints.web.signed import BodyTooLarge, BodyTooSlow, read_body
from cibot.service import commands, review, rollback
from cibot.service.errors import ServiceError
from cibot.service.gate import situation_of
from cibot.service.ports import Chat, Clock, Store
from cibot.service.views import OverrideReasonModal, RejectReasonModal

ACTION_IDS = re.compile("^(" + "|".join(a.value for a in ActionId) + ")$")


def _channel(body: Mapping[str, Any]) -> str | None:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    return str(channel) if channel else None


def _user(body: Mapping[str, Any]) -> str:
    return str((body.get("user") or {}).get("id", ""))


def _click(
    body: Mapping[str, Any], action: Action, build_id: str, reason: str | None = None
) -> review.Click:
    return review.Click(
        build_id=build_id[:64],
        user=_user(body),
        action=action,
        channel=_channel(body),
        reason=reason,
    )


def _submitted(body: Mapping[str, Any], block: str, element: str) -> tuple[str, str, str | None]:
    """(build id, channel, the text typed) of a reason modal's submission."""
    view = body.get("view") or {}
    build_id, _, channel = str(view.get("private_metadata", "")).partition("|")
    values = (view.get("state") or {}).get("values") or {}
    typed = ((values.get(block) or {}).get(element) or {}).get("value")
    return build_id, channel, (typed or "").strip()[:REASON_MAX] or None


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
    async def authorize(team_id: str | None = None) -> AuthorizeResult:
        # Bolt's default authorisation calls auth.test on the first request (on every one of
        # those that arrive together): a Slack round trip inside the 3 s a click has. The
        # request is already verified and the token is ours (`cibot check` tests it).
        return AuthorizeResult(enterprise_id=None, team_id=team_id, bot_token=token)

    app = AsyncApp(
        signing_secret=signing_secret,
        client=client,
        authorize=authorize,
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
        value = str(pressed.get("value", ""))
        if action_id is ActionId.ROLLBACK_PRODUCTION:
            undo = rollback.RollbackClick(value[:32], _user(body), _channel(body))
            await rollback.rollback(store, clock, projects, undo)
            await ack()
            return
        click = _click(body, action_id.action, value)
        if action_id in _ASKS_FOR_REASON and await _ask_reason(
            store, clock, chat=chat, projects=projects, body=body, click=click
        ):
            await ack()
            return
        if action_id is ActionId.DEPLOY_OVERRIDE:
            click = replace(click, reason="")  # no modal: refused below (an override needs one)
        await review.click(store, clock, projects, click)
        crashpoint("after_click")
        await ack()

    @app.view(REJECT_MODAL_CALLBACK)
    async def on_reject_reason(ack: AsyncAck, body: dict[str, Any]) -> None:
        build_id, channel, reason = _submitted(body, REJECT_REASON_BLOCK, REJECT_REASON_INPUT)
        click = replace(_click(body, Action.REJECT, build_id, reason), channel=channel or None)
        await review.click(store, clock, projects, click)
        await ack()

    @app.view(OVERRIDE_MODAL_CALLBACK)
    async def on_override_reason(ack: AsyncAck, body: dict[str, Any]) -> None:
        build_id, channel, reason = _submitted(body, OVERRIDE_REASON_BLOCK, OVERRIDE_REASON_INPUT)
        if reason is None or len(reason) < 3:
            errors = {OVERRIDE_REASON_BLOCK: "Say why this cannot wait for QA"}
            await ack(response_action="errors", errors=errors)
            return
        click = replace(_click(body, Action.OVERRIDE, build_id, reason), channel=channel or None)
        await review.click(store, clock, projects, click)
        await ack()

    @app.command(COMMAND)
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        command = commands.Command(
            text=str(body.get("text", ""))[:2000],
            user=str(body.get("user_id", "")),
            channel=str(body.get("channel_id", "")) or None,
        )
        answer = await commands.run(store, clock, projects, command)
        text, blocks = render(answer)
        await ack(response_type="ephemeral", text=text, blocks=blocks)

    return app


COMMAND = "/cibot"
_ASKS_FOR_REASON = frozenset({ActionId.QA_REJECT, ActionId.DEPLOY_OVERRIDE})


async def _ask_reason(
    store: Store,
    clock: Clock,
    *,
    chat: Chat,
    projects: Mapping[str, Project],
    body: Mapping[str, Any],
    click: review.Click,
) -> bool:
    """Open the modal that asks for a reason if the click would be taken; True when opened."""
    form = await review.reason_form(store, clock, projects, click)
    if form is None:
        return False
    modal: object = RejectReasonModal(form.build, form.project, channel=click.channel)
    if click.action is Action.OVERRIDE:
        async with store.transaction() as tx:
            situation = await situation_of(tx, form.project, form.build.id, clock.now())
        quorum = situation.quorum(form.project, form.build)
        modal = OverrideReasonModal(form.build, form.project, quorum, channel=click.channel)
    try:
        await chat.open_modal(str(body.get("trigger_id", "")), modal)
    except ServiceError:
        return False  # no modal: a rejection is taken without a reason rather than lost
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
        except BodyTooSlow:
            return JSONResponse({"error": "request body not received in time"}, status_code=408)
        if not self._verified(request, body):
            return JSONResponse({"error": "invalid or missing signature"}, status_code=401)
        if (problem := malformed(body)) is not None:
            return JSONResponse({"error": problem}, status_code=400)
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


def malformed(body: bytes) -> str | None:
    """Why a (signed) interaction payload cannot be handled, or None when its shape is fine.

    Bolt indexes `actions[0]["action_id"]` and friends without checking, so a payload of the
    wrong shape was a 500; it is a 400 here, before Bolt sees it. (Slack never sends these;
    a fuzzer, or a bug on Slack's side, might.)
    """
    fields = parse_qs(body.decode("utf-8", "replace"))
    if "payload" not in fields:
        return None  # a slash command or an event: Bolt reads those without surprises
    try:
        payload = json.loads(fields["payload"][0])
    except ValueError:
        return "payload is not JSON"
    return _shape_problem(payload)


def _shape_problem(payload: object) -> str | None:
    if not isinstance(payload, dict):
        return "payload is not a JSON object"
    problem = None
    actions = payload.get("actions")
    if not isinstance(payload.get("user", {}), dict):
        problem = "payload.user is not an object"
    elif payload.get("type") == "block_actions" and not (isinstance(actions, list) and actions):
        problem = "block_actions without actions"
    elif payload.get("type") == "block_actions" and not all(
        isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions or ()
    ):
        problem = "an action without an action_id"
    elif payload.get("type") == "view_submission" and not _view_shape_ok(payload.get("view")):
        problem = "view_submission without a well-formed view"
    return problem


def _view_shape_ok(view: object) -> bool:
    """A view with its type, and state values as Slack nests them (block -> element -> {…})."""
    if not (isinstance(view, dict) and isinstance(view.get("type"), str)):
        return False
    state = view.get("state") or {}
    values = state.get("values") or {} if isinstance(state, dict) else None
    if not isinstance(values, dict):
        return False
    blocks = values.values()
    return all(isinstance(b, dict) and all(isinstance(e, dict) for e in b.values()) for b in blocks)
