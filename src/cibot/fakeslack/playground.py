"""The playground: a small Slack client in the browser, served by the fake at `/`.

A person picks who they are (a QA member, an owner, someone outside the project), sees that
person's channels, DMs with the bot, ephemerals, modals and Home tab, and acts: each click,
submission, slash command or Home tab visit goes to the bot as Slack would send it
(`interactions` builds it, `Delivery.deliver` signs and posts it). The page itself is static
(`static/`: HTML, CSS, a little JavaScript, no build step) and polls `/_play/view` for what
to show; everything it shows is escaped there.

The routes under `/_play/` answer the page; `/_fake/respond/{token}` is the `response_url`
clicks and commands carry; `PUT /_fake/bot` tells a standalone fake where the bot is.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from cibot.fakeslack import interactions
from cibot.fakeslack.delivery import Answer, Bot, Delivery, NotConnected
from cibot.fakeslack.records import JsonDict, Message, User, ViewRecord
from cibot.fakeslack.state import SlackError, Workspace

STATIC = "static"
RESPONSE_URLS_KEPT = 1000
Endpoint = Callable[[Request], Awaitable[Response]]


class _Refused(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _text(data: JsonDict, name: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise _Refused(f"{name!r} must be a non-empty string")
    return value


def _answer(answer: Answer) -> JsonDict:
    return {"status": answer.status, "ok": answer.ok, "body": answer.text[:2000]}


def _message_json(message: Message) -> JsonDict:
    return {
        "ts": message.ts,
        "user": message.user,
        "text": message.text,
        "blocks": list(interactions.with_block_ids(message.blocks)),
        "edited": bool(message.history),
        "replies": [_message_json(r) for r in message.replies],
    }


def _view_json(view: ViewRecord | None) -> JsonDict | None:
    if view is None:
        return None
    payload = {**view.payload, "blocks": list(interactions.with_block_ids(view.blocks))}
    return {"id": view.id, "version": view.version, "payload": payload}


class Playground:
    """The playground's routes over one workspace and its delivery to the bot."""

    def __init__(self, workspace: Workspace, delivery: Delivery) -> None:
        self.ws = workspace
        self.delivery = delivery
        self._responses: dict[str, tuple[str, str]] = {}  # response_url token -> (user, channel)

    # -- what a person sees ------------------------------------------------------------------

    def people(self) -> JsonDict:
        users = [u for u in self.ws.users() if not u.is_bot]
        bot = self.delivery.bot
        return {
            "team": self.ws.config.team_name,
            "bot_user_id": self.ws.config.bot_user_id,
            "people": [{"id": u.id, "name": u.name, "real_name": u.real_name} for u in users],
            "names": {u.id: u.real_name or u.name for u in self.ws.users()},
            "bot": None if bot is None else bot.to_json(),
        }

    def view_of(self, user_id: str) -> JsonDict:
        user = self.ws.user(user_id)
        conversations: list[JsonDict] = []
        for channel in self.ws.channels():
            if user.id in channel.members:
                messages = [_message_json(m) for m in self.ws.messages(channel.id)]
                conversations.append(
                    {
                        "id": channel.id,
                        "name": channel.name,
                        "kind": "channel",
                        "messages": messages,
                    }
                )
        dm_id = self.ws.dm_channel(user.id) or self.ws.open_dm(user.id)[0]
        bot_name = self.ws.config.bot_name
        dm_messages = [_message_json(m) for m in self.ws.messages(dm_id)]
        conversations.append({"id": dm_id, "name": bot_name, "kind": "dm", "messages": dm_messages})
        ephemerals = [
            {"channel": e.channel, "ts": e.ts, "text": e.text, "blocks": list(e.blocks)}
            for e in self.ws.ephemerals(user.id)
        ]
        return {
            "me": user.id,
            "conversations": conversations,
            "ephemerals": ephemerals,
            "modal": _view_json(self.ws.open_modal(user.id)),
            "home": _view_json(self.ws.home_view(user.id)),
        }

    # -- what a person does ------------------------------------------------------------------

    def _response_url(self, request: Request, user: str, channel: str) -> str:
        token = secrets.token_urlsafe(12)
        self._responses[token] = (user, channel)
        if len(self._responses) > RESPONSE_URLS_KEPT:  # Slack's expire after 30 minutes
            del self._responses[next(iter(self._responses))]
        return f"{str(request.base_url).rstrip('/')}/_fake/respond/{token}"

    def _channel_name(self, channel_id: str) -> str:
        found = self.ws.channel(channel_id)
        return interactions.channel_name(found.name if found else None, self.ws.is_dm(channel_id))

    def _view(self, user: User, view_id: str) -> ViewRecord:
        home = self.ws.home_view(user.id)
        if home is not None and home.id == view_id:
            return home
        modal = self.ws.open_modal(user.id)
        if modal is not None and modal.id == view_id:
            return modal
        raise _Refused(f"{user.id} has no view {view_id} open", 404)

    async def click(self, request: Request, data: JsonDict) -> JsonDict:
        user = self.ws.user(_text(data, "user"))
        block_id, action_id = _text(data, "block_id"), _text(data, "action_id")
        trigger_id = self.ws.new_trigger_id(user.id)
        config = self.ws.config
        if view_id := _text(data, "view_id", required=False):
            view = self._view(user, view_id)
            element = interactions.find_element(
                interactions.with_block_ids(view.blocks), block_id, action_id
            )
            if element is None:
                raise _Refused(f"no {action_id} in block {block_id}", 404)
            payload = interactions.block_actions_on_view(
                config, user, view, element, block_id, trigger_id=trigger_id
            )
        else:
            channel, ts = _text(data, "channel"), _text(data, "ts")
            message = self.ws.message(channel, ts)
            if message is None or not self.ws.is_member(channel, user.id):
                raise _Refused(f"{user.id} sees no message {ts} in {channel}", 404)
            blocks = interactions.with_block_ids(message.blocks)
            element = interactions.find_element(blocks, block_id, action_id)
            if element is None:
                raise _Refused(f"no {action_id} in block {block_id}", 404)
            payload = interactions.block_actions_on_message(
                config,
                user,
                message,
                element,
                block_id,
                channel_name=self._channel_name(channel),
                trigger_id=trigger_id,
                response_url=self._response_url(request, user.id, channel),
            )
        return _answer(await self.delivery.interaction(payload))

    async def submit(self, data: JsonDict) -> JsonDict:
        user = self.ws.user(_text(data, "user"))
        view = self._view(user, _text(data, "view_id"))
        typed = data.get("values") or {}
        if not isinstance(typed, dict):
            raise _Refused("'values' must be an object")
        trigger_id = self.ws.new_trigger_id(user.id)
        payload = interactions.view_submission(
            self.ws.config, user, view, typed, trigger_id=trigger_id
        )
        answer = await self.delivery.interaction(payload)
        out = _answer(answer)
        reply = answer.json() or {}
        if answer.ok and reply.get("response_action") == "errors":
            out["errors"] = reply.get("errors") or {}
        elif answer.ok:
            self.ws.close_view(view.id)  # Slack closes the modal on an empty 200
        return out

    def cancel(self, data: JsonDict) -> JsonDict:
        user = self.ws.user(_text(data, "user"))
        self.ws.close_view(self._view(user, _text(data, "view_id")).id)
        return {"ok": True}

    async def command(self, request: Request, data: JsonDict) -> JsonDict:
        user = self.ws.user(_text(data, "user"))
        channel, typed = _text(data, "channel"), _text(data, "text").strip()
        if not self.ws.is_member(channel, user.id):
            raise _Refused(f"{user.id} is not in {channel}", 404)
        if not typed.startswith("/"):
            self.ws.post_message(channel, text=typed, user=user.id)
            return {"ok": True, "status": 200, "body": ""}
        fields = interactions.slash_command(
            self.ws.config,
            user,
            channel,
            self._channel_name(channel),
            typed,
            trigger_id=self.ws.new_trigger_id(user.id),
            response_url=self._response_url(request, user.id, channel),
        )
        answer = await self.delivery.command(fields)
        reply = answer.json()
        if answer.ok and reply is not None:
            self._show(user.id, channel, reply)
        elif answer.ok and answer.text.strip():
            self.ws.show_ephemeral(channel, user.id, text=answer.text)
        return _answer(answer)

    async def home_opened(self, data: JsonDict) -> JsonDict:
        user = self.ws.user(_text(data, "user"))
        dm_id = self.ws.open_dm(user.id)[0]
        envelope = interactions.app_home_opened(
            self.ws.config, user, dm_id, self.ws.home_view(user.id)
        )
        return _answer(await self.delivery.event(envelope))

    async def build(self, data: JsonDict) -> JsonDict:
        fields = {n: _text(data, n) for n in ("project", "image", "type", "target")}
        for optional in ("commit", "author"):
            if value := _text(data, optional, required=False).strip():
                fields[optional] = value
        return _answer(await self.delivery.notify_build(fields))

    def respond(self, token: str, data: JsonDict) -> JsonDict:
        """A `response_url` POST: the answer goes to the person (or the channel, in_channel)."""
        found = self._responses.get(token)
        if found is None:
            raise _Refused("unknown response_url", 404)
        self._show(*found, data)
        return {"ok": True}

    def _show(self, user: str, channel: str, reply: JsonDict) -> None:
        text = str(reply.get("text") or "")
        blocks = tuple(b for b in reply.get("blocks") or () if isinstance(b, dict))
        if not text and not blocks:
            return
        if reply.get("response_type") == "in_channel":
            self.ws.post_message(channel, text=text, blocks=blocks)
        else:
            self.ws.show_ephemeral(channel, user, text=text, blocks=blocks)


