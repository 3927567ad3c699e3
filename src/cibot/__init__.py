"""ci-bot: deploys CI builds to preview environments, gates production on QA approval in Slack."""
