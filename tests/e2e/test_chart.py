"""The Helm chart, rendered: lint, every object valid at the cluster's version, a restricted
pod, the config ci-bot accepts, the RBAC `cibot check` verifies, and the values it refuses.

Installing it, and ci-bot running with its ServiceAccount's token, are in
test_chart_install.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cibot.config import load_config
from cibot.entrypoints.check import NEEDED
from tests.support.chart import CHART, of_kind, one, refusal, render, run_helm

pytestmark = pytest.mark.kubernetes
ROOT = Path(__file__).resolve().parents[2]

PROJECTS = [
    {"id": "shop", "url": "https://shop.example.com", "channel": "C0123456789",
     "qa": ["U01QA"], "owners": ["U03OWNER"]},
    {"id": "blog", "url": "https://blog.example.com", "channel": "C0123456780",
     "qa": ["U01QA"], "owners": ["U03OWNER"], "namespace": "web",
     "webhook_secret": "${BLOG_WEBHOOK_SECRET}"},
]  # fmt: skip
BASIC: dict[str, Any] = {
    "existingSecret": "cibot-secrets",
    "config": {"server": {"public_url": "https://cibot.example.com"}, "projects": PROJECTS},
}
EVERYTHING: dict[str, Any] = {
    **BASIC,
    "replicaCount": 3,
    "database": {"kind": "postgresql"},
    "podDisruptionBudget": {"enabled": True},
    "networkPolicy": {
        "enabled": True,
        "ingressFrom": [{"namespaceSelector": {"matchLabels": {"name": "ingress"}}}],
        "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}, {"ports": [{"port": 443}]}],
    },
    "serviceMonitor": {"enabled": True},
    "image": {"repository": "registry.example.com/cibot", "digest": "sha256:" + "a" * 64},
}


@pytest.fixture(scope="module")
def cluster_version(kubeconfig_path: Path) -> str:
    """major.minor of the local API server, e.g. 1.36."""
    bin_dir = subprocess.run(
        [str(ROOT / "scripts" / "localk8s"), "build"], capture_output=True, text=True, check=True
    ).stdout.strip()
    done = subprocess.run(
        [f"{bin_dir}/kubectl", "--kubeconfig", str(kubeconfig_path), "version", "-o", "json"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    server = json.loads(done.stdout)["serverVersion"]
    return f"{server['major']}.{server['minor']}"


def test_helm_lint_finds_nothing_wrong() -> None:
    done = run_helm("lint", "--strict", str(CHART), values=BASIC)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("values", [BASIC, EVERYTHING], ids=["sqlite", "postgresql-everything"])
def test_every_rendered_object_is_valid_at_the_clusters_version(
    values: dict[str, Any], cluster_version: str
) -> None:
    objects = render(values)

    validated = 0
    for obj in objects:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD of the Prometheus operator: checked below
        kubernetes_validate.validate(obj, cluster_version, strict=True)
        validated += 1
    assert validated >= 8
    if values is EVERYTHING:
        monitor = one(objects, "ServiceMonitor")
        assert monitor["spec"]["endpoints"] == [
            {"port": "http", "path": "/metrics", "interval": "30s"}
        ]
        assert {o["kind"] for o in objects} >= {"PodDisruptionBudget", "NetworkPolicy"}


def test_the_pod_is_restricted_probed_and_migrates_before_it_serves() -> None:
    pod = one(render(BASIC), "Deployment")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    (main,) = pod["containers"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in (init, main):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert container["envFrom"] == [{"secretRef": {"name": "cibot-secrets"}}]
    assert init["command"] == ["cibot", "db", "upgrade"]
    assert main["command"] == ["cibot", "serve"]
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["resources"]["requests"] and main["resources"]["limits"]["memory"]


def test_the_rendered_config_is_one_cibot_accepts_with_secrets_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = one(render(EVERYTHING), "ConfigMap")["data"]["cibot.yaml"]
    path = tmp_path / "cibot.yaml"
    path.write_text(config)
    for name, value in {
        "SLACK_BOT_TOKEN": "xoxb-from-secret", "SLACK_SIGNING_SECRET": "signing-from-secret",
        "CIBOT_WEBHOOK_SECRET": "webhook-from-secret", "BLOG_WEBHOOK_SECRET": "blog-secret",
        "CIBOT_DATABASE_URL": "postgresql://cibot:pw@db.example.com/cibot",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)

    settings = load_config(path)

    assert settings.server.host == "0.0.0.0"  # noqa: S104 - a pod listens on its own address
    assert settings.slack.bot_token == "xoxb-from-secret"
    assert settings.database.backend == "postgresql"
    assert settings.kubernetes.kubeconfig is None, "in-cluster: the chart's ServiceAccount"
    assert [p.id for p in settings.projects] == ["shop", "blog"]
    assert "from-secret" not in config and "pw@" not in config


def test_socket_mode_takes_the_app_token_from_the_secret_and_needs_no_signing_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = one(render({**BASIC, "slack": {"mode": "socket"}}), "ConfigMap")["data"]["cibot.yaml"]
    path = tmp_path / "cibot.yaml"
    path.write_text(config)
    for name, value in {
        "SLACK_BOT_TOKEN": "xoxb-from-secret", "SLACK_APP_TOKEN": "xapp-from-secret",
        "CIBOT_WEBHOOK_SECRET": "webhook-from-secret", "BLOG_WEBHOOK_SECRET": "blog-secret",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)

    settings = load_config(path)

    assert (settings.slack.mode, settings.slack.app_token) == ("socket", "xapp-from-secret")
    assert settings.slack.signing_secret is None, "Slack signs nothing sent over the socket"
    assert "${SLACK_APP_TOKEN}" in config and "from-secret" not in config
    http = one(render(BASIC), "ConfigMap")["data"]["cibot.yaml"]
    assert "SLACK_APP_TOKEN" not in http and "mode: http" in http


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"slack": {"mode": "websocket"}}, "/slack/mode"),
        ({"config": {**BASIC["config"], "slack": {"app_token": "xapp-1"}}},
         "config.slack.app_token"),
        ({"config": {**BASIC["config"], "slack": {"mode": "socket"}}}, "config.slack.mode"),
    ],
    ids=["unknown-mode", "app-token-in-values", "mode-in-config"],
)  # fmt: skip
def test_the_chart_refuses_an_unknown_slack_mode_and_an_app_token_in_values(
    values: dict[str, Any], key: str
) -> None:
    assert key in refusal({**BASIC, **values})


def rule_set(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_role_in_each_project_namespace_grants_exactly_what_cibot_check_verifies() -> None:
    objects = render(BASIC)
    roles = of_kind(objects, "Role")
    bindings = of_kind(objects, "RoleBinding")
    needed = {(g, r, v) for g, r, verbs in NEEDED for v in verbs}

    assert sorted(r["metadata"]["namespace"] for r in roles) == ["shop", "web"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["shop", "web"]
    for role in roles:
        assert rule_set(role["rules"]) == needed
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "cibot", "namespace": "cibot"}
        ]
    assert not of_kind(objects, "ClusterRole") and not of_kind(objects, "ClusterRoleBinding")


def test_cluster_wide_rbac_only_when_a_value_asks_for_it() -> None:
    objects = render({**BASIC, "rbac": {"clusterWide": True}})

    assert rule_set(one(objects, "ClusterRole")["rules"]) == {
        (g, r, v) for g, r, verbs in NEEDED for v in verbs
    }
    assert one(objects, "ClusterRoleBinding")["roleRef"]["kind"] == "ClusterRole"
    assert not of_kind(objects, "Role")


def test_the_chart_refuses_sqlite_with_more_than_one_replica() -> None:
    error = refusal({**BASIC, "replicaCount": 2})

    assert "replicaCount: 2 replicas need database.kind postgresql" in error


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"slack": {"bot_token": "xoxb-1234"}}, "config.slack.bot_token"),
        ({"webhooks": {"secret": "s3cret"}}, "config.webhooks.secret"),
        ({"webhooks": {"previous_secrets": ["old-s3cret"]}}, "config.webhooks.previous_secrets"),
        ({"projects": [{**PROJECTS[0], "webhook_secret": "plain"}]},
         "config.projects[0].webhook_secret"),
        ({"database": {"url": "postgresql://u:pw@db/cibot"}}, "config.database"),
    ],
    ids=["slack-token", "webhook-secret", "previous-secrets", "project-secret", "database-url"],
)  # fmt: skip
def test_the_chart_refuses_secrets_in_values_naming_the_key(
    config: dict[str, Any], key: str
) -> None:
    error = refusal({**BASIC, "config": {**BASIC["config"], **config}})

    assert key in error
    assert "existingSecret" in error


def test_the_chart_needs_the_name_of_an_existing_secret() -> None:
    assert "existingSecret" in refusal({"config": BASIC["config"]})


def test_values_of_the_wrong_type_or_misspelt_are_refused_naming_the_key() -> None:
    assert "/replicaCount': got string, want integer" in refusal({**BASIC, "replicaCount": "two"})
    assert "'replicaCont' not allowed" in refusal({**BASIC, "replicaCont": 2})
    assert "/database/kind" in refusal({**BASIC, "database": {"kind": "mysql"}})


def test_the_default_values_file_holds_no_secret() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    text = json.dumps(values).lower()

    assert "xoxb" not in text and "whsec" not in text and "password" not in text
