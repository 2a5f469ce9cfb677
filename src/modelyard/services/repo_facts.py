"""What the info of a repository and the items of a listing show, gathered for the fields asked.

The hub index (repo_cards, repo_tags, model_bases, filled at every default-branch commit) answers for the default
branch; git answers for any other revision and for what only git knows (files, sizes). A listing page is loaded
with the same few queries whatever its size: one per kind of fact, for all of the page's repositories at once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session, aliased

from modelyard.db.models import ModelBase, Repo, RepoCard, RepoTag
from modelyard.domain.card_index import derive_tags
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
_GIT_FIELDS = ("siblings", "usedStorage", "mainSize")


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
    files = snap.git.files(snap.commit) if fields.wants(*_GIT_FIELDS) else None
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
        if fields.wants(*_GIT_FIELDS) or ("sha" in fields and sha is None):
            try:
                git = open_git(hub, record)
                sha = git.resolve(DEFAULT_BRANCH)
                files = git.files(sha) if fields.wants(*_GIT_FIELDS) else None
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
    cards = _cards(session, pks) if fields.wants(*_CARD_FIELDS) else {}
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
            card_text=row.card_text if row is not None else "",
            pipeline_tag=row.pipeline_tag if row is not None else "",
            library_name=row.library_name if row is not None else "",
            config=row.config if row is not None else None,
            safetensors=row.safetensors if row is not None else None,
            gguf=row.gguf if row is not None else None,
            tags=_ordered_tags(record.ref.type, row, tags.get(record.pk, [])),
            base_models=bases.get(record.pk, []),
            children=children.get(models.get(record.ref.key, -1), 0),
            spaces=spaces.get(record.pk, []),
        )
    return facts


def _cards(session: Session, pks: list[int]) -> dict[int, RepoCard]:
    rows = session.scalars(select(RepoCard).where(RepoCard.repo_id.in_(pks))).all()
    return {row.repo_id: row for row in rows}


def _tags(session: Session, pks: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for repo_id, tag in session.execute(select(RepoTag.repo_id, RepoTag.tag).where(RepoTag.repo_id.in_(pks))):
        found[repo_id].append(tag)
    return found


def _ordered_tags(repo_type: RepoType, row: RepoCard | None, indexed: list[str]) -> list[str]:
    """The index's tags in the order the card gives them (repo_tags keeps none), then any others, sorted."""
    if row is None or not isinstance(row.card, dict):
        return sorted(indexed)
    known = set(indexed)
    from_card = [tag for tag in derive_tags(repo_type, row.card, [], row.card_text) if tag in known]
    return from_card + sorted(known - set(from_card))


def _bases(session: Session, pks: list[int]) -> dict[int, list[BaseModel]]:
    base = aliased(Repo)
    query = (
        select(ModelBase.repo_id, ModelBase.base_id, ModelBase.relation, base.id)
        .outerjoin(base, (base.type == RepoType.MODEL.value) & (base.id_key == ModelBase.base_key) & ~base.private)
        .where(ModelBase.repo_id.in_(pks))
        .order_by(ModelBase.repo_id, ModelBase.base_key)
    )
    found: dict[int, list[BaseModel]] = defaultdict(list)
    for repo_id, base_id, relation, base_pk in session.execute(query):
        found[repo_id].append(BaseModel(base_id, relation, base_pk))
    return found


def _children(session: Session, models: dict[str, int]) -> dict[int, int]:
    """Public models deriving from each of `models` (private ones count as missing, as everywhere)."""
    query = (
        select(ModelBase.base_key, func.count())
        .join(Repo, Repo.id == ModelBase.repo_id)
        .where(ModelBase.base_key.in_(list(models)), ~Repo.private)
        .group_by(ModelBase.base_key)
    )
    return {models[key]: count for key, count in session.execute(query)}


def _spaces_using(session: Session, models: dict[str, int]) -> dict[int, list[str]]:
    """Public Spaces whose card lists each of `models` under `models:`; the text match only narrows the rows."""
    card_text = func.lower(cast(RepoCard.card, Text))
    query = (
        select(Repo.namespace, Repo.name, RepoCard.card)
        .join(RepoCard, RepoCard.repo_id == Repo.id)
        .where(Repo.type == RepoType.SPACE.value, ~Repo.private)
        .where(or_(*(card_text.like(f"%{_like_literal(json.dumps(key))}%", escape="\\") for key in models)))
        .order_by(Repo.likes.desc(), Repo.id)
    )
    found: dict[int, list[str]] = defaultdict(list)
    for namespace, name, card in session.execute(query):
        for key in _listed(card, "models"):
            if key in models:
                found[models[key]].append(f"{namespace}/{name}")
    return found


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _listed(card: object, key: str) -> set[str]:
    """The repository ids a card lists under `key` (one or a list), lower-cased as ids compare."""
    value = card.get(key) if isinstance(card, dict) else None
    values = value if isinstance(value, list) else [value]
    return {item.lower() for item in values if isinstance(item, str)}


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
