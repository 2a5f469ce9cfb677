"""Tables. Repos' files and history live in git; rows here index them or hold what git cannot."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy's declarative attribute

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(96), unique=True)
    fullname: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # A site administrator may do what owners can everywhere, and reads the audit log.
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # argon2 (services.passwords), for the web; None: no password, tokens only.
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)


class Organization(Base):
    """A namespace owned by its members rather than by one user; names are unique among users and orgs."""

    __tablename__ = "organizations"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy's declarative attribute

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(96), unique=True)
    fullname: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OrgMember(Base):
    """A user's role in an organization: read, contributor, write or admin (domain.access_scopes)."""

    __tablename__ = "org_members"
    __table_args__ = (UniqueConstraint("org_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))  # "read", "write" or "fineGrained" (see TokenGrant)
    # sha256 of the token: tokens are long random strings, so a fast hash is enough.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Updated at most once a minute (services.tokens), so using a token does not mean writing to the database.
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # A revoked token's row stays, so that its id is never reused: signed URLs and Xet tokens name it.
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class AuthFailure(Base):
    """Failed authentications of one client address or account in the current window (services.throttle).

    In the database, so that every worker process and host counts together.
    """

    __tablename__ = "auth_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "address:<ip>" or "account:<name>"
    window_start: Mapped[int] = mapped_column(BigInteger)  # unix seconds
    failures: Mapped[int] = mapped_column(Integer)


class AuditEvent(Base):
    """Who changed access to what, and when (services.audit)."""

    __tablename__ = "audit_events"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy's declarative attribute

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(48), index=True)
    actor: Mapped[str] = mapped_column(String(200))  # a user name, "cli:<os user>", or "" for anonymous
    target: Mapped[str] = mapped_column(String(300))  # "model:alice/demo", "user:alice", "token:12"…
    details: Mapped[str] = mapped_column(Text)  # a JSON object


class TokenGrant(Base):
    """One scope of a fine-grained token: a user or org namespace, or one repository, with read or write."""

    __tablename__ = "token_grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"), index=True)
    entity_type: Mapped[str] = mapped_column(String(16))  # user, org, model, dataset or space
    entity_name: Mapped[str] = mapped_column(String(200))  # a namespace, or namespace/name
    permission: Mapped[str] = mapped_column(String(16))  # read or write


SORTED_REPO_COLUMNS = ("downloads", "likes", "trending_score", "created_at", "last_modified")


