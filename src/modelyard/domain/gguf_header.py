"""GGUF headers (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): magic, version, counts, then the
key/value metadata and the tensor infos, all before the first tensor's data. Read progressively: `parse_gguf`
pulls bytes through the `read(start, end)` it is given, a block at a time, and stops at the end of the tensor
infos, so a 40 GB file costs the few MB of its header. The names of types and file types are the `gguf`
package's (the reference implementation's), so that what we report matches `gguf.GGUFReader`.

A header is user input: counts, string lengths, array lengths, ranks and the total bytes read are bounded, and
anything else raises `MalformedWeights` (the caller then records no metadata).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gguf import GGML_QUANT_SIZES, GGUF_MAGIC, GGMLQuantizationType, GGUFValueType, LlamaFileType

from modelyard.domain.errors import MalformedWeights

SUPPORTED_VERSIONS = (2, 3)  # version 1 had 32-bit lengths and counts; the reference reader refuses it too
MAX_HEADER_BYTES = 64 * 1024 * 1024  # tokenizer vocabularies are the bulk: 150k tokens and 280k merges ≈ 10 MB
FIRST_BLOCK = 64 * 1024  # a small model's whole header; larger ones grow by doubling
MAX_KEYS = 100_000
MAX_TENSORS = 1_000_000
MAX_ARRAY = 10_000_000
MAX_STRING = 16 * 1024 * 1024
MAX_NAME = 64 * 1024
MAX_DIMS = 8  # GGML_MAX_DIMS is 4
MAX_NESTING = 4
MAX_KEPT_INT_ARRAY = 4096  # per-layer counts (head_count_kv of some models); longer integer arrays are skipped
MAX_CHAT_TEMPLATE = 256 * 1024  # longer templates are left out of the index
TOKENS_KEY = "tokenizer.ggml.tokens"

_SCALARS: dict[int, str] = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}
_INTEGER_TYPES = {t for t, code in _SCALARS.items() if code in "BbHhIiQq"}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type_name: str  # GGMLQuantizationType's name (F32, Q8_0, Q4_K…), TYPE_<n> for one this version lacks
    elements: int


@dataclass
class GgufHeader:
    version: int
    metadata: dict[str, Any]  # scalars, strings, short integer arrays; other arrays are skipped
    tensors: list[TensorInfo]
    tokens: list[str] | None  # the vocabulary, for naming the bos/eos tokens
    end: int  # where the tensor infos end: the bytes a reader needs
    bytes_read: int  # what was fetched: the header, and at most one block past it


class _Cursor:
    """A read position over the file's first bytes, fetched on demand a growing block at a time."""

    def __init__(self, read: Callable[[int, int], bytes], size: int) -> None:
        self._read = read
        self._size = size
        self._buffer = bytearray()
        self.position = 0
        self.big_endian(False)

    def big_endian(self, big: bool) -> None:
        self.order = ">" if big else "<"
        self._structs = {code: struct.Struct(self.order + code) for code in "BbHhIiQqfd?"}

    def _advance(self, count: int) -> int:
        """Move past `count` bytes, fetching them if needed; returns where they start."""
        start, end = self.position, self.position + count
        if end > len(self._buffer):
            self._fill(end)
        self.position = end
        return start

    def _fill(self, end: int) -> None:
        if end > self._size:
            raise MalformedWeights("GGUF header runs past the end of the file")
        if end > MAX_HEADER_BYTES:
            raise MalformedWeights(f"GGUF header is larger than {MAX_HEADER_BYTES} bytes")
        want = min(self._size, MAX_HEADER_BYTES, max(end, 2 * len(self._buffer), FIRST_BLOCK))
        data = self._read(len(self._buffer), want)
        if len(data) != want - len(self._buffer):
            raise MalformedWeights("GGUF file is shorter than its size")
        self._buffer += data

    def skip(self, count: int) -> None:
        self._advance(count)

    def take(self, count: int) -> bytes:
        start = self._advance(count)
        return bytes(self._buffer[start : self.position])

    def unpack(self, code: str) -> Any:
        layout = self._structs[code]
        return layout.unpack_from(self._buffer, self._advance(layout.size))[0]

    def unpack_many(self, code: str, count: int) -> list[Any]:
        layout = struct.Struct(f"{self.order}{count}{code}")
        return list(layout.unpack_from(self._buffer, self._advance(layout.size)))

    def skip_string(self, limit: int) -> None:
        self._advance(self._length(limit))

    def string(self, limit: int) -> str:
        return self.take(self._length(limit)).decode("utf-8", errors="replace")

    def _length(self, limit: int) -> int:
        length = self.unpack("Q")
        if length > limit:
            raise MalformedWeights(f"GGUF string of {length} bytes (at most {limit})")
        return length

    @property
    def fetched(self) -> int:
        return len(self._buffer)


