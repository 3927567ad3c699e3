"""Annotated value types for the configuration models, each with the rule it checks.

Kept apart from the models so a rule (what a Slack channel id looks like, what a sane URL is) is
written once and reads as a name in `model.py`. Messages say what is expected and never quote the
value: the loader adds the value itself where it is safe to show.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import AfterValidator, BeforeValidator, Field

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,}")
_USER = re.compile(r"[UW][A-Z0-9]{2,}")
_TEAM = re.compile(r"[TE][A-Z0-9]{2,}")  # a workspace, or an org (org-wide install)
_APP = re.compile(r"A[A-Z0-9]{2,}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESOURCE_NAME = re.compile(r"[a-z0-9]([-a-z0-9./]*[a-z0-9])?")
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
_GATEWAY = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def _matching(pattern: re.Pattern[str], expected: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"must be {expected}")
        return value

    return AfterValidator(check)


def is_project_id(value: str) -> bool:
    return len(value) <= 40 and _DNS1035_LABEL.fullmatch(value) is not None


def is_dns_label(value: str, max_length: int = 63) -> bool:
    return len(value) <= max_length and _DNS_LABEL.fullmatch(value) is not None


def split_url(value: str) -> SplitResult:
    """`urlsplit`, with its errors (which quote parts of the URL) replaced by our own."""
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise ValueError("is not a valid URL (check the host and port)") from None
    return parts


def _http_url(value: str) -> str:
    parts = split_url(value)
    if parts.scheme not in ("http", "https") or any(char.isspace() for char in value):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host, as in https://example.com")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password")
    return value


def _slack_api_url(value: str) -> str:
    """The Slack client joins method names onto this URL, so it must end with a slash."""
    return value if value.endswith("/") else value + "/"


def _channel(value: str) -> str:
    if value.startswith("#"):
        raise ValueError("must be a Slack channel id like C0123456789, not a channel name")
    if not _CHANNEL.fullmatch(value):
        raise ValueError("must be a Slack channel id like C0123456789 (C, G or D, then A-Z 0-9)")
    return value


def _user(value: str) -> str:
    if value.startswith("@") or not _USER.fullmatch(value):
        raise ValueError("must be a Slack user id like U0123ABCD, not a name or @mention")
    return value


def _as_text(value: object) -> object:
    """Numbers written in Python (not YAML, which gives text) become text, like YAML's do."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


NonEmpty = Annotated[str, Field(min_length=1)]
_DNS_RULE = _matching(_DNS_LABEL, "a DNS-1123 label: a-z, 0-9 and '-', alphanumeric at both ends")
DnsLabel = Annotated[str, Field(max_length=63), _DNS_RULE]
# A project id prefixes object names, Services' among them: a DNS-1035 label (starts with a letter).
_PROJECT_RULE = _matching(
    _DNS1035_LABEL,
    "a DNS-1035 label: a-z, 0-9 and '-', starting with a letter, alphanumeric at the end",
)
ProjectId = Annotated[str, Field(max_length=40), _PROJECT_RULE]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
SlackApiUrl = Annotated[HttpUrl, AfterValidator(_slack_api_url)]
ChannelId = Annotated[str, AfterValidator(_channel)]
UserId = Annotated[str, AfterValidator(_user)]
TeamId = Annotated[str, _matching(_TEAM, "a Slack team id like T0123ABCD (or E…, an org)")]
AppId = Annotated[str, _matching(_APP, "a Slack app id like A0123ABCD")]
EnvName = Annotated[str, _matching(_ENV_NAME, "a valid environment variable name (A-Z, 0-9, _)")]
EnvValue = Annotated[str, BeforeValidator(_as_text)]
ResourceName = Annotated[str, _matching(_RESOURCE_NAME, "a resource name like cpu or memory")]
Quantity = Annotated[
    str,
    BeforeValidator(_as_text),
    _matching(_QUANTITY, "a Kubernetes quantity like 100m, 0.5, 64Mi or 1Gi"),
]
Gateway = Annotated[str, _matching(_GATEWAY, 'a Gateway reference "namespace/name"')]
LogLevel = Annotated[
    Literal["debug", "info", "warning", "error", "critical"], BeforeValidator(_lower)
]


_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_UNITS = ("weeks", "days", "hours", "minutes", "seconds")


def _duration(value: object) -> object:
    """`90` (seconds), `"90s"`, `"30m"`, `"12h"`, `"7d"`, `"2w"` or `"1h30m"` -> timedelta."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like 90s, 30m, 12h or 7d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return timedelta(seconds=value)
    if isinstance(value, str) and value.strip().isdigit():
        return timedelta(seconds=int(value))
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip().lower())
        if value.strip() and match:
            parts = {u: int(n) for u, n in zip(_DURATION_UNITS, match.groups(), strict=True) if n}
            return timedelta(**parts)
    if isinstance(value, timedelta):
        return value
    raise ValueError("must be a duration like 90s, 30m, 12h, 7d (or a number of seconds)")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]
WarningTime = Annotated[timedelta, BeforeValidator(_duration)]

_GROUP = re.compile(r"S[A-Z0-9]{2,}")


def _member(value: str) -> str:
    """A role entry: a Slack user id, or a user group id (its members are looked up)."""
    if _GROUP.fullmatch(value):
        return value
    return _user(value)


RoleMember = Annotated[str, AfterValidator(_member)]

_REGISTRY = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:\d{1,5})?"
)
_REPO_PATH = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*")


def _image_rule(value: str) -> str:
    registry, _, path = value.partition("/")
    bare = path.removesuffix("*").rstrip("/")
    if not _REGISTRY.fullmatch(registry) or (bare and not _REPO_PATH.fullmatch(bare)):
        raise ValueError(
            "must be a registry (ghcr.io), a repository (ghcr.io/acme/web) "
            "or a path with /* (ghcr.io/acme/*)"
        )
    if "*" in bare or (path.endswith("*") and not (path == "*" or path.endswith("/*"))):
        raise ValueError("a * may only end the pattern, after a /")
    return value


ImagePattern = Annotated[str, AfterValidator(_image_rule)]
