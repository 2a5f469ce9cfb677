"""Xet uploads: xorbs, shards (the files they describe and the sha256 each claims), and global dedup answers.

A xorb is verified whole (every chunk hashed, the Merkle root recomputed) before it is stored; a shard's files
are checked against the stored chunk tables before anything is registered (§4.6). The sha256 a shard claims
for a file is recorded for the token's repository, but stands for that sha256 only once verified
(`xet.verify_claims`); a contributor's is verified before it is recorded (`_hash_contributed_claims`). See
docs/architecture.md, "Xet storage → Trust".
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelyard.blobs.files import TempFile
from modelyard.db.models import LfsObject, Repo, XetDedupChunk, XetFile, XetRepoFile, XetShard, XetXorb
from modelyard.db.upsert import dialect_insert
from modelyard.domain.dates import utcnow
from modelyard.domain.errors import NotFound, TooLarge
from modelyard.domain.xet.errors import InvalidXorb, ShardRejected
from modelyard.domain.xet.file_check import check_shard_file
from modelyard.domain.xet.hashes import HASH_SIZE, MerkleHash, is_global_dedup_eligible
from modelyard.domain.xet.shard import ShardXorb, dedup_answer_shard, parse_shard
from modelyard.domain.xet.xorb import MAX_XORB_BODY_BYTES, parse_xorb
from modelyard.services import grants, xet
from modelyard.services.access import Action
from modelyard.services.hub import Hub
from modelyard.services.xet import (
    BATCH,
    CLAIMED,
    PackedChunks,
    StoredTerm,
    XetFileRecord,
    load_chunk_tables,
    pack_chunks,
    pack_terms,
    store,
)
from modelyard.services.xet_tokens import HUB, WRITE, CasGrant

# A global-dedup answer returns the chunk's xorb and its neighbours from the same upload, up to these caps.
DEDUP_ANSWER_MAX_XORBS = 32
DEDUP_ANSWER_MAX_CHUNKS = 128 * 1024
DEDUP_KEY_EXPIRY_SECONDS = 7 * 24 * 3600


# --- database helpers ----------------------------------------------------------------------------------


def _insert_ignore(session: Session, model: type, rows: list[dict[str, Any]], keys: list[str]) -> None:
    for i in range(0, len(rows), BATCH):
        batch = rows[i : i + BATCH]
        if batch:
            session.execute(dialect_insert(session, model).values(batch).on_conflict_do_nothing(index_elements=keys))


# --- xorb upload -------------------------------------------------------------------------------------------


def new_xorb_upload(hub: Hub) -> TempFile:
    return store(hub).upload_file(MAX_XORB_BODY_BYTES, "Xorb")


def store_xorb(hub: Hub, grant: CasGrant, xorb_hash: str, upload: TempFile) -> bool:
    """Verify a received xorb body (its hash must be `xorb_hash`) and store it; False if already stored.

    Raises InvalidXorb / XorbHashMismatch (400) for a corrupt body; nothing is stored then.
    """
    grant.require(WRITE)
    expected = MerkleHash.from_hex(xorb_hash)
    name = expected.hex()
    try:
        with upload.mapped() as view:
            try:
                parsed = parse_xorb(view, expected)
            except InvalidXorb as error:
                # Drop the traceback: its frames hold slices of the mapping, which must be released.
                raise error.with_traceback(None) from None
        upload.close_synced(keep=parsed.body_size)
        with hub.db.session() as session:
            known = session.get(XetXorb, name) is not None
        store(hub).publish_xorb(upload, name)
    finally:
        upload.discard()
    if not known:
        with hub.db.session() as session:
            row = {
                "hash": name,
                "size": parsed.body_size,
                "unpacked_size": parsed.uncompressed_size,
                "chunk_count": len(parsed.chunks),
                "chunks": pack_chunks(parsed.chunks),
                "created_at": utcnow(),
            }
            _insert_ignore(session, XetXorb, [row], ["hash"])
    return not known


def xorb_size(hub: Hub, xorb_hash: str) -> int | None:
    with hub.db.session() as session:
        return session.scalar(select(XetXorb.size).where(XetXorb.hash == MerkleHash.from_hex(xorb_hash).hex()))


# --- shard upload ------------------------------------------------------------------------------------------


def register_shard(hub: Hub, grant: CasGrant, body: bytes) -> int:
    """Check an upload shard against the stored xorbs and register its files for the token's repository.

    All files are checked before anything is written, and everything is written in one transaction: a rejected
    shard registers nothing (but the files of a contributor's, hashed first: `_hash_contributed_claims`). Returns 1
    when something new was registered, 0 otherwise.
    """
    grant.require(WRITE)
    shard = parse_shard(body)
    limit = hub.settings.max_file_size
    for file in shard.files:
        # Terms may read one xorb again and again: the size, not the upload, is what serving or hashing it costs.
        if file.size > limit:
            raise TooLarge(f"Xet file {file.hash} is {file.size} bytes, over the limit of {limit} bytes")
    tables = load_chunk_tables(hub, shard.referenced_xorbs())
    stored: list[tuple[str, int, list[StoredTerm], str | None]] = []
    for file in shard.files:
        check_shard_file(file, tables)
        terms = []
        for term in file.terms:
            chunks = tables[term.xorb_hash]
            terms.append(StoredTerm(term, chunks[term.chunk_start].offset, chunks[term.chunk_end - 1].end))
        stored.append((file.hash.hex(), file.size, terms, file.sha256))

    # Xorbs referenced, in order of first use: the "neighbourhood" a dedup answer hands out.
    order: dict[MerkleHash, None] = {}
    for file in shard.files:
        for term in file.terms:
            order.setdefault(term.xorb_hash, None)
    dedup_rows = _dedup_rows(shard, tables)

    _refuse_known_lies(hub, stored)
    now = utcnow()
    with hub.db.session() as session:
        hashes = [name for name, _, _, _ in stored]
        existing = set(session.scalars(select(XetFile.hash).where(XetFile.hash.in_(hashes)))) if hashes else set()
    file_rows = [
        {"hash": name, "size": size, "term_count": len(terms), "terms": pack_terms(terms), "created_at": now}
        for name, size, terms, _ in stored
        if name not in existing
    ]
    if not _writes_claims_unhashed(hub, grant):
        _hash_contributed_claims(hub, stored, file_rows)
    shard_sha = store(hub).publish_shard(bytes(body))
    with hub.db.session() as session:
        if session.get(Repo, grant.repo_pk) is None:
            raise NotFound("The repository of this Xet token no longer exists")
        _insert_ignore(session, XetFile, file_rows, ["hash"])
        new = bool(file_rows)
        for name, size, _, sha256 in stored:
            if sha256 is None:
                continue
            new = _map_sha256(session, grant.repo_pk, sha256, name, size, now) or new
        row = XetShard(
            sha256=shard_sha,
            repo_id=grant.repo_pk,
            size=len(body),
            xorbs=b"".join(x.raw for x in order),
            created_at=now,
        )
        session.add(row)
        session.flush()
        for dedup in dedup_rows:
            dedup["shard_id"] = row.id
        _insert_ignore(session, XetDedupChunk, dedup_rows, ["chunk_hash"])
    return 1 if new else 0


def _map_sha256(session: Session, repo_pk: int, sha256: str, file_hash: str, size: int, now: Any) -> bool:
    """Record the claim sha256 -> file for the repository and link it; True when something changed.

    First claim wins: committed content is immutable, so a repository's mapping is only ever replaced when
    its file was hashed and proved to hold other bytes (a refuted claim, which no commit could use). A file's
    verified sha256 never changes once recorded, so the compare-and-swap on `file_hash` below is race-free.
    """
    # A claim, not an upload: it names this repository's own Xet file, never the shared LFS blob.
    link = {"repo_id": repo_pk, "oid": sha256, "size": size, "pushed_at": now, "source": CLAIMED}
    _insert_ignore(session, LfsObject, [link], ["repo_id", "oid"])
    existing = session.execute(
        select(XetRepoFile.file_hash, XetFile.verified_sha256)
        .join(XetFile, XetFile.hash == XetRepoFile.file_hash)
        .where(XetRepoFile.repo_id == repo_pk, XetRepoFile.sha256 == sha256)
    ).first()
    if existing is None:
        values = {"repo_id": repo_pk, "sha256": sha256, "file_hash": file_hash, "size": size, "created_at": now}
        _insert_ignore(session, XetRepoFile, [values], ["repo_id", "sha256"])  # a racing claim may be first
        return True
    current, verified = existing
    if current == file_hash or verified is None or verified == sha256:
        return False  # the same file, a claim still to verify, or a verified one: kept
    replaced = session.execute(
        update(XetRepoFile)
        .where(XetRepoFile.repo_id == repo_pk, XetRepoFile.sha256 == sha256, XetRepoFile.file_hash == current)
        .values(file_hash=file_hash, size=size, created_at=now)
    ).rowcount
    return bool(replaced)


def _refuse_known_lies(hub: Hub, stored: list[tuple[str, int, list[StoredTerm], str | None]]) -> None:
    """A shard claiming a sha256 for a file the server already hashed to another one is refused whole."""
    claims = {name: sha256 for name, _, _, sha256 in stored if sha256 is not None}
    if not claims:
        return
    with hub.db.session() as session:
        known = session.execute(
            select(XetFile.hash, XetFile.verified_sha256).where(
                XetFile.hash.in_(list(claims)), XetFile.verified_sha256.is_not(None)
            )
        )
        for name, verified in known:
            if verified != claims[name]:
                raise _false_claim(name, claims[name], verified)


def _writes_claims_unhashed(hub: Hub, grant: CasGrant) -> bool:
    """Whether the shard's sha256 claims may be recorded unhashed (hashed by the first commit that uses them):
    the hub's own (a conversion), or a writer's of the repository."""
    return grant.issuer == HUB or grants.still_allowed(hub, grant.issuer, grant.repo_pk, Action.WRITE)


def _hash_contributed_claims(
    hub: Hub, stored: list[tuple[str, int, list[StoredTerm], str | None]], file_rows: list[dict[str, Any]]
) -> None:
    """Hash the files of a contributor's shard (a non-writer's, who may upload to a public repository for a pull
    request) before its claims are recorded; a false claim refuses the shard whole.

    A repository keeps the first claim of a sha256 until it is refuted, so a false claim recorded unhashed would
    stand in front of the real file: a writer's commit of that sha256 would hash it, find it false and be refused,
    and the contributor could do it again before every try. Hashed here, a contributor's claim is true or never
    recorded. Writers pay nothing (theirs are hashed by their first commit, as before); a contributor pays the pass
    over the bytes with the upload instead of with the commit of the pull request, which then finds it done.

    The files (`file_rows`, checked against the stored xorbs, and linked to no repository) are registered first, so
    that the sha256 each hashes to is recorded: hf_xet gives up on a shard upload after 5 minutes and sends it
    again, and the retry then waits for the first hash (single-flight, `xet.hash_file`) and finds it done instead
    of starting over; a lie told again is refused at once (`_refuse_known_lies`).
    """
    with hub.db.session() as session:
        _insert_ignore(session, XetFile, file_rows, ["hash"])
    for name, size, terms, claimed in stored:
        if claimed is None:
            continue
        actual = xet.hash_file(hub, XetFileRecord(name, size, tuple(terms)), claimed)  # each file once: recorded
        if actual != claimed:
            raise _false_claim(name, claimed, actual)


def _false_claim(name: str, claimed: str, actual: str) -> ShardRejected:
    return ShardRejected(f"The shard claims sha256 {claimed} for Xet file {name}, whose content has sha256 {actual}")


def _dedup_rows(shard: Any, tables: Mapping[MerkleHash, PackedChunks]) -> list[dict[str, Any]]:
    """Eligible chunks (§2.6) to index: each file's first chunk, and the qualifying chunks of new xorbs."""
    rows: dict[str, str] = {}
    for file in shard.files:
        if file.terms:
            first = file.terms[0]
            chunk = tables[first.xorb_hash][first.chunk_start]
            rows.setdefault(chunk.hash.hex(), first.xorb_hash.hex())
    new_xorbs = {x.hash for x in shard.xorbs}
    for xorb in new_xorbs:
        table = tables.get(xorb)
        if table is None:
            continue  # listed by the client but not referenced by any file of the shard: nothing to share
        for raw in table.raw_hashes():
            chunk_hash = MerkleHash(raw)
            if is_global_dedup_eligible(chunk_hash):
                rows.setdefault(chunk_hash.hex(), xorb.hex())
    return [{"chunk_hash": chunk, "xorb_hash": xorb, "shard_id": None} for chunk, xorb in rows.items()]


