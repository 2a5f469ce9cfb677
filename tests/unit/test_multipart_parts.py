"""The edges of multipart LFS uploads (blobs/local.py, blobs/multipart.py) on real files in a temp directory: the
part numbers and sizes a store accepts, the checkpoints that let a completion skip reading parts back (and what
happens when one is dropped), markers cut off midway, read-back to the last byte, and the file descriptors a part
request opens and closes. The main paths are in test_blob_store.py."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from pathlib import Path

import pytest

from modelyard.blobs import files, multipart
from modelyard.blobs.local import HashMismatch, LocalBlobStore
from modelyard.domain.errors import BadRequest, Conflict


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "lfs")


def _send(store: LocalBlobStore, upload: str, oid: str, number: int, part_size: int, size: int, data: bytes) -> str:
    writer = store.part_writer(upload, oid, number, part_size, size)
    writer.write(data)
    return writer.finish()


def _folder(store: LocalBlobStore) -> Path:
    (folder,) = store.parts_dir.iterdir()
    return folder


@pytest.mark.parametrize(("part_size", "size"), [(0, 10), (-1, 10), (10, 0), (10, -1), (0, 0)])
def test_part_size_and_object_size_must_be_positive(store: LocalBlobStore, part_size: int, size: int):
    with pytest.raises(BadRequest, match="positive part size and object size"):
        store.part_writer("7", "a" * 64, 1, part_size, size)
    with pytest.raises(BadRequest, match="positive part size and object size"):
        store.complete_multipart("7", "a" * 64, [1], part_size, size)


def test_one_byte_parts_and_a_one_byte_object_are_accepted(store: LocalBlobStore):
    data = b"abc"
    for number, byte in enumerate(data, start=1):
        _send(store, "7", sha(data), number, 1, 3, bytes([byte]))
    store.complete_multipart("7", sha(data), [1, 2, 3], 1, 3)
    assert store.path(sha(data)).read_bytes() == data
    _send(store, "8", sha(b"z"), 1, 10, 1, b"z")  # one part, shorter than the part size
    store.complete_multipart("8", sha(b"z"), [1], 10, 1)
    assert store.path(sha(b"z")).read_bytes() == b"z"


@pytest.mark.parametrize("number", [0, -1, 3])
def test_part_numbers_run_from_1_to_the_number_of_parts(store: LocalBlobStore, number: int):
    with pytest.raises(BadRequest, match="parts 1 to 2"):
        store.part_writer("7", "a" * 64, number, 10, 15)
    assert not any(store.parts_dir.iterdir()), "a refused part number leaves no folder"


def test_completing_an_upload_that_never_started_is_refused(store: LocalBlobStore):
    with pytest.raises(BadRequest, match="Part 1 of object"):
        store.complete_multipart("7", "a" * 64, [1, 2], 10, 15)


def test_deleting_a_blob_that_is_not_stored_is_fine(store: LocalBlobStore):
    store.delete("a" * 64)


def test_the_upload_file_has_the_objects_size_from_its_first_part(store: LocalBlobStore):
    data = os.urandom(30)
    _send(store, "7", sha(data), 1, 10, 30, data[:10])
    assert (_folder(store) / "data").stat().st_size == 30, "parts land at their offsets in a file of the whole size"


def test_upload_files_are_private_to_the_servers_user(store: LocalBlobStore):
    data = os.urandom(20)
    _send(store, "7", sha(data), 1, 10, 20, data[:10])
    for path in _folder(store).iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    _send(store, "7", sha(data), 2, 10, 20, data[10:])
    store.complete_multipart("7", sha(data), [1, 2], 10, 20)
    assert stat.S_IMODE(store.path(sha(data)).stat().st_mode) == 0o600, "the published blob is the parts' file"


def test_etags_are_32_hex_digits_and_differ_per_write(store: LocalBlobStore):
    data = os.urandom(20)
    etags = {_send(store, "7", sha(data), 1, 10, 20, data[:10]) for _ in range(3)}
    assert len(etags) == 3
    assert all(len(etag) == 32 and int(etag, 16) >= 0 for etag in etags)


def test_a_marker_cut_off_midway_counts_as_not_received(store: LocalBlobStore):
    data = os.urandom(20)
    oid = sha(data)
    etag = _send(store, "7", oid, 1, 10, 20, data[:10])
    _send(store, "7", oid, 2, 10, 20, data[10:])
    marker = _folder(store) / "1"
    for cut in (etag[:7], etag, f"{etag} ", f"{etag} 1x", f" {10}"):
        marker.write_text(cut)
        with pytest.raises(BadRequest, match="Part 1 of object"):
            store.complete_multipart("7", oid, [1, 2], 10, 20)
    marker.write_text(f"{etag} 10")
    store.complete_multipart("7", oid, [1, 2], 10, 20)
    assert store.path(oid).read_bytes() == data


def test_read_back_reaches_a_last_piece_of_one_byte(store: LocalBlobStore):
    """Parts 3 then 1 and 2: the checkpoint covers parts 1 and 2, the completion reads back the 1 byte of part 3."""
    data = os.urandom(2001)
    oid = sha(data)
    _send(store, "7", oid, 3, 1000, 2001, data[2000:])
    _send(store, "7", oid, 1, 1000, 2001, data[:1000])
    _send(store, "7", oid, 2, 1000, 2001, data[1000:2000])
    store.complete_multipart("7", oid, [1, 2, 3], 1000, 2001)
    assert store.path(oid).read_bytes() == data


def test_read_back_of_more_than_one_read(store: LocalBlobStore):
    """No checkpoint (parts sent last to first): the whole file is read back, in several READ_BACK reads."""
    size = 2 * multipart.READ_BACK + 17
    data = os.urandom(size)
    oid = sha(data)
    part = multipart.READ_BACK
    for number in (3, 2, 1):
        start = (number - 1) * part
        _send(store, "7", oid, number, part, size, data[start : start + part])
    store.complete_multipart("7", oid, [1, 2, 3], part, size)
    assert store.path(oid).read_bytes() == data


def test_a_file_shorter_than_announced_is_refused_not_looped_on(tmp_path: Path):
    path = tmp_path / "short"
    path.write_bytes(b"0123456789")
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(HashMismatch, match="ends at byte 10"):
            multipart._sha256_from(fd, 11, multipart.Checkpoint(0, hashlib.sha256(), ()))
        assert multipart._sha256_from(fd, 10, multipart.Checkpoint(0, hashlib.sha256(), ())) == sha(b"0123456789")
    finally:
        os.close(fd)


def test_a_file_renamed_away_is_no_longer_the_upload(tmp_path: Path):
    path = tmp_path / "data"
    path.write_bytes(b"x")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert multipart._same_file(fd, path)
        path.rename(tmp_path / "published")
        assert not multipart._same_file(fd, path)
        path.write_bytes(b"y")  # a new upload's file at the same path
        assert not multipart._same_file(fd, path)
    finally:
        os.close(fd)


def test_a_part_for_a_folder_removed_meanwhile_is_a_conflict(tmp_path: Path):
    with pytest.raises(Conflict, match="completed meanwhile"):
        multipart._open_in(tmp_path / "completed-and-removed", "1")


def test_a_checkpoint_is_a_frozen_value():
    checkpoint = multipart.Checkpoint(0, hashlib.sha256(), ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        checkpoint.position = 1  # type: ignore[misc]


def _reached(position: int) -> multipart.Checkpoint:
    return multipart.Checkpoint(position, hashlib.sha256(), (f"etag{position}",))


def test_256_uploads_keep_their_checkpoints_and_the_least_recent_goes_first():
    checkpoints = multipart.Checkpoints()
    start = multipart.Checkpoint(0, hashlib.sha256(), ())
    for upload in range(257):
        checkpoints.advance(str(upload), start, _reached(10))
    assert checkpoints.resume_at("0", 10) is None, "the 257th upload pushed out the least recent one"
    assert checkpoints.resume_at("1", 10) is not None
    assert checkpoints.resume_at("256", 10) is not None
    assert all(checkpoints.take(str(upload)) is not None for upload in range(1, 257))


def test_a_part_whose_checkpoint_was_dropped_meanwhile_still_makes_the_blob(store: LocalBlobStore):
    """Part 2 starts from part 1's checkpoint; 256 other uploads push that checkpoint out before part 2 ends: the
    completion hashes the file instead."""
    data = os.urandom(20)
    oid = sha(data)
    _send(store, "7", oid, 1, 10, 20, data[:10])
    second = store.part_writer("7", oid, 2, 10, 20)
    for upload in range(256):
        _send(store, f"other{upload}", sha(b"o" * 20), 1, 10, 20, b"o" * 10)
    second.write(data[10:])
    second.finish()
    store.complete_multipart("7", oid, [1, 2], 10, 20)
    assert store.path(oid).read_bytes() == data


def _fds() -> dict[int, str]:
    """This process's open descriptors and what each one is (the listing's own descriptor left out)."""
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except FileNotFoundError:
            continue  # the listing's own descriptor, closed by now
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="lists open file descriptors through /proc")
def test_a_part_request_closes_what_it_opened_and_nothing_else(store: LocalBlobStore):
    data = os.urandom(20)
    oid = sha(data)
    before = _fds()
    busy = store.part_writer("7", oid, 1, 10, 20)
    with pytest.raises(Conflict):
        store.part_writer("7", oid, 1, 10, 20)  # refused before it opened the upload's file
    busy.write(data[:10])
    busy.finish()
    busy.discard()  # again, as a front door's error path may: nothing more is closed
    short = store.part_writer("7", oid, 2, 10, 20)
    short.write(data[10:15])
    with pytest.raises(BadRequest):
        short.finish()
    short.discard()
    assert _fds() == before


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="lists open file descriptors through /proc")
def test_descriptor_0_is_closed_too(store: LocalBlobStore):
    """A server started without stdin gets descriptor 0 for the first file it opens."""
    saved = os.dup(0)
    os.close(0)
    try:
        writer = store.part_writer("7", "a" * 64, 1, 10, 20)
        assert 0 in _fds()
        writer.discard()
        assert 0 not in _fds()
    finally:
        os.dup2(saved, 0)
        os.close(saved)


class _Hints:
    """Stands in for libc's sync_file_range: records each writeback request."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int, int]] = []

    def __call__(self, fd: int, offset: int, length: int, flags: int) -> int:
        self.calls.append((fd, offset, length, flags))
        return 0


