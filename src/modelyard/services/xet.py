"""Xet storage: CAS tokens, xorb and shard uploads, reconstructions, global dedup, and file lookups.

The pure formats live in `domain/xet`; this module adds storage (the xorb store and the `xet_*` tables)
and authorization. The protocol is described in shared/reference/xet.md; the design choices
(what is trusted, what is scoped to a repository) in docs/architecture.md, "Xet storage".

Trust model in short:
- xorbs are global and content-addressed: their hash is recomputed from the body on upload;
- a shard's files are checked against the stored chunk tables (terms, verification hashes, file hash);
- the sha256 a shard claims for a file is a client claim, so the sha256 -> file mapping is recorded
  for the repository of the write token only (`xet_repo_files`). Mappings the server computed itself
  (LFS conversion, `XetFile.verified_sha256`) serve every repository that links that sha256.
"""

from __future__ import annotations

import hmac
import re
import secrets
import struct
import threading
import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, overload

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.blobs.files import TempFile
from modelyard.blobs.xorbs import XorbStore
from modelyard.db.models import LfsObject, Repo, XetDedupChunk, XetFile, XetRepoFile, XetShard, XetXorb
from modelyard.domain.dates import utcnow
from modelyard.domain.errors import Forbidden, NotFound, RangeNotSatisfiable, Unauthorized
from modelyard.domain.ranges import parse_range
from modelyard.domain.xet.errors import InvalidXorb
from modelyard.domain.xet.file_check import check_shard_file
from modelyard.domain.xet.hashes import HASH_SIZE, MerkleHash, is_global_dedup_eligible
from modelyard.domain.xet.reconstruction import plan_reconstruction
from modelyard.domain.xet.shard import ShardXorb, dedup_answer_shard, parse_shard
from modelyard.domain.xet.terms import FileTerm
from modelyard.domain.xet.xorb import MAX_XORB_BODY_BYTES, XorbChunk, parse_xorb
from modelyard.services import signing
from modelyard.services.hub import Hub

# LfsObject.source: bytes this server received and hashed, or a sha256 a shard claims.
UPLOADED = "upload"
CLAIMED = "xet"
CAS_PREFIX = "/xet-cas"  # where the CAS API is mounted; casUrl = <origin> + CAS_PREFIX
READ = "read"
WRITE = "write"
SCOPES = (READ, WRITE)
TOKEN_TTL_SECONDS = 3600
FETCH_URL_TTL_SECONDS = 3600
# A global-dedup answer returns the chunk's xorb and its neighbours from the same upload, up to these caps.
DEDUP_ANSWER_MAX_XORBS = 32
DEDUP_ANSWER_MAX_CHUNKS = 128 * 1024
DEDUP_KEY_EXPIRY_SECONDS = 7 * 24 * 3600
_CHUNK_TABLE_CACHE_ENTRIES = 512
_INSERT_BATCH = 500

_CHUNK = struct.Struct("<32sIII")  # raw hash, record offset, record length, uncompressed size
_TERM = struct.Struct("<32sIIIII")  # xorb raw hash, chunk start, chunk end, unpacked bytes, record start, record end
_TOKEN = re.compile(r"^xet1\.(\d+)\.(read|write)\.(\d+)\.([0-9a-f]{64})$")


# --- per-hub state: the xorb store and an LRU of chunk tables --------------------------------------------


class _State:
    def __init__(self, hub: Hub) -> None:
        self.store = XorbStore(hub.settings.data_dir / "xet")
        self.lock = threading.Lock()
        self.tables: OrderedDict[str, PackedChunks] = OrderedDict()


def _state(hub: Hub) -> _State:
    return hub.component("xet", lambda: _State(hub))


def store(hub: Hub) -> XorbStore:
    return _state(hub).store


# --- CAS access tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CasGrant:
    """What a CAS token allows: reading (and with `write`, uploading) the Xet content of one repository."""

    repo_pk: int
    scope: str
    expires: int

    def require(self, scope: str) -> None:
        if scope == WRITE and self.scope != WRITE:
            raise Forbidden("This Xet token is read-only: ask the hub for a write token (xet-write-token)")


