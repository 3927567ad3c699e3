"""Rendered environments: valid objects, the contract's labels, and safe pods by default."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import kubernetes_validate
import pytest

from cibot.adapters.kubernetes.manifests import (
    ANNOTATION_BUILD_ID,
    EnvironmentSpec,
    Manifest,
    kinds_for,
    pinned_image,
    render,
)
from cibot.domain.build import BuildType
from cibot.domain.environment import Environment
from cibot.domain.naming import is_dns1035_label, is_label_value
from cibot.domain.project import Project, Resources, RouteKind, Workload

KUBERNETES_VERSION = "1.36"  # the newest schema kubernetes-validate ships that we target
DIGEST = "sha256:" + "ab" * 32


def project(**workload: Any) -> Project:
    return Project(
        id="shop",
        name="Shop",
        url="https://shop.example.com",
        channel="C0123456789",
        qa=frozenset({"U01QA"}),
        owners=frozenset({"U03OWNER"}),
        namespace="shop-ns",
        workload=Workload(**workload),
    )


def preview(target: str = "feature/login", **workload: Any) -> EnvironmentSpec:
    return EnvironmentSpec.preview(
        project(**workload),
        build_type=BuildType.BRANCH,
        target=target,
        image="registry.example.com/shop:abc",
        build_id="b-1",
    )


def production(**workload: Any) -> EnvironmentSpec:
    return EnvironmentSpec.production(
        project(**workload),
        build_type=BuildType.BRANCH,
        target="feature/login",
        image="registry.example.com/shop:abc",
        build_id="b-1",
        digest=DIGEST,
    )


def by_kind(spec: EnvironmentSpec) -> dict[str, Manifest]:
    return {obj["kind"]: obj for obj in render(spec)}


def pod(spec: EnvironmentSpec) -> Manifest:
    pod_spec: Manifest = by_kind(spec)["Deployment"]["spec"]["template"]["spec"]
    return pod_spec


@pytest.mark.parametrize("spec", [preview(), production()], ids=["preview", "production"])
@pytest.mark.parametrize("kind", ["Deployment", "Service", "Ingress"])
def test_core_objects_pass_strict_schema_validation(spec: EnvironmentSpec, kind: str) -> None:
    kubernetes_validate.validate(by_kind(spec)[kind], KUBERNETES_VERSION, strict=True)


def test_strict_validation_catches_a_misspelt_field() -> None:
    deployment = by_kind(preview())["Deployment"]
    deployment["spec"]["template"]["spec"]["automountServiceAcountToken"] = False
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_a_fully_configured_deployment_passes_strict_schema_validation() -> None:
    spec = preview(
        env=(("B", "2"), ("A", "1")),
        ingress_class="nginx",
        run_as_non_root=False,
        read_only_root_filesystem=False,
        service_account_token=True,
        resources=Resources(requests=(), limits=()),
    )
    for kind in ("Deployment", "Service", "Ingress"):
        kubernetes_validate.validate(by_kind(spec)[kind], KUBERNETES_VERSION, strict=True)


def test_an_environment_is_a_deployment_a_service_and_an_ingress_by_default() -> None:
    kinds = [(obj["apiVersion"], obj["kind"]) for obj in render(preview())]
    assert kinds == list(kinds_for(RouteKind.INGRESS))
    assert kinds == [
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
        ("networking.k8s.io/v1", "Ingress"),
    ]


@pytest.mark.parametrize("spec", [preview(), production()], ids=["preview", "production"])
def test_every_object_and_the_pods_carry_the_contract_labels(spec: EnvironmentSpec) -> None:
    objects = render(spec)
    template = objects[0]["spec"]["template"]["metadata"]
    for labels in [obj["metadata"]["labels"] for obj in objects] + [template["labels"]]:
        assert labels["app.kubernetes.io/name"] == "shop"
        assert labels["app.kubernetes.io/instance"] == spec.name
        assert labels["app.kubernetes.io/managed-by"] == "cibot"
        assert labels["cibot/project"] == "shop"
        assert labels["cibot/environment"] == spec.kind.value
        assert is_label_value(labels["cibot/target"])
        assert all(is_label_value(value) for value in labels.values())


def test_every_object_is_named_after_the_environment_in_the_project_namespace() -> None:
    spec = preview()
    for obj in render(spec):
        assert obj["metadata"]["name"] == spec.name
        assert obj["metadata"]["namespace"] == "shop-ns"
        assert is_dns1035_label(obj["metadata"]["name"])


def test_the_build_id_is_an_annotation_and_a_label_only_of_the_pods() -> None:
    deployment = by_kind(preview())["Deployment"]
    assert deployment["metadata"]["annotations"][ANNOTATION_BUILD_ID] == "b-1"
    assert deployment["spec"]["template"]["metadata"]["annotations"][ANNOTATION_BUILD_ID] == "b-1"
    assert "b-1" not in deployment["metadata"]["labels"].values()
    assert deployment["spec"]["template"]["metadata"]["labels"]["cibot/build"] == "b-1"
    assert "cibot/build" not in deployment["spec"]["selector"]["matchLabels"]


def test_each_build_stamps_its_pods_so_the_same_image_rolls_new_pods() -> None:
    first = by_kind(preview())["Deployment"]["spec"]["template"]
    again = EnvironmentSpec.preview(
        project(),
        build_type=BuildType.BRANCH,
        target="feature/login",
        image="registry.example.com/shop:abc",
        build_id="b-2",
    )
    second = by_kind(again)["Deployment"]["spec"]["template"]
    assert first["spec"] == second["spec"]
    assert first["metadata"] != second["metadata"]


def test_a_preview_of_a_mutable_tag_is_pulled_every_time() -> None:
    (container,) = pod(preview())["containers"]
    assert container["imagePullPolicy"] == "Always"


def test_an_image_pinned_by_digest_is_not_pulled_again() -> None:
    pinned = EnvironmentSpec.preview(
        project(),
        build_type=BuildType.BRANCH,
        target="main",
        image="registry.example.com/shop@" + DIGEST,
        build_id="b-1",
    )
    for spec in (pinned, production()):
        (container,) = pod(spec)["containers"]
        assert container.get("imagePullPolicy", "IfNotPresent") == "IfNotPresent"


def test_the_selector_holds_only_labels_that_never_change() -> None:
    spec = preview()
    selector = by_kind(spec)["Deployment"]["spec"]["selector"]["matchLabels"]
    assert selector == {
        "app.kubernetes.io/instance": spec.name,
        "cibot/project": "shop",
        "cibot/environment": "preview",
    }
    later = EnvironmentSpec.preview(
        spec.project,
        build_type=BuildType.BRANCH,
        target=spec.target,
        image="registry.example.com/shop:def",
        build_id="b-2",
    )
    assert by_kind(later)["Deployment"]["spec"]["selector"]["matchLabels"] == selector


@pytest.mark.parametrize("spec", [preview(), production()], ids=["preview", "production"])
def test_the_selector_is_a_subset_of_the_pod_labels(spec: EnvironmentSpec) -> None:
    deployment = by_kind(spec)["Deployment"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert by_kind(spec)["Service"]["spec"]["selector"] == selector


def test_pods_get_safe_defaults() -> None:
    spec = pod(preview())
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = spec["containers"]
    assert container["name"] == "app"
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
    }
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108


def test_a_project_may_relax_the_defaults() -> None:
    spec = pod(
        preview(run_as_non_root=False, read_only_root_filesystem=False, service_account_token=True)
    )
    assert spec["automountServiceAccountToken"] is True
    assert spec["securityContext"]["runAsNonRoot"] is False
    (container,) = spec["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is False
    assert "volumeMounts" not in container
    assert "volumes" not in spec
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_container_gets_port_env_and_resources_from_the_workload() -> None:
    (container,) = pod(preview(port=3000, env=(("ZED", "z"), ("ALPHA", "a"))))["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
    assert container["env"] == [{"name": "ALPHA", "value": "a"}, {"name": "ZED", "value": "z"}]
    assert container["resources"] == {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"memory": "256Mi"},
    }


def test_the_deployment_keeps_three_revisions_and_the_rollout_deadline() -> None:
    spec = by_kind(preview(rollout_timeout_seconds=120))["Deployment"]["spec"]
    assert spec["revisionHistoryLimit"] == 3
    assert spec["progressDeadlineSeconds"] == 120


def test_preview_and_production_differ_in_name_host_replicas_and_image_pinning() -> None:
    pre, prod = by_kind(preview(replicas=1)), by_kind(production(production_replicas=3))
    assert pre["Deployment"]["metadata"]["name"].startswith("shop-branch-feature-login-")
    assert prod["Deployment"]["metadata"]["name"] == "shop"
    assert pre["Deployment"]["spec"]["replicas"] == 1
    assert prod["Deployment"]["spec"]["replicas"] == 3
    assert pre["Ingress"]["spec"]["rules"][0]["host"].endswith(".branch.shop.example.com")
    assert prod["Ingress"]["spec"]["rules"][0]["host"] == "shop.example.com"
    assert pre["Deployment"]["metadata"]["labels"]["cibot/environment"] == "preview"
    assert prod["Deployment"]["metadata"]["labels"]["cibot/environment"] == "production"
    (prod_container,) = prod["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert prod_container["image"] == f"registry.example.com/shop@{DIGEST}"
    (pre_container,) = pre["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert pre_container["image"] == "registry.example.com/shop:abc"


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("shop", f"shop@{DIGEST}"),
        ("shop:1.0", f"shop@{DIGEST}"),
        ("registry:5000/team/shop", f"registry:5000/team/shop@{DIGEST}"),
        ("registry:5000/team/shop:1.0", f"registry:5000/team/shop@{DIGEST}"),
        ("shop:1.0@sha256:" + "cd" * 32, f"shop@{DIGEST}"),
    ],
)
def test_pinning_an_image_drops_its_tag_and_keeps_its_registry(image: str, pinned: str) -> None:
    assert pinned_image(image, DIGEST) == pinned


def test_the_service_sends_port_80_to_the_named_container_port() -> None:
    service = by_kind(preview())["Service"]["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]


def test_the_ingress_routes_every_path_of_the_host_to_the_service() -> None:
    spec = preview(ingress_class="nginx")
    ingress = by_kind(spec)["Ingress"]["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["rules"] == [
        {
            "host": spec.host,
            "http": {
                "paths": [
                    {
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": spec.name, "port": {"number": 80}}},
                    }
                ]
            },
        }
    ]


def test_an_ingress_without_a_class_leaves_it_to_the_cluster_default() -> None:
    assert "ingressClassName" not in by_kind(preview())["Ingress"]["spec"]


def test_an_emissary_mapping_routes_the_host_to_the_service() -> None:
    spec = preview(route=RouteKind.MAPPING)
    mapping = by_kind(spec)["Mapping"]
    assert mapping["apiVersion"] == "getambassador.io/v3alpha1"
    assert mapping["spec"] == {"hostname": spec.host, "prefix": "/", "service": f"{spec.name}:80"}


def test_an_httproute_attaches_to_the_project_gateway() -> None:
    spec = preview(route=RouteKind.HTTPROUTE, gateway="infra/public")
    route = by_kind(spec)["HTTPRoute"]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "public",
            "namespace": "infra",
        }
    ]
    assert route["spec"]["hostnames"] == [spec.host]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": spec.name, "port": 80}]


def test_an_httproute_gateway_without_namespace_is_in_the_routes_namespace() -> None:
    route = by_kind(preview(route=RouteKind.HTTPROUTE, gateway="public"))["HTTPRoute"]
    assert "namespace" not in route["spec"]["parentRefs"][0]


def test_an_httproute_without_a_gateway_is_refused() -> None:
    with pytest.raises(ValueError, match="gateway"):
        render(preview(route=RouteKind.HTTPROUTE))


@pytest.mark.parametrize("route", list(RouteKind))
def test_the_kinds_of_an_environment_match_what_is_rendered(route: RouteKind) -> None:
    spec = preview(route=route, gateway="infra/public")
    assert [(o["apiVersion"], o["kind"]) for o in render(spec)] == list(kinds_for(route))


def test_a_long_unicode_target_still_gives_short_valid_names_and_labels() -> None:
    spec = preview("feature/" + "ü" * 200)
    for obj in render(spec):
        assert len(obj["metadata"]["name"]) <= 63
        assert all(is_label_value(v) for v in obj["metadata"]["labels"].values())
    kubernetes_validate.validate(by_kind(spec)["Deployment"], KUBERNETES_VERSION, strict=True)


def test_selector_labels_name_the_environment() -> None:
    assert Environment.production(project()).selector == {
        "app.kubernetes.io/instance": "shop",
        "cibot/project": "shop",
        "cibot/environment": "production",
    }


def test_a_spec_refuses_a_bad_name_host_or_digest() -> None:
    spec = preview()
    with pytest.raises(ValueError, match="DNS-1035"):
        replace(spec, name="Bad_Name")
    with pytest.raises(ValueError, match="DNS name"):
        replace(spec, host="not a host")
    with pytest.raises(ValueError, match="digest"):
        replace(spec, digest="latest")
