"""What `cibot check` reports about a configuration that is valid but may not do what is meant.

A project without QA members or owners refuses every click, fail-closed: legal, but almost
surely a mistake. Missing Slack credentials are legal too (a local fake Slack is used), and worth
saying. These are `Problem`s with severity `warning` or `info`, located like errors.
"""

from __future__ import annotations

from cibot.config.loader import line_of
from cibot.config.model import Settings
from cibot.config.problems import Problem, Severity


def readiness_problems(settings: Settings) -> list[Problem]:
    """Warnings and notes about `settings`; empty when all is well."""
    problems = _slack(settings)
    if not settings.projects:
        problems.append(_at(settings, "projects", "no projects: every build will be refused"))
    for index, project in enumerate(settings.projects):
        if not project.qa:
            message = "no QA members: nobody can approve or reject builds of this project"
            problems.append(_at(settings, f"projects[{index}].qa", message))
        if not project.owners:
            message = "no owners: nobody can deploy or close builds of this project"
            problems.append(_at(settings, f"projects[{index}].owners", message))
    return problems


def _slack(settings: Settings) -> list[Problem]:
    if settings.slack.configured:
        return []
    message = "no Slack configured: a local fake will be used"
    return [_at(settings, "slack.bot_token", message, "info")]


def _at(settings: Settings, key: str, message: str, severity: Severity = "warning") -> Problem:
    return Problem(line_of(settings, key), key, message, severity)
