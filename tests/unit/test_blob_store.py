"""The local LFS blob store on a temp directory: a blob is published only when its bytes hash to the announced
sha256 and have the announced size, once, atomically; multipart parts land in one file, verified and renamed into
place."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from modelyard.blobs import files, multipart
from modelyard.blobs.files import HashingFile, TempFile, publish, read_range, sharded_path
from modelyard.blobs.local import HashMismatch, LocalBlobStore
from modelyard.domain.errors import BadRequest, Conflict, TooLarge


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "lfs")


def _write(store: LocalBlobStore, data: bytes, oid: str, size: int | None = None, max_size: int = 10**9) -> None:
    writer = store.writer(max_size)
    for start in range(0, len(data), 7000):  # several writes, like a streamed body
        writer.write(data[start : start + 7000])
    writer.finish(oid, size)


def _leftovers(store: LocalBlobStore) -> list[Path]:
    return [p for p in store.tmp_dir.rglob("*") if p.is_file()]


def test_a_verified_blob_is_published_at_its_sharded_path(store: LocalBlobStore):
    data = os.urandom(50_000)
    oid = sha(data)
    assert store.size(oid) is None
    _write(store, data, oid, len(data))
    path = store.path(oid)
    assert path == store.objects_dir / oid[:2] / oid[2:4] / oid
    assert path.read_bytes() == data
    assert store.size(oid) == len(data)
    assert _leftovers(store) == []


def test_wrong_bytes_are_refused_and_leave_nothing(store: LocalBlobStore):
    data = os.urandom(20_000)
    with pytest.raises(HashMismatch, match="sha256"):
        _write(store, data[:-1] + bytes([data[-1] ^ 1]), sha(data), len(data))
    assert store.size(sha(data)) is None
    assert _leftovers(store) == []


def test_right_bytes_of_the_wrong_size_are_refused(store: LocalBlobStore):
    data = os.urandom(1000)
    with pytest.raises(HashMismatch, match="1000 bytes"):
        _write(store, data, sha(data), 999)
    assert store.size(sha(data)) is None
    _write(store, data, sha(data), None)  # no announced size: the hash alone decides
    assert store.size(sha(data)) == 1000


def test_a_body_over_the_limit_is_too_large(store: LocalBlobStore):
    writer = store.writer(max_size=100)
    writer.write(b"x" * 100)  # exactly the limit is fine
    with pytest.raises(TooLarge):
        writer.write(b"x")
    writer.discard()
    assert _leftovers(store) == []


def test_publishing_is_write_once(store: LocalBlobStore, tmp_path: Path):
    data = b"the same content twice"
    _write(store, data, sha(data))
    _write(store, data, sha(data))  # identical content again: no error, one file
    assert store.path(sha(data)).read_bytes() == data
    other = tmp_path / "other"
    other.write_bytes(b"something else")
    assert publish(other, store.path(sha(data))) is False
    assert store.path(sha(data)).read_bytes() == data
    assert other.exists()  # not moved over the existing blob


def test_publish_creates_the_directories_and_moves_the_file(tmp_path: Path):
    source = tmp_path / "tmp-file"
    source.write_bytes(b"payload")
    final = sharded_path(tmp_path / "objects", "abcdef")
    assert final == tmp_path / "objects" / "ab" / "cd" / "abcdef"
    assert publish(source, final) is True
    assert final.read_bytes() == b"payload"
    assert not source.exists()


@pytest.mark.parametrize("oid", ["", "abc", "g" * 64, "A" * 64, "../" + "a" * 61, "a" * 65])
def test_object_ids_must_be_sha256_hex(store: LocalBlobStore, oid: str):
    with pytest.raises(BadRequest):
        store.path(oid)
    with pytest.raises(BadRequest):
        store.part_writer("1", oid, 1, 100, 100)


PART = 10_000


def _upload_parts(store: LocalBlobStore, upload: str, oid: str, size: int, parts: dict[int, bytes]) -> dict[int, str]:
    etags = {}
    for number, data in parts.items():
        writer = store.part_writer(upload, oid, number, PART, size)
        for start in range(0, len(data), 3000):  # several writes, like a streamed body
            writer.write(data[start : start + 3000])
        etags[number] = writer.finish()
    return etags


def _parts(data: bytes) -> dict[int, bytes]:
    return {number: data[start : start + PART] for number, start in enumerate(range(0, len(data), PART), start=1)}


def _upload_folder(store: LocalBlobStore) -> Path:
    (folder,) = store.parts_dir.iterdir()
    return folder


def test_multipart_parts_land_in_one_file_that_becomes_the_blob(store: LocalBlobStore):
    data = os.urandom(3 * PART - 123)
    oid = sha(data)
    etags = _upload_parts(store, "7", oid, len(data), _parts(data))
    assert len(set(etags.values())) == 3
    folder = _upload_folder(store)
    assert sorted(p.name for p in folder.iterdir()) == ["1", "2", "3", "data"]  # one file of bytes, three markers
    inode = (folder / "data").stat().st_ino
    store.complete_multipart("7", oid, [3, 1, 2], PART, len(data))
    assert store.path(oid).read_bytes() == data
    assert store.path(oid).stat().st_ino == inode, "the parts' file is the blob: renamed, not copied"
    assert not any(store.parts_dir.iterdir()), "the upload's folder goes once published"


def test_parts_sent_in_order_are_hashed_once_while_they_arrive(store: LocalBlobStore, monkeypatch):
    """What huggingface_hub does: the completion then reads nothing back, it only syncs and renames."""
    data = os.urandom(3 * PART - 1)
    oid = sha(data)
    _upload_parts(store, "7", oid, len(data), _parts(data))

    def no_read_back(*args: object) -> int:
        raise AssertionError("the completion read the parts back")

    monkeypatch.setattr(multipart.os, "preadv", no_read_back)
    store.complete_multipart("7", oid, [1, 2, 3], PART, len(data))
    assert store.path(oid).read_bytes() == data


@pytest.mark.parametrize("order", [[3, 2, 1], [2, 1, 3], [1, 3, 2], [1, 2, 3, 2], [1, 2, 3, 1]])
def test_multipart_parts_in_any_order_or_sent_again_make_the_blob(store: LocalBlobStore, order: list[int]):
    """In order, the hash is made while the parts arrive; otherwise (or for a part sent again) what the in-order
    hash does not cover is read back from the file: the result is the same."""
    data = os.urandom(3 * PART)
    oid = sha(data)
    parts = _parts(data)
    for number in order:
        _upload_parts(store, "7", oid, len(data), {number: parts[number]})
    store.complete_multipart("7", oid, [1, 2, 3], PART, len(data))
    assert store.path(oid).read_bytes() == data


def test_a_part_sent_again_with_other_bytes_is_what_the_blob_is_checked_against(store: LocalBlobStore):
    """The hash made while parts 1 to 3 arrived covers part 2's first bytes; its second write replaced them."""
    data = os.urandom(3 * PART)
    oid = sha(data)
    parts = _parts(data)
    _upload_parts(store, "7", oid, len(data), parts)
    _upload_parts(store, "7", oid, len(data), {2: os.urandom(PART)})
    with pytest.raises(HashMismatch, match="sha256"):
        store.complete_multipart("7", oid, [1, 2, 3], PART, len(data))
    assert store.size(oid) is None
    _upload_parts(store, "7", oid, len(data), {2: parts[2]})  # the right bytes again: now it goes through
    store.complete_multipart("7", oid, [1, 2, 3], PART, len(data))
    assert store.path(oid).read_bytes() == data


