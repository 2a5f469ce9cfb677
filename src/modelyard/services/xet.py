"""Xet storage: the xorb store, file records, which Xet file stands for a sha256, and reconstructions.

The pure formats live in `domain/xet`; this module adds storage (the xorb store and the `xet_*` tables).
CAS tokens are in `xet_tokens`, xorb and shard uploads (and global dedup) in `xet_uploads`. The protocol
is described in shared/reference/xet.md; the design choices (what is trusted, what is scoped to a
repository) in docs/architecture.md, "Xet storage".

Trust model in short:
- xorbs are global and content-addressed: their hash is recomputed from the body on upload;
- a shard's files are checked against the stored chunk tables (terms, verification hashes, file hash);
- the sha256 a shard claims for a file is a client claim: it is recorded for the repository of the write
  token only (`xet_repo_files`), and stands for that sha256 only once the server has reconstructed the
  file and hashed it itself (`XetFile.verified_sha256`, see `verify_claims`). A verified file then serves
  every repository that links that sha256, and a repository's verified mapping is never replaced.
"""

from __future__ import annotations

import logging
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

from modelyard.blobs.xorbs import XorbStore
from modelyard.db.models import LfsObject, XetFile, XetRepoFile, XetXorb
from modelyard.domain.errors import HubError, NotFound, RangeNotSatisfiable
from modelyard.domain.ranges import parse_range
from modelyard.domain.xet.hashes import MerkleHash
from modelyard.domain.xet.reconstruction import plan_reconstruction
from modelyard.domain.xet.terms import FileTerm
from modelyard.domain.xet.xorb import XorbChunk
from modelyard.gitstore import locks
from modelyard.services.hub import Hub
from modelyard.services.xet_tokens import CasGrant

log = logging.getLogger("modelyard.xet")

# LfsObject.source: bytes this server received and hashed, or a sha256 a shard claims.
UPLOADED = "upload"
CLAIMED = "xet"
CAS_PREFIX = "/xet-cas"  # where the CAS API is mounted; casUrl = <origin> + CAS_PREFIX
_CHUNK_TABLE_CACHE_ENTRIES = 512
BATCH = 500  # rows per INSERT, values per IN (...)
HASH_LOCK_DIGITS = 3  # 16**3 lock files make hashing a file single-flight (`hash_file`)
HASH_WAIT_SECONDS = 3600.0

_CHUNK = struct.Struct("<32sIII")  # raw hash, record offset, record length, uncompressed size
_TERM = struct.Struct("<32sIIIII")  # xorb raw hash, chunk start, chunk end, unpacked bytes, record start, record end


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
            for i in range(0, len(names), BATCH):
                rows = session.execute(
                    select(XetXorb.hash, XetXorb.chunks).where(XetXorb.hash.in_(names[i : i + BATCH]))
                )
                for name, packed in rows:
                    table = PackedChunks(bytes(packed))
                    found[wanted[name]] = table
                    with state.lock:
                        state.tables[name] = table
                        while len(state.tables) > _CHUNK_TABLE_CACHE_ENTRIES:
                            state.tables.popitem(last=False)
    return found


# --- files: lookups by repository ------------------------------------------------------------------------


@dataclass(frozen=True)
class XetFileRef:
    hash: str
    size: int


