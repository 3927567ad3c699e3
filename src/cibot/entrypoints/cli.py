"""The `cibot` command line: serve, check, notify, notify-branch-deleted, audit, jobs,
db upgrade, slack-manifest, and `--version`.

The help texts here are what a person running `cibot` reads (tests/unit/test_cli_help.py
holds them to it); how things are wired stays in these docstrings and the modules. Settings
are read once here, into frozen objects, and handed to the composition root.

Each command imports what it needs when it runs, not here: `cibot --version`, `--help` and
`notify` (a CI step, run once per build) load neither the config's models nor the web,
database, Slack and Kubernetes stacks that only `serve` and the other verbs use
(bench/coldstart.py times them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cibot.entrypoints.help import Command, Group

if TYPE_CHECKING:
    from cibot.config import Settings

app = typer.Typer(
    add_completion=False, no_args_is_help=True, rich_markup_mode="markdown", cls=Group
)
db_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    cls=Group,
    help="Set up ci-bot's database: `cibot db upgrade` before the first start and after each "
    "upgrade of ci-bot.",
)
app.add_typer(db_app, name="db")
jobs_app = typer.Typer(
    invoke_without_command=True,
    rich_markup_mode="markdown",
    cls=Group,
)
app.add_typer(jobs_app, name="jobs")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="the YAML config file (default: $CIBOT_CONFIG, else ./cibot.yaml)",
    ),
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
    """ci-bot deploys each build your CI reports to a preview environment of its own, asks QA
    to approve it in Slack, and promotes an approved build to production.

    Run `cibot COMMAND --help` for what a command does and an example.

    Exit codes: 0 all well; 1 the request was refused or a check failed; 2 a usage or
    configuration error; 3 ci-bot could not be reached (notify).
    """


def _settings(config: Path | None) -> Settings:
    from cibot.config import ConfigError, config_path, load_config

    path = config_path(config)
    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    except OSError as exc:
        typer.echo(f"{path}: cannot read the config file: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc


@app.command(cls=Command)
def serve(config: ConfigOption = None) -> None:
    """Run ci-bot: take build notifications from CI and clicks from Slack, and deploy.

    One process serves HTTP and runs the background jobs (deploys, Slack messages). With no
    Slack token in the config, a local fake Slack starts beside it, so you can try ci-bot on
    a laptop; the log says where to see its messages. Stop it with Ctrl-C or SIGTERM: jobs in
    flight get `jobs.drain_seconds` to finish.

    Example:

    ```
    cibot db upgrade -c cibot.yaml && cibot serve -c cibot.yaml
    ```
    """
    from cibot.entrypoints import startup

    startup.pause_collection()  # until the service is built: startup.py says why
    from cibot.entrypoints.serve import run

    raise typer.Exit(run(_settings(config)))


@app.command(cls=Command)
def check(config: ConfigOption = None) -> None:
    """Check the config before you deploy it: every problem is named with its key.

    Where Slack and Kubernetes can be reached, it also checks the bot's token and scopes, the
    projects' channels and people, and that ci-bot may manage each project's namespaces.
    Exits 0 when all is well, 1 when a check failed, 2 when the config is wrong.

    Example:

    ```
    cibot check -c cibot.yaml
    ```
    """
    from cibot.entrypoints.check import run

    raise typer.Exit(run(_settings(config)))


@app.command(cls=Command)
def audit(
    config: ConfigOption = None,
    project: Annotated[str | None, typer.Option(help="only this project's entries")] = None,
    since: Annotated[
        str | None, typer.Option(help="a date or time (2026-12-01) or a duration back (7d)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="show at most this many")] = 200,
) -> None:
    """Show who asked for what and what ci-bot did: every build notification, approval,
    rejection, refusal and deployment, newest first.

    Example, the last week of one project:

    ```
    cibot audit -c cibot.yaml --project shop --since 7d
    ```
    """
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
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="show at most this many")] = 200,
) -> None:
    """See the background jobs that need a look: dead ones (they gave up, with their last
    error), running ones whose worker stopped renewing them, and pending ones overdue.
    Run a dead one again with `cibot jobs retry ID`.

    Example: list what needs a look, then run a dead one again:

    ```
    cibot jobs -c cibot.yaml --overdue 2m
    cibot jobs -c cibot.yaml retry 42
    ```
    """
    if ctx.invoked_subcommand is not None:
        return
    from cibot.entrypoints.jobs import list_jobs

    raise typer.Exit(list_jobs(_settings(config), overdue=overdue, as_json=as_json, limit=limit))


@jobs_app.command("retry", cls=Command)
def jobs_retry(
    job_id: Annotated[int, typer.Argument(help="the job's id, as `cibot jobs` lists it")],
    config: ConfigOption = None,
) -> None:
    """Run a dead job again: it goes back in the queue, due now, with its attempts counted
    afresh.

    Example:

    ```
    cibot jobs -c cibot.yaml retry 42
    ```
    """
    from cibot.entrypoints.jobs import retry

    raise typer.Exit(retry(_settings(config), job_id))


@db_app.command("upgrade", cls=Command)
def db_upgrade(config: ConfigOption = None) -> None:
    """Create ci-bot's tables, or bring them up to this version of ci-bot. Run it before the
    first `cibot serve` and after each upgrade; running it again changes nothing.

    Example:

    ```
    cibot db upgrade -c cibot.yaml
    ```
    """
    from cibot.adapters.store import migrate

    settings = _settings(config)
    try:
        said = migrate.upgrade(settings.database.async_url)
    except migrate.NotMigrated as exc:
        typer.echo(f"cibot db upgrade: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(said.replace("the database", f"database {settings.database.display_url}", 1))


@app.command(cls=Command)
def notify(  # noqa: PLR0917 - one option per notification field, as CI scripts pass them
    url: Annotated[str, typer.Option(help="ci-bot's base URL or its /build-complete URL")],
    secret: Annotated[
        str, typer.Option(envvar="CIBOT_WEBHOOK_SECRET", help="the secret shared with ci-bot")
    ],
    project: Annotated[str, typer.Option(help="the project's id in ci-bot's config")],
    image: Annotated[str, typer.Option(help="the image CI built and pushed, with its tag")],
    type_: Annotated[str, typer.Option("--type", help="branch or tag")],
    target: Annotated[str, typer.Option(help="the branch or tag name")],
    commit: Annotated[str | None, typer.Option(help="the commit's SHA, shown on the card")] = None,
    author: Annotated[
        str | None, typer.Option(help="who pushed: an email or a Slack user id")
    ] = None,
    build_number: Annotated[int | None, typer.Option(help="CI's number for the build")] = None,
    ci_url: Annotated[str | None, typer.Option(help="a link to the CI run")] = None,
    webhook_id: Annotated[
        str | None, typer.Option(help="an id for this notification (default: a fresh one)")
    ] = None,
    retries: Annotated[int, typer.Option(help="tries again on 5xx and connection errors")] = 5,
    timeout: Annotated[float, typer.Option(help="seconds per attempt")] = 10.0,
) -> None:
    """Tell ci-bot that CI built an image: the step at the end of a CI job. ci-bot deploys it
    to the branch's or tag's preview and posts a card in the project's Slack channel.

    The notification is signed with the secret; the exit code says whether ci-bot accepted
    it (0), refused it (1, with the reason) or could not be reached (3).

    Example:

    ```
    cibot notify --url https://cibot.example.com --project shop \\
        --image registry.example.com/shop/web:1.4.2 --type branch --target feature/cart
    ```
    """
    from cibot.entrypoints.notify import Notification, send

    note = Notification(project, image, type_, target, commit, author, build_number, ci_url)
    code = send(url, secret, note, webhook_id=webhook_id, retries=retries, timeout=timeout)
    raise typer.Exit(code)


@app.command(cls=Command, name="notify-branch-deleted")
def notify_branch_deleted(  # noqa: PLR0917 - one option per field, as CI scripts pass them
    url: Annotated[str, typer.Option(help="ci-bot's base URL or its /branch-deleted URL")],
    secret: Annotated[
        str, typer.Option(envvar="CIBOT_WEBHOOK_SECRET", help="the secret shared with ci-bot")
    ],
    project: Annotated[str, typer.Option(help="the project's id in ci-bot's config")],
    branch: Annotated[str, typer.Option(help="the deleted branch")],
    webhook_id: Annotated[
        str | None, typer.Option(help="an id for this notification (default: a fresh one)")
    ] = None,
    retries: Annotated[int, typer.Option(help="tries again on 5xx and connection errors")] = 5,
    timeout: Annotated[float, typer.Option(help="seconds per attempt")] = 10.0,
) -> None:
    """Tell ci-bot a branch was deleted: its builds are closed, their buttons removed, and
    its preview deleted.

    Example, in the CI job that runs when a branch is deleted:

    ```
    cibot notify-branch-deleted --url https://cibot.example.com --project shop \\
        --branch feature/cart
    ```
    """
    from cibot.entrypoints.notify import BranchDeletion, send

    deletion = BranchDeletion(project, branch)
    code = send(url, secret, deletion, webhook_id=webhook_id, retries=retries, timeout=timeout)
    raise typer.Exit(code)


@app.command(cls=Command, name="slack-manifest")
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
    """Print the Slack app ci-bot needs, as a manifest: create the app from it at
    api.slack.com/apps, install it, and copy the bot token and signing secret to the config.

    Example:

    ```
    cibot slack-manifest --url https://cibot.example.com > slack-app.yaml
    ```
    """
    import json

    import yaml

    from cibot.config import config_path
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