def playground_routes(workspace: Workspace, delivery: Delivery) -> list[BaseRoute]:
    """The page, its static files, and the JSON routes it calls."""
    play = Playground(workspace, delivery)

    def guarded(endpoint: Callable[[Request, JsonDict], Awaitable[Any]]) -> Endpoint:
        async def run(request: Request) -> Response:
            try:
                data: Any = {} if request.method == "GET" else await request.json()
                if not isinstance(data, dict):
                    raise _Refused("the body must be a JSON object")
                return JSONResponse(await endpoint(request, data))
            except ValueError:
                return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
            except _Refused as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            except SlackError as exc:
                return JSONResponse({"error": exc.code}, status_code=404)
            except NotConnected as exc:
                return JSONResponse({"error": str(exc)}, status_code=503)

        return run

    async def page(request: Request) -> Response:
        return FileResponse(_static_dir() + "/index.html", media_type="text/html")

    async def people(request: Request, data: JsonDict) -> JsonDict:
        return play.people()

    async def view(request: Request, data: JsonDict) -> JsonDict:
        return play.view_of(request.query_params.get("user", ""))

    async def click(request: Request, data: JsonDict) -> JsonDict:
        return await play.click(request, data)

    async def submit(request: Request, data: JsonDict) -> JsonDict:
        return await play.submit(data)

    async def cancel(request: Request, data: JsonDict) -> JsonDict:
        return play.cancel(data)

    async def command(request: Request, data: JsonDict) -> JsonDict:
        return await play.command(request, data)

    async def home(request: Request, data: JsonDict) -> JsonDict:
        return await play.home_opened(data)

    async def build(request: Request, data: JsonDict) -> JsonDict:
        return await play.build(data)

    async def respond(request: Request, data: JsonDict) -> JsonDict:
        return play.respond(request.path_params["token"], data)

    async def connect(request: Request, data: JsonDict) -> JsonDict:
        projects = data.get("projects") or []
        delivery.bot = Bot(
            url=_text(data, "url"),
            signing_secret=_text(data, "signing_secret"),
            webhook_secret=_text(data, "webhook_secret", required=False) or None,
            projects=tuple(str(p) for p in projects),
        )
        return delivery.bot.to_json()

    return [
        Route("/", page, methods=["GET"]),
        Mount("/static", StaticFiles(directory=_static_dir()), name="static"),
        Route("/_play/people", guarded(people), methods=["GET"]),
        Route("/_play/view", guarded(view), methods=["GET"]),
        Route("/_play/click", guarded(click), methods=["POST"]),
        Route("/_play/submit", guarded(submit), methods=["POST"]),
        Route("/_play/cancel", guarded(cancel), methods=["POST"]),
        Route("/_play/command", guarded(command), methods=["POST"]),
        Route("/_play/home", guarded(home), methods=["POST"]),
        Route("/_play/build", guarded(build), methods=["POST"]),
        Route("/_fake/respond/{token}", guarded(respond), methods=["POST"]),
        Route("/_fake/bot", guarded(connect), methods=["PUT"]),
    ]


def _static_dir() -> str:
    return str(Path(__file__).with_name(STATIC))
