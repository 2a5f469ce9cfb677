"""Checks a shard's file against the xorbs the server stored (§4.6, steps 1-4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from modelyard.domain.xet.errors import FileHashMismatch, InvalidTerm, UnknownXorb, VerificationMismatch
from modelyard.domain.xet.hashes import MerkleHash, file_hash, verification_hash
from modelyard.domain.xet.shard import ShardFile
from modelyard.domain.xet.xorb import XorbChunk


def check_shard_file(
    file: ShardFile,
    xorbs: Mapping[MerkleHash, Sequence[XorbChunk]],
    *,
    require_verification: bool = True,
) -> None:
    """Raise a ShardRejected subclass unless `file` is consistent with the stored xorbs.

    `xorbs` maps each stored xorb (at least those the file references) to its chunk table, as
    computed from the xorb body at upload. Checks: every xorb exists; every term's chunk range
    lies inside its xorb and its unpacked size is the sum of those chunks; each verification hash
    matches the stored chunk hashes (entries are mandatory unless `require_verification` is false);
    the declared file hash equals the one recomputed from the chunks.
    """
    if file.verification is None and require_verification and file.terms:
        raise VerificationMismatch(f"File {file.hash} has no verification entries")
    leaves: list[tuple[MerkleHash, int]] = []
    for index, term in enumerate(file.terms):
        chunks = xorbs.get(term.xorb_hash)
        if chunks is None:
            raise UnknownXorb(f"File {file.hash} references xorb {term.xorb_hash}, which was not uploaded")
        if not 0 <= term.chunk_start < term.chunk_end <= len(chunks):
            raise InvalidTerm(
                f"File {file.hash} term {index}: chunks {term.chunk_start}..{term.chunk_end} are outside "
                f"xorb {term.xorb_hash} ({len(chunks)} chunks)"
            )
        selected = chunks[term.chunk_start : term.chunk_end]
        size = sum(chunk.size for chunk in selected)
        if size != term.unpacked_size:
            raise InvalidTerm(
                f"File {file.hash} term {index}: declares {term.unpacked_size} bytes, the chunks hold {size}"
            )
        if file.verification is not None and verification_hash(c.hash for c in selected) != file.verification[index]:
            raise VerificationMismatch(f"File {file.hash} term {index}: verification hash does not match")
        leaves.extend((chunk.hash, chunk.size) for chunk in selected)
    computed = file_hash(leaves)
    if computed != file.hash:
        raise FileHashMismatch(f"File terms hash to {computed}, not to the declared {file.hash}")
