"""A faithful, stateful fake of the Slack Web API, for tests and the local playground.

Slack cannot be reached from tests, and a mock that accepts anything hides the bugs that matter
(an invalid block, a lost update, a 429). This package serves the methods ci-bot uses over real
HTTP on loopback, so the real `slack_sdk` clients talk to it through `base_url`; it keeps the
workspace's state, validates Block Kit, and misbehaves on request. What people do reaches the
app through `deliver` (its Request URL, or Socket Mode's WebSocket: `sockets`).

    with FakeSlackServer(users=[User("U1", "ann", email="ann@example.com")]) as slack:
        client = WebClient(token="xoxb-fake", base_url=slack.api_url)
        client.chat_postMessage(channel="U1", text="hi")
        assert slack.state.dm_messages("U1")[0].visible_text == "hi"
"""

from cibot.fakeslack.admin_client import FakeSlackAdmin
from cibot.fakeslack.app import FakeSlackApp
from cibot.fakeslack.blocks import BlocksError, validate_blocks, validate_view
from cibot.fakeslack.config import WorkspaceConfig
from cibot.fakeslack.delivery import Answer, Bot, Delivered, Delivery, deliver
from cibot.fakeslack.faults import Fault, FaultKind, FaultPlan
from cibot.fakeslack.reading import Button, buttons, visible_text
from cibot.fakeslack.records import ApiCall, Channel, Ephemeral, Message, Revision, User, ViewRecord
from cibot.fakeslack.runner import FakeSlackServer
from cibot.fakeslack.seed import Seed, load_seed, parse_seed
from cibot.fakeslack.sockets import NotDelivered
from cibot.fakeslack.state import SlackError, Workspace

__all__ = [
    "Answer",
    "ApiCall",
    "BlocksError",
    "Bot",
    "Button",
    "Channel",
    "Delivered",
    "Delivery",
    "Ephemeral",
    "FakeSlackAdmin",
    "FakeSlackApp",
    "FakeSlackServer",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "Message",
    "NotDelivered",
    "Revision",
    "Seed",
    "SlackError",
    "User",
    "ViewRecord",
    "Workspace",
    "WorkspaceConfig",
    "buttons",
    "deliver",
    "load_seed",
    "parse_seed",
    "validate_blocks",
    "validate_view",
    "visible_text",
]
