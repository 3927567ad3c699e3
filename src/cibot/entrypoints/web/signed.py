"""What every signed CI request shares (`/build-complete`, `/branch-deleted`): verified first.

Order matters: size limit (413) and time limit (408) → Standard Webhooks signature over the
raw bytes, tried with every secret the config knows (401) → unreadable body (422) → the
project it names (404 unknown, 401 when the secret that signed it is not that project's) →
text no database could store (422). A secret learns nothing about a body signed for another
project, not even that one of its fields holds a NUL.
Nothing of an unsigned body is parsed: parsing is what costs memory and time (a 1 MiB form
of empty fields is tens of MB and a blocked event loop for hundreds of milliseconds), so
only a body that one of the known secrets signed gets that far (T19). The secrets are few
and known from the config: each project's own (or the global ones it falls back to) and
the global ones. For a project we do not know, only a global secret's signature lets the
caller learn that it is unknown. Each route then checks its own fields and commits. A
refusal after the signature checked out is audited; one before it never is.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from cibot.adapters.webhooks import WebhookVerificationError, signed_by
from cibot.domain.project import Project
from cibot.entrypoints.web.notification import (
    InvalidNotification,
    check_storable,
    parse_fields,
    validate,
)
from cibot.service.errors import ReplayMismatch, StoreConflict, StoreUnavailable
from cibot.service.group_commit import GroupCommit
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
    # Builds reported together are committed together (see service.group_commit).
    group: GroupCommit = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "group", GroupCommit(self.store))

    def secrets_of(self, project: Project) -> frozenset[str]:
        """The secrets that sign for `project`: its own, else the global ones."""
        return frozenset(project.webhook_secrets or self.global_secrets)

    def candidate_secrets(self) -> tuple[str, ...]:
        """Every secret that may sign a CI request: the projects' and the global ones."""
        found = [s for p in self.projects.values() for s in p.webhook_secrets]
        return tuple(dict.fromkeys([*found, *self.global_secrets]))


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
    if declared.isascii() and declared.isdigit() and int(declared) > limit:  # not `²`
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


@contextlib.contextmanager
def _unreadable() -> Iterator[None]:
    """InvalidNotification raised inside is a 422 saying why (naming the field if one)."""
    try:
        yield
    except InvalidNotification as exc:
        named = {"field": exc.field} if exc.field else {}
        raise Refused(422, str(exc), **named) from None


def _signers(request: Request, body: bytes, intake: Intake) -> tuple[str, frozenset[str]]:
    """(webhook id, the secrets that signed the raw body), or a 401 before any parsing."""
    try:
        return signed_by(intake.candidate_secrets(), request.headers, body, now=time.time())
    except WebhookVerificationError:
        raise _unsigned() from None


def _unsigned() -> Refused:
    return Refused(401, "invalid or missing webhook signature")


async def signed_request(request: Request, intake: Intake) -> Signed:
    """The verified request, or Refused with the answer (413, 408, 401, 422, 404)."""
    try:
        body = await read_body(request, intake.max_body_bytes)
    except BodyTooLarge:
        raise Refused(413, f"body larger than {intake.max_body_bytes} bytes") from None
    except BodyTooSlow:
        raise Refused(408, "the request body did not arrive in time") from None
    webhook_id, signers = _signers(request, body, intake)
    with signed_refusals(None, webhook_id), _unreadable():
        fields = parse_fields(body, request.headers.get("content-type", ""))
        name = fields.get("project")
        if not isinstance(name, str):
            raise Refused(422, "field 'project' is required", field="project")
        check_storable({"project": name})
    project = intake.projects.get(name)
    if project is not None and not signers & intake.secrets_of(project):
        raise _unsigned()  # signed, but with another project's secret
    if project is None and not signers & set(intake.global_secrets):
        raise _unsigned()  # only a global secret may learn which projects do not exist
    if project is None:
        with signed_refusals(None, webhook_id):
            raise Refused(404, "unknown project", project=name[:64])
    with signed_refusals(project.id, webhook_id), _unreadable():
        check_storable(fields)
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
