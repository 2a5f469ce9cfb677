"""What the info of a repository and the items of a listing show, gathered for the fields asked.

The hub index (repo_cards, repo_tags, model_bases, filled at every default-branch commit) answers for the default
branch; git answers for any other revision and for what only git knows (files, sizes). A listing page is loaded
with the same few queries whatever its size: one per kind of fact, for all of the page's repositories at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.db.models import ModelBase, Repo, RepoCard, RepoLink, RepoTag
from modelyard.domain.errors import RepoNotFound
from modelyard.domain.repo_fields import FieldRequest
from modelyard.domain.repo_ids import RepoType
from modelyard.domain.revisions import DEFAULT_BRANCH
from modelyard.gitstore.repository import Entry
from modelyard.services.files import Snapshot, snapshot
from modelyard.services.hub import Hub
from modelyard.services.repo_index import read_index
from modelyard.services.repos import RepoRecord, open_git

# Which fields each kind of fact serves; a request that wants none of them does not load it.
_CARD_FIELDS = (
    "cardData", "pipeline_tag", "library_name", "config", "safetensors", "gguf", "transformersInfo", "mask_token",
    "widgetData", "model-index", "description", "citation", "paperswithcode_id", "sdk", "models", "datasets",
    "tags",
)  # fmt: skip
_TEXT_FIELDS = ("description", "citation")  # read from the card's Markdown body


@dataclass(frozen=True)
class BaseModel:
    """A model this one derives from, as the card names it; `pk` when it is a public model of this hub."""

    id: str
    relation: str
    pk: int | None


@dataclass(frozen=True)
class RepoFacts:
    """What a repository's card, config and weights say, and where it stands in the model tree."""

    commit: str = ""  # the commit these were read from; "" when the repository is not indexed
    card: dict[str, Any] = field(default_factory=dict)
    card_text: str = ""  # the card's Markdown body
    pipeline_tag: str = ""
    library_name: str = ""
    config: dict[str, Any] | None = None
    safetensors: dict[str, Any] | None = None
    gguf: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    base_models: list[BaseModel] = field(default_factory=list)
    children: int = 0
    spaces: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Item:
    """One repository as an answer shows it: its row, its facts, and what git said when that was asked."""

    record: RepoRecord
    facts: RepoFacts
    sha: str | None
    last_modified: datetime
    files: list[Entry] | None = None  # at `sha`
    main_size: int | None = None  # bytes of the default branch's files
    with_blobs: bool = False  # siblings with sizes and LFS details


def info(hub: Hub, record: RepoRecord, revision: str, fields: FieldRequest, with_blobs: bool) -> Item:
    """`model_info` and friends at `revision`: the index when it holds that very commit, else the card in git."""
    snap = snapshot(hub, record, revision)
    with hub.db.session() as session:
        indexed = _load(session, [record], fields).get(record.pk, RepoFacts())
    stale = fields.wants(*_CARD_FIELDS) and indexed.commit != snap.commit
    facts = _facts_from_git(snap, indexed) if stale else indexed
    files = snap.git.files(snap.commit) if fields.reads_files else None
    main_size = None
    if "mainSize" in fields:
        on_default = files if revision == DEFAULT_BRANCH else _files_at(hub, record, DEFAULT_BRANCH)
        main_size = _size(on_default)
    return Item(record, facts, snap.commit, snap.last_commit().date, files, main_size, with_blobs)


def page(hub: Hub, records: Sequence[RepoRecord], fields: FieldRequest) -> list[Item]:
    """A listing page's items; git is opened only for fields that need files, or for repositories not indexed."""
    with hub.db.session() as session:
        facts = _load(session, records, fields)
    items = []
    for record in records:
        found = facts.get(record.pk, RepoFacts())
        sha: str | None = found.commit or None
        files = None
        if fields.reads_files or ("sha" in fields and sha is None):
            try:
                git = open_git(hub, record)
                sha = git.resolve(DEFAULT_BRANCH)
                files = git.files(sha) if fields.reads_files else None
            except RepoNotFound:  # deleted since the page was listed
                continue
        items.append(Item(record, found, sha, record.last_modified, files, _size(files), with_blobs=False))
    return items


def _load(session: Session, records: Sequence[RepoRecord], fields: FieldRequest) -> dict[int, RepoFacts]:
    """The index's facts about `records`: at most five queries, each for the whole page."""
    if not records:
        return {}
    pks = [record.pk for record in records]
    models = {record.ref.key: record.pk for record in records if record.ref.type is RepoType.MODEL}
    cards = _cards(session, pks, fields.wants(*_TEXT_FIELDS)) if fields.wants(*_CARD_FIELDS) else {}
    tags = _tags(session, pks) if "tags" in fields else {}
    bases = _bases(session, pks) if "baseModels" in fields else {}
    children = _children(session, models) if "childrenModelCount" in fields and models else {}
    spaces = _spaces_using(session, models) if "spaces" in fields and models else {}
    facts: dict[int, RepoFacts] = {}
    for record in records:
        row = cards.get(record.pk)
        card = row.card if row is not None and isinstance(row.card, dict) else {}
        facts[record.pk] = RepoFacts(
            commit=row.commit if row is not None else "",
            card=card,
            card_text=getattr(row, "card_text", ""),
            pipeline_tag=row.pipeline_tag if row is not None else "",
            library_name=row.library_name if row is not None else "",
            config=row.config if row is not None else None,
            safetensors=row.safetensors if row is not None else None,
            gguf=row.gguf if row is not None else None,
            tags=tags.get(record.pk, []),
            base_models=bases.get(record.pk, []),
            children=children.get(models.get(record.ref.key, -1), 0),
            spaces=spaces.get(record.pk, []),
        )
    return facts


