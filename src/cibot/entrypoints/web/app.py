"""The ASGI application: routes only; the composition root hands in every dependency."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cibot.entrypoints.web.branch_deleted import branch_deleted
from cibot.entrypoints.web.build_complete import build_complete
from cibot.entrypoints.web.metrics import Metrics
from cibot.entrypoints.web.signed import Intake

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

_NOTIFICATION = {
    "type": "object",
    "required": ["project", "image", "type", "target"],
    "properties": {
        "project": {"type": "string"},
        "image": {"type": "string"},
        "type": {"type": "string", "enum": ["branch", "tag"]},
        "target": {"type": "string"},
        "commit": {"type": "string"},
        "author": {"type": "string"},
        "build_number": {"type": "integer"},
        "ci_url": {"type": "string"},
    },
}
BUILD_COMPLETE_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _NOTIFICATION},
            "application/x-www-form-urlencoded": {"schema": _NOTIFICATION},
        },
    },
    "responses": {
        "202": {"description": "Accepted: the build is recorded; body {build_id}"},
        "401": {"description": "Missing or bad Standard Webhooks signature"},
        "404": {"description": "Unknown project"},
        "408": {"description": "The body did not arrive within 10 s"},
        "413": {"description": "Body too large"},
        "422": {"description": "A field is invalid; the message names it"},
        "503": {"description": "Database busy; retry after Retry-After seconds"},
    },
}


_BRANCH = {
    "type": "object",
    "required": ["project", "branch"],
    "properties": {"project": {"type": "string"}, "branch": {"type": "string"}},
}
BRANCH_DELETED_SCHEMA = {
    "summary": "A branch was deleted: close its builds and remove its preview",
    "description": "Signed like /build-complete (Standard Webhooks). Only objects carrying "
    "ci-bot's labels are deleted, and only while no build of the branch lives again.",
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _BRANCH},
            "application/x-www-form-urlencoded": {"schema": _BRANCH},
        },
    },
    "responses": {
        "202": {"description": "Accepted: body {closed: [build ids]}; the preview is removed"},
        "401": {"description": "Missing or bad Standard Webhooks signature"},
        "404": {"description": "Unknown project"},
        "413": {"description": "Body too large"},
        "422": {"description": "A field is invalid; the message names it"},
        "503": {"description": "Database busy; retry after Retry-After seconds"},
    },
}


def create_app(
    intake: Intake,
    metrics: Metrics,
    ready: Callable[[], Awaitable[bool]],
    lifespan: Lifespan | None = None,
    extra_routes: Sequence[tuple[str, Callable[[Request], Awaitable[Response]]]] = (),
) -> FastAPI:
    app = FastAPI(title="ci-bot", version="0.1.0", lifespan=lifespan)

    async def counted(route: str, response: Awaitable[Response]) -> Response:
        started = time.perf_counter()
        answered = await response
        metrics.webhooks.labels(route, str(answered.status_code)).inc()
        metrics.webhook_seconds.observe(time.perf_counter() - started)
        return answered

    @app.post("/build-complete", openapi_extra=BUILD_COMPLETE_SCHEMA, status_code=202)
    async def _build_complete(request: Request) -> Response:
        return await counted("build-complete", build_complete(request, intake))

    @app.post("/branch-deleted", openapi_extra=BRANCH_DELETED_SCHEMA, status_code=202)
    async def _branch_deleted(request: Request) -> Response:
        return await counted("branch-deleted", branch_deleted(request, intake))

    @app.get("/healthz")
    async def _healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def _readyz() -> JSONResponse:
        if await ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "database unreachable"}, status_code=503)

    @app.get("/metrics")
    async def _metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for path, endpoint in extra_routes:
        app.add_api_route(path, endpoint, methods=["POST"], include_in_schema=False)
    return app
