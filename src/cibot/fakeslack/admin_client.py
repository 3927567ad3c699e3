"""A small client for the admin HTTP API, for tests that run the fake in another process.

It offers, over HTTP, the part of the in-process Python API (`Workspace` queries, `FaultPlan`)
that tests use, and returns the same record types, so a test reads the same whether the fake
runs in its process or not.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from cibot.fakeslack.faults import Fault, FaultKind
from cibot.fakeslack.records import ApiCall, Ephemeral, JsonDict, Message


class FakeSlackAdmin:
    """Drives a fake Slack at `url` (its root, e.g. `http://127.0.0.1:41234`)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        root = url.rstrip("/").removesuffix("/api").removesuffix("/_fake")
        self._http = httpx.Client(base_url=f"{root}/_fake/", timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FakeSlackAdmin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _get(self, path: str, **params: str | None) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        response = self._http.get(path, params=query)
        response.raise_for_status()
        return response.json()

    def _send(self, verb: str, path: str, body: JsonDict | None = None) -> Any:
        response = self._http.request(verb, path, json=body)
        response.raise_for_status()
        return response.json()

    # -- queries -------------------------------------------------------------------------------

    def dm_messages(self, user_id: str) -> list[Message]:
        return [Message.from_json(m) for m in self._get("dm", user=user_id)["messages"]]

    def ephemerals(self, user_id: str, channel: str | None = None) -> list[Ephemeral]:
        found = self._get("ephemerals", user=user_id, channel=channel)
        return [Ephemeral.from_json(e) for e in found]

    def calls(self, method: str | None = None) -> list[ApiCall]:
        return [ApiCall.from_json(c) for c in self._get("calls", method=method)]

    # -- control -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forgets messages, views and calls, and disarms all faults."""
        self._send("POST", "reset")

    def server_error(self, count: int = 1, *, status: int = 500, method: str | None = None) -> None:
        """The next `count` calls answer with HTTP `status` (as `FaultPlan.server_error`)."""
        fault = Fault(FaultKind.SERVER_ERROR, count, method, status=status)
        self._send("POST", "faults", fault.to_json())

    def switch_on(self, condition: str) -> None:
        """A workspace condition: `messages_tab_disabled`, `free_plan`, `edit_window_closed`."""
        self._send("POST", "refusals", {"condition": condition})

    def clear_refusals(self) -> None:
        self._send("DELETE", "refusals")

    def relax_rate_limits(self, factor: float | None = None) -> None:
        """Multiply Slack's limits by `factor` (None: no limits). Tests say why they do."""
        self._send("PUT", "limits", {"factor": factor})

    def set_app_settings(self, **changes: Any) -> JsonDict:
        """`socket_mode_enabled`, `interactivity_enabled`, `request_url`, `home_tab_enabled`;
        the manifest after."""
        manifest: JsonDict = self._send("PUT", "app", changes)
        return manifest

    # -- what people do, delivered to the app ---------------------------------------------------

    def deliver(self, payload: JsonDict) -> JsonDict:
        """Sends an interaction, event or slash command to the app as Slack would (its Request
        URL, or a Socket Mode connection); `{via, status, body, envelope_id, attempts}`."""
        done: JsonDict = self._send("POST", "deliver", {"payload": payload})
        return done

    def disconnect_sockets(self, reason: str = "refresh_requested", *, close: bool = False) -> int:
        """Sends Socket Mode's `disconnect` to every connection; how many there were."""
        told: int = self._send("POST", "sockets/disconnect", {"reason": reason, "close": close})[
            "connections"
        ]
        return told

    def drop_sockets(self, *, on_next_envelope: bool = False) -> None:
        """Closes every connection now, or the next envelope's before it arrives."""
        self._send("POST", "sockets/drop", {"on_next_envelope": on_next_envelope})

    def new_trigger_id(self, user_id: str) -> str:
        trigger_id: str = self._send("POST", "trigger_ids", {"user": user_id})["trigger_id"]
        return trigger_id
