"""Which cluster to talk to: the configured kubeconfig and context, else in-cluster, else
the default kubeconfig — the order `kubectl` users expect."""

from __future__ import annotations

from pathlib import Path

import httpx2
from lightkube import AsyncClient, KubeConfig
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import SingleConfig


def kube_config(kubeconfig: Path | None, context: str | None) -> SingleConfig:
    config = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
    single = config.get(context_name=context)
    if single is None:
        where = kubeconfig or "the default kubeconfig"
        raise ValueError(f"no context {context or '(current)'} in {where}")
    return single


class LazyClient:
    """lightkube's AsyncClient, made the first time a job talks to Kubernetes.

    Making it builds an httpx transport, which imports an HTTP/1.1 and HTTP/2 stack (h11,
    h2, httpcore): a tenth of a second of each start of `cibot serve`, for a client that
    neither the first /healthz nor any request needs (only jobs call Kubernetes). What could
    be wrong in the configuration is found here, at start, as before: the certificates and
    keys are loaded and the credentials read into the same connection settings lightkube
    will use (an error is an OSError, ValueError or lightkube ConfigError).
    """

    def __init__(self, config: SingleConfig, *, field_manager: str, timeout: float) -> None:
        ConnectionParams().httpx_params(config)  # raises on what lightkube could not use
        self._config = config
        self._field_manager = field_manager
        self._timeout = timeout
        self._client: AsyncClient | None = None

    @property
    def made(self) -> bool:
        return self._client is not None

    def get(self) -> AsyncClient:
        if self._client is None:
            self._client = AsyncClient(
                config=self._config,
                field_manager=self._field_manager,
                timeout=httpx2.Timeout(self._timeout),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
