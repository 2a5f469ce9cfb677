"""Xet CAS access: the short-lived tokens hf_xet sends to the CAS, and the self-authorizing fetch URLs."""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass

from modelyard.domain.errors import Forbidden, Unauthorized
from modelyard.services import signing
from modelyard.services.hub import Hub

READ = "read"
WRITE = "write"
SCOPES = (READ, WRITE)
TOKEN_TTL_SECONDS = 3600
FETCH_URL_TTL_SECONDS = 3600

# Numbers of at most 19 digits: a longer one is not a token of ours, and never reaches int().
_TOKEN = re.compile(r"^xet1\.([0-9]{1,19})\.(read|write)\.([0-9]{1,19})\.([0-9a-f]{64})$")


@dataclass(frozen=True)
class CasGrant:
    """What a CAS token allows: reading (and with `write`, uploading) the Xet content of one repository."""

    repo_pk: int
    scope: str
    expires: int

    def require(self, scope: str) -> None:
        if scope == WRITE and self.scope != WRITE:
            raise Forbidden("This Xet token is read-only: ask the hub for a write token (xet-write-token)")


def issue_token(hub: Hub, repo_pk: int, scope: str, ttl: int = TOKEN_TTL_SECONDS) -> tuple[str, int]:
    """A short-lived CAS token for `repo_pk`; returns (token, expiry in unix seconds)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown Xet token scope {scope!r}")
    expires = int(time.time()) + ttl
    signature = signing.sign(signing.signing_key(hub), "xet-cas", repo_pk, scope, expires)
    return f"xet1.{repo_pk}.{scope}.{expires}.{signature}", expires


def check_token(hub: Hub, token: str | None) -> CasGrant:
    """The grant a CAS token carries; Unauthorized when it is missing, forged or expired."""
    if not token:
        raise Unauthorized("Xet CAS requests need 'Authorization: Bearer <token from xet-read/write-token>'")
    match = _TOKEN.match(token)
    if match is None:
        raise Unauthorized("This is not a Xet CAS token: ask the hub's xet-read-token or xet-write-token route")
    repo_pk, scope, expires, signature = int(match[1]), match[2], int(match[3]), match[4]
    expected = signing.sign(signing.signing_key(hub), "xet-cas", repo_pk, scope, expires)
    if not hmac.compare_digest(expected, signature):
        raise Unauthorized("Invalid Xet CAS token")
    if expires < time.time():
        raise Unauthorized("The Xet CAS token has expired: ask the hub for a new one")
    return CasGrant(repo_pk, scope, expires)


def fetch_expiry() -> int:
    return int(time.time()) + FETCH_URL_TTL_SECONDS


def fetch_signature(hub: Hub, xorb_hash: str, first: int, last: int, expires: int) -> str:
    return signing.sign(signing.signing_key(hub), "xet-fetch", xorb_hash, first, last, expires)


def fetch_allowed(hub: Hub, xorb_hash: str, first: int, last: int, expires: int, signature: str) -> bool:
    """Whether a fetch URL's signature is valid and unexpired."""
    expected = fetch_signature(hub, xorb_hash, first, last, expires)
    return expires >= time.time() and signing.matches(expected, signature)
