"""The `cibot` command line: serve, check, notify, notify-branch-deleted, audit, jobs,
db upgrade, slack-manifest, and `--version`.

Settings are read once here, into frozen objects, and handed to the composition root.
Exit codes: 0 all well; 1 the request was refused or a check failed; 2 usage or
configuration error; 3 could not reach the server (notify).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cibot.config import ConfigError, Settings, config_path, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
jobs_app = typer.Typer(
    invoke_without_command=True,
    help="Jobs that need a look (dead, stuck), and `retry ID` to run a dead one again.",
)
app.add_typer(jobs_app, name="jobs")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config (default: $CIBOT_CONFIG, else cibot.yaml)"),
]


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"cibot {version('cibot')}")
        raise typer.Exit(0)


@app.callback()
def _main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """ci-bot: preview deployments per build, QA approval in Slack, promotion to production."""


def _settings(config: Path | None) -> Settings:
    path = config_path(config)
    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    except OSError as exc:
        typer.echo(f"{path}: cannot read the config file: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def serve(config: ConfigOption = None) -> None:
    """Run ci-bot: the HTTP server and the job workers, in one process."""
    from cibot.entrypoints.serve import run

    raise typer.Exit(run(_settings(config)))


@app.command()
def check(config: ConfigOption = None) -> None:
    """Validate the config and, where reachable, Slack auth and Kubernetes permissions."""
    from cibot.entrypoints.check import run

    raise typer.Exit(run(_settings(config)))


@app.command()
def audit(
    config: ConfigOption = None,
    project: Annotated[str | None, typer.Option(help="only this project")] = None,
    since: Annotated[
        str | None, typer.Option(help="a date or time (2026-12-01) or a duration back (7d)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="at most this many")] = 200,
) -> None:
    """Print the audit trail (every request, decision, denial, deployment), newest first."""
    from cibot.entrypoints.audit import run

    raise typer.Exit(
        run(_settings(config), project=project, since=since, as_json=as_json, limit=limit)
    )


@jobs_app.callback()
def jobs(
    ctx: typer.Context,
    config: ConfigOption = None,
    overdue: Annotated[
        str, typer.Option(help="list pending jobs overdue by more than this (90s, 10m, 2h)")
    ] = "10m",
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="at most this many")] = 200,
) -> None:
    """List dead jobs, running jobs whose lease ran out, and overdue pending ones; newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from cibot.entrypoints.jobs import list_jobs

    raise typer.Exit(list_jobs(_settings(config), overdue=overdue, as_json=as_json, limit=limit))


@jobs_app.command("retry")
def jobs_retry(
    job_id: Annotated[int, typer.Argument(help="the job's id, as `cibot jobs` lists it")],
    config: ConfigOption = None,
) -> None:
    """Put a dead job back in the queue, due now, with its attempts counted afresh."""
    from cibot.entrypoints.jobs import retry

    raise typer.Exit(retry(_settings(config), job_id))


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Create or migrate the database schema to this version of ci-bot."""
    from cibot.adapters.store import migrate

    settings = _settings(config)
    try:
        said = migrate.upgrade(settings.database.async_url)
    except migrate.NotMigrated as exc:
        typer.echo(f"cibot db upgrade: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(said.replace("the database", f"database {settings.database.display_url}", 1))


@app.command()
def notify(  # noqa: PLR0917 - one option per notification field, as CI scripts pass them
    url: Annotated[str, typer.Option(help="ci-bot's base URL or its /build-complete URL")],
    secret: Annotated[str, typer.Option(envvar="CIBOT_WEBHOOK_SECRET", help="signing secret")],
    project: Annotated[str, typer.Option()],
    image: Annotated[str, typer.Option()],
    type_: Annotated[str, typer.Option("--type", help="branch or tag")],
    target: Annotated[str, typer.Option(help="the branch or tag name")],
    commit: Annotated[str | None, typer.Option()] = None,
    author: Annotated[str | None, typer.Option(help="email or Slack user id")] = None,
    build_number: Annotated[int | None, typer.Option()] = None,
    ci_url: Annotated[str | None, typer.Option()] = None,
    webhook_id: Annotated[str | None, typer.Option(help="default: a fresh id")] = None,
    retries: Annotated[int, typer.Option(help="retries on 5xx and connection errors")] = 5,
    timeout: Annotated[float, typer.Option(help="seconds per attempt")] = 10.0,
) -> None:
    """The CI step: sign a build notification and send it; the exit code says if it was accepted."""
    from cibot.entrypoints.notify import Notification, send

    note = Notification(project, image, type_, target, commit, author, build_number, ci_url)
    code = send(url, secret, note, webhook_id=webhook_id, retries=retries, timeout=timeout)
    raise typer.Exit(code)


@app.command("notify-branch-deleted")
def notify_branch_deleted(  # noqa: PLR0917 - one option per field, as CI scripts pass them
    url: Annotated[str, typer.Option(help="ci-bot's base URL or its /branch-deleted URL")],
    secret: Annotated[str, typer.Option(envvar="CIBOT_WEBHOOK_SECRET", help="signing secret")],
    project: Annotated[str, typer.Option()],
    branch: Annotated[str, typer.Option(help="the deleted branch")],
    webhook_id: Annotated[str | None, typer.Option(help="default: a fresh id")] = None,
    retries: Annotated[int, typer.Option(help="retries on 5xx and connection errors")] = 5,
    timeout: Annotated[float, typer.Option(help="seconds per attempt")] = 10.0,
) -> None:
    """Tell ci-bot a branch was deleted: its builds are closed and its preview removed."""
    from cibot.entrypoints.notify import BranchDeletion, send

    deletion = BranchDeletion(project, branch)
    code = send(url, secret, deletion, webhook_id=webhook_id, retries=retries, timeout=timeout)
    raise typer.Exit(code)


@app.command("slack-manifest")
def slack_manifest(
    config: ConfigOption = None,
    url: Annotated[
        str | None, typer.Option(help="ci-bot's public URL (default: server.public_url)")
    ] = None,
    socket_mode: Annotated[
        bool | None,
        typer.Option(
            "--socket-mode/--no-socket-mode",
            help="Socket Mode: Slack needs no URL (default: slack.mode of the config)",
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="the app's and the bot's name in Slack")] = "ci-bot",
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of YAML")] = False,
) -> None:
    """Print the Slack app manifest: paste it at api.slack.com/apps, install, copy two tokens."""
    import json

    import yaml

    from cibot.entrypoints.slack_manifest import ManifestError, manifest
    from cibot.entrypoints.web.slack import COMMAND

    path = config_path(config)
    settings = _settings(config) if path.exists() and (socket_mode is None or url is None) else None
    if socket_mode is None:
        socket_mode = settings is not None and settings.slack.mode == "socket"
    if url is None and not socket_mode:
        public = settings.server.public_url if settings is not None else None
        if public is None:
            typer.echo(
                f"cibot slack-manifest: no URL: give --url, set server.public_url in {path}, "
                "or use --socket-mode",
                err=True,
            )
            raise typer.Exit(2)
        url = str(public)
    try:
        made = manifest(public_url=url, socket_mode=socket_mode, name=name, command=COMMAND)
    except ManifestError as exc:
        typer.echo(f"cibot slack-manifest: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(made, indent=2))
    else:
        typer.echo(yaml.safe_dump(made, sort_keys=False, width=1000), nl=False)


def main() -> None:
    app(prog_name="cibot")


if __name__ == "__main__":  # pragma: no cover
    main()
