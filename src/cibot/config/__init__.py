"""ci-bot's configuration: one YAML file, `${ENV}`-interpolated, into frozen `Settings`.

Entry points: `load_config(path)` / `parse_config(text)` raise `ConfigError` listing every
`Problem` (file line, key path, message); `to_domain(settings)` gives the domain `Project`s;
`readiness_problems(settings)` is what `cibot check` adds on top of validity.
"""

from cibot.config.loader import config_path, line_of, load_config, parse_config
from cibot.config.model import (
    DatabaseSettings,
    JobSettings,
    KubernetesSettings,
    LoggingSettings,
    ProjectConfig,
    ResourcesConfig,
    RetrySettings,
    ServerSettings,
    Settings,
    SlackSettings,
    WebhookSettings,
)
from cibot.config.problems import ConfigError, Problem, Severity
from cibot.config.projects import to_domain
from cibot.config.readiness import readiness_problems

__all__ = [
    "ConfigError",
    "DatabaseSettings",
    "JobSettings",
    "KubernetesSettings",
    "LoggingSettings",
    "Problem",
    "ProjectConfig",
    "ResourcesConfig",
    "RetrySettings",
    "ServerSettings",
    "Settings",
    "Severity",
    "SlackSettings",
    "WebhookSettings",
    "config_path",
    "line_of",
    "load_config",
    "parse_config",
    "readiness_problems",
    "to_domain",
]
