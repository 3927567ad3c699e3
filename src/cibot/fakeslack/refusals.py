"""Refusals a real workspace can give, switched on per workspace by a test.

A workspace's settings and plan make Slack refuse calls that the fake would otherwise take;
each is named here with the method pages that list the error:

- `messages_tab_disabled`: the app's App Home has its Messages tab off, so the bot cannot post
  into DMs (chat.postMessage, https://docs.slack.dev/reference/methods/chat.postMessage, errors).
- `plan_upgrade_required`: user groups need a paid plan (usergroups.users.list,
  https://docs.slack.dev/reference/methods/usergroups.users.list, errors; "User groups are
  only available on paid plans", https://slack.com/help/articles/212906697).
- `edit_window_closed`: the workspace's message-editing window is closed for the message
  (chat.update, https://docs.slack.dev/reference/methods/chat.update, errors).
- any other `(method, error)` pair, e.g. `not_in_channel`, `channel_not_found`,
  `users_not_found` or `invalid_blocks`, answered with Slack's wording (`errors` and
  `response_metadata.messages` for `invalid_blocks`, as chat.postMessage's page shows).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Named workspace conditions: which methods they refuse, with which error.
CONDITIONS: dict[str, tuple[frozenset[str], str]] = {
    "messages_tab_disabled": (frozenset({"chat.postMessage"}), "messages_tab_disabled"),
    "free_plan": (frozenset({"usergroups.users.list", "usergroups.list"}), "plan_upgrade_required"),
    "edit_window_closed": (frozenset({"chat.update"}), "edit_window_closed"),
}

# Slack's wording for `invalid_blocks` (chat.postMessage's reference, "invalid_blocks").
INVALID_BLOCKS_DETAIL = "invalid additional property: colour [json-pointer:/blocks/0]"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Calls of `method` answer `error`; `dm_only`: only when posting into a DM."""

    method: str
    error: str
    dm_only: bool = False

    def body(self) -> dict[str, Any]:
        if self.error == "invalid_blocks":
            return {
                "ok": False,
                "error": "invalid_blocks",
                "errors": [INVALID_BLOCKS_DETAIL],
                "response_metadata": {"messages": [f"[ERROR] {INVALID_BLOCKS_DETAIL}"]},
            }
        return {"ok": False, "error": self.error}

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "error": self.error, "dm_only": self.dm_only}


class Refusals:
    """The refusals switched on in one workspace."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._on: list[Refusal] = []
        self._conditions: set[str] = set()

    def switch_on(self, condition: str) -> None:
        """Turn on a named condition (`messages_tab_disabled`, `free_plan`, …)."""
        if condition not in CONDITIONS:
            known = ", ".join(sorted(CONDITIONS))
            raise ValueError(f"unknown condition {condition!r}; known: {known}")
        methods, error = CONDITIONS[condition]
        with self._lock:
            self._conditions.add(condition)
            for method in sorted(methods):
                dm_only = condition == "messages_tab_disabled"
                self._on.append(Refusal(method, error, dm_only=dm_only))

    def refuse(self, method: str, error: str) -> None:
        """Every call of `method` answers `error` (not_in_channel, invalid_blocks, …)."""
        with self._lock:
            self._on.append(Refusal(method, error))

    def clear(self) -> None:
        with self._lock:
            self._on.clear()
            self._conditions.clear()

    def is_on(self, condition: str) -> bool:
        with self._lock:
            return condition in self._conditions

    def find(self, method: str, *, into_dm: bool) -> Refusal | None:
        with self._lock:
            for refusal in self._on:
                if refusal.method == method and (into_dm or not refusal.dm_only):
                    return refusal
        return None

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "conditions": sorted(self._conditions),
                "refusals": [r.to_json() for r in self._on],
            }

    def apply_json(self, data: Mapping[str, Any]) -> None:
        """From the admin API: `{"condition": name}` or `{"method": m, "error": e}`."""
        if "condition" in data:
            self.switch_on(str(data["condition"]))
        elif isinstance(data.get("method"), str) and isinstance(data.get("error"), str):
            self.refuse(data["method"], data["error"])
        else:
            raise ValueError('expected {"condition": name} or {"method": m, "error": e}')
