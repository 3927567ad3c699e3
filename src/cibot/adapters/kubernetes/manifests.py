"""The objects an environment is made of, as plain dicts ready for server-side apply.

One function renders a Deployment, a Service and a route (Ingress, Emissary Mapping or Gateway
API HTTPRoute) from an `EnvironmentSpec`, with the labels of the public contract and safe pod
defaults. Each build stamps its pods (`cibot/build`), which is how the digest a build runs is
told apart from an older ReplicaSet's still-terminating pods. Rendering is pure, so every
manifest can be checked against the Kubernetes schemas in unit tests; applying them is the job
of the thin client beside this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cibot.domain.build import Build, BuildType
from cibot.domain.environment import Environment
from cibot.domain.naming import EnvironmentKind, is_dns1035_label, is_dns_name, label_value
from cibot.domain.project import Project, RouteKind

Manifest = dict[str, Any]

SERVICE_PORT = 80
PORT_NAME = "http"
CONTAINER_NAME = "app"
REVISION_HISTORY_LIMIT = 3

# The labels of the public contract are the domain's (`Environment.labels`); these are the
# manifests' own, which change with every build.
LABEL_BUILD = "cibot/build"  # on pods only: which build's ReplicaSet a pod belongs to
ANNOTATION_BUILD_ID = "cibot/build-id"
ANNOTATION_TARGET = "cibot/target"
ANNOTATION_IMAGE_DIGEST = "cibot/image-digest"

DEPLOYMENT = ("apps/v1", "Deployment")
SERVICE = ("v1", "Service")
ROUTES: dict[RouteKind, tuple[str, str]] = {
    RouteKind.INGRESS: ("networking.k8s.io/v1", "Ingress"),
    RouteKind.MAPPING: ("getambassador.io/v3alpha1", "Mapping"),
    RouteKind.HTTPROUTE: ("gateway.networking.k8s.io/v1", "HTTPRoute"),
}

# OCI image-spec digest grammar: algorithm ":" encoded.
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


@dataclass(frozen=True, slots=True)
class EnvironmentSpec:
    """Everything that decides the objects of one environment running one build."""

    project: Project
    kind: EnvironmentKind
    name: str  # metadata.name of every object; a DNS-1035 label
    host: str  # the host the route serves
    image: str  # as CI reported it
    build_type: BuildType
    target: str  # the branch or tag name, as CI reported it
    build_id: str
    digest: str | None = None  # "sha256:…": when set, the image is pinned to it

    def __post_init__(self) -> None:
        if not is_dns1035_label(self.name):
            raise ValueError(f"environment name {self.name!r} is not a DNS-1035 label")
        if not is_dns_name(self.host):
            raise ValueError(f"host {self.host!r} is not a DNS name")
        if self.digest is not None and not _DIGEST.fullmatch(self.digest):
            raise ValueError(f"image digest {self.digest!r} is not of the form algorithm:hex")

    @classmethod
    def preview(
        cls,
        project: Project,
        *,
        build_type: BuildType,
        target: str,
        image: str,
        build_id: str,
        digest: str | None = None,
    ) -> EnvironmentSpec:
        """The preview environment of one target, named and hosted by the naming rules."""
        return cls.running(
            Environment.preview(project, build_type, target), project, image, build_id, digest
        )

    @classmethod
    def production(
        cls,
        project: Project,
        *,
        build_type: BuildType,
        target: str,
        image: str,
        build_id: str,
        digest: str | None = None,
    ) -> EnvironmentSpec:
        """The project's production environment running a build of `target`."""
        return cls.running(
            Environment.production(project, build_type, target), project, image, build_id, digest
        )

    @classmethod
    def running(
        cls,
        environment: Environment,
        project: Project,
        image: str,
        build_id: str,
        digest: str | None = None,
    ) -> EnvironmentSpec:
        """`environment` running one build's image."""
        return cls(
            project=project,
            kind=environment.kind,
            name=environment.name,
            host=environment.host,
            image=image,
            build_type=environment.build_type,
            target=environment.target,
            build_id=build_id,
            digest=digest,
        )

    @property
    def environment(self) -> Environment:
        return Environment(
            project_id=self.project.id,
            kind=self.kind,
            namespace=self.project.namespace,
            name=self.name,
            host=self.host,
            scheme=self.project.scheme,
            build_type=self.build_type,
            target=self.target,
        )

    @property
    def image_ref(self) -> str:
        """The image to run: pinned as `repository@digest` when the digest is known."""
        return pinned_image(self.image, self.digest) if self.digest else self.image

    @property
    def replicas(self) -> int:
        workload = self.project.workload
        if self.kind is EnvironmentKind.PRODUCTION:
            return workload.production_replicas
        return workload.replicas


def pinned_image(image: str, digest: str) -> str:
    """`image` without its tag or digest, pinned to `digest` (`registry:5000/app@sha256:…`)."""
    repository = image.split("@", 1)[0]
    last_slash = repository.rfind("/")
    colon = repository.rfind(":")
    if colon > last_slash:  # a tag, not a registry port
        repository = repository[:colon]
    return f"{repository}@{digest}"


def environment_labels(spec: EnvironmentSpec) -> dict[str, str]:
    """The labels of every object of the environment and of its pods."""
    return spec.environment.labels


def pod_labels(spec: EnvironmentSpec) -> dict[str, str]:
    """The environment's labels plus the build's stamp.

    The stamp changes the pod template with every build, so a new build of the same image
    string (a re-pushed tag) rolls new pods, and the digest of a build is read only from its
    own ReplicaSet's pods. It is not in the selector, which must never change.
    """
    return {**environment_labels(spec), LABEL_BUILD: label_value(spec.build_id)}


