"""What a signed LFS URL or a Xet token grants lasts only while whoever obtained it may still act.

Each carries the id of the access token that obtained it (its issuer). Every use checks again: that token is
not revoked, the repository still exists, and the token's user may still perform the action on it (a repository
made private stops serving URLs handed out while it was public). One token lookup and one repository lookup,
both by primary key (and, to download from a gated repository, its access request).
"""

from __future__ import annotations

from modelyard.db.models import Repo
from modelyard.domain.errors import HubError
from modelyard.services import repos, tokens
from modelyard.services.access import Action, authorize
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

ANONYMOUS = 0  # obtained without a token: lasts while the repository is readable by anyone


def issuer_of(actor: Actor | None) -> int:
    return ANONYMOUS if actor is None else actor.token_id


def still_allowed(hub: Hub, issuer: int, repo_pk: int, action: Action) -> bool:
    actor = None
    if issuer != ANONYMOUS:
        actor = tokens.actor_of_token_id(hub, issuer)
        if actor is None:
            return False
    with hub.db.session() as session:
        repo = session.get(Repo, repo_pk)
        if repo is None:
            return False
        target = repos.target_for(session, RepoRecord.of(repo), actor, action)
    try:
        authorize(actor, action, target)
    except HubError:
        return False
    return True