def repo_files(hub: Hub, repo_pk: int, sha256s: Iterable[str]) -> dict[str, XetFileRef]:
    """sha256 -> Xet file, for the objects of `repo_pk` that have a verified Xet reconstruction usable by it.

    A file stands for a sha256 only when the server hashed its reconstruction to that sha256: the
    repository's own claim once verified (`verify_claims`), else a verified copy of an object it uploaded.
    """
    wanted = sorted(set(sha256s))
    if not wanted:
        return {}
    found: dict[str, XetFileRef] = {}
    with hub.db.session() as session:
        for i in range(0, len(wanted), BATCH):
            batch = wanted[i : i + BATCH]
            rows = session.execute(
                select(XetRepoFile.sha256, XetFile.hash, XetFile.size)
                .join(
                    XetFile, (XetFile.hash == XetRepoFile.file_hash) & (XetFile.verified_sha256 == XetRepoFile.sha256)
                )
                .where(XetRepoFile.repo_id == repo_pk, XetRepoFile.sha256.in_(batch))
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


def _claims(hub: Hub, repo_pk: int, sha256s: Iterable[str]) -> list[tuple[str, str, str | None]]:
    """(claimed sha256, file hash, the file's verified sha256 or None) of the repository's claims among `sha256s`."""
    wanted = sorted(set(sha256s))
    claims: list[tuple[str, str, str | None]] = []
    with hub.db.session() as session:
        for i in range(0, len(wanted), BATCH):
            rows = session.execute(
                select(XetRepoFile.sha256, XetFile.hash, XetFile.verified_sha256)
                .join(XetFile, XetFile.hash == XetRepoFile.file_hash)
                .where(XetRepoFile.repo_id == repo_pk, XetRepoFile.sha256.in_(wanted[i : i + BATCH]))
            )
            claims.extend((sha256, file_hash, verified) for sha256, file_hash, verified in rows)
    return claims


def verify_claims(hub: Hub, repo_pk: int, sha256s: Iterable[str]) -> None:
    """Reconstruct and hash the Xet files the repository claims for `sha256s` and were never hashed yet.

    Called before a claim is first used (a commit or push referencing it, or a download): the file's real
    sha256 is recorded whatever it is, so each file is hashed once, a true claim becomes usable
    (`repo_files`) and a false one never is. Costs one pass over the file's bytes (see docs/performance.md).
    """
    hashed: dict[str, str | None] = {}  # several claims may name one file: it is hashed once
    for claimed, file_hash, verified in _claims(hub, repo_pk, sha256s):
        if verified is not None:
            continue
        if file_hash not in hashed:
            hashed[file_hash] = _hash_and_record(hub, file_hash, claimed)
        actual = hashed[file_hash]
        if actual is not None and actual != claimed:
            log.warning("Xet file %s was claimed as sha256 %s but reconstructs to %s", file_hash, claimed, actual)


def _hash_and_record(hub: Hub, file_hash: str, claimed: str) -> str | None:
    """The sha256 of a registered Xet file's bytes (`hash_file`); None if it cannot be reconstructed."""
    record = load_file(hub, file_hash)
    if record is None:
        return None
    try:
        return hash_file(hub, record, claimed)
    except (OSError, ValueError, HubError) as error:  # a missing or damaged xorb: `modelyard admin fsck`
        log.error("Xet file %s (claimed as sha256 %s) cannot be reconstructed: %s", file_hash, claimed, error)
        return None


def hash_file(hub: Hub, record: XetFileRecord, claimed: str) -> str:
    """The sha256 of a registered Xet file's bytes: its verified sha256 if recorded, else hashed now and recorded.
    The same pass keeps the bytes as the file's plain copy when they are `claimed` (services/xet_copies.py), so the
    first download after the commit reads the copy.

    Single-flight: two commits (or pushes, or shard uploads) needing one file hashed at once hash it once. The one
    hashing holds the file's lock; the others wait for it, then find the sha256 recorded. The lock is one of 4096
    lock files under `<data dir>/xet/hashing/`, named by the file hash's first `HASH_LOCK_DIGITS` hex digits
    (gitstore/locks.py: threads queue on an in-process lock, processes sharing the data dir on an `flock`, which a
    dying process releases): bounded on disk, and two different files hashed at the same moment wait for each other
    only when they share a lock file (1 time in 4096). Past `HASH_WAIT_SECONDS` a waiter hashes the file itself:
    the lock saves work, it guards no data.
    """
    lock = hub.settings.data_dir / "xet" / "hashing" / record.hash[:HASH_LOCK_DIGITS]
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        with locks.exclusive(lock, HASH_WAIT_SECONDS):
            return _hash_unless_known(hub, record, claimed)
    except locks.LockTimeout:
        log.warning("Hashing Xet file %s without its lock: still held after %g s", record.hash, HASH_WAIT_SECONDS)
        return _hash_unless_known(hub, record, claimed)


def _hash_unless_known(hub: Hub, record: XetFileRecord, claimed: str) -> str:
    from modelyard.services.xet_copies import copies  # builds on this module's records and tables

    with hub.db.session() as session:
        known = session.scalar(select(XetFile.verified_sha256).where(XetFile.hash == record.hash))
    if known is not None:  # hashed by whoever held the lock before
        return known
    started = time.monotonic()
    actual = copies(hub).hash_and_keep(record, claimed)
    mark_verified(hub, record.hash, actual)
    log.info("Hashed Xet file %s (%d bytes) in %.2fs", record.hash, record.size, time.monotonic() - started)
    return actual


def refuted_claims(hub: Hub, repo_pk: int, sha256s: Iterable[str]) -> dict[str, str]:
    """claimed sha256 -> real sha256, for the repository's claims among `sha256s` that proved false."""
    return {
        claimed: verified
        for claimed, _, verified in _claims(hub, repo_pk, sha256s)
        if verified is not None and verified != claimed
    }


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
