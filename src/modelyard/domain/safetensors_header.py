"""safetensors headers (https://huggingface.co/docs/safetensors/index#format): an 8-byte little-endian length, then
that many bytes of JSON naming each tensor's dtype, shape and byte offsets. The weights follow; they are never
needed to count parameters.

A header is user input: its length, tensor count, rank and names are bounded, and anything that does not parse
as the format says raises `MalformedWeights` (the caller then records no metadata).
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.domain.errors import MalformedWeights

LENGTH_PREFIX = 8
# huggingface_hub refuses longer headers (constants.SAFETENSORS_MAX_HEADER_LENGTH); so do we.
MAX_HEADER_LENGTH = 25_000_000
MAX_TENSORS = 1_000_000
MAX_RANK = 64
# safetensors' dtype names: F64, F32, F16, BF16, F8_E4M3, I64, U8, BOOL…; a new one passes if it looks like one.
_DTYPE = re.compile(r"[A-Z][A-Z0-9_]{0,15}")
METADATA_KEY = "__metadata__"


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]

    @property
    def parameters(self) -> int:
        return math.prod(self.shape)


def header_length(prefix: bytes) -> int:
    """The JSON header's length, from the file's first 8 bytes."""
    if len(prefix) < LENGTH_PREFIX:
        raise MalformedWeights("A safetensors file starts with an 8-byte header length")
    (length,) = struct.unpack("<Q", prefix[:LENGTH_PREFIX])
    if not 2 <= length <= MAX_HEADER_LENGTH:
        raise MalformedWeights(f"safetensors header length {length} is outside 2..{MAX_HEADER_LENGTH}")
    return length


def parse_header(data: bytes) -> dict[str, Any]:
    """The header's JSON object, checked: every entry but `__metadata__` describes a tensor (`tensors` reads it)."""
    try:
        header = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise MalformedWeights(f"safetensors header is not JSON: {error}") from None
    if not isinstance(header, dict):
        raise MalformedWeights("A safetensors header is a JSON object")
    tensors(header)
    return header


def tensors(header: Mapping[str, Any]) -> dict[str, TensorInfo]:
    """The tensors a parsed header describes."""
    if len(header) > MAX_TENSORS + 1:
        raise MalformedWeights(f"safetensors header names more than {MAX_TENSORS} tensors")
    found: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        if name == METADATA_KEY:
            if not isinstance(entry, dict):
                raise MalformedWeights("safetensors __metadata__ is a JSON object")
            continue
        found[name] = _tensor(name, entry)
    return found


def _tensor(name: str, entry: Any) -> TensorInfo:
    if not isinstance(entry, dict):
        raise MalformedWeights(f"safetensors entry {name[:100]!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or not _DTYPE.fullmatch(dtype):
        raise MalformedWeights(f"safetensors tensor {name[:100]!r} has no valid dtype")
    if not isinstance(shape, list) or len(shape) > MAX_RANK or not all(_natural(d) for d in shape):
        raise MalformedWeights(f"safetensors tensor {name[:100]!r} has no valid shape")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_natural(o) for o in offsets):
        raise MalformedWeights(f"safetensors tensor {name[:100]!r} has no valid data_offsets")
    if offsets[0] > offsets[1]:
        raise MalformedWeights(f"safetensors tensor {name[:100]!r} ends before it starts")
    return TensorInfo(dtype, tuple(shape))


def _natural(value: Any) -> bool:
    return type(value) is int and 0 <= value < 2**63


def file_parameters(header: Mapping[str, Any]) -> dict[str, int]:
    """Parameters per dtype of one file."""
    counts: dict[str, int] = {}
    for info in tensors(header).values():
        counts[info.dtype] = counts.get(info.dtype, 0) + info.parameters
    return counts


def hub_field(files: Iterable[Mapping[str, int]]) -> dict[str, Any]:
    """The Hub's `safetensors` field over the files of one model: `{"parameters": {dtype: count}, "total": count}`,
    from each file's `file_parameters`."""
    parameters: dict[str, int] = {}
    for counts in files:
        for dtype, count in counts.items():
            parameters[dtype] = parameters.get(dtype, 0) + count
    return {"parameters": dict(sorted(parameters.items())), "total": sum(parameters.values())}