def _cards(session: Session, pks: list[int], with_text: bool) -> dict[int, Any]:
    """The page's card rows, as plain rows (the Markdown body only when a property needs it: it can be long)."""
    columns = [RepoCard.repo_id, RepoCard.commit, RepoCard.card, RepoCard.pipeline_tag, RepoCard.library_name]
    columns += [RepoCard.config, RepoCard.safetensors, RepoCard.gguf]
    if with_text:
        columns.append(RepoCard.card_text)
    return {row.repo_id: row for row in session.execute(select(*columns).where(RepoCard.repo_id.in_(pks)))}


def _tags(session: Session, pks: list[int]) -> dict[int, list[str]]:
    """Each repository's tags, sorted (repo_tags keeps no order)."""
    found: dict[int, list[str]] = defaultdict(list)
    query = select(RepoTag.repo_id, RepoTag.tag).where(RepoTag.repo_id.in_(pks)).order_by(RepoTag.repo_id, RepoTag.tag)
    for repo_id, tag in session.execute(query):
        found[repo_id].append(tag)
    return found


def _bases(session: Session, pks: list[int]) -> dict[int, list[BaseModel]]:
    # A subquery per edge rather than an outer join, which SQLite answers by scanning every repository.
    base_pk = (
        select(Repo.id)
        .where(Repo.type == RepoType.MODEL.value, Repo.id_key == ModelBase.base_key, ~Repo.private)
        .scalar_subquery()
    )
    query = (
        select(ModelBase.repo_id, ModelBase.base_id, ModelBase.relation, base_pk)
        .where(ModelBase.repo_id.in_(pks))
        .order_by(ModelBase.repo_id, ModelBase.base_key)
    )
    found: dict[int, list[BaseModel]] = defaultdict(list)
    for repo_id, base_id, relation, base_pk in session.execute(query):
        found[repo_id].append(BaseModel(base_id, relation, base_pk))
    return found


def _children(session: Session, models: dict[str, int]) -> dict[int, int]:
    """Public models deriving from each of `models` (private ones count as missing, as everywhere).

    Each edge looks its child up by primary key: a join lets PostgreSQL hash every repository for a base with a
    few children."""
    public = (
        select(func.count()).where(Repo.id == ModelBase.repo_id, ~Repo.private).correlate(ModelBase).scalar_subquery()
    )
    edges = select(ModelBase.base_key, public.label("public")).where(ModelBase.base_key.in_(list(models))).subquery()
    query = select(edges.c.base_key, func.sum(edges.c.public)).group_by(edges.c.base_key)
    return {models[key]: int(count or 0) for key, count in session.execute(query)}


def _spaces_using(session: Session, models: dict[str, int]) -> dict[int, list[str]]:
    """Public Spaces whose card lists each of `models` under `models:`, most liked first: read from repo_links
    (kept by the index), by key, so that a page of models costs a lookup each rather than a scan of every card."""
    query = (
        select(RepoLink.target_key, Repo.namespace, Repo.name)
        .join(Repo, Repo.id == RepoLink.repo_id)
        .where(RepoLink.kind == "model", RepoLink.target_key.in_(list(models)))
        .where(Repo.type == RepoType.SPACE.value, ~Repo.private)
        .order_by(Repo.likes.desc(), Repo.id)
    )
    found: dict[int, list[str]] = defaultdict(list)
    for key, namespace, name in session.execute(query):
        found[models[key]].append(f"{namespace}/{name}")
    return found


def _facts_from_git(snap: Snapshot, indexed: RepoFacts) -> RepoFacts:
    """What the index would hold for `snap`'s commit, read from git the way the index reads it; the Spaces and
    children of the repository stay the index's (they are other repositories' cards)."""
    ref = snap.record.ref
    index, config = read_index(snap.git, snap.commit, ref.type, ref.id)
    known = {base.id.lower(): base.pk for base in indexed.base_models}
    return RepoFacts(
        commit=snap.commit,
        card=index.card,
        card_text=index.card_text,
        pipeline_tag=index.pipeline_tag,
        library_name=index.library_name,
        config=config,
        tags=index.tags,
        base_models=[BaseModel(base.base_id, base.relation, known.get(base.key)) for base in index.bases],
        children=indexed.children,
        spaces=indexed.spaces,
    )


def _files_at(hub: Hub, record: RepoRecord, revision: str) -> list[Entry]:
    git = open_git(hub, record)
    return git.files(git.resolve(revision))


def _size(files: Iterable[Entry] | None) -> int | None:
    return None if files is None else sum(entry.size for entry in files)
