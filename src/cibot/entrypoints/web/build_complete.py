"""`POST /build-complete`: the CI notification, verified before anything else is believed.

Order matters: size limit (413) → find the secrets (the project's own, else the global
ones) → Standard Webhooks signature over the raw bytes (401) → unknown project (404) →
field syntax (422) → commit (202). The project named in an unverified body is used only to
pick which secret to check; for a project we do not know, the global secret decides whether
the caller learns that it is unknown.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cibot.adapters.webhooks import WebhookVerificationError, verify
from cibot.crashpoints import crashpoint
from cibot.domain.build import BuildType
from cibot.domain.project import Project
from cibot.entrypoints.web.notification import InvalidNotification, parse_fields, validate
from cibot.service.errors import ImageNotAllowed, ReplayMismatch, StoreConflict, StoreUnavailable
from cibot.service.intake import BuildReport, record_build
from cibot.service.ports import Clock, Store


@dataclass(frozen=True, slots=True)
class Intake:
    """What the route needs, handed over by the composition root."""

    store: Store
    clock: Clock
    projects: Mapping[str, Project]
    global_secrets: Sequence[str]
    max_body_bytes: int


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(Exception):
    """The client did not send its whole body in time (T13: a slow, half-sent request)."""


# A CI notification or a Slack request is a few KiB: seconds are plenty. uvicorn has no
# timeout of its own for a body that stops arriving, so without this a client could hold a
# connection (and a coroutine) for ever by sending half a request.
BODY_TIMEOUT_SECONDS = 10.0


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing to read past `limit` bytes whatever Content-Length claims, or
    to wait longer than BODY_TIMEOUT_SECONDS for it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTooSlow from None
    return b"".join(chunks)


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class Refused(Exception):
    """A request answered with an error status; the response says why."""

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.response = _error(status, message, **extra)


def _fields(body: bytes, content_type: str) -> tuple[dict[str, object] | None, str | None]:
    """The parsed fields, or None and why they could not be parsed (told only once signed)."""
    try:
        return parse_fields(body, content_type), None
    except InvalidNotification as exc:
        return None, str(exc)


def _verified(request: Request, body: bytes, secrets: Sequence[str]) -> str:
    try:
        return verify(secrets, request.headers, body, now=time.time())
    except WebhookVerificationError:
        raise Refused(401, "invalid or missing webhook signature") from None


def _report(fields: dict[str, object]) -> BuildReport:
    try:
        note = validate(fields)
    except InvalidNotification as exc:
        raise Refused(422, str(exc), field=exc.field) from exc
    return BuildReport(
        image=note.image,
        type=BuildType(note.type),
        target=note.target,
        commit=note.commit,
        author=note.author,
        build_number=note.build_number,
        ci_url=note.ci_url,
    )


async def _record(
    intake: Intake, project: Project, report: BuildReport, webhook_id: str, body: bytes
) -> str:
    """Commit the build; one retry when a concurrent duplicate won the race."""
    digest = hashlib.sha256(body).hexdigest()
    for attempt in (1, 2):
        try:
            accepted = await record_build(
                store=intake.store,
                clock=intake.clock,
                project=project,
                report=report,
                webhook_id=webhook_id,
                body_sha256=digest,
            )
        except ReplayMismatch as exc:
            raise Refused(422, str(exc), field="webhook-id") from exc
        except ImageNotAllowed as exc:
            raise Refused(422, str(exc), field="image") from exc
        except StoreConflict:
            if attempt == 2:
                raise _busy() from None
        except StoreUnavailable:
            raise _busy() from None
        else:
            return accepted.build_id
    raise AssertionError("unreachable")  # pragma: no cover


def _busy() -> Refused:
    refused = Refused(503, "database busy, try again")
    refused.response.headers["Retry-After"] = "1"
    return refused


async def build_complete(request: Request, intake: Intake) -> Response:
    try:
        return await _build_complete(request, intake)
    except Refused as refused:
        return refused.response


async def _build_complete(request: Request, intake: Intake) -> Response:
    try:
        body = await read_body(request, intake.max_body_bytes)
    except BodyTooLarge:
        raise Refused(413, f"body larger than {intake.max_body_bytes} bytes") from None
    except BodyTooSlow:
        raise Refused(408, "the request body did not arrive in time") from None
    fields, unparsable = _fields(body, request.headers.get("content-type", ""))
    name = fields.get("project") if fields else None
    project = intake.projects.get(name) if isinstance(name, str) else None
    own = project.webhook_secrets if project else ()
    webhook_id = _verified(request, body, own or intake.global_secrets)
    if fields is None:
        raise Refused(422, unparsable or "unreadable body")
    if not isinstance(name, str):
        raise Refused(422, "field 'project' is required", field="project")
    if project is None:
        raise Refused(404, "unknown project", project=name[:64])
    build_id = await _record(intake, project, _report(fields), webhook_id, body)
    crashpoint("after_accept")
    return JSONResponse({"build_id": build_id}, status_code=202)
