"""Xorb and shard storage on the local file system, content-addressed by hash.

Same discipline as the LFS blob store: an upload is streamed to a temporary file with a size limit,
fsynced, verified (for a xorb: parsed and its Merkle hash recomputed, see `services.xet`), then renamed
into place. A reader never sees a partial object, and objects are write-once.

Layout under `root`: `xorbs/ab/cd/<xorb hash>` (the chunk records exactly as uploaded, without any
footer), `shards/ab/cd/<sha256 of the body>` (accepted upload shards, kept for provenance and reindexing),
`tmp/` (uploads in progress).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from modelyard.blobs.files import TempFile, publish, read_range, remove_stale, sharded_path
from modelyard.domain.errors import BadRequest

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class XorbStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.xorbs_dir = root / "xorbs"
        self.shards_dir = root / "shards"
        self.tmp_dir = root / "tmp"
        for directory in (self.xorbs_dir, self.shards_dir, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _check(name: str) -> str:
        if not _HEX64.match(name):
            raise BadRequest(f"Invalid object name {name!r}: expected 64 lowercase hexadecimal characters")
        return name

    def xorb_path(self, xorb_hash: str) -> Path:
        return sharded_path(self.xorbs_dir, self._check(xorb_hash))

    def shard_path(self, sha256: str) -> Path:
        return sharded_path(self.shards_dir, self._check(sha256))

    def xorb_size(self, xorb_hash: str) -> int | None:
        try:
            return self.xorb_path(xorb_hash).stat().st_size
        except FileNotFoundError:
            return None

    def sweep(self, max_age: float) -> int:
        """Remove upload temp files untouched for `max_age` seconds; returns how many."""
        return remove_stale(self.tmp_dir, max_age)

    def upload_file(self, max_size: int, what: str) -> TempFile:
        return TempFile(self.tmp_dir, max_size, what)

    def publish_xorb(self, upload: TempFile, xorb_hash: str) -> bool:
        """Move a verified, synced upload into place; False when the xorb was already stored."""
        return publish(upload.path, self.xorb_path(xorb_hash))

    def publish_shard(self, body: bytes) -> str:
        """Store an accepted shard body (write-once); returns its sha256."""
        digest = hashlib.sha256(body).hexdigest()
        final = self.shard_path(digest)
        if final.exists():
            return digest
        upload = self.upload_file(len(body), "Shard")
        try:
            upload.write(body)
            upload.close_synced()
            publish(upload.path, final)
        finally:
            upload.discard()
        return digest

    def read_into(self, xorb_hash: str, start: int, buffers: Sequence[bytearray | memoryview]) -> None:
        """Fill `buffers`, in order, with the bytes of a stored xorb that begin at byte `start`: the caller lays
        out where each chunk record's header and payload go, so that a whole batch of records is one system call
        (or a few: the system limits the buffers per call) and payloads can land where they are used."""
        limit = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
        with open(self.xorb_path(xorb_hash), "rb") as file:
            for first in range(0, len(buffers), limit):
                group = buffers[first : first + limit]
                wanted = sum(len(buffer) for buffer in group)
                if os.preadv(file.fileno(), group, start) != wanted:
                    raise OSError(f"xorb {xorb_hash} is shorter than its indexed chunk records")
                start += wanted

    def iter_xorb(self, xorb_hash: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes `[start, end)` of a stored xorb, in pieces."""
        return read_range(self.xorb_path(xorb_hash), start, end)
