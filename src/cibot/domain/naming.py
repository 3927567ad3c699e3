"""DNS-safe names for environments: object names, preview hosts and label values.

Branch and tag names are free text (`feature/Login`, `v1.2.3`, 200 characters of emoji), but
Kubernetes object names, host labels and label values have strict grammars. This module turns a
target into each of them, deterministically, and appends a short hash of the original text
whenever the text had to be cut or changed in any way (case included), so two distinct targets
of one project never map to the same name (barring a 32-bit hash collision). Two projects
sharing a namespace are kept apart by `name_clash`, which the configuration checks.
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

from cibot.domain.build import BuildType

DNS_LABEL_MAX = 63
DNS_NAME_MAX = 253
LABEL_VALUE_MAX = 63
HASH_LEN = 8

_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_DNS1035_LABEL = re.compile(r"[a-z](?:[-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_NOT_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]+")
_NON_ALNUM_ENDS = re.compile(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$")


class EnvironmentKind(StrEnum):
    """Where a build runs: its own preview, or the project's production."""

    PREVIEW = "preview"
    PRODUCTION = "production"


def is_dns_label(s: str) -> bool:
    """True for an RFC 1123 label: ≤ 63 of [a-z0-9-], alphanumeric at both ends."""
    return len(s) <= DNS_LABEL_MAX and _DNS_LABEL.fullmatch(s) is not None


def is_dns1035_label(s: str) -> bool:
    """True for an RFC 1035 label (a DNS label starting with a letter), as Services need."""
    return len(s) <= DNS_LABEL_MAX and _DNS1035_LABEL.fullmatch(s) is not None


def is_dns_name(s: str) -> bool:
    """True for an RFC 1123 subdomain: dot-separated DNS labels, ≤ 253 in all."""
    return len(s) <= DNS_NAME_MAX and all(is_dns_label(part) for part in s.split("."))


def is_label_value(s: str) -> bool:
    """True for a Kubernetes label value: ≤ 63 of [A-Za-z0-9._-], alphanumeric ends, or empty."""
    return len(s) <= LABEL_VALUE_MAX and _LABEL_VALUE.fullmatch(s) is not None


def short_hash(text: str) -> str:
    """The first HASH_LEN hex digits of the SHA-256 of `text`."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LEN]


def slug(text: str, max_len: int = DNS_LABEL_MAX) -> str:
    """`text` as a DNS label fragment of at most `max_len`, hashed when cut or changed."""
    cleaned = _NOT_SLUG.sub("-", text.lower()).strip("-")
    return _fit(text, cleaned, max_len)


def label_value(text: str) -> str:
    """`text` as a Kubernetes label value (case and dots kept), hashed when cut or changed."""
    cleaned = _NON_ALNUM_ENDS.sub("", _NOT_LABEL_VALUE.sub("-", text))
    return _fit(text, cleaned, LABEL_VALUE_MAX)


def _fit(original: str, cleaned: str, max_len: int) -> str:
    """`cleaned` if it is `original` unchanged and short enough; else a cut of it plus a hash.

    `cleaned` must start and end alphanumeric (or be empty), so a cut only needs trimming of
    separators at its end.
    """
    if max_len < HASH_LEN:
        raise ValueError(f"max_len {max_len} leaves no room for a {HASH_LEN}-character hash")
    if cleaned and cleaned == original and len(cleaned) <= max_len:
        return cleaned
    room = max_len - HASH_LEN - 1
    base = _NON_ALNUM_ENDS.sub("", cleaned[: max(room, 0)])
    digest = short_hash(original)
    return f"{base}-{digest}" if base else digest


def production_name(project_id: str) -> str:
    """The name of a project's production objects: the project id itself."""
    _check_project_id(project_id)
    return project_id


def environment_name(project_id: str, build_type: BuildType, target: str) -> str:
    """The name of a target's preview objects: `<project>-<type>-<target slug>`, ≤ 63."""
    _check_project_id(project_id)
    prefix = f"{project_id}-{build_type.value}-"
    room = DNS_LABEL_MAX - len(prefix)
    if room >= HASH_LEN:
        return prefix + slug(target, room)
    # A project id so long that the target has no room: hash the whole name instead.
    return slug(prefix + target, DNS_LABEL_MAX)


def preview_prefixes(project_id: str) -> tuple[str, ...]:
    """Strings one of which begins the name of every preview of the project.

    `<project>-<type>-` for each build type; when the id is so long that the whole name is
    hashed (see `environment_name`), also the stem that hashed names keep before their hash.
    """
    _check_project_id(project_id)
    prefixes: list[str] = []
    for build_type in BuildType:
        prefix = f"{project_id}-{build_type.value}-"
        prefixes.append(prefix)
        if DNS_LABEL_MAX - len(prefix) < HASH_LEN:
            prefixes.append(_hashed_stem(prefix))
    return tuple(dict.fromkeys(prefixes))


def _hashed_stem(prefix: str) -> str:
    """What `slug(prefix + target, DNS_LABEL_MAX)` keeps of `prefix` when it has to hash."""
    cleaned = _NOT_SLUG.sub("-", prefix)  # a project id is lowercase already
    room = DNS_LABEL_MAX - HASH_LEN - 1
    if len(cleaned) <= room:  # the cut reaches into the target: the whole prefix stays
        return cleaned
    return _NON_ALNUM_ENDS.sub("", cleaned[:room]) + "-"


def name_clash(a: str, b: str) -> str | None:
    """Why projects `a` and `b` could give two objects the same name in one namespace; None
    when no target of either can ever do so.

    Distinct ids never clash through production names; a preview name begins with one of
    the project's `preview_prefixes`, and two strings with prefixes p and q can only be equal
    when p begins with q or q with p.
    """
    for one, other in ((a, b), (b, a)):
        for prefix in preview_prefixes(one):
            if other.startswith(prefix):
                return (
                    f"a preview of {one!r} is named {prefix}<target>, so one could be named "
                    f"{other!r} like the production of project {other!r}"
                )
    for prefix_a in preview_prefixes(a):
        for prefix_b in preview_prefixes(b):
            if prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a):
                return (
                    f"previews of {a!r} are named {prefix_a}<target> and previews of {b!r} "
                    f"{prefix_b}<target>, so two of them can have the same name"
                )
    return None


def preview_host(project_host: str, build_type: BuildType, target: str) -> str:
    """The preview host of a target: `<target slug>.<type>.<project host>` (the original scheme)."""
    host = project_host.lower().rstrip(".")
    suffix = f".{build_type.value}.{host}"
    if not is_dns_name(suffix[1:]):
        raise ValueError(f"project host {project_host!r} is not a valid DNS name")
    room = min(DNS_LABEL_MAX, DNS_NAME_MAX - len(suffix))
    if room < HASH_LEN:
        raise ValueError(f"project host {project_host!r} leaves no room for a preview label")
    return slug(target, room) + suffix


def _check_project_id(project_id: str) -> None:
    if not is_dns1035_label(project_id):
        raise ValueError(
            f"project id {project_id!r} must be a DNS-1035 label "
            "(≤ 63 of a-z, 0-9 and '-', starting with a letter, ending alphanumeric)"
        )
