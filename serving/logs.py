"""Structured logs for serving: one JSON object per line, ready for any log pipeline."""

from __future__ import annotations

import logging
import sys

import structlog

from core.redact import redact_event


def configure_json_logs(level: int = logging.INFO) -> None:
    """Render ``structlog`` events as JSON lines with an ISO timestamp and the level."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_event,  # an MLflow or Redis error can echo a URL with its password
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),  # one write per line: workers never interleave
        cache_logger_on_first_use=False,
    )