def parse_gguf(read: Callable[[int, int], bytes], size: int) -> GgufHeader:
    """The header of a GGUF file of `size` bytes whose bytes `read(start, end)` returns."""
    cursor = _Cursor(read, size)
    if struct.unpack("<I", cursor.take(4))[0] != GGUF_MAGIC:
        raise MalformedWeights("Not a GGUF file (no GGUF magic)")
    raw_version = cursor.take(4)
    version = struct.unpack("<I", raw_version)[0]
    if version & 0xFFFF == 0:  # written on a big-endian machine
        cursor.big_endian(True)
        version = struct.unpack(">I", raw_version)[0]
    if version not in SUPPORTED_VERSIONS:
        raise MalformedWeights(f"GGUF version {version} is not supported")
    tensor_count, key_count = cursor.unpack("Q"), cursor.unpack("Q")
    if tensor_count > MAX_TENSORS or key_count > MAX_KEYS:
        raise MalformedWeights(f"GGUF header names {tensor_count} tensors and {key_count} keys: too many")
    metadata: dict[str, Any] = {}
    tokens: list[str] | None = None
    for _ in range(key_count):
        key = cursor.string(MAX_NAME)
        value_type = cursor.unpack("I")
        if key in metadata or (key == TOKENS_KEY and tokens is not None):
            raise MalformedWeights(f"GGUF key {key[:100]!r} appears twice")
        if key == TOKENS_KEY and value_type == GGUFValueType.ARRAY:
            tokens = _string_array(cursor)
            continue
        value = _value(cursor, value_type, 0)
        if value is not _SKIPPED:
            metadata[key] = value
    tensors = [_tensor_info(cursor) for _ in range(tensor_count)]
    return GgufHeader(version, metadata, tensors, tokens, cursor.position, cursor.fetched)


_SKIPPED = object()


def _value(cursor: _Cursor, value_type: int, depth: int) -> Any:
    code = _SCALARS.get(value_type)
    if code is not None:
        return cursor.unpack(code)
    if value_type == GGUFValueType.STRING:
        return cursor.string(MAX_STRING)
    if value_type != GGUFValueType.ARRAY:
        raise MalformedWeights(f"Unknown GGUF value type {value_type}")
    if depth >= MAX_NESTING:
        raise MalformedWeights("GGUF arrays nested too deep")
    item_type, count = cursor.unpack("I"), cursor.unpack("Q")
    if count > MAX_ARRAY:
        raise MalformedWeights(f"GGUF array of {count} items (at most {MAX_ARRAY})")
    item_code = _SCALARS.get(item_type)
    if item_code is not None:
        width = struct.calcsize(item_code)
        if item_type in _INTEGER_TYPES and count <= MAX_KEPT_INT_ARRAY:
            return cursor.unpack_many(item_code, count)
        cursor.skip(width * count)  # fixed-width items: skipped in one step
        return _SKIPPED
    if item_type == GGUFValueType.STRING:  # merges and the like: 100,000s of strings nobody needs decoded
        for _ in range(count):
            cursor.skip_string(MAX_STRING)
        return _SKIPPED
    for _ in range(count):
        _value(cursor, item_type, depth + 1)
    return _SKIPPED


def _string_array(cursor: _Cursor) -> list[str]:
    item_type, count = cursor.unpack("I"), cursor.unpack("Q")
    if item_type != GGUFValueType.STRING or count > MAX_ARRAY:
        raise MalformedWeights(f"{TOKENS_KEY} is an array of at most {MAX_ARRAY} strings")
    return [cursor.string(MAX_NAME) for _ in range(count)]


