"""The server's logging: uvicorn's configuration, plus our own `modelyard.*` loggers, minus expected probes.

Clients probe optional features and fall back when the answer says "not here": hf_xet asks for streaming shard
registration, upload grants and V2 reconstructions before using the V1 routes, and git-lfs asks to verify locks
before every push. Those answers (404, and 501 for locks) are the protocol working as designed; logging each one
would read as thousands of failures, so the access log leaves them out.

Light on imports on purpose: uvicorn's worker processes configure logging before they answer the supervisor's
first health check.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG


class ExpectedProbes(logging.Filter):
    """Drops uvicorn access-log records (client, method, path, version, status) of expected probes."""

    def __init__(self, cas_prefix: str) -> None:
        super().__init__()
        cas = re.escape(cas_prefix)
        self.probes = (
            (404, "POST", re.compile(cas + r"/v2/shards")),
            (404, "POST", re.compile(cas + r"/v1/xorb-grants/[^?]*")),
            (404, "GET", re.compile(cas + r"/v2/reconstructions/[^?]*")),
            (501, "POST", re.compile(r"/[^?]*\.git/info/lfs/locks/verify")),
        )

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) != 5 or not isinstance(args[4], int):
            return True
        _, method, path, _, status = args
        path = str(path).split("?", 1)[0]
        return not any(code == status and verb == method and p.fullmatch(path) for code, verb, p in self.probes)


def log_config(cas_prefix: str) -> dict[str, Any]:
    """uvicorn's logging configuration, with `modelyard.*` lines in the same format, probes left out and request ids."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["modelyard"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    probes = {"()": f"{__name__}.ExpectedProbes", "cas_prefix": cas_prefix}
    config.setdefault("filters", {})["expected_probes"] = probes
    # Every access line ends with the request id that the response carried (frontdoor/request_id.py).
    config["filters"]["request_id"] = {"()": "modelyard.frontdoor.request_id.RequestIdLogFilter"}
    config["formatters"]["access"]["fmt"] += " [%(request_id)s]"
    config["handlers"]["access"]["filters"] = ["expected_probes", "request_id"]
    return config
