"""Configuration -> domain: the frozen `Project`s the rest of ci-bot works with.

The domain must not import pydantic, so the composition root converts once, here. Maps become
sorted tuples of pairs (resources) or keep file order (env, where `$(VAR)` may refer to an
earlier entry); the CI secrets are resolved so that each `Project` carries the ones it accepts.
"""

from __future__ import annotations

from datetime import timedelta

from cibot.config.model import ProjectConfig, ResourcesConfig, Settings
from cibot.config.rules import FreezeWindowConfig, LifecycleConfig, PolicyConfig, parse_weekly
from cibot.domain.lifecycle import Lifecycle
from cibot.domain.policy import DateWindow, FreezeWindow, ImageRule, Policy, WeeklyWindow
from cibot.domain.project import Project, Resources, Workload

# Roles from a user group are trusted for this many refresh periods after its last read,
# and at least a minute (a refresh may wait a little behind other jobs).
GROUP_TRUSTED_PERIODS, GROUP_TRUSTED_AT_LEAST = 3, timedelta(minutes=1)


def to_domain(settings: Settings) -> tuple[Project, ...]:
    """One domain `Project` per configured project, in file order."""
    fallback = settings.webhooks.secrets
    periods = timedelta(seconds=GROUP_TRUSTED_PERIODS * settings.slack.group_refresh_seconds)
    max_age = max(periods, GROUP_TRUSTED_AT_LEAST)
    return tuple(_project(config, fallback, max_age) for config in settings.projects)


def _project(
    config: ProjectConfig, global_secrets: tuple[str, ...], group_max_age: timedelta
) -> Project:
    return Project(
        id=config.id,
        name=config.name,
        url=config.url,
        channel=config.channel,
        qa=frozenset(config.qa),
        owners=frozenset(config.owners),
        namespace=config.namespace,
        workload=_workload(config),
        webhook_secrets=config.own_webhook_secrets or global_secrets,
        policy=_policy(config.policy),
        lifecycle=_lifecycle(config.lifecycle),
        group_max_age=group_max_age,
    )


def _policy(config: PolicyConfig) -> Policy:
    return Policy(
        approvals_required=config.approvals_required,
        allow_override=config.allow_override,
        four_eyes=config.four_eyes,
        author_may_deploy=config.author_may_deploy,
        approver_may_deploy=config.approver_may_deploy,
        unknown_author=config.unknown_author,
        expires_after=config.expires_after,
        allowed_images=tuple(ImageRule.parse(p) for p in config.allowed_images),
        freeze_windows=tuple(_window(w) for w in config.freeze_windows),
    )


def _window(config: FreezeWindowConfig) -> FreezeWindow:
    reason = {"reason": config.reason} if config.reason else {}
    if config.weekly is None:
        assert config.dates is not None  # the model requires start and end without weekly
        start, end = config.dates
        return DateWindow(start, end, **reason)
    start_day, start_time, end_day, end_time = parse_weekly(config.weekly)
    zone = config.timezone
    return WeeklyWindow(start_day, start_time, end_day, end_time, zone, **reason)


def _lifecycle(config: LifecycleConfig) -> Lifecycle:
    return Lifecycle(
        preview_ttl=config.preview_ttl,
        preview_ttl_warning=config.preview_ttl_warning,
        remind_after=config.remind_after,
        newer_tag_supersedes=config.newer_tag_supersedes,
    )


def _workload(config: ProjectConfig) -> Workload:
    return Workload(
        port=config.port,
        replicas=config.replicas,
        production_replicas=config.production_replicas,
        resources=_resources(config.resources),
        env=tuple(config.env.items()),
        route=config.route,
        ingress_class=config.ingress_class,
        gateway=config.gateway,
        rollout_timeout_seconds=config.rollout_timeout,
        run_as_non_root=config.run_as_non_root,
        read_only_root_filesystem=config.read_only_root_filesystem,
        service_account_token=config.service_account_token,
    )


def _resources(config: ResourcesConfig) -> Resources:
    return Resources(
        requests=tuple(sorted(config.requests.items())),
        limits=tuple(sorted(config.limits.items())),
    )
