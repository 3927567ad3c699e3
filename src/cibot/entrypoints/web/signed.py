"""What every signed CI request shares (`/build-complete`, `/branch-deleted`): verified first.

Order matters: size limit (413) and time limit (408) → find the secrets (the project's
own, else the global ones) → Standard Webhooks signature over the raw bytes (401) →
unreadable body (422) → unknown project (404). The project named in an unverified body is
used only to pick which secret to check; for a project we do not know, the global secret
decides whether the caller learns that it is unknown. Each route then checks its own
fields and commits. A refusal after the signature checked out is audited; one before it
never is.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from cibot.adapters.webhooks import WebhookVerificationError, verify
from cibot.domain.project import Project
from cibot.entrypoints.web.notification import InvalidNotification, parse_fields, validate
from cibot.service.errors import ReplayMismatch, StoreConflict, StoreUnavailable
from cibot.service.intake import record_refusal
from cibot.service.ports import Clock, Store

Model = TypeVar("Model", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Intake:
    """What the CI routes need, handed over by the composition root."""

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
    """A request answered with an error status; the response says why.

    `signed_as` is (project id, webhook id) once the signature had checked out: such a
    refusal is audited, an unsigned one never is (a flood of forgeries must not fill it).
    """

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra
        self.response = _error(status, message, **extra)
        self.signed_as: tuple[str | None, str] | None = None


@contextlib.contextmanager
def signed_refusals(project_id: str | None, webhook_id: str) -> Iterator[None]:
    """Refusals raised inside come from a request whose signature checked out."""
    try:
        yield
    except Refused as refused:
        refused.signed_as = (project_id, webhook_id)
        raise


async def audit_refusal(intake: Intake, refused: Refused) -> None:
    """Write a signed request's refusal to the audit trail (a busy database's excepted)."""
    if refused.signed_as is None or refused.status == 503:
        return
    project_id, webhook_id = refused.signed_as
    detail = {"error": refused.message[:500], "webhook_id": webhook_id, **refused.extra}
    with contextlib.suppress(StoreUnavailable):  # the refusal stands without its audit row
        await record_refusal(intake.store, intake.clock, project_id, refused.status, detail)


def busy() -> Refused:
    refused = Refused(503, "database busy, try again")
    refused.response.headers["Retry-After"] = "1"
    return refused


@dataclass(frozen=True, slots=True)
class Signed:
    """A CI request whose signature checked out, for a project ci-bot knows."""

    project: Project
    fields: dict[str, Any]
    webhook_id: str
    body_sha256: str  # what a repeat of `webhook_id` must match


def _fields(body: bytes, content_type: str) -> tuple[dict[str, Any] | None, str | None]:
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


async def signed_request(request: Request, intake: Intake) -> Signed:
    """The verified request, or Refused with the answer (413, 401, 422, 404)."""
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
    with signed_refusals(project.id if project else None, webhook_id):
        if fields is None:
            raise Refused(422, unparsable or "unreadable body")
        if not isinstance(name, str):
            raise Refused(422, "field 'project' is required", field="project")
        if project is None:
            raise Refused(404, "unknown project", project=name[:64])
    return Signed(project, fields, webhook_id, hashlib.sha256(body).hexdigest())


def checked(fields: dict[str, Any], model: type[Model]) -> Model:
    """The fields as `model`, or a 422 naming the field that is wrong."""
    try:
        return validate(fields, model)
    except InvalidNotification as exc:
        raise Refused(422, str(exc), field=exc.field) from exc


async def committed(record: Callable[[], Awaitable[T]]) -> T:
    """Run the recording use case; a busy database is a 503, a reused webhook id a 422.

    A concurrent duplicate (same webhook id) that won the race makes the first attempt a
    conflict; the retry then finds its delivery and replays its answer.
    """
    for attempt in (1, 2):
        try:
            return await record()
        except ReplayMismatch as exc:
            raise Refused(422, str(exc), field="webhook-id") from exc
        except StoreConflict:
            if attempt == 2:
                raise busy() from None
        except StoreUnavailable:
            raise busy() from None
    raise AssertionError("unreachable")  # pragma: no cover
