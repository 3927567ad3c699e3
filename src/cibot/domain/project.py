"""A project as ci-bot sees it: who may do what, and how its workloads are shaped.

Built once from the configuration by the composition root; frozen, so a handler can never
change a role list or a namespace at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
    # Roles from a user group read longer ago than this are not trusted (a few refresh
    # periods: ci-bot re-reads the groups every `slack.group_refresh_seconds`).
    group_max_age: timedelta = timedelta(minutes=15)

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
class GroupSnapshot:
    """A user group's members as last read from Slack, and when."""

    members: frozenset[str]
    read_at: datetime


@dataclass(frozen=True, slots=True)
class Roster:
    """The people in a project's roles right now: its user ids plus its groups' members.

    A group whose members ci-bot has not yet learnt from Slack, or last learnt longer ago
    than the project trusts (`Project.group_max_age`), contributes nobody: the roles fail
    closed, and `untrusted` says why, for the refusal.
    """

    qa: frozenset[str] = frozenset()
    owners: frozenset[str] = frozenset()
    untrusted: tuple[tuple[str, str], ...] = ()  # (group, why its members are not trusted)

    @classmethod
    def of(cls, project: Project, members: Mapping[str, frozenset[str]]) -> Roster:
        def resolve(entries: frozenset[str]) -> frozenset[str]:
            users = {e for e in entries if not is_group(e)}
            for group in entries - users:
                users |= members.get(group, frozenset())
            return frozenset(users)

        return cls(qa=resolve(project.qa), owners=resolve(project.owners))

    @classmethod
    def fresh(
        cls, project: Project, snapshots: Mapping[str, GroupSnapshot], now: datetime
    ) -> Roster:
        """The roster from the groups' snapshots, each trusted only while recent enough."""
        trusted: dict[str, frozenset[str]] = {}
        untrusted: list[tuple[str, str]] = []
        for group in sorted(project.groups):
            snapshot = snapshots.get(group)
            if snapshot is None:
                untrusted.append((group, "not read from Slack yet"))
            elif now - snapshot.read_at > project.group_max_age:
                since = snapshot.read_at.strftime("%Y-%m-%d %H:%M UTC")
                untrusted.append((group, f"last read from Slack at {since}, too long ago"))
            else:
                trusted[group] = snapshot.members
        roster = cls.of(project, trusted)
        return cls(roster.qa, roster.owners, tuple(untrusted))

    @property
    def everyone(self) -> frozenset[str]:
        return self.qa | self.owners

    def doubts(self, entries: frozenset[str]) -> str:
        """Why members of these role entries' groups may be missing, in words ("" if not)."""
        return "; ".join(
            f"the members of {group} are not trusted: {why}"
            for group, why in self.untrusted
            if group in entries
        )
