"""The configuration as frozen pydantic models: the public names of `cibot.yaml`.

Read once by the entrypoint, never changed afterwards. Every section forbids unknown keys, so a
typo is an error rather than a silently ignored setting. Rules that span several keys raise
`refuse(...)`, which names the exact keys at fault (relative to the model checking them), so
that the loader can point at their lines. New sections (e.g. approval `policies`) follow the same
pattern: a `Section` subclass and one field on `Settings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cibot.config.fields import (
    AppId,
    ChannelId,
    DnsLabel,
    Duration,
    EnvName,
    EnvValue,
    Gateway,
    HttpUrl,
    LogLevel,
    NonEmpty,
    ProjectId,
    Quantity,
    ResourceName,
    RoleMember,
    SlackApiUrl,
    TeamId,
    is_project_id,
    split_url,
)
from cibot.config.problems import Loc
from cibot.config.rules import LifecycleConfig, PolicyConfig
from cibot.config.section import REFUSED, Section, refuse
from cibot.domain.naming import name_clash
from cibot.domain.project import RouteKind

__all__ = ["REFUSED", "refuse"]  # re-exported: the loader reads refusals through this module


class ServerSettings(Section):
    host: NonEmpty = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: HttpUrl | None = None
    max_body_bytes: int = Field(1_048_576, ge=1)  # Slack requests; CI's: webhooks.max_body_bytes


_DRIVERS: dict[str, tuple[Literal["sqlite", "postgresql"], str]] = {
    "sqlite": ("sqlite", "sqlite+aiosqlite"),
    "sqlite+aiosqlite": ("sqlite", "sqlite+aiosqlite"),
    "postgresql": ("postgresql", "postgresql+asyncpg"),
    "postgres": ("postgresql", "postgresql+asyncpg"),
    "postgresql+asyncpg": ("postgresql", "postgresql+asyncpg"),
}
_EXAMPLES = "sqlite:///path/to/cibot.db or postgresql://user:password@host:5432/database"


class DatabaseSettings(Section):
    url: str = Field("sqlite:///cibot.db", repr=False)  # may carry a password

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in _DRIVERS:
            named = f" {scheme!r}" if scheme.replace("+", "").isalnum() else ""
            raise ValueError(f"unsupported database URL scheme{named}: use {_EXAMPLES}")
        parts = split_url(url)
        if _DRIVERS[scheme][0] == "sqlite" and parts.netloc:
            raise ValueError("a sqlite URL names no host: sqlite:///relative or sqlite:////abs")
        return url

    @property
    def backend(self) -> Literal["sqlite", "postgresql"]:
        return _DRIVERS[self._scheme][0]

    @property
    def async_url(self) -> str:
        """The URL with the async driver SQLAlchemy needs: sqlite+aiosqlite or +asyncpg."""
        return _DRIVERS[self._scheme][1] + self.url[len(self._scheme) :]

    @property
    def display_url(self) -> str:
        """The URL with any password replaced by `***`, fit for logs."""
        parts = split_url(self.url)
        if parts.password is None:
            return self.url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()

    @property
    def _scheme(self) -> str:
        return self.url.split("://", 1)[0]


class SlackSettings(Section):
    bot_token: NonEmpty | None = Field(None, repr=False)  # None: a local fake Slack is used
    signing_secret: NonEmpty | None = Field(None, repr=False)
    api_url: SlackApiUrl = "https://slack.com/api/"
    team_id: TeamId | None = None  # when set, requests from other workspaces are refused
    app_id: AppId | None = None  # when set, requests for other apps are refused
    group_refresh_seconds: int = Field(300, ge=1)  # how often user groups' members are re-read
    # An app configuration token (xoxe.xoxp-…): only `cibot check` uses it, to read the app's
    # settings (the Messages tab, Socket Mode, interactivity) that a bot token cannot see.
    app_config_token: NonEmpty | None = Field(None, repr=False)
    # How Slack reaches ci-bot: `http` posts to its Request URL (signed with signing_secret);
    # `socket` has ci-bot open a WebSocket to Slack with the app-level token (`xapp-…`), so
    # no public URL is needed (entrypoints/socket_mode.py).
    mode: Literal["http", "socket"] = "http"
    app_token: NonEmpty | None = Field(None, repr=False)

    @model_validator(mode="after")
    def _token_and_secret_together(self) -> Self:
        if self.mode == "socket":  # Slack signs nothing sent over the socket
            if self.signing_secret is not None and self.bot_token is None:
                raise refuse((("bot_token",), "signing_secret needs bot_token"))
            return self
        if (self.bot_token is None) != (self.signing_secret is None):
            missing = "signing_secret" if self.signing_secret is None else "bot_token"
            raise refuse(((missing,), "set bot_token and signing_secret together, or neither"))
        return self

    @model_validator(mode="after")
    def _socket_mode_has_an_app_token(self) -> Self:
        if self.app_token is not None and not self.app_token.startswith("xapp-"):
            raise refuse((("app_token",), "an app-level token starts with xapp-"))
        if self.mode == "socket" and self.bot_token is not None and self.app_token is None:
            raise refuse(
                (
                    ("app_token",),
                    "mode: socket needs app_token, an app-level token "
                    "(xapp-…) with the connections:write scope",
                )
            )
        return self

    @model_validator(mode="after")
    def _config_token_names_its_app(self) -> Self:
        if self.app_config_token is not None and self.app_id is None:
            raise refuse((("app_id",), "app_config_token needs app_id: the app to read"))
        return self

    @property
    def configured(self) -> bool:
        """False: the CLI runs a local fake Slack instead of talking to slack.com."""
        return self.bot_token is not None


class KubernetesSettings(Section):
    kubeconfig: Path | None = None  # None: in-cluster, then the default kubeconfig
    context: NonEmpty | None = None


class WebhookSettings(Section):
    secret: NonEmpty | None = Field(None, repr=False)
    previous_secrets: tuple[NonEmpty, ...] = Field((), repr=False)  # still accepted: rotation
    # A CI request is a few hundred bytes (its largest fields, escaped, stay under 16 KiB):
    # whoever sends more is refused before a byte of it is hashed or parsed.
    max_body_bytes: int = Field(16_384, ge=1024, le=1_048_576)

    @model_validator(mode="after")
    def _previous_needs_current(self) -> Self:
        if self.previous_secrets and self.secret is None:
            raise refuse((("secret",), "previous_secrets are only accepted next to a secret"))
        return self

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every accepted secret, the current one first; empty when none is set."""
        return (self.secret, *self.previous_secrets) if self.secret else ()


