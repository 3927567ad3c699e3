"""Pure translation between table rows and domain objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cibot.domain.build import Build, BuildState, BuildType

_BUILD_FIELDS = (
    "id", "project_id", "target", "image", "created_at", "updated_at", "commit", "author",
    "build_number", "ci_url", "digest", "preview_url", "reason", "superseded_by", "author_user",
    "ready_at", "active_at", "idle_warned_for", "removal_at",
)  # fmt: skip


def build_to_row(build: Build) -> dict[str, Any]:
    row = {name: getattr(build, name) for name in _BUILD_FIELDS}
    row["type"] = build.type.value
    row["state"] = build.state.value
    return row


def build_from_row(row: Mapping[Any, Any]) -> Build:
    return Build(
        type=BuildType(row["type"]),
        state=BuildState(row["state"]),
        **{name: row[name] for name in _BUILD_FIELDS},
    )