def issue_token(hub: Hub, repo_pk: int, scope: str, ttl: int = TOKEN_TTL_SECONDS) -> tuple[str, int]:
    """A short-lived CAS token for `repo_pk`; returns (token, expiry in unix seconds)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown Xet token scope {scope!r}")
    expires = int(time.time()) + ttl
    signature = signing.sign(signing.signing_key(hub), "xet-cas", repo_pk, scope, expires)
    return f"xet1.{repo_pk}.{scope}.{expires}.{signature}", expires


def check_token(hub: Hub, token: str | None) -> CasGrant:
    """The grant a CAS token carries; Unauthorized when it is missing, forged or expired."""
    if not token:
        raise Unauthorized("Xet CAS requests need 'Authorization: Bearer <token from xet-read/write-token>'")
    match = _TOKEN.match(token)
    if match is None:
        raise Unauthorized("This is not a Xet CAS token: ask the hub's xet-read-token or xet-write-token route")
    repo_pk, scope, expires, signature = int(match[1]), match[2], int(match[3]), match[4]
    expected = signing.sign(signing.signing_key(hub), "xet-cas", repo_pk, scope, expires)
    if not hmac.compare_digest(expected, signature):
        raise Unauthorized("Invalid Xet CAS token")
    if expires < time.time():
        raise Unauthorized("The Xet CAS token has expired: ask the hub for a new one")
    return CasGrant(repo_pk, scope, expires)


def fetch_expiry() -> int:
    return int(time.time()) + FETCH_URL_TTL_SECONDS


def fetch_signature(hub: Hub, xorb_hash: str, first: int, last: int, expires: int) -> str:
    return signing.sign(signing.signing_key(hub), "xet-fetch", xorb_hash, first, last, expires)


def fetch_allowed(hub: Hub, xorb_hash: str, first: int, last: int, expires: int, signature: str) -> bool:
    """Whether a fetch URL's signature is valid and unexpired."""
    expected = fetch_signature(hub, xorb_hash, first, last, expires)
    return expires >= time.time() and hmac.compare_digest(expected, signature)


# --- packed chunk tables and terms ---------------------------------------------------------------------


def pack_chunks(chunks: Iterable[XorbChunk]) -> bytes:
    return b"".join(_CHUNK.pack(c.hash.raw, c.offset, c.length, c.size) for c in chunks)


