"""`POST /slack/events` (and `/slack-interactions`): button clicks, the reason modals, the
slash command, and the Events API (`app_home_opened`: the Home tab).

Bolt's AsyncApp, mounted in our ASGI app, with `process_before_response`: a listener
authorises and commits the click's intent in one transaction, and only then acknowledges;
the slow work is in jobs. Nothing that must not be lost runs after the ack. Before Bolt
sees a request, a guard refuses oversized bodies, any request whose signature does not
verify (whatever makes the verifier raise) with a 401 that says nothing more, and a signed
body of a shape Slack never sends with a 400 naming the field (`slack_payload`); the
listeners read the guard's checked payload. An event is answered likewise once its effect
is committed (`app_home_opened`: a publish of the person's Home tab, queued once per event
id, so Slack's retries of it change nothing).

The signature is checked once, by the guard: it must be, before a body is parsed, and the
guard is the only way into Bolt, so Bolt's own check (the same HMAC and the same 5-minute
window, in `slack_sdk.signature`) is turned off. Bolt routes each action id, modal
callback id, event and command to its own listener.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncBoltRequest
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
from cibot.entrypoints.web import slack_payload
from cibot.entrypoints.web.signed import BodyTooLarge, BodyTooSlow, read_body
from cibot.entrypoints.web.slack_payload import APP_HOME_OPENED, MalformedPayload, SlackPayload
from cibot.service import commands, home, review, rollback
from cibot.service.errors import ServiceError
from cibot.service.gate import situation_of
from cibot.service.jobs import NotifyUser
from cibot.service.ports import Chat, Clock, Store
from cibot.service.views import ModalView, OverrideReasonModal, RejectReasonModal


def _click(
    payload: SlackPayload, action: Action, build_id: str, reason: str | None = None
) -> review.Click:
    return review.Click(
        build_id=build_id[:64],
        user=payload.user_of,
        action=action,
        channel=payload.answer_to,
        reason=reason,
    )


def _submitted(payload: SlackPayload, block: str, element: str) -> tuple[str, str, str | None]:
    """(build id, channel, the text typed) of a reason modal's submission."""
    build_id, channel, typed = payload.submitted(block, element)
    return build_id, channel, typed[:REASON_MAX] if typed else None


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
        # Named: without a name Bolt takes its caller's file name from `inspect.stack()`,
        # which reads the source of every frame (tens of ms of each start). Not `cibot`: Bolt
        # sets the root's level of the moment on the logger of that name when it first uses
        # it, and `cibot` is the parent of every ci-bot logger.
        name="cibot.bolt",
        signing_secret=signing_secret,
        client=client,
        authorize=authorize,
        process_before_response=True,
        request_verification_enabled=False,  # the guard verified it: see the module's doc
    )

    @app.middleware
    async def only_our_workspace(
        req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        if not installed_here(req.context, team_id) or not for_our_app(req.context, app_id):
            return BoltResponse(status=401, body="")
        return await next()

    _on_clicks(app, store, clock, chat, projects)
    _on_forms(app, store, clock, projects)
    _on_home_and_command(app, store, clock, projects)
    return app


def _on_clicks(
    app: AsyncApp, store: Store, clock: Clock, chat: Chat, projects: Mapping[str, Project]
) -> None:
    """The buttons: one listener per action id."""

    async def judged(click: review.Click) -> None:
        await review.click(store, clock, projects, click)
        crashpoint("after_click")

    async def reason_first(
        payload: SlackPayload, click: review.Click, without: review.Click
    ) -> None:
        """Open the form that asks for the reason; if it cannot be, judge `without` now."""
        if not await _ask_reason(
            store, clock, chat=chat, projects=projects, payload=payload, click=click
        ):
            await judged(without)

    async def on_verdict(ack: AsyncAck, context: AsyncBoltContext) -> None:
        """Approve, deploy, close: the click is judged and its effect committed, then acked."""
        payload = _payload(context)
        pressed = payload.pressed
        await judged(_click(payload, ActionId(pressed.action_id).action, pressed.value or ""))
        await ack()

    for action_id in _PLAIN_CLICKS:
        app.action(action_id.value)(on_verdict)

    @app.action(ActionId.QA_REJECT.value)
    async def on_reject(ack: AsyncAck, context: AsyncBoltContext) -> None:
        """A rejection asks for its reason; without the form it is taken without one."""
        payload = _payload(context)
        click = _click(payload, Action.REJECT, payload.pressed.value or "")
        await reason_first(payload, click, without=click)
        await ack()

    @app.action(ActionId.DEPLOY_OVERRIDE.value)
    async def on_override(ack: AsyncAck, context: AsyncBoltContext) -> None:
        """An override needs a reason: without the form it is refused (the review says why)."""
        payload = _payload(context)
        click = _click(payload, Action.OVERRIDE, payload.pressed.value or "")
        await reason_first(payload, click, without=replace(click, reason=""))
        await ack()

    @app.action(ActionId.ROLLBACK_PRODUCTION.value)
    async def on_rollback(ack: AsyncAck, context: AsyncBoltContext) -> None:
        payload = _payload(context)
        value = payload.pressed.value or ""
        undo = rollback.RollbackClick(value[:32], payload.user_of, payload.answer_to)
        await rollback.rollback(store, clock, projects, undo)
        await ack()


def _on_forms(app: AsyncApp, store: Store, clock: Clock, projects: Mapping[str, Project]) -> None:
    """The reason modals' submissions: a rejection's and an override's."""

    @app.view(REJECT_MODAL_CALLBACK)
    async def on_reject_reason(ack: AsyncAck, context: AsyncBoltContext) -> None:
        payload = _payload(context)
        build_id, channel, reason = _submitted(payload, REJECT_REASON_BLOCK, REJECT_REASON_INPUT)
        click = replace(_click(payload, Action.REJECT, build_id, reason), channel=channel or None)
        await review.click(store, clock, projects, click)
        await ack()

    @app.view(OVERRIDE_MODAL_CALLBACK)
    async def on_override_reason(ack: AsyncAck, context: AsyncBoltContext) -> None:
        payload = _payload(context)
        build_id, channel, reason = _submitted(
            payload, OVERRIDE_REASON_BLOCK, OVERRIDE_REASON_INPUT
        )
        if reason is None or len(reason) < 3:
            errors = {OVERRIDE_REASON_BLOCK: "Say why this cannot wait for QA"}
            await ack(response_action="errors", errors=errors)
            return
        click = replace(_click(payload, Action.OVERRIDE, build_id, reason), channel=channel or None)
        await review.click(store, clock, projects, click)
        await ack()


def _on_home_and_command(
    app: AsyncApp, store: Store, clock: Clock, projects: Mapping[str, Project]
) -> None:
    """The Home tab opened, and the slash command."""

    @app.event(APP_HOME_OPENED)
    async def on_home_opened(context: AsyncBoltContext) -> None:
        payload = _payload(context)
        event = payload.event
        assert event is not None, "an event_callback has its event (checked on parsing)"
        if event.tab == "home" and isinstance(event.user, str):  # not the Messages tab
            await home.opened(store, clock, event.user, payload.event_id or "")

    @app.command(COMMAND)
    async def on_command(ack: AsyncAck, context: AsyncBoltContext) -> None:
        payload = _payload(context)
        command = commands.Command(
            text=(payload.text or "")[:2000],
            user=payload.user_of,
            channel=payload.channel_of,
        )
        answer = await commands.run(store, clock, projects, command)
        text, blocks = render(answer)
        await ack(response_type="ephemeral", text=text, blocks=blocks)


def installed_here(context: AsyncBoltContext, team_id: str | None) -> bool:
    """The request is for the installation `team_id` names, resolved as Bolt resolves it
    (slack_bolt.request.internals): an org-wide install (`is_enterprise_install`, `team`
    null) is its Enterprise Grid org, E…; otherwise the installing workspace, which for a
    modal opened in a Slack Connect channel is `view.app_installed_team_id`, not the
    clicking user's team."""
    if team_id is None:
        return True
    if context.is_enterprise_install:
        return context.enterprise_id == team_id
    return context.team_id == team_id


def for_our_app(context: AsyncBoltContext, app_id: str | None) -> bool:
    """The request names our app, or no app: older payloads (slash commands before
    `api_app_id` was added) carry none, and Bolt takes them."""
    named = _payload(context).api_app_id
    return app_id is None or named is None or named == app_id


COMMAND = "/cibot"
_PAYLOAD = "cibot_payload"  # the guard's checked reading of the body, in Bolt's context


def bolt_context(bolt: AsyncApp, payload: SlackPayload) -> dict[str, Any]:
    """What a request carries into Bolt, whichever way it came (HTTP or Socket Mode): the
    guard's checked payload, which the listeners read, and Bolt's logger."""
    return {"logger": bolt.logger, _PAYLOAD: payload}


def _payload(context: Mapping[str, Any]) -> SlackPayload:
    payload = context[_PAYLOAD]
    assert isinstance(payload, SlackPayload), "every request passes the guard first"
    return payload


# One listener per action id (Bolt routes each to its own); these three share what they do.
_PLAIN_CLICKS = (ActionId.QA_APPROVE, ActionId.DEPLOY_PRODUCTION, ActionId.CLOSE_BUILD)


async def _ask_reason(
    store: Store,
    clock: Clock,
    *,
    chat: Chat,
    projects: Mapping[str, Project],
    payload: SlackPayload,
    click: review.Click,
) -> bool:
    """Open the modal that asks for a reason if the click would be taken; True when opened."""
    form = await review.reason_form(store, clock, projects, click)
    if form is None:
        return False
    modal: ModalView = RejectReasonModal(form.build, form.project, channel=click.channel)
    if click.action is Action.OVERRIDE:
        async with store.transaction() as tx:
            situation = await situation_of(tx, form.project, form.build.id, clock.now())
        quorum = situation.quorum(form.project, form.build)
        modal = OverrideReasonModal(form.build, form.project, quorum, channel=click.channel)
    try:
        await chat.open_modal(payload.trigger_id or "", modal)
    except ServiceError:
        # No modal within the 3 s (or Slack refused it): say so rather than ack late. A
        # rejection is then taken without a reason rather than lost; an override is refused.
        if click.channel:
            async with store.transaction() as tx:
                text = _NO_FORM[click.action]
                await tx.jobs.enqueue(NotifyUser(click.channel, click.user, text))
        return False
    return True


_NO_FORM = {
    Action.REJECT: "Slack did not open the form for a reason in time: "
    "your rejection is recorded without one.",
    Action.OVERRIDE: "Slack did not open the form for a reason in time: please click again.",
}


def _is_ssl_check(request: Request, body: bytes) -> bool:
    """Slack's certificate check of a slash command's URL (`ssl_check=1`): answered 200 with
    an empty body, before the signature is checked, as Bolt's SslCheck middleware does
    (https://docs.slack.dev/interactivity/implementing-slash-commands). It changes nothing."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded" or b"ssl_check" not in body:
        return False
    try:
        fields = parse_qs(body.decode("utf-8"))
    except UnicodeDecodeError:
        return False
    return fields.get("ssl_check") == ["1"]


class SlackGuard:
    """Refuses what Bolt should never parse: oversized, unsigned or misshapen bodies."""

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
        if _is_ssl_check(request, body):
            return Response(status_code=200)
        if not self._verified(request, body):
            return JSONResponse({"error": "invalid or missing signature"}, status_code=401)
        try:
            fields = slack_payload.decode(body, request.headers.get("content-type"))
            payload = slack_payload.of(fields)
        except MalformedPayload as problem:
            return JSONResponse({"error": str(problem)}, status_code=400)
        assert isinstance(fields, dict), "a payload is an object (checked by `of`)"
        answer = await self._bolt.async_dispatch(self._bolt_request(request, fields, payload))
        return to_starlette_response(answer)

    def _bolt_request(
        self, request: Request, fields: dict[str, Any], payload: SlackPayload
    ) -> AsyncBoltRequest:
        """What Bolt's Starlette adapter makes, with our payload and Bolt's logger in context.

        Bolt is handed the body the guard parsed, not its text: given text, it would parse it
        all over again (the form, then the JSON in it) on every click. A parsed body is what
        Bolt takes in Socket Mode, hence `mode="socket_mode"`; Bolt reads the mode only to
        skip its signature check (off: the guard checked it) and to copy a request for lazy
        listeners (ci-bot has none).

        Bolt logs while it builds a request's context (a modal's several `response_urls`)
        before it has put its logger there: without one, that payload raised a KeyError.
        """
        headers: dict[str, str | Sequence[str]] = dict(request.headers)
        return AsyncBoltRequest(
            body=fields,
            mode="socket_mode",
            query=request.url.query,
            headers=headers,
            context=bolt_context(self._bolt, payload),
        )

    def _verified(self, request: Request, body: bytes) -> bool:
        try:
            return self._verifier.is_valid(
                body=body,
                timestamp=request.headers.get("x-slack-request-timestamp", ""),
                signature=request.headers.get("x-slack-signature", ""),
            )
        except Exception:  # the SDK raises on some malformed headers: all mean "not verified"
            return False