def _check_backoff(base: float, maximum: float, max_key: str) -> None:
    if maximum < base:
        raise refuse(((max_key,), "must not be smaller than the base delay"))


class JobSettings(Section):
    workers: int = Field(4, ge=0, le=256)  # 0: accept only; other replicas run the jobs
    lease_seconds: int = Field(60, ge=1)
    max_attempts: int = Field(8, ge=1)
    backoff_base_seconds: float = Field(1.0, ge=0)
    backoff_max_seconds: float = Field(60.0, ge=0)
    poll_interval_seconds: float = Field(0.5, gt=0)
    # On SIGTERM: nothing new is claimed; jobs in flight may finish for this long, then are
    # handed back. Keep it below the pod's terminationGracePeriodSeconds (30 by default).
    drain_seconds: float = Field(20.0, ge=0)
    # How often dead or lost jobs' builds and production slots are looked for and settled.
    reconcile_seconds: float = Field(60.0, ge=1)

    @model_validator(mode="after")
    def _backoff_is_ordered(self) -> Self:
        _check_backoff(self.backoff_base_seconds, self.backoff_max_seconds, "backoff_max_seconds")
        return self


class RetrySettings(Section):
    """The one retry policy for outbound calls (Slack, Kubernetes): exponential, with jitter."""

    attempts: int = Field(5, ge=1)  # including the first try
    base_seconds: float = Field(0.5, ge=0)  # zero in tests
    max_seconds: float = Field(30.0, ge=0)

    @model_validator(mode="after")
    def _backoff_is_ordered(self) -> Self:
        _check_backoff(self.base_seconds, self.max_seconds, "max_seconds")
        return self


