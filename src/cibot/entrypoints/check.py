"""`cibot check`: is this configuration ready to run? A readable report and an exit code.

Checks, in order: the config itself (already loaded: syntax and values), what is legal but
surely unmeant (a project nobody may approve or deploy), Slack authentication and the
user groups named in roles (when a token is configured), the app's own settings that a bot
token cannot see (the Messages tab, Socket Mode, interactivity: read from the app's manifest
with `slack.app_config_token`, else a warning that they are unverified), who holds both roles
of a project (a warning, not a failure: one person could approve a build and deploy it alone),
and whether ci-bot's Kubernetes identity may do what it needs in each project's namespace
(SelfSubjectAccessReview, so nothing is created to find out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import httpx2
import typer
from lightkube import AsyncClient
from lightkube.models.authorization_v1 import ResourceAttributes, SelfSubjectAccessReviewSpec
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from cibot.adapters.kubernetes.client import kube_config
from cibot.adapters.retry import NO_RETRY
from cibot.adapters.slack.app_settings import EXPORT_REFUSALS, findings
from cibot.adapters.slack.chat import WORKSPACE_REFUSALS, web_client
from cibot.config import Settings, readiness_problems
from cibot.domain.project import is_group
from cibot.entrypoints.socket_mode import AppTokenRefused, open_connection_url

# (API group, resource, verbs) ci-bot needs in each project namespace: the chart's Role
# grants exactly these (charts/cibot/templates/_helpers.tpl; a test keeps the two equal).
# Every route kind, whichever a project uses: removing an environment looks for each.
# `watch` on deployments: a rollout is followed as it happens (without it, polled).
NEEDED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("apps", "deployments", ("get", "create", "patch", "delete", "watch")),
    ("", "services", ("get", "create", "patch", "delete")),
    ("networking.k8s.io", "ingresses", ("get", "create", "patch", "delete")),
    ("getambassador.io", "mappings", ("get", "create", "patch", "delete")),
    ("gateway.networking.k8s.io", "httproutes", ("get", "create", "patch", "delete")),
    ("", "pods", ("list",)),
    ("", "events", ("list",)),
)


@dataclass
class Report:
    failures: int = 0
    warnings: int = 0

    def ok(self, line: str) -> None:
        typer.echo(f"  ok    {line}")

    def note(self, line: str) -> None:
        typer.echo(f"  note  {line}")

    def warn(self, line: str) -> None:
        """Worth a look, but no failure: the exit code stays 0."""
        self.warnings += 1
        typer.echo(f"  WARN  {line}")

    def fail(self, line: str) -> None:
        self.failures += 1
        typer.echo(f"  FAIL  {line}")


def _config(settings: Settings, report: Report) -> None:
    typer.echo("configuration")
    report.ok(f"{len(settings.projects)} project(s), database {settings.database.display_url}")
    for problem in readiness_problems(settings):
        where = f"line {problem.line}: " if problem.line else ""
        line = f"{where}{problem.key}: {problem.message}"
        report.note(line) if problem.severity == "info" else report.fail(line)


async def _slack(settings: Settings, report: Report) -> dict[str, frozenset[str]]:
    """Slack's answers, and the members of the user groups named in roles (those read)."""
    typer.echo("slack")
    if not settings.slack.configured or settings.slack.bot_token is None:
        report.note("no Slack token: `cibot serve` will use a local fake Slack")
        return {}
    client = web_client(settings.slack.bot_token, settings.slack.api_url, NO_RETRY, timeout=5)
    try:
        auth = await client.auth_test()
        report.ok(f"auth.test: bot {auth.get('user_id')} in team {auth.get('team_id')}")
        members = await _groups(settings, client, report)
    except SlackApiError as exc:
        report.fail(f"auth.test refused: {exc.response.get('error')}")
        return {}
    except Exception as exc:
        report.fail(f"Slack unreachable at {settings.slack.api_url}: {type(exc).__name__}")
        return {}
    if settings.slack.mode == "socket":
        await _app_token(settings, report)
    await _app_settings(settings, report)
    return members


async def _app_token(settings: Settings, report: Report) -> None:
    """Socket Mode: the app-level token must open a connection (`apps.connections.open`)."""
    slack = settings.slack
    if slack.app_token is None:  # refused by the config already; kept for the type
        report.fail("slack.app_token: mode: socket needs an app-level token (xapp-…)")
        return
    client = web_client(slack.app_token, slack.api_url, NO_RETRY, timeout=5)
    try:
        await open_connection_url(client, slack.app_token)
        report.ok("apps.connections.open: slack.app_token opens Socket Mode connections")
    except AppTokenRefused as exc:
        report.fail(str(exc))
    except Exception as exc:
        report.fail(f"apps.connections.open: Slack unreachable: {type(exc).__name__}")


