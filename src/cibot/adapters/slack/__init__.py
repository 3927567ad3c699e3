"""Slack as ci-bot uses it: text escaping, Block Kit builders and the Web API client.

Translation (domain -> Block Kit dicts, user text -> safe mrkdwn) is pure and lives apart
from the thin I/O of the Web API client, so messages can be tested without Slack.
"""
