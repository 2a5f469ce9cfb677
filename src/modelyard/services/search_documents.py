"""The search documents of repositories (table repo_search) and Spaces' links, kept in step with what they are
made of: the repo's id (create, move), its card and tags (services/repo_index.refresh at every change of the
default branch). Deleting a repository deletes both by cascade.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelyard.db.models import Repo, RepoCard, RepoLink, RepoSearch, RepoTag
from modelyard.domain.listing import search_body, search_document
from modelyard.domain.repo_ids import RepoType

LINK_FIELDS = {"models": "model", "datasets": "dataset"}  # a Space card's field -> what it names


def index_repo(session: Session, repo_pk: int) -> None:
    """Rewrite what listings search and filter on for one repository, from its row, card and tags."""
    repo = session.get(Repo, repo_pk)
    if repo is None:
        return
    card = session.get(RepoCard, repo_pk)
    tags = session.scalars(select(RepoTag.tag).where(RepoTag.repo_id == repo_pk)).all()
    document = search_document(f"{repo.namespace}/{repo.name}", card.title if card else "", tags)
    body = search_body(card.card_text) if card else ""
    row = session.get(RepoSearch, repo_pk)
    if row is None:
        session.add(RepoSearch(repo_id=repo_pk, document=document, body=body))
    elif (row.document, row.body) != (document, body):
        row.document, row.body = document, body
    session.execute(delete(RepoLink).where(RepoLink.repo_id == repo_pk))
    if repo.type == RepoType.SPACE.value and card is not None:
        session.add_all(RepoLink(repo_id=repo_pk, kind=kind, target_key=key) for kind, key in space_links(card.card))
    session.flush()


def space_links(card: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, lower-cased id) of every model and dataset a Space's card metadata names."""
    links = set()
    for field, kind in LINK_FIELDS.items():
        value = card.get(field)
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        links.update((kind, name.lower()) for name in names if isinstance(name, str) and 0 < len(name) <= 200)
    return links