def _at_least(minimum: timedelta, words: str) -> AfterValidator:
    def check(value: timedelta | None) -> timedelta | None:
        if value is not None and value < minimum:
            raise ValueError(f"must be at least {words}")
        return value

    return AfterValidator(check)


_KeptHours = Annotated[Duration | None, _at_least(timedelta(hours=1), "1h")]
_KeptDays = Annotated[Duration | None, _at_least(timedelta(days=1), "1d")]


class RetentionSettings(Section):
    """How long rows that grow with every build are kept (`null`: for ever); pruned daily.

    The audit table is never pruned: it is append-only.
    """

    deliveries: _KeptHours = timedelta(days=30)  # a retried request comes within minutes
    finished_jobs: _KeptDays = timedelta(days=14)  # a finished job's dedupe key: keep a day
    slack_messages: _KeptDays = timedelta(days=90)


class LoggingSettings(Section):
    level: LogLevel = "info"
    format: Literal["json", "console"] = "json"


def _default_requests() -> dict[str, str]:
    return {"cpu": "50m", "memory": "64Mi"}


def _default_limits() -> dict[str, str]:
    return {"memory": "256Mi"}


class ResourcesConfig(Section):
    """Container requests and limits; a map given here replaces that default map entirely."""

    requests: dict[ResourceName, Quantity] = Field(default_factory=_default_requests)
    limits: dict[ResourceName, Quantity] = Field(default_factory=_default_limits)


_STAND_IN = "invalid-id"


class ProjectConfig(Section):
    id: ProjectId
    name: NonEmpty = Field("", validate_default=True)  # default: the id, see below
    url: HttpUrl  # production URL; preview hosts derive from its host
    channel: ChannelId
    qa: tuple[RoleMember, ...] = ()  # Slack user ids (U…) or user group ids (S…)
    owners: tuple[RoleMember, ...] = ()
    namespace: DnsLabel = Field("", validate_default=True)  # default: the id, see below
    webhook_secret: NonEmpty | None = Field(None, repr=False)  # overrides webhooks.secret
    previous_webhook_secrets: tuple[NonEmpty, ...] = Field((), repr=False)
    port: int = Field(8080, ge=1, le=65535)
    replicas: int = Field(1, ge=1, le=50)
    production_replicas: int = Field(2, ge=1, le=50)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    env: dict[EnvName, EnvValue] = Field(default_factory=dict, repr=False)
    route: RouteKind = RouteKind.INGRESS
    ingress_class: NonEmpty | None = None
    gateway: Gateway | None = None  # "namespace/name"; required when route is httproute
    rollout_timeout: int = Field(300, ge=10, le=3600)  # seconds
    run_as_non_root: bool = True
    read_only_root_filesystem: bool = True
    service_account_token: bool = False
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_id(cls, data: object) -> object:
        """name and namespace default to the id.

        With no usable id, a stand-in fills them: validation fails on the id anyway, and the
        user then reads one error (about the id) instead of three.
        """
        if not isinstance(data, dict):
            return data
        project_id = data.get("id")
        usable = isinstance(project_id, str) and is_project_id(project_id)
        default = project_id if usable else _STAND_IN
        return {"name": default, "namespace": default, **data}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.route is RouteKind.HTTPROUTE and self.gateway is None:
            raise refuse((("gateway",), 'required when route is httproute: "namespace/name"'))
        if self.previous_webhook_secrets and self.webhook_secret is None:
            raise refuse(
                (("webhook_secret",), "previous_webhook_secrets need a current webhook_secret")
            )
        required = self.policy.approvals_required
        groups = any(m.startswith("S") for m in self.qa)
        if self.qa and not groups and required > len(set(self.qa)):
            listed = len(set(self.qa))
            raise refuse(
                (
                    ("policy", "approvals_required"),
                    f"can never be met: only {listed} QA member{'s' * (listed != 1)} listed",
                )
            )
        return self

    @property
    def own_webhook_secrets(self) -> tuple[str, ...]:
        """The project's own CI secrets, current first; empty: the global ones apply."""
        own = self.webhook_secret
        return (own, *self.previous_webhook_secrets) if own else ()


