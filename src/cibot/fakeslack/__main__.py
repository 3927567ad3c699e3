"""`python -m cibot.fakeslack`: the fake Slack as a process of its own.

For end-to-end tests and the local playground, where ci-bot runs as a subprocess. The first
line on stdout is the Web API URL (to put in `slack.api_url`); the admin API is beside it under
`/_fake/`, the playground (a web client) at the root. Runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from cibot.fakeslack.delivery import Bot
from cibot.fakeslack.runner import FakeSlackServer
from cibot.fakeslack.seed import Seed, load_seed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cibot.fakeslack", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--seed", "--users-file", type=Path, help="YAML/JSON file with users and channels"
    )
    parser.add_argument("--token", action="append", help="accepted bot token (repeatable)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each call")
    parser.add_argument(
        "--bot-url",
        help="where ci-bot listens (e.g. http://127.0.0.1:8080): the playground's clicks go "
        "there, signed with $SLACK_SIGNING_SECRET; its build form signs with "
        "$CIBOT_WEBHOOK_SECRET",
    )
    parser.add_argument(
        "--project", action="append", default=[], help="a project id for the build form"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    seed = load_seed(args.seed) if args.seed else Seed()
    config = seed.config
    if args.token:
        config = dataclasses.replace(config, tokens=frozenset(args.token))
    server = FakeSlackServer(
        users=seed.users, channels=seed.channels, config=config, host=args.host, port=args.port
    )
    server.faults.set_latency(args.latency)
    if args.bot_url:
        signing_secret = os.environ.get("SLACK_SIGNING_SECRET")
        if not signing_secret:
            _parser().error("--bot-url needs $SLACK_SIGNING_SECRET (ci-bot's slack.signing_secret)")
        webhook_secret = os.environ.get("CIBOT_WEBHOOK_SECRET") or None
        server.connect(Bot(args.bot_url, signing_secret, webhook_secret, tuple(args.project)))
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with server:
        sys.stdout.write(server.api_url + "\n")
        sys.stdout.flush()
        logging.getLogger("cibot.fakeslack").info("admin API at %s", server.admin_url)
        stopping.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