async def _app_settings(settings: Settings, report: Report) -> None:
    """The Messages tab, Socket Mode and interactivity, from the app's manifest."""
    slack = settings.slack
    if slack.app_config_token is None or slack.app_id is None:
        report.warn(
            "App Home: the Messages tab could not be verified (a bot token cannot read it; "
            "when it is off, every DM fails with messages_tab_disabled). Check App Home > Show "
            "Tabs > Messages Tab, or set slack.app_config_token (an app configuration token) "
            "and slack.app_id to have cibot check read it"
        )
        return
    client = web_client(slack.app_config_token, slack.api_url, NO_RETRY, timeout=5)
    try:
        exported = await client.apps_manifest_export(app_id=slack.app_id)
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        hint = EXPORT_REFUSALS.get(error)
        report.fail(f"apps.manifest.export refused: {error}" + (f" ({hint})" if hint else ""))
        return
    except Exception as exc:
        report.fail(f"apps.manifest.export: Slack unreachable: {type(exc).__name__}")
        return
    manifest = exported.get("manifest") or {}
    public_url = str(settings.server.public_url) if settings.server.public_url else None
    socket_mode = slack.mode == "socket"
    for finding in findings(manifest, public_url, socket_mode=socket_mode):
        report.ok(finding.text) if finding.ok else report.fail(finding.text)


async def _groups(
    settings: Settings, client: AsyncWebClient, report: Report
) -> dict[str, frozenset[str]]:
    """Every user group named in a role can be read, and has members; those members."""
    named = sorted({m for p in settings.projects for m in (*p.qa, *p.owners) if is_group(m)})
    found: dict[str, frozenset[str]] = {}
    for group in named:
        try:
            members = (await client.usergroups_users_list(usergroup=group)).get("users") or []
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            hint = WORKSPACE_REFUSALS.get(error)
            report.fail(f"user group {group}: {error}" + (f" ({hint})" if hint else ""))
            continue
        found[group] = frozenset(str(m) for m in members)
        if members:
            report.ok(f"user group {group}: {len(members)} member(s)")
        else:
            report.fail(f"user group {group} has no members: nobody holds that role through it")
    return found


def _both_roles(settings: Settings, members: Mapping[str, frozenset[str]], report: Report) -> None:
    """Who is both QA and owner of a project (through groups too, as far as they were read).

    Such a person can approve a build and then deploy it: one pair of eyes on the release.
    Legal, so a warning; `policy.approver_may_deploy: false` makes another owner deploy it.
    """
    typer.echo("roles")
    warned = False
    for project in settings.projects:
        if not project.policy.approver_may_deploy:
            continue
        qa, owners = _people(project.qa, members), _people(project.owners, members)
        for who in sorted(qa & owners):
            warned = True
            report.warn(
                f"{who} is both QA and owner of {project.id}: they can approve a build and "
                f"deploy it alone (set policy.approver_may_deploy: false to require another "
                f"owner)"
            )
    if not warned:
        report.ok("in no project can one person both approve a build and deploy it")


def _people(entries: tuple[str, ...], members: Mapping[str, frozenset[str]]) -> set[str]:
    """A role's user ids, its groups (by id, so a group in both roles shows too), and the
    members read of those groups."""
    people = set(entries)
    for entry in entries:
        people |= members.get(entry, frozenset())
    return people


async def _allowed(
    client: AsyncClient, namespace: str, group: str, resource: str, verb: str
) -> bool:
    review = SelfSubjectAccessReview(
        spec=SelfSubjectAccessReviewSpec(
            resourceAttributes=ResourceAttributes(
                namespace=namespace, group=group, resource=resource, verb=verb
            )
        )
    )
    answer = await client.create(review)
    return bool(answer.status and answer.status.allowed)


async def _kubernetes(settings: Settings, report: Report) -> None:
    typer.echo("kubernetes")
    try:
        k = settings.kubernetes
        config = kube_config(k.kubeconfig, k.context)
        client = AsyncClient(config=config, timeout=httpx2.Timeout(5.0))
    except Exception as exc:
        report.fail(f"no usable kubeconfig: {exc}")
        return
    try:
        for project in settings.projects:
            missing = [
                f"{verb} {resource}"
                for group, resource, verbs in NEEDED
                for verb in verbs
                if not await _allowed(client, project.namespace, group, resource, verb)
            ]
            if missing:
                report.fail(f"namespace {project.namespace}: not allowed to {', '.join(missing)}")
            else:
                report.ok(f"namespace {project.namespace}: all needed permissions")
    except Exception as exc:
        report.fail(f"Kubernetes API unreachable or refused the check: {type(exc).__name__}: {exc}")
    finally:
        await client.close()


async def _run(settings: Settings) -> int:
    report = Report()
    _config(settings, report)
    members = await _slack(settings, report)
    _both_roles(settings, members, report)
    await _kubernetes(settings, report)
    if report.failures:
        typer.echo(f"{report.failures} problem(s)")
    elif report.warnings:
        typer.echo(f"all well, {report.warnings} warning{'s' if report.warnings > 1 else ''}")
    else:
        typer.echo("all well")
    return 0 if not report.failures else 1


def run(settings: Settings) -> int:
    return asyncio.run(_run(settings))
