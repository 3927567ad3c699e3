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
    "callback_id", "action_id",
]  # fmt: skip
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
