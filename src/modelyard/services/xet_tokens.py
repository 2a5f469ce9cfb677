"""Xet CAS access: the short-lived tokens hf_xet sends to the CAS, and the self-authorizing fetch URLs.

Both carry their issuer, the access token that obtained them (services.grants), and are checked against it at
every use: they stop working when it is revoked or its user loses access to the repository."""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass

from modelyard.domain.errors import Forbidden, Unauthorized
from modelyard.services import grants, signing
from modelyard.services.access import Action
from modelyard.services.hub import Hub

READ = "read"
WRITE = "write"
SCOPES = (READ, WRITE)
TOKEN_TTL_SECONDS = 3600
FETCH_URL_TTL_SECONDS = 3600
# The issuer of the hub's own grants (the LFS -> Xet conversion): no access token stands behind them, no CAS token
# carries it (`check_token` finds no such token), and they write only bytes the hub read itself.
HUB = -1

# Numbers of at most 19 digits: a longer one is not a token of ours, and never reaches int().
_TOKEN = re.compile(r"^xet2\.([0-9]{1,19})\.(read|write)\.(-?[0-9]{1,19})\.([0-9]{1,19})\.([0-9a-f]{64})$")


@dataclass(frozen=True)
class CasGrant:
    """What a CAS token allows: reading (and with `write`, uploading) the Xet content of one repository."""

    repo_pk: int
    scope: str
    expires: int
    issuer: int = grants.ANONYMOUS

    def require(self, scope: str) -> None:
        if scope == WRITE and self.scope != WRITE:
            raise Forbidden("This Xet token is read-only: ask the hub for a write token (xet-write-token)")


def issue_token(hub: Hub, repo_pk: int, scope: str, issuer: int, ttl: int = TOKEN_TTL_SECONDS) -> tuple[str, int]:
    """A short-lived CAS token for `repo_pk`, obtained by access token `issuer`; returns (token, expiry)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown Xet token scope {scope!r}")
    expires = int(time.time()) + ttl
    signature = signing.sign(signing.signing_key(hub), "xet-cas", repo_pk, scope, issuer, expires)
    return f"xet2.{repo_pk}.{scope}.{issuer}.{expires}.{signature}", expires


def check_token(hub: Hub, token: str | None, use: str) -> CasGrant:
    """The grant a CAS token carries, for `use` (READ or WRITE); Unauthorized when it is missing, forged, expired or
    withdrawn, Forbidden when it does not allow `use`. What the token's issuer may still do is decided by `use`: a
    write token (which contributors get) reads only if its issuer may download the repository (gated repos)."""
    if not token:
        raise Unauthorized("Xet CAS requests need 'Authorization: Bearer <token from xet-read/write-token>'")
    match = _TOKEN.match(token)
    if match is None:
        raise Unauthorized("This is not a Xet CAS token: ask the hub's xet-read-token or xet-write-token route")
    repo_pk, scope, issuer, expires, signature = int(match[1]), match[2], int(match[3]), int(match[4]), match[5]
    expected = signing.sign(signing.signing_key(hub), "xet-cas", repo_pk, scope, issuer, expires)
    if not hmac.compare_digest(expected, signature):
        raise Unauthorized("Invalid Xet CAS token")
    if expires < time.time():
        raise Unauthorized("The Xet CAS token has expired: ask the hub for a new one")
    grant = CasGrant(repo_pk, scope, expires, issuer)
    grant.require(use)
    if not grants.still_allowed(hub, issuer, repo_pk, Action.CONTRIBUTE if use == WRITE else Action.DOWNLOAD):
        raise Unauthorized("This Xet CAS token was withdrawn: its access token was revoked, or the repository is gone")
    return grant


def fetch_expiry() -> int:
    return int(time.time()) + FETCH_URL_TTL_SECONDS


@dataclass(frozen=True)
class FetchGrant:
    """What a fetch URL grants: one byte range of one xorb, read for one repository by one issuer."""

    xorb_hash: str
    first: int
    last: int
    repo_pk: int
    issuer: int
    expires: int

    def signature(self, hub: Hub) -> str:
        parts = (self.xorb_hash, self.first, self.last, self.repo_pk, self.issuer, self.expires)
        return signing.sign(signing.signing_key(hub), "xet-fetch", *parts)


def fetch_allowed(hub: Hub, grant: FetchGrant, signature: str) -> bool:
    """Whether a fetch URL's signature is valid and unexpired, and its issuer may still read the repository."""
    if grant.expires < time.time() or not signing.matches(grant.signature(hub), signature):
        return False
    return grants.still_allowed(hub, grant.issuer, grant.repo_pk, Action.DOWNLOAD)