def environment_annotations(spec: EnvironmentSpec) -> dict[str, str]:
    """What changes with every build: kept out of labels so selectors stay stable."""
    notes = {ANNOTATION_BUILD_ID: spec.build_id, ANNOTATION_TARGET: spec.target}
    if spec.digest:
        notes[ANNOTATION_IMAGE_DIGEST] = spec.digest
    return notes


def kinds_for(route: RouteKind) -> tuple[tuple[str, str], ...]:
    """The (apiVersion, kind) of each object an environment with this route is made of."""
    return (DEPLOYMENT, SERVICE, ROUTES[route])


def render(spec: EnvironmentSpec) -> list[Manifest]:
    """The Deployment, Service and route of an environment, in the order to apply them."""
    return [deployment(spec), service(spec), route(spec)]


def render_preview(project: Project, build: Build) -> list[Manifest]:
    """A build's preview environment (the service's `RenderPreview`)."""
    spec = EnvironmentSpec.preview(
        project, build_type=build.type, target=build.target, image=build.image, build_id=build.id
    )
    return render(spec)


def render_production(project: Project, build: Build) -> list[Manifest]:
    """Production running a build, its image pinned to the digest QA saw."""
    spec = EnvironmentSpec.production(
        project,
        build_type=build.type,
        target=build.target,
        image=build.image,
        build_id=build.id,
        digest=build.digest,
    )
    return render(spec)


def _object(spec: EnvironmentSpec, api_kind: tuple[str, str], body: Manifest) -> Manifest:
    api_version, kind = api_kind
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": spec.name,
            "namespace": spec.project.namespace,
            "labels": environment_labels(spec),
            "annotations": environment_annotations(spec),
        },
        **body,
    }


def deployment(spec: EnvironmentSpec) -> Manifest:
    workload = spec.project.workload
    return _object(
        spec,
        DEPLOYMENT,
        {
            "spec": {
                "replicas": spec.replicas,
                "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
                "progressDeadlineSeconds": workload.rollout_timeout_seconds,
                "selector": {"matchLabels": spec.environment.selector},
                "template": {
                    "metadata": {
                        "labels": pod_labels(spec),
                        "annotations": environment_annotations(spec),
                    },
                    "spec": pod_spec(spec),
                },
            }
        },
    )


def pod_spec(spec: EnvironmentSpec) -> Manifest:
    """One container with the project's safe defaults; a writable /tmp if the root is not."""
    workload = spec.project.workload
    pod: Manifest = {
        "automountServiceAccountToken": workload.service_account_token,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": workload.run_as_non_root,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container(spec)],
    }
    if workload.read_only_root_filesystem:
        pod["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    return pod


def container(spec: EnvironmentSpec) -> Manifest:
    workload = spec.project.workload
    result: Manifest = {
        "name": CONTAINER_NAME,
        "image": spec.image_ref,
        **pull_policy(spec.image_ref),
        "ports": [{"name": PORT_NAME, "containerPort": workload.port, "protocol": "TCP"}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": workload.read_only_root_filesystem,
        },
    }
    if workload.env:
        result["env"] = [{"name": k, "value": v} for k, v in sorted(workload.env)]
    resources = {
        section: dict(quantities)
        for section, quantities in (
            ("requests", workload.resources.requests),
            ("limits", workload.resources.limits),
        )
        if quantities
    }
    if resources:
        result["resources"] = resources
    if workload.read_only_root_filesystem:
        result["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108
    return result


def pull_policy(image: str) -> Manifest:
    """`Always` for an image given by tag: a node that pulled the tag before would otherwise
    run what it pointed to then. An image pinned by digest keeps the default."""
    return {} if "@" in image else {"imagePullPolicy": "Always"}


def service(spec: EnvironmentSpec) -> Manifest:
    return _object(
        spec,
        SERVICE,
        {
            "spec": {
                "type": "ClusterIP",
                "selector": spec.environment.selector,
                "ports": [
                    {
                        "name": PORT_NAME,
                        "port": SERVICE_PORT,
                        "targetPort": PORT_NAME,
                        "protocol": "TCP",
                    }
                ],
            }
        },
    )


def route(spec: EnvironmentSpec) -> Manifest:
    """The route of the project's kind, sending every path of the host to the Service."""
    kind = spec.project.workload.route
    builders = {
        RouteKind.INGRESS: _ingress_spec,
        RouteKind.MAPPING: _mapping_spec,
        RouteKind.HTTPROUTE: _httproute_spec,
    }
    return _object(spec, ROUTES[kind], {"spec": builders[kind](spec)})


def _ingress_spec(spec: EnvironmentSpec) -> Manifest:
    backend = {"service": {"name": spec.name, "port": {"number": SERVICE_PORT}}}
    result: Manifest = {
        "rules": [
            {
                "host": spec.host,
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
            }
        ]
    }
    if spec.project.workload.ingress_class:
        result = {"ingressClassName": spec.project.workload.ingress_class, **result}
    return result


def _mapping_spec(spec: EnvironmentSpec) -> Manifest:
    return {"hostname": spec.host, "prefix": "/", "service": f"{spec.name}:{SERVICE_PORT}"}


def _httproute_spec(spec: EnvironmentSpec) -> Manifest:
    return {
        "parentRefs": [gateway_ref(spec.project)],
        "hostnames": [spec.host],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"name": spec.name, "port": SERVICE_PORT}],
            }
        ],
    }


def gateway_ref(project: Project) -> dict[str, str]:
    """The HTTPRoute parentRef of the project's Gateway, given as "namespace/name" or "name"."""
    gateway = project.workload.gateway
    if not gateway:
        raise ValueError(f"project {project.id!r} routes by HTTPRoute but names no gateway")
    namespace, _, name = gateway.rpartition("/")
    ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name}
    return {**ref, "namespace": namespace} if namespace else ref
