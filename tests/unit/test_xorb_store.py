"""The Xet object store on a temp directory: xorbs and shards are write-once, named by their hash, and read
back exactly; a restarted server reopens what it stored."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from modelyard.blobs.xorbs import XorbStore
from modelyard.domain.errors import BadRequest

XORB = "ab" * 32


@pytest.fixture
def store(tmp_path: Path) -> XorbStore:
    return XorbStore(tmp_path / "xet")


def _put_xorb(store: XorbStore, data: bytes, name: str = XORB) -> bool:
    upload = store.upload_file(len(data), "Xorb")
    upload.write(data)
    upload.close_synced()
    try:
        return store.publish_xorb(upload, name)
    finally:
        upload.discard()


def test_a_xorb_is_stored_once_and_read_back_by_range(store: XorbStore):
    data = os.urandom(3000)
    assert store.xorb_size(XORB) is None  # not stored yet: no size, no error
    assert _put_xorb(store, data) is True
    assert _put_xorb(store, os.urandom(3000)) is False  # write-once: the first bytes stay
    assert store.xorb_size(XORB) == 3000
    header, payload = bytearray(8), bytearray(42)
    store.read_into(XORB, 100, [header, memoryview(payload)])
    assert (header, payload) == (data[100:108], data[108:150])
    assert b"".join(store.iter_xorb(XORB, 5, 2999)) == data[5:2999]
    with pytest.raises(OSError, match="shorter"):
        store.read_into(XORB, 2000, [bytearray(1000), bytearray(1)])


def test_a_shard_is_stored_under_its_sha256_once(store: XorbStore):
    body = b"a shard body " * 50
    digest = store.publish_shard(body)
    assert digest == hashlib.sha256(body).hexdigest()
    assert store.shard_path(digest).read_bytes() == body
    assert store.publish_shard(body) == digest
    assert [p for p in store.tmp_dir.iterdir()] == []


def test_the_store_reopens_its_existing_directories(store: XorbStore):
    _put_xorb(store, b"kept")
    assert XorbStore(store.root).xorb_size(XORB) == 4


@pytest.mark.parametrize("name", ["", "AB" * 32, "ab" * 31, "../" + "a" * 61, "g" * 64])
def test_names_must_be_lowercase_hex64(store: XorbStore, name: str):
    with pytest.raises(BadRequest):
        store.xorb_path(name)
    with pytest.raises(BadRequest):
        store.shard_path(name)
