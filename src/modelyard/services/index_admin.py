"""Rebuilding and inspecting the hub index: `modelyard admin reindex`, `modelyard admin index`, and the background
job that retries an indexing that failed after a commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from modelyard.db.models import ModelBase, Repo, RepoCard, RepoTag
from modelyard.domain.dates import iso_z
from modelyard.domain.errors import RepoNotFound
from modelyard.services import jobs, repo_index
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord


def repo_pks(hub: Hub, only: int | None = None) -> list[int]:
    """The repositories to reindex: `only`, or all of them in creation order."""
    with hub.db.session() as session:
        query = select(Repo.id).order_by(Repo.id)
        if only is not None:
            query = query.where(Repo.id == only)
        return list(session.scalars(query))


def reindex(hub: Hub, repo_pk: int) -> bool:
    """Rebuild one repository's index from git; False when it was deleted meanwhile."""
    record = _record(hub, repo_pk)
    if record is None:
        return False
    try:
        repo_index.reindex(hub, record)
    except RepoNotFound:  # its git directory went away with it
        return False
    return True


def run_job(hub: Hub, job: jobs.Job) -> None:
    """A worker's handler for repo_index.KIND: index the repository again (nothing to do if it is gone)."""
    assert job.repo_pk is not None
    reindex(hub, job.repo_pk)


def describe(hub: Hub, repo_pk: int) -> dict[str, Any] | None:
    """The repository's index as stored (None before it is indexed): what `modelyard admin index` prints."""
    with hub.db.session() as session:
        card = session.get(RepoCard, repo_pk)
        if card is None:
            return None
        tags = session.scalars(select(RepoTag.tag).where(RepoTag.repo_id == repo_pk).order_by(RepoTag.tag))
        bases = session.execute(
            select(ModelBase.base_id, ModelBase.relation)
            .where(ModelBase.repo_id == repo_pk)
            .order_by(ModelBase.base_key)
        ).all()
        return {
            "commit": card.commit,
            "indexedAt": iso_z(card.indexed_at),
            "title": card.title,
            "license": card.license,
            "pipelineTag": card.pipeline_tag,
            "libraryName": card.library_name,
            "warnings": card.warnings,
            "cardData": card.card,
            "cardTextLength": len(card.card_text),
            "config": card.config,
            "tags": list(tags),
            "baseModels": [{"id": base_id, "relation": relation} for base_id, relation in bases],
        }


def _record(hub: Hub, repo_pk: int) -> RepoRecord | None:
    with hub.db.session() as session:
        row = session.get(Repo, repo_pk)
        return None if row is None else RepoRecord.of(row)
