"""Plain copies of Xet files (services/xet_copies.py): the commit that hashes a Xet upload's sha256 claim keeps the
bytes it rebuilt as a file, and plain downloads (curl, git-lfs, HF_HUB_DISABLE_XET=1) read that file. A copy is
published only when its bytes hash to the verified sha256, is never served when it is not whole, is rebuilt in the
background after a download missed it, and the copies stay within their disk budget (the least recently used go).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from conftest import launch_server
from helpers import error_text, header_line, lfs_file_line, ndjson, post_commit, sha256_bytes
from helpers.xet import Upload, build_upload, upload_by_hand

MIB = 1024 * 1024


def _copy(data_dir: Path, upload: Upload) -> Path:
    return data_dir / "xet" / "plain" / upload.file_hash


def _commit_by_hand(client: httpx.Client, repo_id: str, path: str, data: bytes) -> Upload:
    upload = build_upload(data)
    assert upload_by_hand(client, repo_id, upload).status_code == 200
    response = post_commit(client, repo_id, ndjson(header_line(path), lfs_file_line(path, upload.sha256, len(data))))
    assert response.status_code == 200, error_text(response)
    return upload


def _wait_for(condition, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _check_plain_download(client: httpx.Client, url: str, data: bytes) -> httpx.Response:
    """The whole file, single ranges, a range past the end and HEAD answer as for any stored file."""
    size = len(data)
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-length"] == str(size)
    assert whole.headers["etag"].strip('"') == sha256_bytes(data)
    cases = {
        "bytes=0-0": (0, 1),
        f"bytes={size // 2}-": (size // 2, size),
        "bytes=-1000": (size - 1000, size),
        f"bytes={size - 10}-{size + 1000}": (size - 10, size),
        "bytes=65530-1048580": (65530, 1048581),
    }
    for header, (start, end) in cases.items():
        part = client.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == data[start:end], header
        assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{size}", header
    beyond = client.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers.get("content-range") == f"bytes */{size}"
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(size)
    return whole


def test_the_commit_that_hashes_a_claim_keeps_a_copy_that_plain_downloads_read(server, make_repo, alice_http, http):
    repo_id = make_repo({"README.md": b"hello\n"})
    data = os.urandom(3 * MIB + 77)
    upload = _commit_by_hand(alice_http, repo_id, "w.bin", data)
    copy = _copy(server.data_dir, upload)
    assert copy.read_bytes() == data

    whole = _check_plain_download(http, f"/{repo_id}/resolve/main/w.bin", data)
    assert "last-modified" in whole.headers  # sent from the file, like an LFS blob

    batch = alice_http.post(
        f"/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "download", "objects": [{"oid": upload.sha256, "size": len(data)}]},
        headers={"Accept": "application/vnd.git-lfs+json"},
    )
    action = batch.json()["objects"][0]["actions"]["download"]
    assert httpx.get(action["href"], headers=action.get("header", {}), timeout=60).content == data


def test_a_missing_or_cut_short_copy_is_never_served_and_is_rebuilt(server, make_repo, alice_http, http):
    repo_id = make_repo({"README.md": b"hello\n"})
    data = os.urandom(2 * MIB + 5)
    upload = _commit_by_hand(alice_http, repo_id, "w.bin", data)
    copy = _copy(server.data_dir, upload)
    url = f"/{repo_id}/resolve/main/w.bin"

    copy.unlink()
    missed = http.get(url)
    assert missed.status_code == 200 and missed.content == data
    assert "last-modified" not in missed.headers  # rebuilt from the xorbs
    assert _wait_for(lambda: copy.is_file() and copy.stat().st_size == len(data)), "the copy was not rebuilt"
    assert copy.read_bytes() == data

    with copy.open("r+b") as cut:
        cut.truncate(len(data) // 2)
    assert http.get(url).content == data
    assert _wait_for(lambda: copy.stat().st_size == len(data)), "the cut-short copy was not rebuilt"
    assert copy.read_bytes() == data


def test_a_false_claim_gets_no_copy(server, make_repo, alice_http, http):
    repo_id = make_repo({"README.md": b"hello\n"})
    truth = os.urandom(200 * 1024)
    oid = sha256_bytes(truth)
    lie = build_upload(os.urandom(len(truth)), claimed_sha256=oid)
    assert upload_by_hand(alice_http, repo_id, lie).status_code == 200
    refused = post_commit(alice_http, repo_id, ndjson(header_line("lie"), lfs_file_line("lie.bin", oid, len(truth))))
    assert refused.status_code == 400, error_text(refused)
    assert not _copy(server.data_dir, lie).exists()

    honest = _commit_by_hand(alice_http, repo_id, "t.bin", truth)
    assert _copy(server.data_dir, honest).read_bytes() == truth
    assert http.get(f"/{repo_id}/resolve/main/t.bin").content == truth


@pytest.mark.slow  # a server of its own: two admin commands and a start, seconds each
def test_copies_stay_within_their_budget_and_larger_files_are_rebuilt_while_sent(tmp_path: Path):
    from huggingface_hub import HfApi

    budget = 5 * MIB
    with launch_server(tmp_path / "tight", extra_env={"MODELYARD_XET_PLAIN_COPIES_BYTES": str(budget)}) as tight:
        tight.create_user("dana")
        token = tight.create_token("dana")
        HfApi(endpoint=tight.url, token=token).create_repo("dana/m")
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=tight.url, headers=headers, timeout=120) as client:
            files = {name: os.urandom(2 * MIB + index) for index, name in enumerate("abc")}
            uploads = {}
            for name in "ab":
                uploads[name] = _commit_by_hand(client, "dana/m", name, files[name])
            assert client.get("/dana/m/resolve/main/a").content == files["a"]  # a is now used more recently than b
            uploads["c"] = _commit_by_hand(client, "dana/m", "c", files["c"])
            kept = {name for name, upload in uploads.items() if _copy(tight.data_dir, upload).exists()}
            assert kept == {"a", "c"}
            assert sum(p.stat().st_size for p in (tight.data_dir / "xet" / "plain").glob("*") if p.is_file()) <= budget
            for name, data in files.items():
                assert client.get(f"/dana/m/resolve/main/{name}").content == data

            big = os.urandom(budget + 1)
            over = _commit_by_hand(client, "dana/m", "big", big)
            assert not _copy(tight.data_dir, over).exists()
            whole = _check_plain_download(client, "/dana/m/resolve/main/big", big)
            assert "last-modified" not in whole.headers  # rebuilt from the xorbs while sent
            assert not _copy(tight.data_dir, over).exists()


@pytest.mark.slow  # three server starts
def test_copies_survive_a_restart_but_not_a_reboot(tmp_path: Path):
    """A start removes a crashed writer's old temp files, and every copy only after the machine rebooted."""
    from huggingface_hub import HfApi

    with launch_server(tmp_path / "first") as first:
        first.create_user("erin")
        token = first.create_token("erin")
        HfApi(endpoint=first.url, token=token).create_repo("erin/m")
        with httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            data = os.urandom(MIB)
            copy = _copy(first.data_dir, _commit_by_hand(client, "erin/m", "w.bin", data))
        temps = copy.parent / "tmp"
        stale, live = temps / "crashed-writer", temps / "live-writer"
        for temp in (stale, live):
            temp.write_bytes(b"part of a copy")
        two_days_ago = time.time() - 2 * 24 * 3600
        os.utime(stale, (two_days_ago, two_days_ago))
        with launch_server(tmp_path / "second", share=first):  # another process, same boot: the copy stays
            assert copy.read_bytes() == data
            assert not stale.exists() and live.exists()
        (first.data_dir / "xet" / "plain" / "boot_id").write_text("a boot before a crash")
        with launch_server(tmp_path / "third", share=first) as third:
            assert not copy.exists()
            assert (
                httpx.get(
                    f"{third.url}/erin/m/resolve/main/w.bin", headers={"Authorization": f"Bearer {token}"}
                ).content
                == data
            )
