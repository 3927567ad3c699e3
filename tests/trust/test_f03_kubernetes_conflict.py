"""F3: a Kubernetes 409 or field conflict: server-side apply with force and one field manager
wins over another manager; retries are bounded; a build is never reported deployed on error.

(a) Against the real API server: another field manager takes the container image of a
preview (`kubectl set image`-style, forced); a new build's apply still sets its image,
because ci-bot applies with `force=True` as manager `cibot`. Without force that apply is a
409 conflict (shown: the intruder's own unforced apply is refused).
(b) Against an API that answers every apply with 409: ci-bot tries exactly `retry.attempts`
times, then gives up with ClusterUnavailable, and the build stays "deploying" with a
visible note, never "ready".
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment

from cibot.adapters.kubernetes import manifests
from cibot.adapters.kubernetes.cluster import FIELD_MANAGER, KubeCluster
from cibot.adapters.retry import RetryPolicy
from cibot.domain.build import BuildState
from cibot.service import preview
from cibot.service.errors import ClusterUnavailable
from cibot.service.jobs import DeployPreview
from tests.support.fakes import FakeClock, MemoryStore
from tests.support.flow import card_saying, report_build
from tests.support.proofs import preview_name
from tests.support.service import free_port
from tests.support.shop import CHANNEL, SECRET
from tests.support.trust import IMAGE, Shared, unique
from tests.support.usecases import PROJECT, PROJECTS, record, report

INTRUDER = "intruder"


def _image_patch(dep: Deployment, image: str) -> Any:
    """What `kubectl set image` would send, as a server-side apply of its own manager."""
    assert dep.metadata is not None and dep.spec is not None
    pod_meta = dep.spec.template.metadata
    return from_dict({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": dep.metadata.name, "namespace": dep.metadata.namespace},
        "spec": {
            "selector": dep.spec.selector.to_dict(),
            "template": {
                "metadata": {"labels": pod_meta.labels if pod_meta else {}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    })  # fmt: skip


def _image_owners(dep: Deployment) -> set[str]:
    owners = set()
    for entry in (dep.metadata.managedFields if dep.metadata else None) or []:
        fields = json.dumps(entry.fieldsV1 or {})
        if '"f:image"' in fields:
            owners.add(entry.manager or "")
    return owners


@pytest.mark.kubernetes
async def test_F3_a_field_taken_by_another_manager_is_taken_back_by_the_next_forced_apply(
    shared: Shared, kube: AsyncClient
) -> None:
    target = unique("f3")
    first = report_build(
        shared.url, SECRET, project="shop", image=IMAGE, type="branch", target=target
    )
    await card_saying(shared.slack, CHANNEL, first.json()["build_id"], "is ready")
    name, ns = preview_name(target), shared.namespace
    dep = await kube.get(Deployment, name, namespace=ns)
    await kube.apply(_image_patch(dep, "evil.example/x:1"), field_manager=INTRUDER, force=True)
    assert INTRUDER in _image_owners(await kube.get(Deployment, name, namespace=ns))

    newer = IMAGE.replace("1.0", "1.1")
    second = report_build(
        shared.url, SECRET, project="shop", image=newer, type="branch", target=target
    )
    await card_saying(shared.slack, CHANNEL, second.json()["build_id"], "is ready")

    dep = await kube.get(Deployment, name, namespace=ns)
    assert dep.spec is not None and dep.spec.template.spec is not None
    assert dep.spec.template.spec.containers[0].image == newer
    assert _image_owners(dep) == {FIELD_MANAGER}
    with pytest.raises(ApiError) as conflict:  # what an unforced apply gets: a 409
        await kube.apply(_image_patch(dep, "evil.example/x:2"), field_manager=INTRUDER)
    assert conflict.value.status.code == 409


class _Conflicts(http.server.BaseHTTPRequestHandler):
    """An API server where no object exists yet and every server-side apply is a 409 Conflict."""

    applies: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # ci-bot reads each object before applying it: not there
        self._status(404, "NotFound", "not found")

    def do_PATCH(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).applies.append(self.path)
        self._status(409, "Conflict", 'Apply failed with 1 conflict: conflict with "intruder"')

    def _status(self, code: int, reason: str, message: str) -> None:
        body = json.dumps({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
            "code": code, "message": message,
        }).encode()  # fmt: skip
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def conflicting_api() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Conflicts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Conflicts.applies.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _cluster(url: str, attempts: int) -> KubeCluster:
    config = KubeConfig.from_dict({
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "shop"}}],
        "current-context": "x",
    })  # fmt: skip
    client = AsyncClient(config=config, field_manager=FIELD_MANAGER)
    return KubeCluster(client, RetryPolicy(attempts=attempts, base_seconds=0.01, max_seconds=0.02))


async def test_F3_conflicts_on_every_apply_are_retried_a_bounded_number_of_times(
    conflicting_api: str,
) -> None:
    cluster = _cluster(conflicting_api, attempts=4)
    store, clock = MemoryStore(), FakeClock()
    accepted = await record(store, clock, report())
    job = store.jobs_of(DeployPreview)[0]

    with pytest.raises(ClusterUnavailable, match="conflict"):
        await preview.deploy_preview(
            job, store=store, cluster=cluster, clock=clock, projects=PROJECTS,
            render=manifests.render_preview,
        )  # fmt: skip

    assert len(_Conflicts.applies) == 4, "exactly retry.attempts tries, then give up"
    build = store.state.builds[accepted.build_id]
    assert build.state is BuildState.DEPLOYING, "never reported deployed (nor failed) on a 409"
    assert build.reason is not None and "retrying" in build.reason
    assert PROJECT.id == build.project_id
