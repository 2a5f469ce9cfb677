"""Errors raised while decoding or checking Xet objects. All are client errors (HTTP 400)."""

from __future__ import annotations

from modelyard.domain.errors import BadRequest


class XetFormatError(BadRequest):
    """Base class: a Xet hash, xorb or shard sent by a client is malformed or inconsistent."""


class InvalidHashString(XetFormatError):
    """A hash in a URL or JSON is not 64 hexadecimal characters."""


class InvalidXorb(XetFormatError):
    """An uploaded xorb body cannot be parsed (bad header, bad compression, limits exceeded)."""


class XorbHashMismatch(InvalidXorb):
    """The xorb's computed Merkle hash differs from the hash named in the upload URL."""


class InvalidShard(XetFormatError):
    """An uploaded shard is truncated or malformed."""


class ShardTooLarge(InvalidShard):
    """A shard asks for more work than one request may (too many files, terms or chunk references)."""


class ShardRejected(XetFormatError):
    """A well-formed shard describes a file that does not match the stored xorbs (§4.6)."""


class UnknownXorb(ShardRejected):
    """A shard term references a xorb that has not been uploaded."""


class InvalidTerm(ShardRejected):
    """A shard term's chunk range or unpacked size does not match the referenced xorb."""


class VerificationMismatch(ShardRejected):
    """A shard term's verification (range) hash does not match the stored chunk hashes (§2.4)."""


class FileHashMismatch(ShardRejected):
    """The file hash declared in a shard differs from the hash recomputed from its terms."""
