"""`cibot notify` and `cibot notify-branch-deleted`: the CI side of `POST /build-complete`
and `POST /branch-deleted`.

One webhook id for every attempt, so the server's replay protection turns retries into
one build; a fresh timestamp and signature per attempt, so a retry after minutes is not
stale. Retries 5xx, 429 and connection errors with backoff; never retries a 4xx.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass

import httpx
import typer

from cibot.adapters import webhooks
from cibot.adapters.retry import RetryPolicy, retry_after_seconds

OK, REFUSED, UNREACHABLE = 0, 1, 3


@dataclass(frozen=True, slots=True)
class Notification:
    project: str
    image: str
    type: str
    target: str
    commit: str | None = None
    author: str | None = None
    build_number: int | None = None
    ci_url: str | None = None

    def body(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(fields, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class BranchDeletion:
    project: str
    branch: str

    def body(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()


BUILD_COMPLETE, BRANCH_DELETED = "/build-complete", "/branch-deleted"


def endpoint(url: str, path: str = BUILD_COMPLETE) -> str:
    url = url.rstrip("/")
    return url if url.endswith(path) else f"{url}{path}"


def _build_accepted(answer: dict[str, object]) -> str:
    return f"accepted: build {answer.get('build_id')}"


def _branch_accepted(answer: dict[str, object]) -> str:
    closed = answer.get("closed")
    ids = [str(i) for i in closed] if isinstance(closed, list) else []
    return f"accepted: closed {len(ids)} build(s)" + (f": {' '.join(ids)}" if ids else "")


def send(
    url: str,
    secret: str,
    note: Notification | BranchDeletion,
    *,
    webhook_id: str | None = None,
    retries: int = 5,
    timeout: float = 10.0,
    policy: RetryPolicy | None = None,
) -> int:
    """POST the signed notification (a build, or a deleted branch); the exit code for CI."""
    verb = "notify" if isinstance(note, Notification) else "notify-branch-deleted"
    try:
        webhooks.decode_secret(secret)
    except ValueError as exc:
        typer.echo(f"cibot {verb}: --secret: {exc}", err=True)
        return 2
    body, msg_id = note.body(), webhook_id or f"msg_{uuid.uuid4().hex}"
    policy = policy or RetryPolicy(attempts=retries + 1, base_seconds=1.0, max_seconds=30.0)
    building = isinstance(note, Notification)
    target = endpoint(url, BUILD_COMPLETE if building else BRANCH_DELETED)
    accepted = _build_accepted if building else _branch_accepted
    last = ""
    with httpx.Client(timeout=timeout) as client:
        for attempt in range(1, policy.attempts + 1):
            headers = webhooks.headers(secret, body, msg_id=msg_id)
            headers["content-type"] = "application/json"
            retry_after: float | None = None
            try:
                response = client.post(target, content=body, headers=headers)
            except httpx.HTTPError as exc:
                last = f"cannot reach {target}: {type(exc).__name__}"
            else:
                if response.status_code < 300:
                    typer.echo(accepted(response.json()))
                    return OK
                last = f"{response.status_code}: {_message(response)}"
                if response.status_code < 500 and response.status_code != 429:
                    typer.echo(f"cibot {verb}: refused: {last}", err=True)
                    return REFUSED
                retry_after = retry_after_seconds(response.headers.get("retry-after"))
            if attempt < policy.attempts:
                typer.echo(f"cibot {verb}: {last}; retrying", err=True)
                time.sleep(policy.delay(attempt, retry_after))
    typer.echo(f"cibot {verb}: gave up: {last}", err=True)
    return UNREACHABLE


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    return str(data.get("error", data)) if isinstance(data, dict) else str(data)[:200]
