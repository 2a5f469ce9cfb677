"""The search documents of repositories (table repo_search) and Spaces' links, kept in step with what they are
made of: the repo's id (create, move), its card and tags (services/repo_index.refresh at every change of the
default branch). Deleting a repository deletes both by cascade.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelyard.db.models import Repo, RepoCard, RepoLink, RepoSearch, RepoTag
from modelyard.domain.listing import search_body, search_document, space_links
from modelyard.domain.repo_ids import RepoType


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
