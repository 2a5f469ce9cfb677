"""A file as Xet sees it: an ordered list of terms, each a chunk range of one xorb."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.domain.xet.hashes import MerkleHash


@dataclass(frozen=True, slots=True)
class FileTerm:
    """Chunks `[chunk_start, chunk_end)` of xorb `xorb_hash`, `unpacked_size` bytes once decompressed."""

    xorb_hash: MerkleHash
    chunk_start: int
    chunk_end: int  # exclusive
    unpacked_size: int

    @property
    def chunk_count(self) -> int:
        return self.chunk_end - self.chunk_start
