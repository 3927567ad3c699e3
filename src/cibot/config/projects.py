"""Configuration -> domain: the frozen `Project`s the rest of ci-bot works with.

The domain must not import pydantic, so the composition root converts once, here. Maps become
sorted tuples of pairs (resources) or keep file order (env, where `$(VAR)` may refer to an
earlier entry); the CI secrets are resolved so that each `Project` carries the ones it accepts.
"""

from __future__ import annotations

from cibot.config.model import ProjectConfig, ResourcesConfig, Settings
from cibot.domain.project import Project, Resources, Workload


def to_domain(settings: Settings) -> tuple[Project, ...]:
    """One domain `Project` per configured project, in file order."""
    fallback = settings.webhooks.secrets
    return tuple(_project(config, fallback) for config in settings.projects)


def _project(config: ProjectConfig, global_secrets: tuple[str, ...]) -> Project:
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
