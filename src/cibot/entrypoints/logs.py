"""Logging setup: structlog to stderr, JSON or console, with every known secret redacted.

The secrets come from the settings (Slack token and signing secret, CI secrets, database
password); any log value containing one has it replaced, so a secret that slips into an
error message still never reaches the log (T12).

Lines from the standard library's `logging` (uvicorn, slack_sdk, aiohttp…) go through the
same processors (structlog's `ProcessorFormatter`): every line is JSON, redacted, and carries
the context bound with structlog's contextvars — the job runner binds the job, build and
project, so every line of a build's work names them, whichever library wrote it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"


def _redactor(secrets: Iterable[str]) -> Any:
    known = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            for secret in known:
                value = value.replace(secret, REDACTED)
        return value

    def processor(
        _logger: Any, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            if not isinstance(value, (int, float, bool, type(None))):
                event[key] = scrub(value if isinstance(value, str) else str(value))
        return event

    return processor


def configure(level: str = "info", fmt: str = "json", secrets: Iterable[str] = ()) -> None:
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _redactor(secrets),
                renderer,
            ],
        )
    )
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
    for chatty in ("alembic", "httpx", "httpx2", "httpcore", "httpcore2", "slack_sdk", "aiohttp"):
        logging.getLogger(chatty).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
