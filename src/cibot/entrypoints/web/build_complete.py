"""`POST /build-complete`: the CI notification, verified before anything else is believed.

The signature, the size limit and the project are checked as for every signed CI request
(`signed.signed_request`); then the fields' syntax (422) and the commit (202). An image from
outside the project's allow-list is a 422 naming `image`. Signed refusals are audited.
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cibot.crashpoints import crashpoint
from cibot.domain.build import BuildType
from cibot.entrypoints.web.notification import BuildNotification
from cibot.entrypoints.web.signed import (
    Intake,
    Refused,
    Signed,
    audit_refusal,
    checked,
    committed,
    signed_refusals,
    signed_request,
)
from cibot.service.errors import ImageNotAllowed
from cibot.service.intake import BuildReport, record_build


def _report(note: BuildNotification) -> BuildReport:
    return BuildReport(
        image=note.image,
        type=BuildType(note.type),
        target=note.target,
        commit=note.commit,
        author=note.author,
        build_number=note.build_number,
        ci_url=note.ci_url,
    )


async def _record(intake: Intake, signed: Signed, report: BuildReport) -> str:
    try:
        accepted = await committed(
            partial(
                record_build,
                store=intake.store,
                clock=intake.clock,
                project=signed.project,
                report=report,
                webhook_id=signed.webhook_id,
                body_sha256=signed.body_sha256,
                group=intake.group,
            )
        )
    except ImageNotAllowed as exc:
        raise Refused(422, str(exc), field="image") from exc
    return accepted.build_id


async def build_complete(request: Request, intake: Intake) -> Response:
    try:
        signed = await signed_request(request, intake)
        with signed_refusals(signed.project.id, signed.webhook_id):
            report = _report(checked(signed.fields, BuildNotification))
            build_id = await _record(intake, signed, report)
    except Refused as refused:
        await audit_refusal(intake, refused)
        return refused.response
    crashpoint("after_accept")
    return JSONResponse({"build_id": build_id}, status_code=202)