def _tensor_info(cursor: _Cursor) -> TensorInfo:
    name = cursor.string(MAX_NAME)
    rank = cursor.unpack("I")
    if rank > MAX_DIMS:
        raise MalformedWeights(f"GGUF tensor {name[:100]!r} has {rank} dimensions")
    dims = [cursor.unpack("Q") for _ in range(rank)]
    raw_type = cursor.unpack("I")
    cursor.unpack("Q")  # the data's offset: not needed to count
    elements = math.prod(dims)
    if elements >= 2**63:
        raise MalformedWeights(f"GGUF tensor {name[:100]!r} has too many elements")
    try:
        type_name = GGMLQuantizationType(raw_type).name
    except ValueError:
        type_name = f"TYPE_{raw_type}"
    return TensorInfo(name, type_name, elements)


def tensor_bytes(type_name: str, elements: int) -> int | None:
    """The stored bytes of a tensor of `elements` of a GGML type (None for a type this version lacks)."""
    try:
        block, size = GGML_QUANT_SIZES[GGMLQuantizationType[type_name]]
    except KeyError:
        return None
    return elements * size // block


def quantization(header: GgufHeader) -> str | None:
    """The file's quantization as llama.cpp names it (Q4_K_M, Q8_0, F16…): `general.file_type`, or else the type
    holding most parameters."""
    file_type = header.metadata.get("general.file_type")
    if isinstance(file_type, int):
        try:
            name = LlamaFileType(file_type).name
        except ValueError:
            name = ""
        if name and name != "GUESSED":
            return name.removeprefix("MOSTLY_").removeprefix("ALL_")
    counts = parameters_by_type(header)
    return max(counts, key=lambda t: counts[t]) if counts else None


def parameters_by_type(header: GgufHeader) -> dict[str, int]:
    counts: dict[str, int] = {}
    for tensor in header.tensors:
        counts[tensor.type_name] = counts.get(tensor.type_name, 0) + tensor.elements
    return dict(sorted(counts.items()))


def hub_fields(headers: list[GgufHeader]) -> dict[str, Any]:
    """The Hub's `gguf` field (total, architecture, context_length, chat_template, bos_token, eos_token) for one
    model, split or not (`headers[0]` is its first file, which carries the metadata), and beyond the Hub:
    `quantization`, `parameters` per GGML type, and the attention shape the memory estimate needs."""
    first = headers[0]
    meta = first.metadata
    parameters: dict[str, int] = {}
    for header in headers:
        for type_name, count in parameters_by_type(header).items():
            parameters[type_name] = parameters.get(type_name, 0) + count
    fields: dict[str, Any] = {"total": sum(parameters.values())}
    architecture = meta.get("general.architecture")
    if isinstance(architecture, str):
        fields["architecture"] = architecture
        _copy_int(meta, f"{architecture}.context_length", fields, "context_length")
    template = meta.get("tokenizer.chat_template")
    if isinstance(template, str) and len(template) <= MAX_CHAT_TEMPLATE:
        fields["chat_template"] = template
    for which in ("bos", "eos"):
        token_id = meta.get(f"tokenizer.ggml.{which}_token_id")
        if isinstance(token_id, int) and first.tokens is not None and 0 <= token_id < len(first.tokens):
            fields[f"{which}_token"] = first.tokens[token_id]
    fields["quantization"] = quantization(first)
    fields["parameters"] = dict(sorted(parameters.items()))
    if isinstance(architecture, str):
        attention = _attention(meta, architecture)
        if attention:
            fields["attention"] = attention
    return fields


def _attention(meta: dict[str, Any], arch: str) -> dict[str, Any]:
    """What sizes the KV cache: layers, KV heads (per layer when they differ), key and value lengths."""
    found: dict[str, Any] = {}
    for key, name in (
        ("block_count", "layers"),
        ("attention.head_count", "heads"),
        ("attention.head_count_kv", "kv_heads"),
        ("attention.key_length", "key_length"),
        ("attention.value_length", "value_length"),
        ("embedding_length", "hidden_size"),
    ):
        value = meta.get(f"{arch}.{key}")
        if (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, list) and value):
            found[name] = value
    return found


def _copy_int(meta: dict[str, Any], key: str, into: dict[str, Any], name: str) -> None:
    value = meta.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        into[name] = value
