"""`cibot.yaml` -> `Settings`: defaults, interpolation, and errors that name the key and line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from textwrap import dedent, indent

import pytest
from pydantic import ValidationError

from cibot.config import (
    ConfigError,
    Problem,
    ProjectConfig,
    Settings,
    WebhookSettings,
    config_path,
    line_of,
    load_config,
    parse_config,
    readiness_problems,
    to_domain,
)
from cibot.domain.policy import UnknownAuthor
from cibot.domain.project import Project, Resources, RouteKind, Workload

FULL = dedent(
    """\
    server:
      host: cibot.internal
      port: ${PORT:-9090}
      public_url: https://cibot.example.com
    database:
      url: postgresql://cibot:${DB_PASSWORD}@db.internal:5432/cibot
    slack:
      bot_token: ${SLACK_BOT_TOKEN}
      signing_secret: ${SLACK_SIGNING_SECRET}
      team_id: T0TEAM
    webhooks:
      secret: ${CIBOT_WEBHOOK_SECRET}
      previous_secrets: [old-global]
    jobs: {workers: 2}
    retry: {attempts: 3, base_seconds: 0, max_seconds: 0}
    logging: {level: DEBUG, format: console}
    projects:
      - id: shop
        name: The Shop
        url: https://shop.example.com
        channel: C0123456789
        qa: [U01QA, U02QA]
        owners: [U03OWNER]
        namespace: shops
        port: 3000
        env:
          GREETING: "$${NOT_INTERPOLATED}"
          MODE: 0755
          DEBUG: yes
        resources: {requests: {memory: 128Mi, cpu: 1}, limits: {memory: 1Gi}}
        route: httproute
        gateway: infra/public
        rollout_timeout: 600
      - id: blog
        url: http://blog.example.com
        channel: G0BLOG
        qa: [W0QA]
        owners: [U0OWNER]
        webhook_secret: ${BLOG_SECRET}
        previous_webhook_secrets: [blog-old]
    """
)
ENV = {
    "DB_PASSWORD": "db-pass-1",
    "SLACK_BOT_TOKEN": "xoxb-token-1",
    "SLACK_SIGNING_SECRET": "signing-1",
    "CIBOT_WEBHOOK_SECRET": "global-1",
    "BLOG_SECRET": "blog-1",
}
SECRETS = ("db-pass-1", "xoxb-token-1", "signing-1", "global-1", "blog-1", "old-global", "blog-old")

MINIMAL = dedent(
    """\
    webhooks:
      secret: ci-secret
    projects:
      - id: shop
        url: https://shop.example.com
        channel: C0123456789
        qa: [U01QA]
        owners: [U03OWNER]
    """
)


def problems_of(text: str, env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env=env or {})
    return caught.value.problems


def only_problem(text: str, env: dict[str, str] | None = None) -> Problem:
    problems = problems_of(text, env)
    assert len(problems) == 1, problems
    return problems[0]


# --- reading a good file ---


def test_a_full_file_loads_with_its_environment_variables_interpolated() -> None:
    settings = parse_config(FULL, env=ENV)

    assert settings.server.host == "cibot.internal"
    assert settings.server.port == 9090
    assert settings.database.async_url == (
        "postgresql+asyncpg://cibot:db-pass-1@db.internal:5432/cibot"
    )
    assert settings.slack.bot_token == "xoxb-token-1"
    assert settings.slack.signing_secret == "signing-1"
    assert settings.slack.team_id == "T0TEAM"
    assert settings.webhooks.secrets == ("global-1", "old-global")
    assert settings.jobs.workers == 2
    assert (settings.retry.attempts, settings.retry.base_seconds) == (3, 0.0)
    assert (settings.logging.level, settings.logging.format) == ("debug", "console")
    shop, blog = settings.projects
    assert (shop.id, shop.name, shop.namespace, shop.port) == ("shop", "The Shop", "shops", 3000)
    assert shop.qa == ("U01QA", "U02QA")
    assert shop.route is RouteKind.HTTPROUTE
    assert shop.gateway == "infra/public"
    assert shop.env == {"GREETING": "${NOT_INTERPOLATED}", "MODE": "0755", "DEBUG": "yes"}
    assert blog.webhook_secret == "blog-1"


def test_settings_are_frozen() -> None:
    settings = parse_config(FULL, env=ENV)

    with pytest.raises(ValidationError):
        settings.server.port = 1  # type: ignore[misc]


def test_an_empty_file_gives_the_documented_defaults() -> None:
    settings = parse_config("", env={})

    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.server.public_url is None
    assert settings.server.max_body_bytes == 1_048_576
    assert settings.database.url == "sqlite:///cibot.db"
    assert settings.database.async_url == "sqlite+aiosqlite:///cibot.db"
    assert settings.slack.bot_token is None
    assert settings.slack.api_url == "https://slack.com/api/"
    assert not settings.slack.configured
    assert settings.kubernetes.kubeconfig is None
    assert settings.webhooks.secrets == ()
    assert settings.webhooks.max_body_bytes == 16_384  # CI bodies are a few hundred bytes
    assert settings.jobs.lease_seconds == 60
    assert settings.jobs.max_attempts == 8
    assert settings.retry.max_seconds == 30.0
    assert (settings.logging.level, settings.logging.format) == ("info", "json")
    assert settings.projects == ()


def test_a_project_name_and_namespace_default_to_its_id() -> None:
    (project,) = parse_config(MINIMAL, env={}).projects

    assert (project.name, project.namespace) == ("shop", "shop")
    assert project.route is RouteKind.INGRESS
    assert project.resources.requests == {"cpu": "50m", "memory": "64Mi"}
    assert project.resources.limits == {"memory": "256Mi"}
    assert (project.replicas, project.production_replicas, project.rollout_timeout) == (1, 2, 300)
    assert project.run_as_non_root
    assert project.read_only_root_filesystem
    assert not project.service_account_token


def test_settings_can_be_built_in_python_with_the_same_defaults() -> None:
    project = ProjectConfig(id="shop", url="https://shop.example.com", channel="C0123456789")

    settings = Settings(webhooks=WebhookSettings(secret="s"), projects=(project,))

    assert (project.name, project.namespace) == ("shop", "shop")
    assert to_domain(settings)[0].webhook_secrets == ("s",)


def test_a_plain_value_that_interpolates_to_nothing_is_null() -> None:
    text = 'slack:\n  bot_token: ${TOKEN:-}\n  signing_secret: ${SECRET:-}\n  api_url: "${U:-}"\n'

    problem = only_problem(text)

    assert (problem.line, problem.key) == (4, "slack.api_url")


def test_an_unset_slack_is_null_so_a_fake_slack_can_be_used() -> None:
    text = "slack:\n  bot_token: ${TOKEN:-}\n  signing_secret: ${SECRET:-}\n"

    assert parse_config(text, env={}).slack.bot_token is None


def test_yaml_anchors_and_merge_keys_can_share_project_settings() -> None:
    text = dedent(
        """\
        webhooks: {secret: s}
        projects:
          - &shop
            id: shop
            url: https://shop.example.com
            channel: C0123456789
            port: 3000
          - <<: *shop
            id: shop-admin
            port: 4000
        """
    )

    shop, admin = parse_config(text, env={}).projects

    assert (admin.id, admin.namespace, admin.url, admin.port) == (
        "shop-admin",
        "shop-admin",
        shop.url,
        4000,
    )


@pytest.mark.parametrize(
    ("url", "async_url", "backend"),
    [
        ("sqlite:///cibot.db", "sqlite+aiosqlite:///cibot.db", "sqlite"),
        ("sqlite:////var/lib/cibot.db", "sqlite+aiosqlite:////var/lib/cibot.db", "sqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db", "sqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db", "postgresql"),
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db", "postgresql"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db", "postgresql"),
    ],
)
def test_database_urls_are_normalised_to_the_async_drivers(
    url: str, async_url: str, backend: str
) -> None:
    database = parse_config(f"database: {{url: '{url}'}}\n", env={}).database

    assert (database.async_url, database.backend) == (async_url, backend)


def test_a_database_url_is_shown_with_its_password_masked() -> None:
    database = parse_config("database: {url: 'postgresql://u:pw@h/db'}\n", env={}).database

    assert database.display_url == "postgresql://u:***@h/db"


def test_the_slack_api_url_always_ends_with_a_slash() -> None:
    text = "slack: {api_url: 'http://127.0.0.1:9999/api'}\n"

    assert parse_config(text, env={}).slack.api_url == "http://127.0.0.1:9999/api/"


def test_load_config_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cibot.yaml"
    path.write_text(MINIMAL, encoding="utf-8")

    assert load_config(path, env={}).projects[0].id == "shop"


def test_the_config_path_comes_from_the_flag_then_the_environment_then_the_default() -> None:
    assert config_path("a.yaml", {"CIBOT_CONFIG": "b.yaml"}) == Path("a.yaml")
    assert config_path(None, {"CIBOT_CONFIG": "b.yaml"}) == Path("b.yaml")
    assert config_path(None, {}) == Path("cibot.yaml")


# --- errors name the key and the line ---


def test_an_unknown_key_is_reported_with_its_line() -> None:
    problem = only_problem("server:\n  host: localhost\n  prot: 8080\n")

    assert (problem.line, problem.key) == (3, "server.prot")
    assert problem.message == "unknown key (did you mean 'port'?)"


def test_an_unknown_key_inside_a_project_is_reported_with_its_line() -> None:
    problem = only_problem(MINIMAL + "    qa_team: [U01]\n")

    assert (problem.line, problem.key) == (9, "projects[0].qa_team")
    assert problem.message.startswith("unknown key")


def test_an_unknown_section_is_reported_with_its_line() -> None:
    problem = only_problem(MINIMAL + "polices: {}\n")

    assert (problem.line, problem.key, problem.message) == (9, "polices", "unknown key")


def test_a_bad_type_is_reported_with_its_line_and_value() -> None:
    problem = only_problem("jobs:\n  workers: many\n")

    assert (problem.line, problem.key) == (2, "jobs.workers")
    assert "valid integer" in problem.message
    assert "(got 'many')" in problem.message


def test_a_mapping_where_a_list_belongs_is_reported() -> None:
    problem = only_problem(MINIMAL.replace("qa: [U01QA]", "qa: {U01QA: yes}"))

    assert (problem.line, problem.key, problem.message) == (7, "projects[0].qa", "must be a list")


def test_a_missing_required_key_is_reported_at_its_project_line() -> None:
    problem = only_problem(MINIMAL.replace("    url: https://shop.example.com\n", ""))

    assert (problem.line, problem.key) == (4, "projects[0].url")
    assert problem.message == "required, but missing"


def test_a_missing_env_var_names_the_variable_the_key_and_the_line() -> None:
    text = MINIMAL.replace("channel: C0123456789", "channel: ${SHOP_CHANNEL}")

    problem = only_problem(text)

    assert (problem.line, problem.key) == (6, "projects[0].channel")
    assert problem.message == "environment variable SHOP_CHANNEL is not set"


def test_an_env_var_inside_a_flow_mapping_must_be_quoted() -> None:
    problem = only_problem("slack: {bot_token: ${TOKEN}}\n", {"TOKEN": "x"})

    assert problem.line == 1
    assert 'quote a ${VAR} value: "${VAR}"' in problem.message


def test_bad_yaml_syntax_is_reported_with_its_line() -> None:
    problem = only_problem("server:\n  host: localhost\n port: 8080\n")

    assert problem.line == 3
    assert problem.message.startswith("invalid YAML:")


def test_an_unterminated_quote_names_where_it_started() -> None:
    problem = only_problem('server:\n  host: "localhost\n  port: 8080\n')

    assert "started at line 2" in problem.message


def test_a_file_that_is_not_a_mapping_is_refused() -> None:
    problem = only_problem("- server\n- database\n")

    assert (problem.line, problem.key) == (1, "")
    assert problem.message == "must be a mapping of keys to values"


def test_a_duplicate_yaml_key_is_reported_at_the_second_key() -> None:
    problem = only_problem("server:\n  port: 1\n  host: h\n  port: 2\n")

    assert (problem.line, problem.key) == (4, "server.port")
    assert problem.message == "duplicate key 'port' (first at line 2)"


def test_a_duplicate_project_id_is_reported_at_the_second_id() -> None:
    second = "  - id: shop\n    url: https://other.example.com\n    channel: C0OTHER\n"

    problem = only_problem(MINIMAL + second)

    assert (problem.line, problem.key) == (9, "projects[1].id")
    assert problem.message == "duplicate project id 'shop', first at projects[0]"


def test_a_duplicate_project_id_is_reported_even_when_a_project_is_invalid() -> None:
    second = "  - id: shop\n    url: https://other.example.com\n    channel: nope\n"

    problems = problems_of(MINIMAL + second)

    assert [(p.line, p.key) for p in problems] == [
        (9, "projects[1].id"),
        (11, "projects[1].channel"),
    ]


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ("'#general'", "not a channel name"),
        ("c0123456789", "must be a Slack channel id like C0123456789"),
        ("U0123456789", "must be a Slack channel id like C0123456789"),
    ],
)
def test_a_bad_channel_id_is_reported_with_its_line(channel: str, message: str) -> None:
    problem = only_problem(MINIMAL.replace("C0123456789", channel))

    assert (problem.line, problem.key) == (6, "projects[0].channel")
    assert message in problem.message


def test_a_bad_slack_user_id_is_reported_at_its_list_item() -> None:
    text = MINIMAL.replace("qa: [U01QA]", "qa:\n      - U01QA\n      - '@alice'")

    problem = only_problem(text)

    assert (problem.line, problem.key) == (9, "projects[0].qa[1]")
    assert "Slack user id" in problem.message


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql+psycopg://u@h/db", "cibot.db"])
def test_a_bad_database_scheme_is_reported_naming_the_key(url: str) -> None:
    problem = only_problem(f"server: {{}}\ndatabase:\n  url: {url}\n")

    assert (problem.line, problem.key) == (3, "database.url")
    assert problem.message.startswith("unsupported database URL scheme")


def test_a_sqlite_url_with_a_host_is_refused() -> None:
    problem = only_problem("database: {url: 'sqlite://host/cibot.db'}\n")

    assert (problem.line, problem.key) == (1, "database.url")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("port", "0"),
        ("port", "65536"),
        ("replicas", "0"),
        ("replicas", "51"),
        ("production_replicas", "51"),
        ("rollout_timeout", "9"),
        ("rollout_timeout", "3601"),
    ],
)
def test_numbers_out_of_range_are_refused(key: str, value: str) -> None:
    problem = only_problem(MINIMAL + f"    {key}: {value}\n")

    assert (problem.line, problem.key) == (9, f"projects[0].{key}")


@pytest.mark.parametrize(
    "url",
    ["ftp://shop.example.com", "shop.example.com", "https://", "https://u:p@shop.example.com"],
)
def test_a_project_url_must_be_http_with_a_host(url: str) -> None:
    problem = only_problem(MINIMAL.replace("https://shop.example.com", url))

    assert (problem.line, problem.key) == (5, "projects[0].url")


@pytest.mark.parametrize("project_id", ["Shop", "shop_1", "-shop", "a" * 41])
def test_a_project_id_must_be_a_short_dns_label(project_id: str) -> None:
    problem = only_problem(MINIMAL.replace("id: shop", f"id: {project_id}"))

    assert (problem.line, problem.key) == (4, "projects[0].id")


def test_env_names_must_be_valid_identifiers() -> None:
    problem = only_problem(MINIMAL + "    env: {GOOD: 1, bad-name: 2}\n")

    assert (problem.line, problem.key) == (9, "projects[0].env.bad-name")


def test_resource_quantities_are_checked() -> None:
    problem = only_problem(MINIMAL + "    resources:\n      limits: {memory: lots}\n")

    assert (problem.line, problem.key) == (10, "projects[0].resources.limits.memory")


def test_an_httproute_needs_a_gateway() -> None:
    problem = only_problem(MINIMAL + "    route: httproute\n")

    assert (problem.line, problem.key) == (4, "projects[0].gateway")
    assert "required when route is httproute" in problem.message


def test_an_unknown_route_kind_is_refused() -> None:
    problem = only_problem(MINIMAL + "    route: nginx\n")

    assert (problem.line, problem.key) == (9, "projects[0].route")
    assert "'ingress', 'mapping' or 'httproute'" in problem.message


def test_a_project_without_any_webhook_secret_is_refused() -> None:
    problem = only_problem(MINIMAL.replace("  secret: ci-secret", "  secret: null"))

    assert (problem.line, problem.key) == (4, "projects[0].webhook_secret")
    assert "webhooks.secret" in problem.message


def test_a_project_with_its_own_secret_needs_no_global_one() -> None:
    text = MINIMAL.replace("  secret: ci-secret", "  secret: null") + "    webhook_secret: own\n"

    assert parse_config(text, env={}).projects[0].webhook_secret == "own"


def test_a_slack_token_without_a_signing_secret_is_refused() -> None:
    problem = only_problem("slack:\n  bot_token: xoxb-1\n")

    assert (problem.line, problem.key) == (1, "slack.signing_secret")


def test_socket_mode_reads_the_app_token_from_the_environment_and_needs_no_signing_secret() -> None:
    text = "slack:\n  mode: socket\n  bot_token: xoxb-1\n  app_token: ${SLACK_APP_TOKEN}\n"
    slack = parse_config(text, env={"SLACK_APP_TOKEN": "xapp-1-A0-1-secret"}).slack

    assert (slack.mode, slack.app_token, slack.signing_secret) == (
        "socket",
        "xapp-1-A0-1-secret",
        None,
    )
    assert "xapp-1-A0-1-secret" not in repr(slack), "a secret stays out of reprs"


def test_socket_mode_without_an_app_token_is_refused_naming_the_key() -> None:
    problem = only_problem("slack:\n  mode: socket\n  bot_token: xoxb-1\n")

    assert problem.key == "slack.app_token"
    assert "xapp-" in problem.message


def test_an_app_token_that_is_not_app_level_is_refused_naming_the_key() -> None:
    problem = only_problem("slack:\n  mode: socket\n  bot_token: xoxb-1\n  app_token: xoxb-2\n")

    assert problem.key == "slack.app_token"
    assert "xapp-" in problem.message


def test_an_unknown_slack_mode_is_refused_naming_the_key() -> None:
    problem = only_problem("slack:\n  mode: websocket\n")

    assert problem.key == "slack.mode"


def test_an_app_config_token_is_read_from_the_environment_and_needs_the_app_id() -> None:
    text = "slack:\n  app_config_token: ${SLACK_APP_CONFIG_TOKEN}\n"
    env = {"SLACK_APP_CONFIG_TOKEN": "xoxe.xoxp-1-secret"}
    named = parse_config(text + "  app_id: A0APP1\n", env=env).slack
    problem = only_problem(text, env)

    assert (named.app_config_token, named.app_id) == ("xoxe.xoxp-1-secret", "A0APP1")
    assert "xoxe.xoxp-1-secret" not in repr(named), "a secret stays out of reprs"
    assert (problem.line, problem.key) == (1, "slack.app_id")
    assert "app_config_token needs app_id" in problem.message


def test_a_backoff_maximum_below_its_base_is_refused() -> None:
    problem = only_problem("retry:\n  base_seconds: 5\n  max_seconds: 1\n")

    assert (problem.line, problem.key) == (3, "retry.max_seconds")


def test_an_unsupported_yaml_tag_is_refused() -> None:
    problem = only_problem("server:\n  host: !!binary aGk=\n")

    assert (problem.line, problem.key) == (2, "server.host")


def test_all_problems_are_reported_together_in_line_order() -> None:
    text = dedent(
        """\
        server:
          port: http
        logging: {level: loud}
        projects:
          - id: shop
            url: https://shop.example.com
            channel: general
            colour: blue
        """
    )

    problems = problems_of(text)

    assert [(p.line, p.key) for p in problems] == [
        (2, "server.port"),
        (3, "logging.level"),
        (5, "projects[0].webhook_secret"),
        (7, "projects[0].channel"),
        (8, "projects[0].colour"),
    ]


def test_an_alias_bomb_is_refused_instead_of_expanded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]

    problem = only_problem("\n".join(lines) + "\n")

    assert problem.message == "the document expands to more than 100000 values"


def test_the_report_names_the_file_line_key_and_message() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("jobs:\n  workers: -1\n  nope: 1\n", source="deploy/cibot.yaml", env={})

    assert str(caught.value).splitlines() == [
        "deploy/cibot.yaml: 2 problems in the configuration",
        "  deploy/cibot.yaml:2: jobs.workers: "
        "Input should be greater than or equal to 0 (got '-1')",
        "  deploy/cibot.yaml:3: jobs.nope: unknown key",
    ]


def test_a_missing_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    (problem,) = caught.value.problems
    assert problem.format(str(path)) == f"{path}: cannot read the file: No such file or directory"


def test_errors_from_a_file_name_that_file(tmp_path: Path) -> None:
    path = tmp_path / "cibot.yaml"
    path.write_text("server:\n  bogus: 1\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert f"{path}:2: server.bogus: unknown key" in str(caught.value)


# --- secrets never leak ---

LEAKY = [
    "slack:\n  bot_token: ${SLACK_BOT_TOKEN}\n",  # no signing secret
    "slack:\n  bot_token: ${SLACK_BOT_TOKEN}\n  signing_secret: ['${SLACK_SIGNING_SECRET}']\n",
    "slack:\n  team_id: ${SLACK_BOT_TOKEN}\n",
    "webhooks:\n  secret: {value: '${CIBOT_WEBHOOK_SECRET}'}\n",
    "webhooks:\n  previous_secrets: ${CIBOT_WEBHOOK_SECRET}\n",
    "database:\n  url: mysql://cibot:${DB_PASSWORD}@h/db\n",
    "database:\n  url: postgresql://cibot:${DB_PASSWORD}@h:54x/db\n",
    "database:\n  url: ${DB_PASSWORD}\n",
    "slack:\n  bot_token: 'xoxb-token-1\n",  # a syntax error on a line holding a secret
    MINIMAL + "    webhook_secret: ['${BLOG_SECRET}']\n",
    MINIMAL + "    env: {API_TOKEN: ['${BLOG_SECRET}']}\n",
    MINIMAL + "    env:\n      PASSWORD: {a: '${BLOG_SECRET}'}\n",
    "logging:\n  api_token: ${BLOG_SECRET}\n",
]


@pytest.mark.parametrize("text", LEAKY)
def test_secret_values_never_appear_in_error_text(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env=ENV)

    report = str(caught.value) + repr(caught.value.problems)
    assert not [secret for secret in SECRETS if secret in report]
    assert caught.value.__context__ is None  # no chained pydantic error quoting the input
    assert caught.value.__cause__ is None


def test_secrets_are_left_out_of_the_settings_repr() -> None:
    settings = parse_config(FULL, env=ENV)

    text = repr(settings) + str(settings)

    assert not [secret for secret in SECRETS if secret in text]


# --- conversion into the domain ---


def test_to_domain_converts_projects_into_frozen_domain_projects() -> None:
    shop, blog = to_domain(parse_config(FULL, env=ENV))

    assert shop == Project(
        id="shop",
        name="The Shop",
        url="https://shop.example.com",
        channel="C0123456789",
        qa=frozenset({"U01QA", "U02QA"}),
        owners=frozenset({"U03OWNER"}),
        namespace="shops",
        workload=Workload(
            port=3000,
            resources=Resources(
                requests=(("cpu", "1"), ("memory", "128Mi")), limits=(("memory", "1Gi"),)
            ),
            env=(("GREETING", "${NOT_INTERPOLATED}"), ("MODE", "0755"), ("DEBUG", "yes")),
            route=RouteKind.HTTPROUTE,
            gateway="infra/public",
            rollout_timeout_seconds=600,
        ),
        webhook_secrets=("global-1", "old-global"),
    )
    assert blog.workload == Workload()


def test_a_project_secret_replaces_the_global_ones_in_the_domain() -> None:
    _, blog = to_domain(parse_config(FULL, env=ENV))

    assert blog.webhook_secrets == ("blog-1", "blog-old")


def test_to_domain_keeps_the_file_order_of_projects() -> None:
    projects = to_domain(parse_config(FULL, env=ENV))

    assert [project.id for project in projects] == ["shop", "blog"]


# --- readiness, as `cibot check` reports it ---


def test_a_ready_configuration_has_no_readiness_problems() -> None:
    assert readiness_problems(parse_config(FULL, env=ENV)) == []


def test_empty_qa_and_owners_are_reported_with_their_lines() -> None:
    text = MINIMAL.replace("qa: [U01QA]", "qa: []").replace("    owners: [U03OWNER]\n", "")
    settings = parse_config(text + "slack: {bot_token: x, signing_secret: y}\n", env={})

    problems = readiness_problems(settings)

    assert problems == [
        Problem(7, "projects[0].qa", problems[0].message, "warning"),
        Problem(4, "projects[0].owners", problems[1].message, "warning"),
    ]
    assert "nobody can approve" in problems[0].message
    assert "nobody can deploy" in problems[1].message


def test_a_missing_slack_configuration_is_reported_as_information() -> None:
    problems = readiness_problems(parse_config(MINIMAL, env={}))

    assert [p.format("cibot.yaml") for p in problems] == [
        "cibot.yaml: info: slack.bot_token: no Slack configured: a local fake will be used"
    ]


def test_no_projects_is_reported() -> None:
    problems = readiness_problems(parse_config("slack: {bot_token: x, signing_secret: y}\n"))

    assert [(p.key, p.severity) for p in problems] == [("projects", "warning")]


def test_line_of_falls_back_to_the_nearest_enclosing_key() -> None:
    settings = parse_config(FULL, env=ENV)

    assert line_of(settings, "projects[0].qa") == 22
    assert line_of(settings, "projects[1].port") == 34
    assert line_of(settings, "server") == 1
    assert line_of(Settings(), "projects[0].qa") is None


def test_a_project_id_must_start_with_a_letter_as_service_names_do() -> None:
    problem = only_problem(
        "projects:\n  - id: 1shop\n    url: https://shop.example.com\n    channel: C0123\n"
        "webhooks:\n  secret: s\n"
    )
    assert (problem.line, problem.key) == (2, "projects[0].id")
    assert "starting with a letter" in problem.message


# --- policy and lifecycle ---

POLICY = MINIMAL + indent(
    dedent(
        """\
        policy:
          approvals_required: 1
          allow_override: true
          four_eyes: false
          author_may_deploy: false
          approver_may_deploy: false
          unknown_author: block
          expires_after: 3d
          allowed_images: [registry.example.com/shop/*, ghcr.io/acme/web, quay.io]
          freeze_windows:
            - {start: "2026-12-24T00:00:00Z", end: "2026-12-27T00:00:00Z", reason: holidays}
            - {weekly: "fri 16:00 - mon 08:00", timezone: Europe/Berlin}
        lifecycle:
          preview_ttl: 2w
          preview_ttl_warning: 1h30m
          remind_after: 90
          newer_tag_supersedes: false
        """
    ),
    "    ",
)


def test_policy_and_lifecycle_keys_reach_the_domain() -> None:
    (project,) = to_domain(parse_config(POLICY))
    policy, life = project.policy, project.lifecycle

    assert (policy.allow_override, policy.four_eyes, policy.author_may_deploy) == (
        True, False, False,
    )  # fmt: skip
    assert (policy.approver_may_deploy, policy.unknown_author) == (False, UnknownAuthor.BLOCK)
    assert policy.expires_after == timedelta(days=3)
    assert policy.image_allowed("registry.example.com/shop/web:1")
    assert not policy.image_allowed("registry.example.com/blog/web:1")
    assert [w.reason for w in policy.freeze_windows] == ["holidays", "the weekly deploy freeze"]
    assert life.preview_ttl == timedelta(weeks=2)
    assert life.preview_ttl_warning == timedelta(hours=1, minutes=30)
    assert life.remind_after == timedelta(seconds=90)
    assert life.newer_tag_supersedes is False


def test_the_policy_defaults_are_one_approval_four_eyes_and_a_week_for_previews() -> None:
    (project,) = to_domain(parse_config(MINIMAL))
    assert project.policy.approvals_required == 1 and project.policy.four_eyes
    assert not project.policy.allow_override and project.policy.allowed_images == ()
    assert project.policy.approver_may_deploy
    assert project.policy.unknown_author is UnknownAuthor.ALLOW
    assert project.lifecycle.preview_ttl == timedelta(days=7)
    assert project.lifecycle.remind_after == timedelta(days=1)


def with_policy(line: str, section: str = "policy") -> str:
    return MINIMAL + f"    {section}:\n      {line}\n"


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ("approvals_required: 3", "policy.approvals_required", "can never be met: only 1"),
        ("approvals_required: -1", "policy.approvals_required", "greater than or equal to 0"),
        ("expires_after: soon", "policy.expires_after", "must be a duration like 90s"),
        ("expires_after: 0s", "policy.expires_after", "must be longer than zero"),
        ("allowed_images: ['https://ghcr.io']", "policy.allowed_images[0]", "must be a regis"),
        ("allowed_images: ['ghcr.io/a*']", "policy.allowed_images[0]", "may only end the"),
        ("freeze_windows: [{weekly: 'friday'}]", "policy.freeze_windows[0].weekly", "must look"),
        (
            "freeze_windows: [{weekly: 'fri 25:00 - sat 01:00'}]",
            "policy.freeze_windows[0].weekly",
            "not a time of day",
        ),
        (
            "freeze_windows: [{weekly: 'fri 16:00 - mon 08:00', timezone: Mars/Olympus}]",
            "policy.freeze_windows[0].timezone",
            "not a known time zone",
        ),
        (
            "freeze_windows: [{start: '2026-12-24T00:00:00Z'}]",
            "policy.freeze_windows[0].end",
            "required: a window",
        ),
        (
            "freeze_windows: [{start: '2026-12-24T00:00:00', end: '2026-12-25T00:00:00Z'}]",
            "policy.freeze_windows[0].start",
            "timezone",
        ),
        (
            "freeze_windows: [{start: '2026-12-25T00:00:00Z', end: '2026-12-24T00:00:00Z'}]",
            "policy.freeze_windows[0].end",
            "later than start",
        ),
        ("four_eye: true", "policy.four_eye", "did you mean 'four_eyes'"),
        ("unknown_author: deny", "policy.unknown_author", "'allow' or 'block'"),
        ("approver_may_deploy: sometimes", "policy.approver_may_deploy", "valid boolean"),
    ],
)  # fmt: skip
def test_a_bad_policy_key_is_named_with_its_line(line: str, key: str, message: str) -> None:
    problem = only_problem(with_policy(line))
    assert problem.key == f"projects[0].{key}"
    assert message in problem.message
    assert problem.line is not None and problem.line >= 8


def test_the_ttl_warning_must_be_shorter_than_the_ttl() -> None:
    text = MINIMAL + "    lifecycle: {preview_ttl: 1h, preview_ttl_warning: 2h}\n"
    problem = only_problem(text)
    assert problem.key == "projects[0].lifecycle.preview_ttl_warning"
    assert "shorter than preview_ttl" in problem.message


def test_a_role_may_name_a_slack_user_group_and_then_any_quorum_is_allowed() -> None:
    text = (
        MINIMAL.replace("qa: [U01QA]", "qa: [S0QAGROUP]") + "    policy: {approvals_required: 3}\n"
    )
    (project,) = to_domain(parse_config(text))
    assert project.groups == frozenset({"S0QAGROUP"})


# --- projects sharing a namespace ---


def test_two_projects_in_one_namespace_whose_names_could_collide_are_refused() -> None:
    second = (
        "  - id: shop-branch-main\n"
        "    url: https://main.example.com\n"
        "    channel: C0OTHER\n"
        "    namespace: shop\n"
    )

    problem = only_problem(MINIMAL + second)

    assert (problem.line, problem.key) == (9, "projects[1].id")
    assert "'shop-branch-main'" in problem.message and "'shop'" in problem.message
    assert "namespace 'shop'" in problem.message
    assert "shop-branch-<target>" in problem.message, "the naming rule that makes them meet"


def test_the_same_ids_in_different_namespaces_are_accepted() -> None:
    second = "  - id: shop-branch-main\n    url: https://main.example.com\n    channel: C0OTHER\n"

    settings = parse_config(MINIMAL + second)

    assert [p.namespace for p in settings.projects] == ["shop", "shop-branch-main"]


def test_projects_sharing_a_namespace_under_names_that_never_meet_are_accepted() -> None:
    second = (
        "  - id: shop-web\n"
        "    url: https://web.example.com\n"
        "    channel: C0OTHER\n"
        "    namespace: shop\n"
    )

    settings = parse_config(MINIMAL + second)

    assert {p.namespace for p in settings.projects} == {"shop"}


def test_a_name_collision_is_reported_even_when_a_project_is_invalid() -> None:
    second = (
        "  - id: shop-tag-v1\n"
        "    url: https://main.example.com\n"
        "    channel: nope\n"
        "    namespace: shop\n"
    )

    problems = problems_of(MINIMAL + second)

    assert [(p.line, p.key) for p in problems] == [
        (9, "projects[1].id"),
        (11, "projects[1].channel"),
    ]


@pytest.mark.parametrize(("refresh", "trusted"), [(300, 900), (1, 60)])
def test_group_members_are_trusted_for_three_refresh_periods_and_at_least_a_minute(
    refresh: int, trusted: int
) -> None:
    (project,) = to_domain(parse_config(MINIMAL + f"slack: {{group_refresh_seconds: {refresh}}}\n"))
    assert project.group_max_age == timedelta(seconds=trusted)


def test_retention_defaults_and_null_for_ever() -> None:
    default = parse_config("", env={}).retention
    chosen = parse_config(
        "retention:\n  deliveries: null\n  slack_messages: 2w\n", env={}
    ).retention

    assert (default.deliveries, default.finished_jobs, default.slack_messages) == (
        timedelta(days=30), timedelta(days=14), timedelta(days=90),
    )  # fmt: skip
    assert (chosen.deliveries, chosen.slack_messages) == (None, timedelta(weeks=2))


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ("deliveries: 10m", "retention.deliveries", "must be at least 1h"),
        ("finished_jobs: 12h", "retention.finished_jobs", "must be at least 1d"),
        ("slack_messages: soon", "retention.slack_messages", "must be a duration"),
        ("audit: 1y", "retention.audit", "unknown key"),
    ],
)
def test_a_bad_retention_key_is_named_with_its_line(line: str, key: str, message: str) -> None:
    problem = only_problem(f"database: {{url: 'sqlite:///x.db'}}\nretention:\n  {line}\n")
    assert (problem.key, problem.line) == (key, 3)
    assert message in problem.message
