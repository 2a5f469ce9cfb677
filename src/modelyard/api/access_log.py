"""The access log never records a secret.

uvicorn's access log prints each request target with its query string. Signed URLs (LFS transfers, Xet
fetches) carry their signature there (`sig=`), and a client may put a token in a query string; whoever reads
the log could replay them. A filter on the access logger replaces the value of every query parameter whose name
looks secret before the line is formatted. Headers, `Authorization` included, are never logged: uvicorn's access
log does not print them and Modelyard's own log lines name only the method and path.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

ACCESS_LOGGER = "uvicorn.access"
REDACTED = "REDACTED"
# `sig`, `token`, `access_token`, `X-Amz-Signature`, `X-Amz-Credential`, `api_key`, `password`, `auth`… (not `author`)
_SECRET_NAME = re.compile(r"sig|token|key|secret|passw|credential|^auth(orization)?$", re.IGNORECASE)


def redact_target(target: str) -> str:
    """A request target with the values of its secret-looking query parameters replaced."""
    path, question, query = target.partition("?")
    if not question:
        return target
    pairs = []
    for pair in query.split("&"):
        name, equals, _ = pair.partition("=")
        if equals and _SECRET_NAME.search(unquote_plus(name)):
            pair = f"{name}={REDACTED}"
        pairs.append(pair)
    return f"{path}?{'&'.join(pairs)}"


class RedactSecrets(logging.Filter):
    """Redacts every string argument of a record (the access log's target is one of them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_target(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def install() -> None:
    """Attach the filter to the access logger, once per process."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
        logger.addFilter(RedactSecrets())