def test_multipart_with_a_wrong_part_publishes_nothing(store: LocalBlobStore):
    data = os.urandom(2 * PART)
    oid = sha(data)
    _upload_parts(store, "7", oid, len(data), {1: data[:PART], 2: os.urandom(PART)})
    with pytest.raises(HashMismatch):
        store.complete_multipart("7", oid, [1, 2], PART, len(data))
    assert store.size(oid) is None
    assert _leftovers(store) == []


def test_multipart_with_a_missing_part_publishes_nothing(store: LocalBlobStore):
    data = os.urandom(2 * PART)
    oid = sha(data)
    _upload_parts(store, "7", oid, len(data), {1: data[:PART]})
    with pytest.raises(BadRequest, match="Part 2"):
        store.complete_multipart("7", oid, [1, 2], PART, len(data))
    assert store.size(oid) is None


def test_a_part_cut_off_midway_counts_as_not_received(store: LocalBlobStore):
    data = os.urandom(2 * PART)
    oid = sha(data)
    _upload_parts(store, "7", oid, len(data), _parts(data))
    writer = store.part_writer("7", oid, 2, PART, len(data))  # part 2 again, and the connection drops
    writer.write(os.urandom(PART // 2))
    writer.discard()
    with pytest.raises(BadRequest, match="Part 2"):
        store.complete_multipart("7", oid, [1, 2], PART, len(data))
    assert store.size(oid) is None


def test_a_completion_must_list_every_part_once(store: LocalBlobStore):
    data = os.urandom(2 * PART)
    oid = sha(data)
    _upload_parts(store, "7", oid, len(data), _parts(data))
    for numbers in ([1], [1, 1], [1, 3], [0, 1, 2]):
        with pytest.raises(BadRequest, match="each once"):
            store.complete_multipart("7", oid, numbers, PART, len(data))
    store.complete_multipart("7", oid, [2, 1], PART, len(data))
    assert store.path(oid).read_bytes() == data


def test_multipart_parts_of_other_uploads_never_mix(store: LocalBlobStore):
    data = os.urandom(2 * PART)
    oid = sha(data)
    _upload_parts(store, "1", oid, len(data), _parts(data))
    _upload_parts(store, "2", oid, len(data), {1: os.urandom(PART)})
    with pytest.raises(BadRequest, match="Part 2"):
        store.complete_multipart("2", oid, [1, 2], PART, len(data))  # upload 2 never sent its part 2
    store.complete_multipart("1", oid, [1, 2], PART, len(data))
    assert store.path(oid).read_bytes() == data


def _put_part(store: LocalBlobStore, oid: str, number: int, part_size: int, size: int, data: bytes) -> str:
    writer = store.part_writer("7", oid, number, part_size, size)
    writer.write(data)
    return writer.finish()


def test_parts_cut_another_way_never_write_into_an_upload_hashed_as_it_arrived(store: LocalBlobStore):
    # One repository may obtain part URLs of one object with two part sizes (the part size depends on how many
    # objects its batch names). A part of the other cut must not overwrite bytes that a checkpoint already hashed:
    # the completion would publish those bytes under a sha256 they do not have.
    data = os.urandom(2 * PART)
    oid = sha(data)
    _put_part(store, oid, 1, PART, len(data), data[:PART])  # hashed as it arrived
    other_cut = PART * 2 // 3
    _put_part(store, oid, 2, other_cut, len(data), os.urandom(other_cut))  # bytes PART*2/3.. of part 1, overwritten
    _put_part(store, oid, 2, PART, len(data), data[PART:])
    store.complete_multipart("7", oid, [1, 2], PART, len(data))
    assert store.path(oid).read_bytes() == data


def test_a_part_request_reserves_no_more_disk_than_it_sends(store: LocalBlobStore):
    # A part URL for an object of the largest size, and a request that sends nothing: the disk must not hold the
    # object's whole size until the leftovers sweep (a few empty requests would fill it).
    size = 256 * 1024 * 1024
    oid = sha(b"never sent")
    writer = store.part_writer("7", oid, 2, PART, size)
    writer.write(os.urandom(PART))
    writer.discard()
    (data,) = store.parts_dir.glob("*/data")
    assert data.stat().st_blocks * 512 < 2 * 1024 * 1024


def test_one_part_is_received_by_one_request_at_a_time(store: LocalBlobStore):
    """Two writes of one part at once would interleave their bytes in the file: the second is refused while the
    first runs, and a completion while any part is being received is refused too."""
    data = os.urandom(2 * PART)
    oid = sha(data)
    first = store.part_writer("7", oid, 1, PART, len(data))
    with pytest.raises(Conflict):
        store.part_writer("7", oid, 1, PART, len(data))
    _upload_parts(store, "7", oid, len(data), {2: data[PART:]})  # another part is fine
    with pytest.raises(Conflict):
        store.complete_multipart("7", oid, [1, 2], PART, len(data))
    first.write(data[:PART])
    first.finish()
    store.complete_multipart("7", oid, [1, 2], PART, len(data))
    assert store.path(oid).read_bytes() == data


def test_a_part_must_have_its_exact_length(store: LocalBlobStore):
    oid = "b" * 64
    writer = store.part_writer("1", oid, 1, 10, 15)
    with pytest.raises(TooLarge, match="Part"):
        writer.write(b"x" * 11)
    writer.discard()
    writer = store.part_writer("1", oid, 2, 10, 15)  # the last part holds the 5 bytes left
    writer.write(b"x" * 4)
    with pytest.raises(BadRequest, match="4 bytes, not 5"):
        writer.finish()
    with pytest.raises(BadRequest, match="parts 1 to 2"):
        store.part_writer("1", oid, 3, 10, 15)


@pytest.mark.parametrize(
    ("start", "end"), [(0, None), (0, 0), (0, 1), (5, 17), (1024 * 1024 - 1, 1024 * 1024 + 1), (2_000_000, None)]
)
def test_read_range_returns_exactly_the_bytes(tmp_path: Path, start: int, end: int | None):
    data = os.urandom(2 * 1024 * 1024 + 5)  # over two read chunks
    path = tmp_path / "file"
    path.write_bytes(data)
    pieces = list(read_range(path, start, end))
    assert b"".join(pieces) == data[start:end]
    assert all(0 < len(piece) <= 1024 * 1024 for piece in pieces)


def test_hashing_file_hashes_and_maps_what_was_written(tmp_path: Path):
    file = HashingFile(tmp_path, max_size=100)
    file.write(b"hello ")
    file.write(b"world")
    assert file.size == 11
    assert file.sha256 == sha(b"hello world")
    with file.mapped() as view:
        assert bytes(view) == b"hello world"
    file.close_synced(keep=5)
    assert file.path.read_bytes() == b"hello"
    assert file.size == 5
    file.discard()
    assert not file.path.exists()


def test_an_empty_temp_file_maps_to_no_bytes(tmp_path: Path):
    file = TempFile(tmp_path, max_size=10)
    with file.mapped() as view:
        assert bytes(view) == b""
    file.close_synced(keep=3)  # keeping more than was written changes nothing
    assert file.path.read_bytes() == b""
    file.discard()


def test_a_store_reopens_its_existing_directories(store: LocalBlobStore):
    """A restarted server opens the same data dir: the blobs stored before are still there."""
    data = b"kept across restarts"
    _write(store, data, sha(data))
    reopened = LocalBlobStore(store.root)
    assert reopened.path(sha(data)).read_bytes() == data


def test_objects_sharing_a_shard_directory_are_both_published(tmp_path: Path):
    first, second = tmp_path / "one", tmp_path / "two"
    first.write_bytes(b"1")
    second.write_bytes(b"2")
    assert publish(first, sharded_path(tmp_path, "abcd" + "1" * 60)) is True
    assert publish(second, sharded_path(tmp_path, "abcd" + "2" * 60)) is True  # ab/cd/ exists already
    assert sharded_path(tmp_path, "abcd" + "2" * 60).read_bytes() == b"2"


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts open file descriptors through /proc")
def test_discarding_an_upload_closes_its_file(tmp_path: Path):
    before = _open_fds()
    for _ in range(20):
        file = TempFile(tmp_path, max_size=10)
        file.write(b"abc")
        file.discard()  # an upload that failed half-way: no descriptor may stay open
    assert _open_fds() == before
    assert list(tmp_path.iterdir()) == []


def test_a_slice_kept_past_the_mapping_does_not_break_it(tmp_path: Path):
    file = HashingFile(tmp_path, max_size=100)
    file.write(b"0123456789")
    with file.mapped() as view:
        kept = view[2:5]  # still referenced when the mapping closes (as an error's traceback would)
    assert bytes(kept) == b"234"
    file.discard()


def test_read_range_reads_a_file_larger_than_one_read_in_full_chunks(tmp_path: Path):
    data = os.urandom(2 * files.READ_CHUNK + 3)
    path = tmp_path / "file"
    path.write_bytes(data)
    pieces = list(read_range(path, 1))
    assert [len(piece) for piece in pieces] == [files.READ_CHUNK, files.READ_CHUNK, 2]
    assert b"".join(pieces) == data[1:]


def test_an_upload_asks_the_kernel_to_write_back_each_byte_once(tmp_path: Path, monkeypatch):
    """Every WRITEBACK_EVERY bytes the kernel is asked to start writing the new ones (SYNC_FILE_RANGE_WRITE: start,
    never wait); the fsync at the end still leaves the whole file on disk."""
    calls: list[tuple[int, int, int]] = []

    def sync_file_range(fd: int, offset: int, length: int, flags: int) -> int:  # stands in for libc's
        calls.append((offset, length, flags))
        return 0

    monkeypatch.setattr(files, "_SYNC_FILE_RANGE", sync_file_range)
    monkeypatch.setattr(files, "WRITEBACK_EVERY", 1000)
    file = HashingFile(tmp_path, max_size=10_000)
    data = os.urandom(2700)
    for start in range(0, 2700, 500):
        file.write(data[start : start + 500])
    assert calls == [(0, 1000, 2), (1000, 1000, 2)]
    file.close_synced()
    assert file.path.read_bytes() == data
    assert file.sha256 == sha(data)
    file.discard()


def _age(path: Path, seconds: float) -> None:
    when = time.time() - seconds
    os.utime(path, (when, when))


def test_the_sweep_removes_what_is_older_than_max_age_and_counts_it(store: LocalBlobStore):
    stale = [store.tmp_dir / f"tmp-old{n}" for n in range(10)]
    live = [store.tmp_dir / f"tmp-new{n}" for n in range(10)]
    for path in stale + live:
        path.write_bytes(b"x")
    for path in stale:
        _age(path, 7200)
    for path in live:
        _age(path, 60)  # written to a minute ago: a live upload
    old_upload = store.parts_dir / "7-upload"
    (old_upload / "sub").mkdir(parents=True)
    (old_upload / "sub" / "1").write_bytes(b"x")
    for path in (old_upload / "sub" / "1", old_upload / "sub", old_upload):
        _age(path, 7200)
    assert store.sweep(3600) == 11
    assert sorted(store.tmp_dir.iterdir()) == sorted(live)
    assert not any(store.parts_dir.iterdir())
    assert store.sweep(3600) == 0


def test_an_upload_folder_written_to_recently_is_kept(store: LocalBlobStore):
    """A folder's own mtime only changes when entries come or go: a part being written keeps it alive."""
    upload = store.parts_dir / "7-upload"
    upload.mkdir()
    (upload / "data").write_bytes(b"x")
    _age(upload, 7200)
    assert store.sweep(3600) == 0
    assert (upload / "data").exists()


def test_entries_that_vanish_during_the_sweep_do_not_stop_it(store: LocalBlobStore):
    """A dangling link stands for an entry another process swept between the listing and its stat."""
    for n in range(5):
        (store.tmp_dir / f"tmp-gone{n}").symlink_to(store.tmp_dir / "nowhere")
    stale = [store.tmp_dir / f"tmp-old{n}" for n in range(20)]
    for path in stale:
        path.write_bytes(b"x")
        _age(path, 7200)
    assert store.sweep(3600) == 20
    assert not any(path.exists() for path in stale)


def test_the_sweep_keeps_what_is_exactly_max_age_old(tmp_path: Path, monkeypatch):
    now = 2_000_000_000.0
    monkeypatch.setattr(files.time, "time", lambda: now)
    (tmp_path / "edge").write_bytes(b"x")
    os.utime(tmp_path / "edge", (now - 100, now - 100))
    (tmp_path / "older").write_bytes(b"x")
    os.utime(tmp_path / "older", (now - 101, now - 101))
    assert files.remove_stale(tmp_path, 100) == 1
    assert [path.name for path in tmp_path.iterdir()] == ["edge"]


def test_sweeping_a_missing_directory_removes_nothing(tmp_path: Path):
    assert files.remove_stale(tmp_path / "missing", 0) == 0
