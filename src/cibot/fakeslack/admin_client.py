"""A small client for the admin HTTP API, for tests that run the fake in another process.

It mirrors the in-process Python API (`Workspace` queries, `FaultPlan`) and returns the same
record types, so a test reads the same whether the fake runs in its process or not.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from cibot.fakeslack.faults import Fault, FaultKind
from cibot.fakeslack.records import ApiCall, Channel, Ephemeral, JsonDict, Message, User, ViewRecord


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

    def health(self) -> bool:
        return bool(self._get("health").get("ok"))

    def state(self) -> JsonDict:
        result: JsonDict = self._get("state")
        return result

    def messages(self, channel: str) -> list[Message]:
        return [Message.from_json(m) for m in self._get("messages", channel=channel)]

    def dm_channel(self, user_id: str) -> str | None:
        channel: str | None = self._get("dm", user=user_id)["channel"]
        return channel

    def dm_messages(self, user_id: str) -> list[Message]:
        return [Message.from_json(m) for m in self._get("dm", user=user_id)["messages"]]

    def thread(self, channel: str, ts: str) -> list[Message]:
        return [Message.from_json(m) for m in self._get("thread", channel=channel, ts=ts)]

    def ephemerals(self, user_id: str, channel: str | None = None) -> list[Ephemeral]:
        found = self._get("ephemerals", user=user_id, channel=channel)
        return [Ephemeral.from_json(e) for e in found]

    def views(self, user_id: str | None = None) -> list[ViewRecord]:
        return [ViewRecord.from_json(v) for v in self._get("views", user=user_id)]

    def home_view(self, user_id: str) -> ViewRecord | None:
        found = self._get("home", user=user_id)
        return None if found is None else ViewRecord.from_json(found)

    def calls(self, method: str | None = None) -> list[ApiCall]:
        return [ApiCall.from_json(c) for c in self._get("calls", method=method)]

    # -- control -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forgets messages, views and calls, and disarms all faults."""
        self._send("POST", "reset")

    def add_fault(self, fault: Fault) -> None:
        self._send("POST", "faults", fault.to_json())

    def rate_limit(
        self, count: int = 1, *, retry_after: int = 1, method: str | None = None
    ) -> None:
        self.add_fault(Fault(FaultKind.RATE_LIMIT, count, method, retry_after=retry_after))

    def server_error(self, count: int = 1, *, status: int = 500, method: str | None = None) -> None:
        self.add_fault(Fault(FaultKind.SERVER_ERROR, count, method, status=status))

    def stall(self, seconds: float, count: int = 1, *, method: str | None = None) -> None:
        self.add_fault(Fault(FaultKind.STALL, count, method, seconds=seconds))

    def drop(self, count: int = 1, *, method: str | None = None) -> None:
        self.add_fault(Fault(FaultKind.DROP, count, method))

    def pending_faults(self) -> list[Fault]:
        return [Fault.from_json(f) for f in self._get("faults")["faults"]]

    def clear_faults(self) -> None:
        self._send("DELETE", "faults")

    def set_latency(self, seconds: float) -> None:
        self._send("PUT", "latency", {"seconds": seconds})

    def switch_on(self, condition: str) -> None:
        """A workspace condition: `messages_tab_disabled`, `free_plan`, `edit_window_closed`."""
        self._send("POST", "refusals", {"condition": condition})

    def refuse(self, method: str, error: str) -> None:
        self._send("POST", "refusals", {"method": method, "error": error})

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

    def expire_token(self, token: str) -> None:
        """Slack answers `token_expired` to `token` from now on."""
        self._send("POST", "expired_tokens", {"token": token})

    # -- what people do, delivered to the app ---------------------------------------------------

    def deliver(self, payload: JsonDict) -> JsonDict:
        """Sends an interaction, event or slash command to the app as Slack would (its Request
        URL, or a Socket Mode connection); `{via, status, body, envelope_id, attempts}`."""
        done: JsonDict = self._send("POST", "deliver", {"payload": payload})
        return done

    def sockets(self) -> JsonDict:
        """The app's Socket Mode connections and the envelopes delivered."""
        found: JsonDict = self._get("sockets")
        return found

    def disconnect_sockets(self, reason: str = "refresh_requested", *, close: bool = False) -> int:
        """Sends Socket Mode's `disconnect` to every connection; how many there were."""
        told: int = self._send("POST", "sockets/disconnect", {"reason": reason, "close": close})[
            "connections"
        ]
        return told

    def drop_sockets(self, *, on_next_envelope: bool = False) -> None:
        """Closes every connection now, or the next envelope's before it arrives."""
        self._send("POST", "sockets/drop", {"on_next_envelope": on_next_envelope})

    def add_user(self, user: User) -> None:
        self._send("POST", "users", user.to_json())

    def add_channel(self, channel: Channel) -> None:
        self._send("POST", "channels", channel.to_json())

    def new_trigger_id(self, user_id: str) -> str:
        trigger_id: str = self._send("POST", "trigger_ids", {"user": user_id})["trigger_id"]
        return trigger_id

    def post_as_user(
        self, channel: str, user_id: str, text: str, thread_ts: str | None = None
    ) -> Message:
        body = {"channel": channel, "user": user_id, "text": text, "thread_ts": thread_ts}
        return Message.from_json(self._send("POST", "messages", body))
