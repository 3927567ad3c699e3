"""Hypothesis strategies for signed Slack bodies of any shape, around the fields read."""

from __future__ import annotations

from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = [
    "type", "team", "team_id", "enterprise", "enterprise_id", "is_enterprise_install",
    "authorizations", "user", "user_id", "channel", "channel_id", "container", "thread_ts",
    "message", "previous_message", "event", "function_data", "response_url", "response_urls",
    "trigger_id", "actions", "view", "command", "text", "api_app_id", "is_ext_shared_channel",
    "callback_id", "action_id", "event_id",
]  # fmt: skip
# What Bolt reads of an event (slack_bolt.request.internals), and ci-bot of app_home_opened.
EVENT_FIELDS = [
    "user", "user_id", "channel", "channel_id", "team", "team_id", "enterprise",
    "enterprise_id", "authorizations", "item", "message", "previous_message",
    "assistant_thread", "thread_ts", "view", "event", "tab", "user_team",
    "function_execution_id", "bot_access_token", "inputs", "subtype", "bot_id",
]  # fmt: skip
events = st.tuples(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["app_home_opened", "app_mention", "message"])},
        optional={"user": st.just("U0QA1") | json_values, "channel": st.just("D0QA1")},
    ),
    st.dictionaries(st.sampled_from(EVENT_FIELDS), json_values, max_size=3),
).map(lambda parts: {**parts[1], **parts[0]})
shaped = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "block_actions",
                "view_submission",
                "view_closed",
                "event_callback",
                "shortcut",
                "message_action",
                "block_suggestion",
                "interactive_message",
                "dialog_submission",
                "x",
            ]
        )
    },
    optional={
        "actions": st.lists(
            st.fixed_dictionaries(
                {"action_id": st.text(max_size=6)}, optional={"value": json_values}
            ),
            max_size=2,
        ),
        "event": events,
        "event_id": st.just("Ev0FAKE0001") | json_values,
        "view": st.fixed_dictionaries(
            {
                "callback_id": st.text(max_size=6),
                "type": st.sampled_from(["modal", "workflow_step"]),
            },
            optional={"private_metadata": json_values, "state": json_values},
        ),
    },
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6),
    st.tuples(shaped, st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3)).map(
        lambda parts: {**parts[1], **parts[0]}
    ),
)
