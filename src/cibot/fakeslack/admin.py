"""The admin HTTP API under `/_fake/`: read the fake's state and arm faults from outside.

End-to-end tests and the local playground run the fake in another process than the test, so
everything the Python API offers (queries, faults, reset, seeding) is also reachable as JSON
over HTTP. The routes are listed at the end of `admin_app`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cibot.fakeslack import delivery
from cibot.fakeslack.faults import Fault, FaultPlan
from cibot.fakeslack.records import JsonDict
from cibot.fakeslack.sockets import DISCONNECT_REASONS, NotDelivered
from cibot.fakeslack.state import SlackError, Workspace

Endpoint = Callable[[Request], Awaitable[Response]]


class _Invalid(Exception):
    """A bad admin request: answered 400 (or `status`) with `{"error": message}`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _param(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise _Invalid(f"query parameter {name!r} is required")
    return value


async def _body(request: Request) -> JsonDict:
    try:
        data = await request.json()
    except ValueError as exc:
        raise _Invalid("the body must be a JSON object") from exc
    if not isinstance(data, dict):
        raise _Invalid("the body must be a JSON object")
    return data


def _snapshot(ws: Workspace) -> JsonDict:
    """Everything the fake holds, as JSON (the call log only as a count)."""
    channels = [c.id for c in ws.channels()]
    dms = {u.id: dm for u in ws.users() if (dm := ws.dm_channel(u.id)) is not None}
    return {
        "config": {
            "team_id": ws.config.team_id,
            "bot_user_id": ws.config.bot_user_id,
            "bot_id": ws.config.bot_id,
        },
        "users": [u.to_json() for u in ws.users()],
        "channels": [c.to_json() for c in ws.channels()],
        "dms": dms,
        "messages": {c: [m.to_json() for m in ws.messages(c)] for c in [*channels, *dms.values()]},
        "ephemerals": [e.to_json() for e in ws.all_ephemerals()],
        "views": [v.to_json() for v in ws.views()],
        "home": {u.id: h.to_json() for u in ws.users() if (h := ws.home_view(u.id)) is not None},
        "calls": len(ws.calls()),
        "refusals": ws.refusals.to_json(),
        "limits": ws.limits.to_json(),
    }


def admin_app(
    workspace: Workspace, faults: FaultPlan, extra: Sequence[BaseRoute] = ()
) -> Starlette:
    """The Starlette app serving `/_fake/…` for this workspace and fault plan (and `extra`
    routes beside them: the playground's)."""
    ws = workspace

    def guarded(endpoint: Endpoint) -> Endpoint:
        async def run(request: Request) -> Response:
            try:
                return await endpoint(request)
            except _Invalid as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            except SlackError as exc:
                return JSONResponse({"error": exc.code}, status_code=404)
            except (KeyError, TypeError, ValueError) as exc:
                return JSONResponse({"error": f"bad request: {exc!r}"}, status_code=400)

        return run

    def listed(items: list[Any]) -> JSONResponse:
        return JSONResponse([item.to_json() for item in items])

    async def state(request: Request) -> Response:
        return JSONResponse({**_snapshot(ws), **faults.to_json()})

    async def reset(request: Request) -> Response:
        ws.reset()
        faults.clear()
        return JSONResponse({"ok": True})

    async def calls(request: Request) -> Response:
        return listed(ws.calls(request.query_params.get("method")))

    async def messages(request: Request) -> Response:
        return listed(ws.messages(_param(request, "channel")))

    async def dm(request: Request) -> Response:
        user = _param(request, "user")
        found = [m.to_json() for m in ws.dm_messages(user)]
        return JSONResponse({"channel": ws.dm_channel(user), "messages": found})

    async def ephemerals(request: Request) -> Response:
        channel = request.query_params.get("channel")
        return listed(ws.ephemerals(_param(request, "user"), channel))

    async def home(request: Request) -> Response:
        record = ws.home_view(_param(request, "user"))
        return JSONResponse(None if record is None else record.to_json())

    async def add_fault(request: Request) -> Response:
        faults.add(Fault.from_json(await _body(request)))
        return JSONResponse(faults.to_json(), status_code=201)

    async def trigger_id(request: Request) -> Response:
        user = str((await _body(request))["user"])
        return JSONResponse({"trigger_id": ws.new_trigger_id(user)}, status_code=201)

    routes = [
        Route("/_fake/state", guarded(state), methods=["GET"]),
        Route("/_fake/reset", guarded(reset), methods=["POST"]),
        Route("/_fake/calls", guarded(calls), methods=["GET"]),
        Route("/_fake/messages", guarded(messages), methods=["GET"]),
        Route("/_fake/dm", guarded(dm), methods=["GET"]),
        Route("/_fake/ephemerals", guarded(ephemerals), methods=["GET"]),
        Route("/_fake/home", guarded(home), methods=["GET"]),
        Route("/_fake/faults", guarded(add_fault), methods=["POST"]),
        Route("/_fake/trigger_ids", guarded(trigger_id), methods=["POST"]),
    ]
    return Starlette(
        routes=[*routes, *_rule_routes(ws, guarded), *_delivery_routes(ws, guarded), *extra]
    )


def _delivery_routes(ws: Workspace, guarded: Callable[[Endpoint], Endpoint]) -> list[Route]:
    """What people do, delivered to the app (`delivery.deliver`: its Request URL or a Socket
    Mode connection), and Socket Mode's connections misbehaving on request."""

    async def deliver(request: Request) -> Response:
        payload = (await _body(request)).get("payload")
        if not isinstance(payload, dict):
            raise _Invalid('expected {"payload": {…}}: an interaction, event or slash command')
        try:
            done = await delivery.deliver(ws, payload)
        except NotDelivered as exc:
            raise _Invalid(f"not delivered: {exc}", status=504) from exc
        return JSONResponse(done.to_json())

    async def sockets(request: Request) -> Response:
        return JSONResponse(ws.sockets.to_json())

    async def disconnect(request: Request) -> Response:
        body = await _body(request)
        reason = body.get("reason", "refresh_requested")
        if reason not in DISCONNECT_REASONS:
            raise _Invalid(f"reason must be one of {', '.join(DISCONNECT_REASONS)}")
        told = await ws.sockets.disconnect(reason, close=bool(body.get("close", False)))
        return JSONResponse({"connections": told})

    async def drop(request: Request) -> Response:
        body = await _body(request)
        closed = await ws.sockets.drop(on_next_envelope=bool(body.get("on_next_envelope")))
        return JSONResponse({"connections": closed})

    return [
        Route("/_fake/deliver", guarded(deliver), methods=["POST"]),
        Route("/_fake/sockets", guarded(sockets), methods=["GET"]),
        Route("/_fake/sockets/disconnect", guarded(disconnect), methods=["POST"]),
        Route("/_fake/sockets/drop", guarded(drop), methods=["POST"]),
    ]


def _rule_routes(ws: Workspace, guarded: Callable[[Endpoint], Endpoint]) -> list[Route]:
    """Slack's rules this workspace applies: its refusals, its rate limits and the app's
    settings (its manifest)."""

    async def refusals(request: Request) -> Response:
        if request.method == "DELETE":
            ws.refusals.clear()
        elif request.method == "POST":
            try:
                ws.refusals.apply_json(await _body(request))
            except ValueError as exc:
                raise _Invalid(str(exc)) from exc
        return JSONResponse(ws.refusals.to_json())

    async def limits(request: Request) -> Response:
        if request.method != "GET":
            data = await _body(request)
            if "factor" in data:
                factor = data["factor"]
                ws.limits.relax(float("inf") if factor is None else float(factor))
            if "error" in data:
                if data["error"] not in ("ratelimited", "rate_limited"):
                    raise _Invalid("error must be ratelimited or rate_limited")
                ws.limits.error = str(data["error"])
        return JSONResponse(ws.limits.to_json())

    async def app(request: Request) -> Response:
        if request.method == "PUT":
            try:
                ws.set_app_settings(**await _body(request))
            except (TypeError, ValueError) as exc:
                raise _Invalid(str(exc)) from exc
        return JSONResponse(ws.manifest())

    return [
        Route("/_fake/refusals", guarded(refusals), methods=["GET", "POST", "DELETE"]),
        Route("/_fake/limits", guarded(limits), methods=["GET", "PUT"]),
        Route("/_fake/app", guarded(app), methods=["GET", "PUT"]),
    ]
