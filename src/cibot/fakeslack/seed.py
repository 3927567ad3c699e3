"""Reads a workspace description (users, channels, bot identity) from a YAML or JSON file.

The standalone fake (`python -m cibot.fakeslack --seed FILE`) and the local playground start
from such a file, so the same people and channels appear in the config and in the fake:

    team_id: T00000FAKE          # optional, like every WorkspaceConfig field
    tokens: [xoxb-fake]
    users:
      - {id: U01QA, name: qa, real_name: Quinn QA, email: qa@example.com}
    channels:
      - {id: C0123456789, name: shop-deploys, members: [U01QA]}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cibot.fakeslack.config import WorkspaceConfig
from cibot.fakeslack.records import Channel, User


@dataclass(frozen=True)
class Seed:
    """What a workspace starts with."""

    config: WorkspaceConfig = field(default_factory=WorkspaceConfig)
    users: tuple[User, ...] = ()
    channels: tuple[Channel, ...] = ()


def parse_seed(data: Mapping[str, Any]) -> Seed:
    """A `Seed` from the parsed file; unknown keys are errors that name the key."""
    config_fields = {f.name for f in dataclasses.fields(WorkspaceConfig)}
    unknown = set(data) - config_fields - {"users", "channels"}
    if unknown:
        raise ValueError(f"unknown keys in the seed: {', '.join(sorted(unknown))}")
    overrides: dict[str, Any] = {k: v for k, v in data.items() if k in config_fields}
    for name in ("tokens", "config_tokens"):
        if name in overrides:
            overrides[name] = frozenset(str(t) for t in overrides[name])
    return Seed(
        config=WorkspaceConfig(**overrides),
        users=tuple(User.from_json(u) for u in data.get("users") or ()),
        channels=tuple(Channel.from_json(c) for c in data.get("channels") or ()),
    )


def load_seed(path: Path) -> Seed:
    """Reads a seed file (YAML, of which JSON is a subset)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: the seed must be a mapping")
    return parse_seed(data)
