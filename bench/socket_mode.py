"""Benchmark: a slash command's answer over Socket Mode beside the same over HTTP.

    uv run python -m bench.socket_mode [--backend sqlite|postgresql] [--n 100]

A real `cibot serve` with `slack.mode: socket` (and a signing secret, so that `/slack/events`
is served too) runs against the fake Slack and the local cluster. The fake delivers
`/cibot history shop 5` (a database read) `--n` times one after the other, first as Socket
Mode envelopes (the answer comes back in the ack), then, with the app's Socket Mode off, as
signed POSTs to the Request URL: both through `fakeslack.delivery.deliver`, so only the
transport differs. Then, once per `--drops`, the socket dies as a click is sent: the time
until the click is acknowledged on the connection ci-bot opens again (the fake waits
`--ack` seconds for an ack before it sends an envelope again; Slack waits about 3).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support import slack_requests as slack_req

from bench.harness import CHANNEL, OWNERS, QA, cibot, config, database, namespace, summary
from cibot.fakeslack import Channel, FakeSlackAdmin, FakeSlackServer, User, WorkspaceConfig


def timed(admin: FakeSlackAdmin, payload: Mapping[str, Any], via: str) -> float:
    started = time.perf_counter()
    done = admin.deliver(dict(payload))
    spent = time.perf_counter() - started
    if done["via"] != via or done["status"] != 200:
        raise RuntimeError(f"not delivered as expected: {done}")
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--drops", type=int, default=5)
    parser.add_argument("--ack", type=float, default=1.0)
    args = parser.parse_args()
    people = [User(id=u, name=u.lower()) for u in (*QA, *OWNERS)]
    channel = Channel(id=CHANNEL, name="bench", members=frozenset((*QA, *OWNERS)))
    workspace = WorkspaceConfig(socket_ack_seconds=args.ack)
    command = slack_req.slash_command(QA[0], "history shop 5", CHANNEL)
    with (
        tempfile.TemporaryDirectory(prefix="cibot-bench-") as tmp,
        database(args.backend, Path(tmp)) as db_url,
        namespace() as ns,
        FakeSlackServer(users=people, channels=[channel], config=workspace) as slack,
        FakeSlackAdmin(slack.url, timeout=60) as admin,
    ):
        slack.state.set_app_settings(socket_mode_enabled=True)
        cfg = config(db_url, slack, ns)
        # The fake signs its POSTs with its own secret: ci-bot verifies with the same.
        cfg["slack"] |= {"mode": "socket", "signing_secret": workspace.signing_secret}
        cfg["slack"]["app_token"] = min(workspace.app_tokens)
        with cibot(cfg) as process:
            slack.state.wait_for(lambda s: bool(s.sockets.connections()), within=30)
            timed(admin, command, "socket")  # warm both paths up once
            socket = [timed(admin, command, "socket") for _ in range(args.n)]
            drops = []
            for _ in range(args.drops):
                slack.state.wait_for(lambda s: bool(s.sockets.connections()), within=30)
                admin.drop_sockets(on_next_envelope=True)
                click = slack_req.block_actions(QA[0], "qa_approve", "0", "D0BENCH")
                drops.append(timed(admin, click, "socket"))
            slack.state.set_app_settings(
                socket_mode_enabled=False, request_url=f"{process.url}/slack/events"
            )
            timed(admin, command, "http")
            over_http = [timed(admin, command, "http") for _ in range(args.n)]
    p50 = sorted(socket)[len(socket) // 2] / sorted(over_http)[len(over_http) // 2]
    print(f"backend: {args.backend}; /cibot history shop 5, one after the other")
    print(f"  over Socket Mode (answer in the ack): {summary(socket)}")
    print(f"  over HTTP (signed POST):              {summary(over_http)}")
    print(f"  p50 ratio socket/http: {p50:.2f}")
    print(f"a click whose socket dies as it is sent (ack wait {args.ack} s), until acked:")
    print(f"  {summary(drops)}")


if __name__ == "__main__":
    main()