class Repo(Base):
    __tablename__ = "repos"
    # Ids are never reused (SQLite reuses the last one by default): signed tokens and URLs name repos by id.
    __table_args__ = (
        UniqueConstraint("type", "namespace", "name"),
        Index("ix_repos_type_id_key", "type", "id_key", unique=True),
        # Listings sort by these within a type.
        *(Index(f"ix_repos_type_{column}", "type", column) for column in SORTED_REPO_COLUMNS),
        Index("ix_repos_type_namespace_key", "type", text("lower(namespace)")),  # listings by author
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    namespace: Mapped[str] = mapped_column(String(96))
    name: Mapped[str] = mapped_column(String(96))
    # "namespace/name" lower-cased: ids are case-insensitive for lookup (RepoRef.key), as on the Hub.
    id_key: Mapped[str] = mapped_column(String(200))
    # Names the bare git repository on disk; stays the same when the repo is renamed.
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    gated: Mapped[str] = mapped_column(String(16), default="")  # "", "auto" or "manual"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_modified: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Popularity, kept here so that listings sort on indexed columns: `downloads` is the last 30 days.
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    downloads_all_time: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    likes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    trending_score: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # Who created it (users' ids are never reused): an organization's contributors write to their own repos.
    creator_id: Mapped[int | None] = mapped_column(Integer, default=None)


class RepoRedirect(Base):
    """An old name of a renamed repository, so links to it keep working."""

    __tablename__ = "repo_redirects"
    __table_args__ = (
        UniqueConstraint("type", "namespace", "name"),
        Index("ix_repo_redirects_type_id_key", "type", "id_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    namespace: Mapped[str] = mapped_column(String(96))
    name: Mapped[str] = mapped_column(String(96))
    id_key: Mapped[str] = mapped_column(String(200))
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)


class LfsObject(Base):
    """A large object a repository may reference.

    `source` says how the repository got it. "upload": this server received the bytes and checked their
    sha256, so the repository may be served the shared blob. "xet": a Xet shard uploaded to the
    repository claims the sha256; the claim only ever names the repository's own Xet file, never the
    blob, so knowing a hash is never enough to read another repository's content.
    """

    __tablename__ = "lfs_objects"
    __table_args__ = (UniqueConstraint("repo_id", "oid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    oid: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    pushed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(16), default="upload", server_default="upload")


class ServerSetting(Base):
    """Small server-wide values generated once (e.g. the URL-signing key)."""

    __tablename__ = "server_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(1024))


# --- Xet storage (docs/architecture.md, "Xet storage"). Hashes are 64-char Xet string forms. -------------


class XetXorb(Base):
    """A stored xorb: its records live in the xorb store; this row is its chunk index (rebuildable from it)."""

    __tablename__ = "xet_xorbs"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)  # stored bytes: the chunk records, without footer
    unpacked_size: Mapped[int] = mapped_column(BigInteger)
    chunk_count: Mapped[int] = mapped_column(Integer)
    # Per chunk, packed: raw hash (32), record offset, record length, uncompressed size (u32 LE each).
    chunks: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class XetFile(Base):
    """A file reconstruction: an ordered list of terms (chunk ranges of stored xorbs)."""

    __tablename__ = "xet_files"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    term_count: Mapped[int] = mapped_column(Integer)
    # Per term, packed: xorb raw hash (32), chunk start, chunk end, unpacked bytes, record start, record end.
    terms: Mapped[bytes] = mapped_column(LargeBinary)
    # The sha256 of the reconstructed bytes, when the server computed it itself (LFS conversion):
    # such a mapping may serve every repository that links that sha256.
    verified_sha256: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class XetRepoFile(Base):
    """sha256 -> Xet file, as claimed by a shard uploaded with a write token of this repository."""

    __tablename__ = "xet_repo_files"
    __table_args__ = (UniqueConstraint("repo_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    file_hash: Mapped[str] = mapped_column(ForeignKey("xet_files.hash"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class XetShard(Base):
    """An accepted upload shard (its body is kept in the xorb store, content-addressed by sha256)."""

    __tablename__ = "xet_shards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    repo_id: Mapped[int | None] = mapped_column(ForeignKey("repos.id", ondelete="SET NULL"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    # Raw hashes (32 bytes each) of the xorbs its files reference, in order of first use: a global-dedup
    # answer returns a chunk's xorb together with its neighbours from the same upload.
    xorbs: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class XetDedupChunk(Base):
    """Global-dedup index: an eligible chunk (§2.6) -> the xorb holding it and the shard that introduced it."""

    __tablename__ = "xet_dedup_chunks"

    chunk_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    xorb_hash: Mapped[str] = mapped_column(ForeignKey("xet_xorbs.hash"))
    shard_id: Mapped[int | None] = mapped_column(ForeignKey("xet_shards.id", ondelete="SET NULL"), default=None)


class BackgroundJob(Base):
    """Work done outside the serving processes (services/jobs.py): queued, claimed by a worker under a lease that its
    heartbeats extend, deleted when done. A failed job waits until `run_after` and is tried again."""

    __tablename__ = "background_jobs"
    __table_args__ = (
        UniqueConstraint("kind", "subject"),
        Index("ix_background_jobs_state_run_after", "state", "run_after"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # e.g. "xet-convert"
    subject: Mapped[str] = mapped_column(String(200))  # what it works on, e.g. an LFS object id
    # The repository it works for, if any: deleting the repository deletes its pending work.
    repo_id: Mapped[int | None] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))  # "queued", "running" or "failed"
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # Not before this time (a failed job's next try).
    run_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- Discussions and pull requests (docs/architecture.md, "Discussions and pull requests") ----------------


class Discussion(Base):
    """A discussion or a pull request; both share one numbering per repository, from 1.

    A pull request's changes live in the git ref `refs/pr/{num}`; this row holds what git cannot.
    """

    __tablename__ = "discussions"
    __table_args__ = (UniqueConstraint("repo_id", "num"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    num: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # open, closed, merged, draft
    is_pull_request: Mapped[bool] = mapped_column(Boolean)
    target_branch: Mapped[str | None] = mapped_column(String(255), default=None)  # pull requests only
    merge_commit: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DiscussionEvent(Base):
    """One entry of a discussion's timeline: comment, status-change, title-change or commit.

    Comments keep their raw Markdown and its sanitized HTML (services.markdown); the other types keep their
    few fields in `detail` (status; from and to; oid and subject); a comment's earlier versions are its
    `detail["history"]`.
    """

    __tablename__ = "discussion_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    discussion_id: Mapped[int] = mapped_column(ForeignKey("discussions.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(24), unique=True)  # the hex id clients see
    type: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    content: Mapped[str | None] = mapped_column(Text, default=None)
    html: Mapped[str | None] = mapped_column(Text, default=None)
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class DiscussionSettings(Base):
    """Per-repository switch of the community tab (the Hub's `discussionsDisabled`); no row: enabled."""

    __tablename__ = "discussion_settings"

    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class AccessRequest(Base):
    """A user's request to download a gated repository's files, one per user and repository.

    `status` is pending, accepted or rejected; `fields` holds what the user filled in the card's
    `extra_gated_fields` form; `request_id` is the hex id the Hub's clients see.
    """

    __tablename__ = "access_requests"
    __table_args__ = (UniqueConstraint("repo_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(24), unique=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    fields: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rejection_reason: Mapped[str | None] = mapped_column(Text, default=None)


class RepoCard(Base):
    """What the default branch's README.md (and weights) say about a repository, indexed at every change of it.

    `card` is the YAML front matter (the API's `cardData`), `warnings` what the Hub would warn about the card,
    `commit` the default-branch commit it was read from; `safetensors`, `gguf` and `config` are the API's fields
    of the same names, read from file headers (never whole weights).
    """

    __tablename__ = "repo_cards"

    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    commit: Mapped[str] = mapped_column(String(40))
    card: Mapped[dict[str, Any]] = mapped_column(JSON)
    card_text: Mapped[str] = mapped_column(Text, default="")  # the Markdown body, bounded, for full-text search
    title: Mapped[str] = mapped_column(String(300), default="")
    license: Mapped[str] = mapped_column(String(100), default="")
    pipeline_tag: Mapped[str] = mapped_column(String(100), default="")
    library_name: Mapped[str] = mapped_column(String(100), default="")
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    safetensors: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    gguf: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    indexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RepoTag(Base):
    """One tag of a repository as listings filter on it (`license:mit`, `base_model:finetune:org/name`, `en`…)."""

    __tablename__ = "repo_tags"
    __table_args__ = (Index("ix_repo_tags_tag_repo_id", "tag", "repo_id"),)

    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(300), primary_key=True)


class ModelBase(Base):
    """An edge of the model tree: the model `repo_id` derives from `base_id` by `relation`.

    `base_key` is the base's id lower-cased (ids are case-insensitive); the base may not exist on this hub.
    `relation` is adapter, merge, quantized or finetune, as the card says or as inferred from the files.
    """

    __tablename__ = "model_bases"
    __table_args__ = (Index("ix_model_bases_base_key_relation", "base_key", "relation"),)

    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    base_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    base_id: Mapped[str] = mapped_column(String(200))
    relation: Mapped[str] = mapped_column(String(16))


class Like(Base):
    __tablename__ = "likes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DownloadDay(Base):
    """Downloads of a repository on one UTC day, flushed in batches from memory (never on the download path)."""

    __tablename__ = "download_days"

    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class RepoSearch(Base):
    """What listings' `search` looks in, per repository (services/search_documents.py keeps it in step).

    `document` is the id, card title and tags, one per line, lower-cased (domain/listing.search_document); `body`
    the card's text, searched with `fullText=true`. Trigram indexes serve substring search in any script: on SQLite
    the FTS5 table `repo_search_fts` (tokenizer trigram) mirrors this table through triggers, on PostgreSQL GIN
    indexes with pg_trgm's operator class cover both columns (migration 0010).
    """

    __tablename__ = "repo_search"

    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")


class RepoLink(Base):
    """A model or dataset that a Space's card names (`models:`, `datasets:`), for `list_spaces(models=…)`."""

    __tablename__ = "repo_links"
    __table_args__ = (Index("ix_repo_links_kind_target_key", "kind", "target_key"),)

    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # model or dataset
    target_key: Mapped[str] = mapped_column(String(200), primary_key=True)  # the id, lower-cased
