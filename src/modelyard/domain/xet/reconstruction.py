"""Reconstruction planning (§5.5): which chunk ranges and stored-xorb byte ranges serve a file range.

Pure: the caller supplies the file's terms, the chunk tables of the xorbs they reference, and a
function that turns (xorb, first byte, last byte) into a fetch URL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from modelyard.domain.errors import RangeNotSatisfiable
from modelyard.domain.xet.hashes import MerkleHash
from modelyard.domain.xet.terms import FileTerm
from modelyard.domain.xet.xorb import XorbChunk

UrlFor = Callable[[MerkleHash, int, int], str]
"""(xorb hash, first byte, last byte inclusive) -> URL serving that byte range of the stored xorb."""


@dataclass(frozen=True, slots=True)
class FetchRange:
    """A fetch descriptor: chunks `[chunk_start, chunk_end)` of a xorb, stored at bytes
    `[byte_start, byte_last]` (inclusive, like an HTTP Range) of the stored xorb."""

    xorb_hash: MerkleHash
    chunk_start: int
    chunk_end: int
    byte_start: int
    byte_last: int
    url: str


@dataclass(frozen=True, slots=True)
class ReconstructionTerm:
    xorb_hash: MerkleHash
    chunk_start: int
    chunk_end: int  # exclusive
    unpacked_length: int  # uncompressed bytes of those chunks
    record_start: int  # byte offset of the first chunk record in the stored xorb
    record_end: int  # byte offset just past the last chunk record (exclusive)

    @property
    def chunk_count(self) -> int:
        return self.chunk_end - self.chunk_start


@dataclass(frozen=True, slots=True)
class ReconstructionPlan:
    file_size: int
    start: int  # first requested byte
    end: int  # last requested byte, inclusive (start - 1 for an empty file)
    offset_into_first_range: int  # bytes to skip in the first term's data
    terms: tuple[ReconstructionTerm, ...]
    fetches: tuple[FetchRange, ...]  # grouped by xorb, in order of first use

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def _fetches_by_xorb(self) -> dict[str, list[FetchRange]]:
        grouped: dict[str, list[FetchRange]] = {}
        for fetch in self.fetches:
            grouped.setdefault(fetch.xorb_hash.hex(), []).append(fetch)
        return grouped

    def _terms_json(self) -> list[dict]:
        return [
            {
                "hash": term.xorb_hash.hex(),
                "unpacked_length": term.unpacked_length,
                "range": {"start": term.chunk_start, "end": term.chunk_end},
            }
            for term in self.terms
        ]

    def to_v1_json(self) -> dict:
        """The body of `GET /v1/reconstructions/{file_hash}`."""
        return {
            "offset_into_first_range": self.offset_into_first_range,
            "terms": self._terms_json(),
            "fetch_info": {
                xorb: [
                    {
                        "range": {"start": f.chunk_start, "end": f.chunk_end},
                        "url": f.url,
                        "url_range": {"start": f.byte_start, "end": f.byte_last},
                    }
                    for f in fetches
                ]
                for xorb, fetches in self._fetches_by_xorb().items()
            },
        }

    def to_v2_json(self) -> dict:
        """The body of `GET /v2/reconstructions/{file_hash}`, one range per entry (no multipart)."""
        return {
            "offset_into_first_range": self.offset_into_first_range,
            "terms": self._terms_json(),
            "xorbs": {
                xorb: [
                    {
                        "url": f.url,
                        "ranges": [
                            {
                                "chunks": {"start": f.chunk_start, "end": f.chunk_end},
                                "bytes": {"start": f.byte_start, "end": f.byte_last},
                            }
                        ],
                    }
                    for f in fetches
                ]
                for xorb, fetches in self._fetches_by_xorb().items()
            },
        }


def _resolve_range(file_size: int, byte_range: tuple[int, int | None] | None) -> tuple[int, int]:
    if byte_range is None:
        return 0, file_size - 1
    start, last = byte_range
    if start < 0 or (last is not None and last < start):
        raise ValueError(f"invalid byte range {byte_range}")
    if start >= file_size:
        raise RangeNotSatisfiable(f"Range start {start} is beyond the file size {file_size}", file_size)
    return start, file_size - 1 if last is None else min(last, file_size - 1)


def _merge_fetches(
    terms: Sequence[ReconstructionTerm], xorbs: Mapping[MerkleHash, Sequence[XorbChunk]], url_for: UrlFor
) -> tuple[FetchRange, ...]:
    spans: dict[MerkleHash, list[tuple[int, int]]] = {}
    for term in terms:
        spans.setdefault(term.xorb_hash, []).append((term.chunk_start, term.chunk_end))
    fetches = []
    for xorb_hash, ranges in spans.items():
        merged: list[list[int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1]:  # overlapping or adjacent
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        chunks = xorbs[xorb_hash]
        for start, end in merged:
            first, last = chunks[start].offset, chunks[end - 1].end - 1
            fetches.append(FetchRange(xorb_hash, start, end, first, last, url_for(xorb_hash, first, last)))
    return tuple(fetches)


def plan_reconstruction(
    terms: Sequence[FileTerm],
    xorbs: Mapping[MerkleHash, Sequence[XorbChunk]],
    url_for: UrlFor,
    byte_range: tuple[int, int | None] | None = None,
) -> ReconstructionPlan:
    """Plan the reconstruction of bytes `[start, last]` of a file (the whole file when None).

    `byte_range` is `(start, last)` with `last` inclusive and possibly past the end (it is
    clamped) or None (to the end). Raises RangeNotSatisfiable when `start` is at or past the end.
    `xorbs` must hold the chunk table of every referenced xorb; a term that disagrees with its
    table raises ValueError (the index is inconsistent, not the client's fault).
    """
    file_size = sum(term.unpacked_size for term in terms)
    if file_size == 0 and byte_range is None:
        return ReconstructionPlan(0, 0, -1, 0, (), ())
    start, last = _resolve_range(file_size, byte_range)

    kept: list[ReconstructionTerm] = []
    offset_into_first = 0
    term_offset = 0
    for term in terms:
        term_start, term_offset = term_offset, term_offset + term.unpacked_size
        if term_offset <= start:
            continue
        if term_start > last:
            break
        chunks = xorbs.get(term.xorb_hash)
        if chunks is None or not 0 <= term.chunk_start < term.chunk_end <= len(chunks):
            raise ValueError(f"no chunk table covering term {term} of xorb {term.xorb_hash}")
        selected = chunks[term.chunk_start : term.chunk_end]
        if sum(chunk.size for chunk in selected) != term.unpacked_size:
            raise ValueError(f"term {term} disagrees with the chunk sizes of xorb {term.xorb_hash}")
        first_index = last_index = None
        kept_size = 0
        chunk_offset = term_start
        for index, chunk in enumerate(selected, start=term.chunk_start):
            chunk_start, chunk_offset = chunk_offset, chunk_offset + chunk.size
            if chunk_offset <= start:
                continue
            if chunk_start > last:
                break
            if first_index is None:
                first_index = index
                if not kept:
                    offset_into_first = start - chunk_start
            last_index = index
            kept_size += chunk.size
        assert first_index is not None and last_index is not None
        kept.append(
            ReconstructionTerm(
                term.xorb_hash,
                first_index,
                last_index + 1,
                kept_size,
                chunks[first_index].offset,
                chunks[last_index].end,
            )
        )
    return ReconstructionPlan(
        file_size, start, last, offset_into_first, tuple(kept), _merge_fetches(kept, xorbs, url_for)
    )