class PackedChunks(Sequence[XorbChunk]):
    """A xorb's chunk table kept packed (16 bytes + hash per chunk); entries are decoded on access."""

    def __init__(self, packed: bytes) -> None:
        if len(packed) % _CHUNK.size:
            raise ValueError("corrupt chunk table")
        self._packed = packed
        self._ends: list[int] | None = None

    def __len__(self) -> int:
        return len(self._packed) // _CHUNK.size

    def _decode(self, index: int) -> XorbChunk:
        raw, offset, length, size = _CHUNK.unpack_from(self._packed, index * _CHUNK.size)
        return XorbChunk(MerkleHash(raw), size, offset, length)

    @overload
    def __getitem__(self, index: int) -> XorbChunk: ...

    @overload
    def __getitem__(self, index: slice) -> list[XorbChunk]: ...

    def __getitem__(self, index: int | slice) -> XorbChunk | list[XorbChunk]:
        if isinstance(index, slice):
            return [self._decode(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._decode(index)

    def ends(self) -> list[int]:
        """Cumulative uncompressed end offset of each chunk inside the xorb (computed once)."""
        if self._ends is None:
            self._ends = list(accumulate(size for _, _, _, size in _CHUNK.iter_unpack(self._packed)))
        return self._ends

    def hashes_and_sizes(self) -> list[tuple[MerkleHash, int]]:
        return [(MerkleHash(raw), size) for raw, _, _, size in _CHUNK.iter_unpack(self._packed)]

    def raw_hashes(self) -> list[bytes]:
        return [raw for raw, _, _, _ in _CHUNK.iter_unpack(self._packed)]


@dataclass(frozen=True)
class StoredTerm:
    term: FileTerm
    record_start: int  # byte range of the term's chunk records in the stored xorb
    record_end: int


def pack_terms(terms: Iterable[StoredTerm]) -> bytes:
    return b"".join(
        _TERM.pack(
            t.term.xorb_hash.raw, t.term.chunk_start, t.term.chunk_end, t.term.unpacked_size, t.record_start,
            t.record_end,
        )
        for t in terms
    )  # fmt: skip


def unpack_terms(packed: bytes) -> list[StoredTerm]:
    return [
        StoredTerm(FileTerm(MerkleHash(raw), start, end, unpacked), record_start, record_end)
        for raw, start, end, unpacked, record_start, record_end in _TERM.iter_unpack(packed)
    ]


@dataclass(frozen=True)
class XetFileRecord:
    """A registered Xet file: its hash (string form), size and terms."""

    hash: str
    size: int
    terms: tuple[StoredTerm, ...]

    def file_terms(self) -> list[FileTerm]:
        return [t.term for t in self.terms]


class ChunkTables(Mapping[MerkleHash, Sequence[XorbChunk]]):
    """Chunk tables of stored xorbs, loaded from the database on demand and kept in a per-hub LRU."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def __getitem__(self, key: MerkleHash) -> Sequence[XorbChunk]:
        table = self.get(key)
        if table is None:
            raise KeyError(key)
        return table

    def get(self, key: MerkleHash, default: Any = None) -> Any:
        tables = load_chunk_tables(self._hub, [key])
        return tables.get(key, default)

    def __iter__(self) -> Iterator[MerkleHash]:
        raise TypeError("ChunkTables cannot be enumerated")

    def __len__(self) -> int:
        raise TypeError("ChunkTables has no length")


def load_chunk_tables(hub: Hub, xorbs: Iterable[MerkleHash]) -> dict[MerkleHash, PackedChunks]:
    """Chunk tables of the given xorbs that are stored; unknown ones are left out."""
    state = _state(hub)
    wanted = {x.hex(): x for x in xorbs}
    found: dict[MerkleHash, PackedChunks] = {}
    with state.lock:
        for name, xorb in list(wanted.items()):
            table = state.tables.get(name)
            if table is not None:
                state.tables.move_to_end(name)
                found[xorb] = table
                del wanted[name]
    if wanted:
        with hub.db.session() as session:
            names = list(wanted)
            for i in range(0, len(names), _INSERT_BATCH):
                rows = session.execute(
                    select(XetXorb.hash, XetXorb.chunks).where(XetXorb.hash.in_(names[i : i + _INSERT_BATCH]))
                )
                for name, packed in rows:
                    table = PackedChunks(bytes(packed))
                    found[wanted[name]] = table
                    with state.lock:
                        state.tables[name] = table
                        while len(state.tables) > _CHUNK_TABLE_CACHE_ENTRIES:
                            state.tables.popitem(last=False)
    return found


# --- database helpers ----------------------------------------------------------------------------------


def _insert(session: Session, model: type) -> Any:
    """An INSERT that supports ON CONFLICT on both supported databases."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the engine factory only makes these two
        raise RuntimeError(f"unsupported database dialect {dialect}")
    return insert(model)


def _insert_ignore(session: Session, model: type, rows: list[dict[str, Any]], keys: list[str]) -> None:
    for i in range(0, len(rows), _INSERT_BATCH):
        batch = rows[i : i + _INSERT_BATCH]
        if batch:
            session.execute(_insert(session, model).values(batch).on_conflict_do_nothing(index_elements=keys))


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

    All files are checked before anything is written, and everything is written in one transaction:
    a rejected shard registers nothing. Returns 1 when something new was registered, 0 otherwise.
    """
    grant.require(WRITE)
    shard = parse_shard(body)
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

    shard_sha = store(hub).publish_shard(bytes(body))
    now = utcnow()
    with hub.db.session() as session:
        if session.get(Repo, grant.repo_pk) is None:
            raise NotFound("The repository of this Xet token no longer exists")
        hashes = [name for name, _, _, _ in stored]
        existing = set(session.scalars(select(XetFile.hash).where(XetFile.hash.in_(hashes)))) if hashes else set()
        file_rows = [
            {"hash": name, "size": size, "term_count": len(terms), "terms": pack_terms(terms), "created_at": now}
            for name, size, terms, _ in stored
            if name not in existing
        ]
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
    """Record sha256 -> file for the repository and link the claim to it; True when something changed."""
    current = session.execute(
        select(XetRepoFile.file_hash, XetRepoFile.size).where(
            XetRepoFile.repo_id == repo_pk, XetRepoFile.sha256 == sha256
        )
    ).first()
    values = {"repo_id": repo_pk, "sha256": sha256, "file_hash": file_hash, "size": size, "created_at": now}
    upsert = _insert(session, XetRepoFile).values(values)
    # The latest upload wins (only writers of the repository can register files for it).
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=["repo_id", "sha256"], set_={"file_hash": file_hash, "size": size, "created_at": now}
        )
    )
    # A claim, not an upload: it names this repository's own Xet file, never the shared LFS blob.
    link = {"repo_id": repo_pk, "oid": sha256, "size": size, "pushed_at": now, "source": CLAIMED}
    _insert_ignore(session, LfsObject, [link], ["repo_id", "oid"])
    return current is None or tuple(current) != (file_hash, size)


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


# --- files: lookups by repository ------------------------------------------------------------------------


@dataclass(frozen=True)
class XetFileRef:
    hash: str
    size: int


def repo_files(hub: Hub, repo_pk: int, sha256s: Iterable[str]) -> dict[str, XetFileRef]:
    """sha256 -> Xet file, for the objects of `repo_pk` that have a Xet reconstruction usable by it."""
    wanted = sorted(set(sha256s))
    if not wanted:
        return {}
    found: dict[str, XetFileRef] = {}
    with hub.db.session() as session:
        for i in range(0, len(wanted), _INSERT_BATCH):
            batch = wanted[i : i + _INSERT_BATCH]
            rows = session.execute(
                select(XetRepoFile.sha256, XetRepoFile.file_hash, XetRepoFile.size).where(
                    XetRepoFile.repo_id == repo_pk, XetRepoFile.sha256.in_(batch)
                )
            )
            for sha256, file_hash, size in rows:
                found[sha256] = XetFileRef(file_hash, size)
            missing = [oid for oid in batch if oid not in found]
            if missing:
                verified = session.execute(
                    select(XetFile.verified_sha256, XetFile.hash, XetFile.size)
                    .join(LfsObject, (LfsObject.oid == XetFile.verified_sha256) & (LfsObject.source == UPLOADED))
                    .where(LfsObject.repo_id == repo_pk, XetFile.verified_sha256.in_(missing))
                )
                for sha256, file_hash, size in verified:
                    found.setdefault(sha256, XetFileRef(file_hash, size))
    return found


def repo_file(hub: Hub, repo_pk: int, sha256: str) -> XetFileRef | None:
    return repo_files(hub, repo_pk, [sha256]).get(sha256)


def has_verified_file(hub: Hub, sha256: str) -> bool:
    with hub.db.session() as session:
        return session.scalar(select(XetFile.hash).where(XetFile.verified_sha256 == sha256).limit(1)) is not None


def mark_verified(hub: Hub, file_hash: str, sha256: str) -> None:
    with hub.db.session() as session:
        row = session.get(XetFile, file_hash)
        if row is not None:
            row.verified_sha256 = sha256


def file_visible(hub: Hub, repo_pk: int, file_hash: str) -> bool:
    """Whether the repository may read this Xet file (registered for it, or a verified copy of its object)."""
    with hub.db.session() as session:
        mapped = session.scalar(
            select(XetRepoFile.id).where(XetRepoFile.repo_id == repo_pk, XetRepoFile.file_hash == file_hash).limit(1)
        )
        if mapped is not None:
            return True
        verified = session.scalar(
            select(XetFile.hash)
            .join(LfsObject, (LfsObject.oid == XetFile.verified_sha256) & (LfsObject.source == UPLOADED))
            .where(XetFile.hash == file_hash, LfsObject.repo_id == repo_pk)
            .limit(1)
        )
        return verified is not None


def load_file(hub: Hub, file_hash: str) -> XetFileRecord | None:
    with hub.db.session() as session:
        row = session.get(XetFile, file_hash)
        if row is None:
            return None
        return XetFileRecord(row.hash, row.size, tuple(unpack_terms(bytes(row.terms))))


# --- reconstruction ------------------------------------------------------------------------------------


class TermIndex:
    """A file's terms with their file offsets, to find the chunks serving a byte range in O(log n)."""

    def __init__(self, record: XetFileRecord) -> None:
        self.terms = record.file_terms()
        self.starts = list(accumulate((t.unpacked_size for t in self.terms[:-1]), initial=0)) if self.terms else []

    def window(self, tables: ChunkTables, start: int, last: int) -> tuple[list[FileTerm], int]:
        """The terms serving bytes [start, last], the first and last trimmed to the chunks that overlap the
        range, and the file offset of the first chunk kept. Planning only those keeps each window small."""
        selected: list[FileTerm] = []
        shift = 0
        index = max(bisect_right(self.starts, start) - 1, 0)
        while index < len(self.terms) and self.starts[index] <= last:
            term, term_start = self.terms[index], self.starts[index]
            low, high = max(start - term_start, 0), min(last - term_start, term.unpacked_size - 1)
            offset = 0
            if low > 0 or high < term.unpacked_size - 1:
                table = tables.get(term.xorb_hash)
                if table is None:
                    raise ValueError(f"xorb {term.xorb_hash} of a registered file has no chunk table")
                term, offset = _trim(term, table, low, high)
            if not selected:
                shift = term_start + offset
            selected.append(term)
            index += 1
        return selected, shift


def _trim(term: FileTerm, table: PackedChunks, low: int, high: int) -> tuple[FileTerm, int]:
    """The chunks of `term` holding its bytes [low, high] (term-relative), and the offset of the first one."""
    ends = table.ends()
    base = ends[term.chunk_start - 1] if term.chunk_start else 0
    first = bisect_right(ends, base + low, term.chunk_start, term.chunk_end)
    last = min(bisect_right(ends, base + high, first, term.chunk_end), term.chunk_end - 1)
    first_start = ends[first - 1] if first else 0
    return FileTerm(term.xorb_hash, first, last + 1, ends[last] - first_start), first_start - base


def reconstruction_json(
    hub: Hub, grant: CasGrant, file_hash: str, range_header: str | None, url_for: Callable[[MerkleHash, int, int], str]
) -> dict[str, Any]:
    """The V1 reconstruction of a file (or of the requested byte range), with self-authorizing fetch URLs."""
    name = MerkleHash.from_hex(file_hash).hex()
    record = load_file(hub, name)
    if record is None or not file_visible(hub, grant.repo_pk, name):
        raise NotFound(f"Xet file {name} is not known in this repository")
    start, end = parse_range(range_header, record.size) or (0, record.size)
    if start >= end:  # an empty file: nothing to plan
        raise RangeNotSatisfiable(f"Xet file {name} is empty", record.size)
    last = end - 1
    tables = ChunkTables(hub)
    terms, shift = TermIndex(record).window(tables, start, last)
    plan = plan_reconstruction(terms, tables, url_for, (start - shift, last - shift))
    return plan.to_v1_json()