class Settings(Section):
    """The whole `cibot.yaml`. Build it with `parse_config`/`load_config` to keep file lines."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    projects: tuple[ProjectConfig, ...] = ()  # after webhooks: its check reads them

    _lines: dict[str, int] = PrivateAttr(default_factory=dict)  # key path -> file line

    @field_validator("projects")
    @classmethod
    def _projects_are_consistent(
        cls, projects: tuple[ProjectConfig, ...], info: ValidationInfo
    ) -> tuple[ProjectConfig, ...]:
        problems = duplicate_ids([project.id for project in projects])
        problems += clashing_names([(project.id, project.namespace) for project in projects])
        webhooks = info.data.get("webhooks")  # absent when webhooks itself is invalid
        if isinstance(webhooks, WebhookSettings):
            own = [project.webhook_secret for project in projects]
            problems += unsigned_projects(own, webhooks.secret)
        if problems:
            raise refuse(*problems)
        return projects

    def project(self, project_id: str) -> ProjectConfig | None:
        return next((p for p in self.projects if p.id == project_id), None)


def duplicate_ids(ids: Sequence[object]) -> list[tuple[Loc, str]]:
    """Each project id seen before, as a problem at `(index, "id")`; non-text ids are skipped.

    Public, with `unsigned_projects`, so the loader can apply these rules to the raw data when
    some project is invalid (and this model's check therefore never ran).
    """
    first: dict[str, int] = {}
    problems: list[tuple[Loc, str]] = []
    for index, project_id in enumerate(ids):
        if not isinstance(project_id, str):
            continue
        if project_id in first:
            message = f"duplicate project id {project_id!r}, first at projects[{first[project_id]}]"
            problems.append(((index, "id"), message))
        first.setdefault(project_id, index)
    return problems


def clashing_names(projects: Sequence[tuple[object, object]]) -> list[tuple[Loc, str]]:
    """Each project that shares a namespace with an earlier one under names that could meet.

    `projects` are (id, namespace) pairs; a namespace of None defaults to the id. Objects are
    named after the project id (production) and `<id>-<type>-<target>` (previews), so in one
    namespace one project's preview could carry another's production or preview name, and
    its clean-up would then reach the other's objects. Invalid ids are skipped (reported
    elsewhere).
    """
    seen: list[tuple[int, str, str]] = []
    problems: list[tuple[Loc, str]] = []
    for index, (project_id, namespace) in enumerate(projects):
        if not isinstance(project_id, str) or not is_project_id(project_id):
            continue
        where = namespace if namespace is not None else project_id
        if not isinstance(where, str):
            continue
        for first, other, other_namespace in seen:
            why = name_clash(other, project_id) if other_namespace == where else None
            if why is not None and other != project_id:
                message = (
                    f"project {project_id!r} shares namespace {where!r} with project {other!r} "
                    f"(projects[{first}]) under names that could meet: {why}; give one of "
                    "them another namespace or another id"
                )
                problems.append(((index, "id"), message))
                break
        seen.append((index, project_id, where))
    return problems


def unsigned_projects(
    own_secrets: Sequence[object], global_secret: object
) -> list[tuple[Loc, str]]:
    """Each project that has no CI secret of its own when there is no global one either."""
    if global_secret:
        return []
    message = "no CI webhook secret: set one here, or a global one in webhooks.secret"
    return [
        ((index, "webhook_secret"), message)
        for index, secret in enumerate(own_secrets)
        if not secret
    ]
