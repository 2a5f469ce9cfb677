"""What a model's weights are, from their file headers alone: the Hub's `safetensors` and `gguf` fields.

safetensors: `model.safetensors`, else the shards that `model.safetensors.index.json` lists, else a single variant
(`model.safetensors.index.<variant>.json`, `model.<variant>.safetensors`), else a PEFT `adapter_model.safetensors`,
as transformers and huggingface_hub look for them. Each file costs exactly its 8-byte length and JSON header (two
reads: a local read gains nothing from huggingface_hub's 100 kB guess, which saves a network round trip).
GGUF: the first `.gguf` file by path (every part of a split one), read up to the end of its tensor infos
(`domain/gguf_header`).

Everything is read through `FileRanges`, from the LFS blob or the Xet file (only the chunks holding the header),
and bounded: a header is user input. A malformed or missing file gives no metadata (None), never an error, so
that indexing a commit cannot fail on it. Call from a worker thread.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.domain import gguf_header, safetensors_header
from modelyard.domain.errors import EntryNotFound, HubError, InvalidPath, MalformedWeights
from modelyard.domain.paths import validate_repo_path
from modelyard.gitstore.repository import Entry
from modelyard.services.file_ranges import FileRanges
from modelyard.services.files import Snapshot
from modelyard.services.hub import Hub

log = logging.getLogger(__name__)

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
ADAPTER_FILE = "adapter_model.safetensors"
_INDEX_VARIANT = re.compile(r"model\.safetensors\.index\.[^/]+\.json")
_SINGLE_VARIANT = re.compile(r"model\.[^/]+\.safetensors")
_SPLIT_GGUF = re.compile(r"(.+)-(\d{5})-of-(\d{5})\.gguf")
MAX_INDEX_SIZE = 16 * 1024 * 1024
MAX_SHARDS = 10_000
MAX_GGUF_PARTS = 512
# All header reads of one repository together; past it the field is left out (a header may be 25 MB).
MAX_BYTES_PER_REPO = 256 * 1024 * 1024


@dataclass(frozen=True)
class WeightsInfo:
    safetensors: dict[str, Any] | None  # {"parameters": {dtype: count}, "total": count}
    gguf: dict[str, Any] | None  # total, architecture, context_length, chat_template, bos/eos_token, …
    bytes_read: int  # what reading them cost


class _Files(Mapping[str, Entry]):
    """The snapshot's files by path; an entry is read only when asked for (a pointer file is a blob read)."""

    def __init__(self, snap: Snapshot) -> None:
        self._snap = snap
        self._paths = set(snap.git.file_paths(snap.commit))

    def __getitem__(self, path: str) -> Entry:
        entry = self._snap.git.entry(self._snap.commit, path) if path in self._paths else None
        if entry is None:
            raise KeyError(path)
        return entry

    def __contains__(self, path: object) -> bool:  # without reading the entry, as Mapping's would
        return path in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


def read_weights(hub: Hub, snap: Snapshot) -> WeightsInfo:
    """The `safetensors` and `gguf` fields of the snapshot's weights (None where it has none readable)."""
    ranges = FileRanges(hub, snap)
    files = _Files(snap)
    safetensors = _leniently(snap, "safetensors", lambda: _safetensors_field(ranges, files))
    gguf = _leniently(snap, "GGUF", lambda: _gguf_field(ranges, files))
    return WeightsInfo(safetensors, gguf, ranges.bytes_read)


def _leniently(snap: Snapshot, what: str, read: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    try:
        return read()
    except (HubError, ValueError, OSError) as error:  # a malformed header, a missing blob: no metadata
        log.info("no %s metadata for %s at %s: %s", what, snap.record.ref.id, snap.commit, error)
        return None


def _safetensors_field(ranges: FileRanges, files: Mapping[str, Entry]) -> dict[str, Any] | None:
    chosen = _safetensors_files(ranges, files)
    if chosen is None:
        return None
    known = _known(ranges.hub)
    keys = [("safetensors", ranges.snap.record.pk, _content(entry)) for entry in chosen]
    ranges.locate([entry for entry, key in zip(chosen, keys, strict=True) if known.get(key) is None])
    per_file = []
    for entry, key in zip(chosen, keys, strict=True):
        counts = known.get(key)
        if counts is None:
            counts = safetensors_header.file_parameters(_header(ranges, entry))
            known.put(key, counts)
        per_file.append(counts)
    return safetensors_header.hub_field(per_file)


class _Known:
    """What the headers of a repository's weights said, by content: a commit that leaves the weights alone (a card
    edit) reads no header again. Keyed by repository too, so that knowing a hash never shows what another repository
    stores. An LRU, per process."""

    SIZE = 20_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            found = self._found.get(key)
            if found is not None:
                self._found.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], found: dict[str, Any]) -> None:
        with self._lock:
            self._found[key] = found
            while len(self._found) > self.SIZE:
                self._found.popitem(last=False)


def _known(hub: Hub) -> _Known:
    return hub.component("weights-known-headers", _Known)


def _content(entry: Entry) -> tuple[str, int]:
    return (entry.lfs.oid if entry.lfs is not None else entry.oid, entry.size)


