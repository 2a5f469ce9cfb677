"""Xet hashes (§2): the 32-byte MerkleHash, chunk hashes, Merkle aggregation, range and HMAC hashes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from blake3 import blake3

from modelyard.domain.xet.errors import InvalidHashString

HASH_SIZE = 32

DATA_KEY = bytes(
    [102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28,
     157, 228, 33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41]
)  # fmt: skip
INTERNAL_NODE_KEY = bytes(
    [1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230,
     93, 221, 83, 111, 55, 199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63]
)  # fmt: skip
VERIFICATION_KEY = bytes(
    [127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243,
     164, 205, 38, 213, 181, 219, 73, 230, 65, 36, 152, 127, 40, 251, 148, 195]
)  # fmt: skip
ZERO_KEY = bytes(HASH_SIZE)

# Merkle tree shape (§2.3): groups of 3..9 nodes, cut after a node whose word3 % 4 == 0.
_MEAN_BRANCHING_FACTOR = 4
_MAX_GROUP = 2 * _MEAN_BRANCHING_FACTOR + 1
# Global dedup (§2.6): every chunk whose word3 % 1024 == 0, and chunks flagged in shards.
GLOBAL_DEDUP_MODULUS = 1024
GLOBAL_DEDUP_CHUNK_FLAG = 0x8000_0000

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def raw_to_string(raw: bytes) -> str:
    """Hex string form of 32 raw bytes: each 8-byte group byte-reversed, then hex (§2.1)."""
    if len(raw) != HASH_SIZE:
        raise ValueError(f"a Xet hash has {HASH_SIZE} bytes, got {len(raw)}")
    return b"".join(raw[i : i + 8][::-1] for i in range(0, HASH_SIZE, 8)).hex()


def string_to_raw(text: str) -> bytes:
    """Inverse of `raw_to_string`; raises InvalidHashString unless `text` is 64 hex digits."""
    if not isinstance(text, str) or not _HEX64.match(text):
        raise InvalidHashString(f"Invalid Xet hash {text!r}: expected 64 hexadecimal characters")
    swapped = bytes.fromhex(text)
    return b"".join(swapped[i : i + 8][::-1] for i in range(0, HASH_SIZE, 8))


@dataclass(frozen=True, slots=True, order=True)
class MerkleHash:
    """A 32-byte Xet hash. `raw` is the binary form used inside xorbs and shards.

    `str(h)` / `h.hex()` give the string form used in URLs, JSON and headers (§2.1).
    """

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != HASH_SIZE:
            raise ValueError(f"a Xet hash is {HASH_SIZE} bytes")

    @classmethod
    def from_hex(cls, text: str) -> MerkleHash:
        """Parse the string form (as found in URLs and JSON)."""
        return cls(string_to_raw(text))

    def hex(self) -> str:
        return raw_to_string(self.raw)

    def __str__(self) -> str:
        return self.hex()

    def __repr__(self) -> str:
        return f"MerkleHash({self.hex()!r})"

    @property
    def word3(self) -> int:
        """The last 8 raw bytes as a little-endian u64 (drives tree shape and dedup eligibility)."""
        return int.from_bytes(self.raw[24:32], "little")

    @property
    def is_zero(self) -> bool:
        return self.raw == ZERO_KEY


ZERO_HASH = MerkleHash(bytes(HASH_SIZE))
"""The hash of an empty xorb or an empty file."""


def keyed_hash(key: bytes, data: bytes | bytearray | memoryview) -> MerkleHash:
    """BLAKE3 in keyed mode with a 32-byte key, 32-byte output."""
    return MerkleHash(blake3(data, key=key).digest())


def chunk_hash(data: bytes | bytearray | memoryview) -> MerkleHash:
    """Hash of one uncompressed chunk (§2.2)."""
    return keyed_hash(DATA_KEY, data)


def _next_group_end(nodes: Sequence[tuple[MerkleHash, int]], start: int) -> int:
    remaining = len(nodes) - start
    if remaining <= 2:
        return len(nodes)
    end = min(_MAX_GROUP, remaining)
    for offset in range(2, end):
        if nodes[start + offset][0].raw[24] % _MEAN_BRANCHING_FACTOR == 0:
            return start + offset + 1
    return start + end


def _parent(group: Sequence[tuple[MerkleHash, int]]) -> tuple[MerkleHash, int]:
    text = "".join(f"{h.hex()} : {size}\n" for h, size in group)
    return keyed_hash(INTERNAL_NODE_KEY, text.encode("ascii")), sum(size for _, size in group)


def merkle_root(leaves: Iterable[tuple[MerkleHash, int]]) -> MerkleHash:
    """Root of the Xet Merkle tree over `(hash, uncompressed size)` leaves (§2.3).

    Empty input gives ZERO_HASH; a single leaf is its own root.
    """
    level = list(leaves)
    if not level:
        return ZERO_HASH
    while len(level) > 1:
        parents = []
        start = 0
        while start < len(level):
            end = _next_group_end(level, start)
            parents.append(_parent(level[start:end]))
            start = end
        level = parents
    return level[0][0]


def xorb_hash(chunks: Iterable[tuple[MerkleHash, int]]) -> MerkleHash:
    """Hash of a xorb: the Merkle root over its chunks in xorb order."""
    return merkle_root(chunks)


def file_hash(chunks: Iterable[tuple[MerkleHash, int]]) -> MerkleHash:
    """Xet file hash: keyed BLAKE3 (zero key) of the Merkle root over the file's chunks (§2.3)."""
    root = merkle_root(chunks)
    if root.is_zero:
        return ZERO_HASH
    return keyed_hash(ZERO_KEY, root.raw)


def verification_hash(chunk_hashes: Iterable[MerkleHash]) -> MerkleHash:
    """Term verification (range) hash over consecutive chunk hashes of one xorb (§2.4)."""
    return keyed_hash(VERIFICATION_KEY, b"".join(h.raw for h in chunk_hashes))


def hmac_hash(value: MerkleHash, key: bytes) -> MerkleHash:
    """The chunk-hash HMAC used in global-dedup answers (§2.5)."""
    if len(key) != HASH_SIZE:
        raise ValueError(f"an HMAC key is {HASH_SIZE} bytes")
    return keyed_hash(key, value.raw)


def is_global_dedup_eligible(value: MerkleHash, *, first_in_file: bool = False, flags: int = 0) -> bool:
    """Whether a chunk belongs in the global dedup index (§2.6)."""
    return first_in_file or value.word3 % GLOBAL_DEDUP_MODULUS == 0 or bool(flags & GLOBAL_DEDUP_CHUNK_FLAG)