@pytest.fixture
def hints(monkeypatch) -> _Hints:
    recorder = _Hints()
    monkeypatch.setattr(files, "_SYNC_FILE_RANGE", recorder)
    monkeypatch.setattr(multipart, "WRITEBACK_EVERY", 6000)
    return recorder


def test_a_part_asks_the_kernel_to_write_back_each_byte_once(store: LocalBlobStore, hints: _Hints):
    """Writeback is requested every WRITEBACK_EVERY bytes and for the rest at the part's end, with
    SYNC_FILE_RANGE_WRITE (start writing, never wait); never with length 0, which means "to the end of the file"."""
    size = 20_001
    data = os.urandom(size)
    oid = sha(data)
    writer = store.part_writer("7", oid, 2, 10_000, size)
    for start in range(10_000, 20_000, 3000):
        writer.write(data[start : min(start + 3000, 20_000)])
    writer.write(b"")
    writer.finish()
    assert [call[1:] for call in hints.calls] == [(10_000, 6000, 2), (16_000, 4000, 2)]
    hints.calls.clear()
    writer = store.part_writer("7", oid, 3, 10_000, size)  # the last part: 1 byte
    writer.write(data[20_000:])
    writer.write(b"")
    writer.finish()
    assert [call[1:] for call in hints.calls] == [(20_000, 1, 2)]
    _send(store, "7", oid, 1, 10_000, size, data[:10_000])
    store.complete_multipart("7", oid, [1, 2, 3], 10_000, size)
    assert store.path(oid).read_bytes() == data
