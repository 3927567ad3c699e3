"""Which cluster to talk to: the configured kubeconfig and context, else in-cluster, else
the default kubeconfig — the order `kubectl` users expect."""

from __future__ import annotations

from pathlib import Path

from lightkube import KubeConfig
from lightkube.config.kubeconfig import SingleConfig


def kube_config(kubeconfig: Path | None, context: str | None) -> SingleConfig:
    config = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
    single = config.get(context_name=context)
    if single is None:
        where = kubeconfig or "the default kubeconfig"
        raise ValueError(f"no context {context or '(current)'} in {where}")
    return single
