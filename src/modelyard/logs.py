"""The server's logging: uvicorn's configuration, plus our own `modelyard.*` loggers, minus expected probes.

Clients probe optional features and fall back when the answer says "not here": hf_xet asks for streaming shard
registration, upload grants and V2 reconstructions before using the V1 routes, and git-lfs asks to verify locks
before every push. Those answers (404, and 501 for locks) are the protocol working as designed; logging each one
would read as thousands of failures, so the access log leaves them out.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

from modelyard.xet import CAS_PREFIX

_PROBES = (
    (404, "POST", re.compile(re.escape(CAS_PREFIX) + r"/v2/shards")),
    (404, "POST", re.compile(re.escape(CAS_PREFIX) + r"/v1/xorb-grants/[^?]*")),
    (404, "GET", re.compile(re.escape(CAS_PREFIX) + r"/v2/reconstructions/[^?]*")),
    (501, "POST", re.compile(r"/[^?]*\.git/info/lfs/locks/verify")),
)


def is_expected_probe(method: str, path: str, status: int) -> bool:
    """Whether this request and answer are a client's probe for an optional feature we do not offer."""
    return any(status == code and method == verb and pattern.fullmatch(path) for code, verb, pattern in _PROBES)


class ExpectedProbes(logging.Filter):
    """Drops uvicorn access-log records (client, method, path, version, status) of expected probes."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) != 5 or not isinstance(args[4], int):
            return True
        _, method, path, _, status = args
        return not is_expected_probe(str(method), str(path).split("?", 1)[0], status)


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration, with `modelyard.*` lines in the same format and probes left out."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["modelyard"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config.setdefault("filters", {})["expected_probes"] = {"()": f"{__name__}.ExpectedProbes"}
    config["handlers"]["access"]["filters"] = ["expected_probes"]
    return config