# --- global dedup (§5.1) -----------------------------------------------------------------------------------


def dedup_answer(hub: Hub, grant: CasGrant, chunk_hash: str) -> bytes | None:
    """A shard describing the stored xorbs around `chunk_hash` (HMAC-protected), or None if unknown."""
    name = MerkleHash.from_hex(chunk_hash).hex()
    with hub.db.session() as session:
        hit = session.get(XetDedupChunk, name)
        if hit is None:
            return None
        group: list[MerkleHash] = []
        if hit.shard_id is not None:
            packed = session.scalar(select(XetShard.xorbs).where(XetShard.id == hit.shard_id)) or b""
            group = [MerkleHash(bytes(packed[i : i + HASH_SIZE])) for i in range(0, len(packed), HASH_SIZE)]
    center = MerkleHash.from_hex(hit.xorb_hash)
    if center not in group:
        group = [center]
    index = group.index(center)
    # The chunk's own xorb first, then its neighbours in upload order, alternating after and before.
    ordered = [center]
    for distance in range(1, len(group)):
        for position in (index + distance, index - distance):
            if 0 <= position < len(group):
                ordered.append(group[position])
    ordered = ordered[:DEDUP_ANSWER_MAX_XORBS]
    tables = load_chunk_tables(hub, ordered)
    xorbs = []
    chunk_total = 0
    for xorb in ordered:
        table = tables.get(xorb)
        if table is None:
            continue
        if xorbs and chunk_total + len(table) > DEDUP_ANSWER_MAX_CHUNKS:
            break
        chunk_total += len(table)
        xorbs.append(ShardXorb.from_chunks(xorb, table.hashes_and_sizes()))
    now = int(time.time())
    key = secrets.token_bytes(HASH_SIZE)
    return dedup_answer_shard(xorbs, hmac_key=key, creation_timestamp=now, key_expiry=now + DEDUP_KEY_EXPIRY_SECONDS)


def link_verified_file(hub: Hub, repo_pk: int, sha256: str, file_hash: str, size: int) -> None:
    """Let repository `repo_pk` use the Xet file `file_hash`, which the server hashed to `sha256` (a copy)."""
    with hub.db.session() as session:
        _map_sha256(session, repo_pk, sha256, file_hash, size, utcnow())
