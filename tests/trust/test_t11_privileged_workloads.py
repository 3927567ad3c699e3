"""T11: no privileged workloads: safe securityContext defaults in every rendered manifest.

Defence: the templates set no privilege escalation, all capabilities dropped, seccomp
`RuntimeDefault`, non-root, a read-only root filesystem and no service-account token.
Here: what ci-bot renders for a preview and for production passes `kubernetes-validate`
and carries them, and so does the Deployment as the real API server stored it (so no
field was dropped on the way). The unit tests in tests/unit/test_manifests.py check each
default and its per-project override.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
import pytest
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment

from cibot.adapters.kubernetes import manifests
from cibot.domain.build import Build, BuildState, BuildType
from tests.support.flow import report_build
from tests.support.proofs import preview_name
from tests.support.shop import SECRET
from tests.support.trust import IMAGE, Shared, unique
from tests.support.usecases import PROJECT

NOW = datetime(2026, 12, 1, tzinfo=UTC)
BUILD = Build(
    "b1", "shop", BuildType.BRANCH, "main", IMAGE, BuildState.READY, NOW, NOW,
    digest="sha256:" + "a" * 64,
)  # fmt: skip


def assert_safe(pod: dict[str, Any]) -> None:
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["privileged"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["readOnlyRootFilesystem"] is True
    assert "hostNetwork" not in pod or pod["hostNetwork"] is False


@pytest.mark.parametrize("render", [manifests.render_preview, manifests.render_production])
def test_T11_rendered_preview_and_production_manifests_are_valid_and_unprivileged(
    render: Any,
) -> None:
    manifests = render(PROJECT, BUILD)
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.36", strict=True)
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    assert_safe(deployment["spec"]["template"]["spec"])


@pytest.mark.kubernetes
async def test_T11_the_deployment_the_api_server_stored_keeps_the_safe_defaults(
    shared: Shared, kube: AsyncClient
) -> None:
    target = unique("t11")
    assert (
        report_build(
            shared.url, SECRET, project="shop", image=IMAGE, type="branch", target=target
        ).status_code
        == 202
    )
    for _ in range(300):
        try:
            dep = await kube.get(Deployment, preview_name(target), namespace=shared.namespace)
            break
        except ApiError:
            await asyncio.sleep(0.2)
    else:
        raise AssertionError("the preview was never applied")
    assert_safe(dep.to_dict()["spec"]["template"]["spec"])
