"""Passwords out of what Relay prints and logs.

Settings carry credentials inside URLs (``RELAY_POSTGRES_SERVER``, ``RELAY_REDIS_URL``,
``RELAY_MLFLOW_TRACKING_URI``), and the libraries that use them echo the URL in their errors
(psycopg2's "invalid dsn: ...", MLflow's "API request to http://user:pass@host/... failed").
Anything that prints or logs such a message passes it through ``redact`` first.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

MASK = "***"
# scheme://user:PASSWORD@host: greedy up to the authority's last "@", so an unencoded "@" in the password is covered.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*:)[^\s/'\"]*(?=@)")
# password=... in a libpq keyword DSN, a query string or a Redis connection string ("host:6379,password=...").
_KEY_PASSWORD = re.compile(r"(?P<head>\b(?:password|passwd|pwd)\s*=\s*)(?:'[^']*'|\"[^\"]*\"|[^\s,&;'\"]+)", re.I)


def redact(text: str) -> str:
    """``text`` with every URL password and every ``password=`` value replaced by ``***``."""
    return _KEY_PASSWORD.sub(rf"\g<head>{MASK}", _URL_PASSWORD.sub(rf"\g<head>{MASK}", text))


def redact_event(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: every string value of the event, redacted (put it before the renderer)."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event
