"""Byte ranges of a repository's files at one commit, read where /resolve serves them from, without reading the rest.

Small files are git blobs. A large file's bytes are found as resolve finds them (`lfs.locate`): the repository's
LFS blob when it has one, read with a seek; else its Xet file, rebuilt from only the xorb chunks that hold the range
(`xet_read.iter_file_bytes`). Every range read is counted in `bytes_read`, so that a caller can show it never read
more than it meant to. Call from a worker thread (git, the database and disk reads block).
"""

from __future__ import annotations

from modelyard.blobs.files import read_range
from modelyard.domain.errors import EntryNotFound
from modelyard.gitstore.repository import Entry
from modelyard.services import lfs, xet, xet_read
from modelyard.services.files import Snapshot
from modelyard.services.hub import Hub


class FileRanges:
    """Reads byte ranges of the files of one snapshot; `bytes_read` counts what was read."""

    def __init__(self, hub: Hub, snap: Snapshot) -> None:
        self.hub = hub
        self.snap = snap
        self.bytes_read = 0
        self._located: dict[str, lfs.Content] = {}

    def locate(self, entries: list[Entry]) -> None:
        """Find the stored bytes of many large files with one lookup (else `read` looks each up on its own)."""
        oids = {entry.lfs.oid for entry in entries if entry.lfs is not None} - self._located.keys()
        self._located |= lfs.locate(self.hub, self.snap.record.pk, oids, hash_claims=False)

    def read(self, entry: Entry, start: int, end: int) -> bytes:
        """Bytes `[start, end)` of the file (fewer past its end)."""
        end = min(end, entry.size)
        if start >= end:
            return b""
        if entry.lfs is None:
            data = self.snap.git.read_blob(entry.oid)[start:end]
        else:
            data = self._read_large(entry, start, end)
        self.bytes_read += len(data)
        return data

    def _read_large(self, entry: Entry, start: int, end: int) -> bytes:
        assert entry.lfs is not None
        if entry.lfs.oid not in self._located:
            self.locate([entry])
        content = self._located.get(entry.lfs.oid)
        if content is None or content.size != entry.lfs.size:
            raise EntryNotFound(f"The content of {entry.path} is not stored for this repository", self.snap.commit)
        if content.blob:
            return b"".join(read_range(self.hub.blobs.path(entry.lfs.oid), start, end))
        assert content.xet is not None
        record = xet.load_file(self.hub, content.xet.hash)
        if record is None:
            raise EntryNotFound(f"The Xet file of {entry.path} is not stored", self.snap.commit)
        return b"".join(bytes(piece) for piece in xet_read.iter_file_bytes(self.hub, record, start, end))
