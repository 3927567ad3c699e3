"""Where a build of one target runs: an `Environment`, worked out once from (project, type,
target) and read everywhere else.

Its namespace, object name, host, URL and labels follow the naming rules (`naming`) and the
public contract (the labels every object carries; `cibot/project`, `cibot/environment` and
`cibot/target` tell whose an object is before anything is deleted). A preview is one per
target; production is one per project, labelled with the target of the build it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from cibot.domain.build import BuildType
from cibot.domain.naming import (
    EnvironmentKind,
    environment_name,
    label_value,
    preview_host,
    production_name,
)
from cibot.domain.project import Project

MANAGER = "cibot"

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PROJECT = "cibot/project"
LABEL_ENVIRONMENT = "cibot/environment"
LABEL_TARGET = "cibot/target"
LABEL_BUILD_TYPE = "cibot/build-type"


@dataclass(frozen=True, slots=True)
class Environment:
    project_id: str
    kind: EnvironmentKind
    namespace: str
    name: str  # metadata.name of each of its objects; a DNS-1035 label
    host: str  # the host its route serves
    scheme: str
    build_type: BuildType
    target: str  # the branch or tag, as CI reported it

    @classmethod
    def preview(cls, project: Project, build_type: BuildType, target: str) -> Environment:
        """The preview of one target: `<project>-<type>-<target>` at `<target>.<type>.<host>`."""
        return cls(
            project_id=project.id,
            kind=EnvironmentKind.PREVIEW,
            namespace=project.namespace,
            name=environment_name(project.id, build_type, target),
            host=preview_host(project.host, build_type, target),
            scheme=project.scheme,
            build_type=build_type,
            target=target,
        )

    @classmethod
    def production(
        cls, project: Project, build_type: BuildType = BuildType.TAG, target: str = ""
    ) -> Environment:
        """The project's production, running a build of `target` (labels name it)."""
        return cls(
            project_id=project.id,
            kind=EnvironmentKind.PRODUCTION,
            namespace=project.namespace,
            name=production_name(project.id),
            host=project.host,
            scheme=project.scheme,
            build_type=build_type,
            target=target,
        )

    @property
    def address(self) -> str:
        """`namespace/name`: how jobs and the audit trail name it."""
        return f"{self.namespace}/{self.name}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}/"

    @property
    def selector(self) -> dict[str, str]:
        """The labels that never change for one environment: its Deployment's selector."""
        return {
            LABEL_INSTANCE: self.name,
            LABEL_PROJECT: self.project_id,
            LABEL_ENVIRONMENT: self.kind.value,
        }

    @property
    def owner(self) -> dict[str, str]:
        """The labels an object must carry to be this environment's (checked before deleting)."""
        return {
            LABEL_MANAGED_BY: MANAGER,
            LABEL_PROJECT: self.project_id,
            LABEL_ENVIRONMENT: self.kind.value,
            LABEL_TARGET: label_value(self.target),
        }

    @property
    def labels(self) -> dict[str, str]:
        """The labels of each of its objects and of its pods."""
        return {
            LABEL_NAME: self.project_id,
            LABEL_MANAGED_BY: MANAGER,
            **self.selector,
            LABEL_TARGET: label_value(self.target),
            LABEL_BUILD_TYPE: self.build_type.value,
        }
