"""The HTTP surface: CI webhooks, Slack requests, health and metrics."""
