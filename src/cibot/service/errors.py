"""The few errors the use cases deal in; adapters turn library errors into these.

ServiceError
├── Transient          try again later: the job runner retries with backoff
│   ├── ClusterUnavailable   Kubernetes API unreachable, 5xx, 429, conflict after retries
│   ├── ChatUnavailable      Slack unreachable, 5xx, rate limited past our retries
│   ├── StoreConflict        a concurrent writer won (e.g. a unique key); re-run the unit of work
│   └── StoreUnavailable     the database is down, locked or busy past its timeout
└── Permanent          retrying cannot help: record the reason and move on
    ├── ClusterRejected      the API refused the objects (invalid, forbidden, no namespace)
    ├── ChatRejected         Slack refused the message (no channel, invalid blocks, bad token)
    ├── ReplayMismatch       a webhook id reused for a different body
    └── ImageNotAllowed      the image is from outside the project's allow-list
"""

from __future__ import annotations

from datetime import datetime


class ServiceError(Exception):
    """Base of every error the service layer expects."""


class Transient(ServiceError):
    """Worth retrying later; not before `retry_after` seconds when the other side said so.

    `until`: the work has a deadline of its own (a deploy waiting for an unreachable API);
    the job runner retries it until then, however many attempts that takes.
    """

    def __init__(
        self, message: str = "", retry_after: float | None = None, until: datetime | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.until = until


class Permanent(ServiceError):
    """Retrying will not help."""


class ClusterUnavailable(Transient):
    pass


class ChatUnavailable(Transient):
    pass


class StoreConflict(Transient):
    pass


class StoreUnavailable(Transient):
    pass


class ClusterRejected(Permanent):
    pass


class ChatRejected(Permanent):
    pass


class ReplayMismatch(Permanent):
    """The same webhook id came again with a different body: refuse, never guess."""


class ImageNotAllowed(Permanent):
    """The policy allows images only from some registries or repositories; this is not one."""