def _safetensors_files(ranges: FileRanges, files: Mapping[str, Entry]) -> list[Entry] | None:
    if SINGLE_FILE in files:
        return [files[SINGLE_FILE]]
    if INDEX_FILE in files:
        return list(_shard_entries(ranges, files, INDEX_FILE)[1].values())
    index_variants = [path for path in files if _INDEX_VARIANT.fullmatch(path)]
    if len(index_variants) == 1:
        return list(_shard_entries(ranges, files, index_variants[0])[1].values())
    single_variants = [path for path in files if _SINGLE_VARIANT.fullmatch(path) and "-of-" not in path]
    if len(single_variants) == 1:
        return [files[single_variants[0]]]
    if ADAPTER_FILE in files:
        return [files[ADAPTER_FILE]]
    return None


def _shard_entries(
    ranges: FileRanges, files: Mapping[str, Entry], index_path: str
) -> tuple[dict[str, Any], dict[str, Entry]]:
    """A sharded checkpoint's index (JSON object) and its shards: name in the index's weight_map -> file entry."""
    index_entry = files[index_path]
    if index_entry.size > MAX_INDEX_SIZE:
        raise MalformedWeights(f"{index_path} is larger than {MAX_INDEX_SIZE} bytes")
    try:
        index = json.loads(ranges.read(index_entry, 0, index_entry.size).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise MalformedWeights(f"{index_path} is not JSON: {error}") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise MalformedWeights(f"{index_path} has no weight_map of tensor names to file names")
    names = sorted(set(weight_map.values()))
    if not names or len(names) > MAX_SHARDS:
        raise MalformedWeights(f"{index_path} names {len(names)} shards (1 to {MAX_SHARDS})")
    folder = posixpath.dirname(index_path)
    shards = {}
    for name in names:
        path = posixpath.join(folder, name)
        try:
            validate_repo_path(path)
        except InvalidPath as error:
            raise MalformedWeights(f"{index_path} names an invalid shard: {error.message}") from None
        if path not in files:
            raise EntryNotFound(f"{index_path} names {path}, which is not in the repository", ranges.snap.commit)
        shards[name] = files[path]
    return index, shards


def _header(ranges: FileRanges, entry: Entry) -> dict[str, Any]:
    """The parsed JSON header of one safetensors file, read from its first bytes only."""
    if ranges.bytes_read >= MAX_BYTES_PER_REPO:
        raise MalformedWeights(f"The repository's safetensors headers exceed {MAX_BYTES_PER_REPO} bytes")
    length = safetensors_header.header_length(ranges.read(entry, 0, safetensors_header.LENGTH_PREFIX))
    end = safetensors_header.LENGTH_PREFIX + length
    if end > entry.size:
        raise MalformedWeights(f"{entry.path}: the safetensors header runs past the end of the file")
    return safetensors_header.parse_header(ranges.read(entry, safetensors_header.LENGTH_PREFIX, end))


def safetensors_headers(hub: Hub, snap: Snapshot, index_path: str) -> dict[str, Any]:
    """What the Hub's `GET /api/models/{id}/safetensors-metadata/{index_path}` answers: the index without its
    weight_map, and every shard's header by the name the index gives it. Raises on a missing or malformed file."""
    validate_repo_path(index_path)
    ranges = FileRanges(hub, snap)
    files = _Files(snap)
    if index_path not in files:
        raise EntryNotFound(f"{index_path} does not exist at revision {snap.commit}", snap.commit)
    index, shards = _shard_entries(ranges, files, index_path)
    ranges.locate(list(shards.values()))
    headers = {name: _header(ranges, entry) for name, entry in shards.items()}
    return {"index": {key: value for key, value in index.items() if key != "weight_map"}, "headers": headers}


def _gguf_field(ranges: FileRanges, files: Mapping[str, Entry]) -> dict[str, Any] | None:
    parts = _gguf_parts(files)
    if not parts:
        return None
    known = _known(ranges.hub)
    key = ("gguf", ranges.snap.record.pk, tuple(_content(entry) for entry in parts))
    found = known.get(key)
    if found is None:
        found = _read_gguf(ranges, parts)
        known.put(key, found)
    return found


def _read_gguf(ranges: FileRanges, parts: list[Entry]) -> dict[str, Any]:
    ranges.locate(parts)
    headers = []
    for entry in parts:
        if ranges.bytes_read >= MAX_BYTES_PER_REPO:
            raise MalformedWeights(f"The GGUF headers exceed {MAX_BYTES_PER_REPO} bytes")
        headers.append(gguf_header.parse_gguf(lambda start, end, e=entry: ranges.read(e, start, end), entry.size))
    return gguf_header.hub_fields(headers)


def _gguf_parts(files: Mapping[str, Entry]) -> list[Entry]:
    """The first GGUF model by path: one file, or every part of a split one (`name-00001-of-00003.gguf`…)."""
    for path in sorted(path for path in files if path.endswith(".gguf")):
        split = _SPLIT_GGUF.fullmatch(path)
        if split is None:
            return [files[path]]
        count = int(split[3])
        if int(split[2]) != 1 or not 1 <= count <= MAX_GGUF_PARTS:
            continue
        names = [f"{split[1]}-{number:05d}-of-{split[3]}.gguf" for number in range(1, count + 1)]
        if all(name in files for name in names):
            return [files[name] for name in names]
    return []
