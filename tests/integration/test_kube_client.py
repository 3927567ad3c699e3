"""lightkube's client is made when a job first talks to Kubernetes, not at start; what could
be wrong in the kubeconfig is still found at start.

Making the client builds an HTTP stack that nothing before the first Kubernetes call needs
(a tenth of a second of each start of `cibot serve`: bench/coldstart.py).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import yaml

from cibot.adapters.kubernetes.client import LazyClient, kube_config
from cibot.adapters.kubernetes.cluster import FIELD_MANAGER, KubeCluster
from cibot.adapters.retry import RetryPolicy
from cibot.domain.build import BuildType
from cibot.domain.environment import Environment
from tests.support.usecases import PROJECT

pytestmark = pytest.mark.kubernetes


async def test_the_client_is_made_at_the_first_call_to_kubernetes(kubeconfig_path: Path) -> None:
    lazy = LazyClient(kube_config(kubeconfig_path, None), field_manager=FIELD_MANAGER, timeout=30)
    cluster = KubeCluster(lazy, RetryPolicy(attempts=2, base_seconds=0, max_seconds=0))
    assert not lazy.made

    try:
        # Nothing of this preview exists: every kind is read (404) and nothing is deleted.
        await cluster.delete_environment(Environment.preview(PROJECT, BuildType.BRANCH, "none"))
        assert lazy.made
    finally:
        await lazy.close()


def test_a_certificate_authority_that_cannot_be_loaded_is_refused_at_once(
    kubeconfig_path: Path, tmp_path: Path
) -> None:
    garbage = tmp_path / "ca.crt"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
    config = yaml.safe_load(kubeconfig_path.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["certificate-authority"] = str(garbage)
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(config))

    with pytest.raises(ssl.SSLError):
        LazyClient(kube_config(path, None), field_manager=FIELD_MANAGER, timeout=30)
