"""The hub index of a repository: what its default branch's card (and files) say, in repo_cards, repo_tags and
model_bases, which listings, search, info and the model tree read instead of git.

Every move of the default branch (API commits, pushes, pull request merges, super-squashes, repository creation)
ends with `after_change`, under the repository's writer lock so that writers index in the order they committed.
Indexing never fails a commit: an error is logged and a `repo-index` background job retries it. `reindex` (the
`modelyard admin reindex` command and that job) rebuilds a repository's index from git whatever it holds.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.db.models import ModelBase, Repo, RepoCard, RepoTag
from modelyard.domain.card_index import CardIndex, config_subset, index_card
from modelyard.domain.cards import CARD_PATH
from modelyard.domain.dates import utcnow
from modelyard.domain.model_tree import RepoFiles
from modelyard.domain.repo_ids import RepoType
from modelyard.domain.revisions import DEFAULT_BRANCH
from modelyard.gitstore.repository import GitRepository
from modelyard.services import jobs, repos, search_documents
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord, touch

log = logging.getLogger("modelyard.index")
KIND = "repo-index"  # background job: index repository `subject` (its primary key) again
DEFAULT_REF = f"refs/heads/{DEFAULT_BRANCH}"
MAX_INDEXED_FILE = 1024 * 1024  # README.md and config.json larger than this are not read
CONFIG_PATH = "config.json"
ADAPTER_CONFIG_PATH = "adapter_config.json"


def after_change(hub: Hub, record: RepoRecord) -> None:
    """The last step of every move of the repository's refs, under its writer lock: the repository is marked
    modified and its default branch indexed, in one transaction. A failure of the index is logged and retried in
    the background: it never fails the commit."""
    try:
        _refresh(hub, record, force=False, mark_modified=True)
    except Exception:  # the commit stands whatever happens here: the job (or the next commit) repairs the index
        log.exception("Indexing %s failed; a background job will retry it", record.ref)
        touch(hub, record)
        _retry_later(hub, record)


def after_move(hub: Hub, record: RepoRecord) -> None:
    """Index the repository again under its new id; never raises."""
    try:
        reindex(hub, record)
    except Exception:
        log.exception("Indexing %s after its move failed; a background job will retry it", record.ref)
        _retry_later(hub, record)


def _retry_later(hub: Hub, record: RepoRecord) -> None:
    try:
        jobs.enqueue(hub, KIND, str(record.pk), record.pk)
    except Exception:
        log.exception("Could not queue the indexing of %s: `modelyard admin reindex` repairs it", record.ref)


def refresh(hub: Hub, record: RepoRecord, *, force: bool = False) -> None:
    """Index the head of the default branch, unless it is indexed already (or `force`).

    The caller holds the repository's writer lock, or accepts that a writer racing with it indexes first.
    """
    _refresh(hub, record, force, mark_modified=False)


def _refresh(hub: Hub, record: RepoRecord, force: bool, mark_modified: bool) -> None:
    git = hub.git.open(record.storage_key)
    head = git.ref_target(DEFAULT_REF)
    try:
        _index(hub, git, record, head, force, mark_modified)
    except IntegrityError:
        # The repository was deleted meanwhile (nothing to index), or another indexer inserted rows between our
        # read and our insert (PostgreSQL): one more try settles which.
        with hub.db.session() as session:
            if session.get(Repo, record.pk) is None:
                return
        _index(hub, git, record, head, force, mark_modified)


def reindex(hub: Hub, record: RepoRecord) -> None:
    """Rebuild the repository's index from git, under its writer lock (after commits in flight)."""
    with hub.git.writing(record.storage_key):
        refresh(hub, record, force=True)


def read_index(
    git: GitRepository, commit: str, repo_type: RepoType, repo_id: str
) -> tuple[CardIndex, dict[str, Any] | None]:
    """The card's index at `commit`, and the Hub's `config` field (models only)."""
    readme, unread = _small_text(git, commit, CARD_PATH)
    config = None
    files = RepoFiles()
    if repo_type is RepoType.MODEL:
        config = _json_file(git, commit, CONFIG_PATH)
        files = RepoFiles(
            has_adapter_config=git.entry(commit, ADAPTER_CONFIG_PATH) is not None,
            # Names only, and only until the first one: a dataset-sized tree of models is walked without reading.
            has_gguf=any(path.lower().endswith(".gguf") for path in git.file_paths(commit)),
            has_quantization_config=isinstance(config, dict) and isinstance(config.get("quantization_config"), dict),
        )
    return index_card(repo_type, repo_id, readme, files, unread), config_subset(config)


