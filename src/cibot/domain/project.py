"""A project as ci-bot sees it: who may do what, and how its workloads are shaped.

Built once from the configuration by the composition root; frozen, so a handler can never
change a role list or a namespace at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cibot.domain.lifecycle import Lifecycle
from cibot.domain.policy import Policy


class RouteKind(StrEnum):
    """How a preview or production host is routed to the Service."""

    INGRESS = "ingress"
    MAPPING = "mapping"  # Ambassador / Emissary-ingress getambassador.io/v3alpha1 Mapping
    HTTPROUTE = "httproute"  # Gateway API gateway.networking.k8s.io/v1 HTTPRoute


@dataclass(frozen=True, slots=True)
class Resources:
    """Container resource requests and limits, in Kubernetes quantity syntax."""

    requests: tuple[tuple[str, str], ...] = (("cpu", "50m"), ("memory", "64Mi"))
    limits: tuple[tuple[str, str], ...] = (("memory", "256Mi"),)


@dataclass(frozen=True, slots=True)
class Workload:
    """What a Deployment of this project looks like, preview and production alike."""

    port: int = 8080
    replicas: int = 1
    production_replicas: int = 2
    resources: Resources = field(default_factory=Resources)
    env: tuple[tuple[str, str], ...] = ()
    route: RouteKind = RouteKind.INGRESS
    ingress_class: str | None = None
    gateway: str | None = None  # "namespace/name" of the Gateway an HTTPRoute attaches to
    rollout_timeout_seconds: int = 300
    run_as_non_root: bool = True
    read_only_root_filesystem: bool = True
    service_account_token: bool = False


@dataclass(frozen=True, slots=True)
class Project:
    """One deployable application and the people who gate it."""

    id: str
    name: str
    url: str  # production URL; preview hosts derive from its host
    channel: str
    qa: frozenset[str]  # Slack user ids (U…, W…) and user group ids (S…)
    owners: frozenset[str]
    namespace: str
    workload: Workload = field(default_factory=Workload)
    webhook_secrets: tuple[str, ...] = ()  # the project's own CI secrets; empty: the global ones
    policy: Policy = field(default_factory=Policy)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)

    @property
    def groups(self) -> frozenset[str]:
        """The Slack user groups named in either role; their members come from Slack."""
        return frozenset(e for e in self.qa | self.owners if is_group(e))

    @property
    def host(self) -> str:
        """The production host name, taken from the URL."""
        rest = self.url.split("://", 1)[-1]
        return rest.split("/", 1)[0].split(":", 1)[0].lower()

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0] if "://" in self.url else "https"


def is_group(entry: str) -> bool:
    """A Slack user group id (S…), as opposed to a user id (U…, W…)."""
    return entry.startswith("S")


@dataclass(frozen=True, slots=True)
class Roster:
    """The people in a project's roles right now: its user ids plus its groups' members.

    A group whose members ci-bot has not yet learnt from Slack contributes nobody: the
    roles fail closed.
    """

    qa: frozenset[str] = frozenset()
    owners: frozenset[str] = frozenset()

    @classmethod
    def of(cls, project: Project, members: Mapping[str, frozenset[str]]) -> Roster:
        def resolve(entries: frozenset[str]) -> frozenset[str]:
            users = {e for e in entries if not is_group(e)}
            for group in entries - users:
                users |= members.get(group, frozenset())
            return frozenset(users)

        return cls(qa=resolve(project.qa), owners=resolve(project.owners))

    @property
    def everyone(self) -> frozenset[str]:
        return self.qa | self.owners
