"""`POST /branch-deleted`: CI (or the forge's webhook relay) says a branch is gone.

Signed and checked exactly like `/build-complete` (`signed.signed_request`); the body, JSON
or form, names `project` and `branch` (a git branch name, by the same rules as `target`).
Answers `202 {"closed": [build ids]}` once committed; a repeated `webhook-id` replays it.
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cibot.entrypoints.web.notification import BranchDeletion
from cibot.entrypoints.web.signed import (
    Intake,
    Refused,
    audit_refusal,
    checked,
    committed,
    signed_refusals,
    signed_request,
)
from cibot.service.branches import close_branch


async def branch_deleted(request: Request, intake: Intake) -> Response:
    try:
        signed = await signed_request(request, intake)
        with signed_refusals(signed.project.id, signed.webhook_id):
            deletion = checked(signed.fields, BranchDeletion)
            result = await committed(
                partial(
                    close_branch,
                    store=intake.store,
                    clock=intake.clock,
                    project=signed.project,
                    branch=deletion.branch,
                    webhook_id=signed.webhook_id,
                    body_sha256=signed.body_sha256,
                )
            )
    except Refused as refused:
        await audit_refusal(intake, refused)
        return refused.response
    return JSONResponse({"closed": list(result.closed)}, status_code=202)