def _small_text(git: GitRepository, commit: str, path: str) -> tuple[str | None, str]:
    """The text of a regular file of at most MAX_INDEXED_FILE bytes, or None and why it was not read."""
    entry = git.entry(commit, path)
    if entry is None or entry.type != "file":
        return None, ""
    if entry.lfs is not None or entry.size > MAX_INDEXED_FILE:
        return None, f"{path} is stored as a large file or is larger than {MAX_INDEXED_FILE} bytes: not read"
    return git.read_blob(entry.oid).decode("utf-8", errors="replace"), ""


def _json_file(git: GitRepository, commit: str, path: str) -> object:
    text, _ = _small_text(git, commit, path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None  # not JSON: the Hub shows no config either


def _index(
    hub: Hub, git: GitRepository, record: RepoRecord, head: str | None, force: bool, mark_modified: bool
) -> None:
    """Read the card at `head` and store its index in one transaction.

    Most commits change neither the card nor the files relations are inferred from: then only the indexed commit
    moves (one UPDATE, not a rewrite of every tag), which keeps the commit path fast.
    """
    with hub.db.session() as session:
        row = session.get(RepoCard, record.pk)
        indexed = row is not None and row.commit == head and not force
        # git is read before the first write: on SQLite, a write holds the database's one write lock.
        index, config = (
            (None, None) if head is None or indexed else read_index(git, head, record.ref.type, record.ref.id)
        )
        safetensors, gguf = (None, None) if index is None or head is None else _read_weights(hub, record, git, head)
        if mark_modified:
            repos.mark_modified(session, record.pk)
        if index is None:
            return
        if row is None:
            row = RepoCard(repo_id=record.pk)
            session.add(row)
        elif _stored_unchanged(session, row, index, config):
            # A reindex of what is indexed already writes nothing.
            if row.commit != head or (row.safetensors, row.gguf) != (safetensors, gguf):
                row.commit, row.indexed_at = head, utcnow()
                row.safetensors, row.gguf = safetensors, gguf
            if force:  # a rebuild rewrites what listings search too
                search_documents.index_repo(session, record.pk)
            return
        row.safetensors, row.gguf = safetensors, gguf
        row.commit = head
        row.card = index.card
        row.card_text = index.card_text
        row.title = index.title
        row.license = index.license
        row.pipeline_tag = index.pipeline_tag
        row.library_name = index.library_name
        row.warnings = index.warnings
        row.config = config
        row.indexed_at = utcnow()
        session.execute(delete(RepoTag).where(RepoTag.repo_id == record.pk))
        session.execute(delete(ModelBase).where(ModelBase.repo_id == record.pk))
        session.add_all(RepoTag(repo_id=record.pk, tag=tag) for tag in index.tags)
        session.add_all(
            ModelBase(repo_id=record.pk, base_key=base.key, base_id=base.base_id, relation=base.relation)
            for base in index.bases
        )
        search_documents.index_repo(session, record.pk)  # what listings search: the title and tags changed


def _read_weights(
    hub: Hub, record: RepoRecord, git: GitRepository, head: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The `safetensors` and `gguf` fields of a model, from its weights' headers (a few KB of each file)."""
    if record.ref.type is not RepoType.MODEL:
        return None, None
    # Imported here: reading large files goes through services.lfs, which imports services.repos, which imports this.
    from modelyard.services import weights_info
    from modelyard.services.files import Snapshot

    info = weights_info.read_weights(hub, Snapshot(record, git, head))
    return info.safetensors, info.gguf


def _stored_unchanged(session: Session, row: RepoCard, index: CardIndex, config: dict[str, Any] | None) -> bool:
    stored = (row.card, row.card_text, row.title, row.license, row.pipeline_tag, row.library_name, row.warnings)
    fresh = (index.card, index.card_text, index.title, index.license, index.pipeline_tag, index.library_name)
    if stored != (*fresh, index.warnings) or row.config != config:
        return False
    tags = set(session.scalars(select(RepoTag.tag).where(RepoTag.repo_id == row.repo_id)))
    edges = select(ModelBase.base_key, ModelBase.base_id, ModelBase.relation).where(ModelBase.repo_id == row.repo_id)
    bases = {tuple(edge) for edge in session.execute(edges)}
    return tags == set(index.tags) and bases == {(base.key, base.base_id, base.relation) for base in index.bases}
