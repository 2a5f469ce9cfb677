"""Every form of Range header, against every way a file is stored and served: a regular file (git blob), an
LFS blob (on resolve and on the signed LFS download URL) and Xet-only files (sent from a plain copy, or rebuilt
from the xorbs). They all answer alike, because they all go through one parser (domain/ranges); the expectations
here are written out independently of it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from helpers import LFS_CONTENT_TYPE, error_text, sha256_bytes

IDENTITY = {"Accept-Encoding": "identity"}
WHOLE = "whole"  # 200 with the whole file: Range ignored (allowed by RFC 9110 for what a server does not support)
UNSATISFIABLE = 416


def _forms(size: int) -> list[tuple[str, object]]:
    """(Range header, expected answer): (start, end exclusive) for a 206, WHOLE, or UNSATISFIABLE."""
    return [
        ("bytes=10-19", (10, 20)),
        ("bytes=10-", (10, size)),
        ("bytes=-7", (size - 7, size)),
        ("bytes=0-0", (0, 1)),
        (f"bytes={size - 1}-{size - 1}", (size - 1, size)),
        ("bytes=5-999999999", (5, size)),  # end past the file: clipped
        ("bytes=-999999999", (0, size)),  # suffix longer than the file: all of it
        ("bytes=-0", UNSATISFIABLE),
        (f"bytes={size}-", UNSATISFIABLE),
        ("bytes=20-10", UNSATISFIABLE),
        ("bytes=0-1,5-6", WHOLE),  # several ranges: no multipart/byteranges, the whole file
        ("bytes=abc", WHOLE),
        ("items=0-5", WHOLE),
        ("bytes=--1", WHOLE),
        ("bytes=1-2-3", WHOLE),
    ]


def _check(client: httpx.Client, url: str, data: bytes, what: str, methods: tuple[str, ...] = ("GET", "HEAD")) -> None:
    size = len(data)
    for header, expected in _forms(size):
        for method in methods:
            response = client.request(method, url, headers={"Range": header, **IDENTITY}, follow_redirects=True)
            where = f"{what}: {method} Range: {header}"
            body = response.content if method == "GET" else None
            if expected == UNSATISFIABLE:
                assert response.status_code == 416, (where, response.status_code, error_text(response)[:200])
                assert response.headers["Content-Range"] == f"bytes */{size}", where
            elif expected == WHOLE:
                assert response.status_code == 200, (where, response.status_code)
                assert "Content-Range" not in response.headers, where
                assert int(response.headers["Content-Length"]) == size, where
                assert body in (None, data), where
            else:
                start, end = expected
                assert response.status_code == 206, (where, response.status_code, error_text(response)[:200])
                assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{size}", where
                assert int(response.headers["Content-Length"]) == end - start, where
                assert response.headers["Content-Type"].split(";")[0] != "multipart/byteranges", where
                assert body in (None, data[start:end]), where


@pytest.fixture
def stored_three_ways(server, http: httpx.Client, api, make_repo, monkeypatch, tmp_path: Path):
    """A repo with a regular file, an LFS blob, and files uploaded through Xet (stored as Xet only): one sent from
    its plain copy, one always rebuilt from the xorbs (a folder in its copy's place keeps a copy from coming back)."""
    from huggingface_hub import constants

    files = {"regular.txt": (b"a line of plain text\n" * 200)[:3000], "lfs.bin": os.urandom(300_000)}
    rid = make_repo(files)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "xet-cache"))
    monkeypatch.setenv("HF_XET_TELEMETRY_ENABLED", "false")
    files["xet.bin"] = os.urandom(300_001)
    api.upload_file(path_or_fileobj=files["xet.bin"], path_in_repo="xet.bin", repo_id=rid)
    files["xet-rebuilt.bin"] = os.urandom(300_003)
    api.upload_file(path_or_fileobj=files["xet-rebuilt.bin"], path_in_repo="xet-rebuilt.bin", repo_id=rid)
    copy = server.data_dir / "xet" / "plain" / http.head(f"/{rid}/resolve/main/xet-rebuilt.bin").headers["X-Xet-Hash"]
    copy.unlink()
    copy.mkdir()
    return rid, files


def test_every_range_form_answers_alike_for_git_lfs_and_xet_files(http: httpx.Client, stored_three_ways):
    rid, files = stored_three_ways
    for name in ("xet.bin", "xet-rebuilt.bin"):
        assert "X-Xet-Hash" in http.head(f"/{rid}/resolve/main/{name}", headers=IDENTITY).headers, name
    assert "last-modified" in http.get(f"/{rid}/resolve/main/xet.bin").headers  # sent from its plain copy
    assert "last-modified" not in http.get(f"/{rid}/resolve/main/xet-rebuilt.bin").headers  # rebuilt
    for path, data in files.items():
        _check(http, f"/{rid}/resolve/main/{path}", data, path)


def test_every_range_form_on_the_signed_lfs_download_url(http: httpx.Client, alice_http: httpx.Client, make_repo):
    data = os.urandom(200_000)
    rid = make_repo({"blob.bin": data})
    body = {
        "operation": "download",
        "transfers": ["basic"],
        "objects": [{"oid": sha256_bytes(data), "size": len(data)}],
    }
    batch = alice_http.post(
        f"/{rid}.git/info/lfs/objects/batch",
        content=json.dumps(body).encode(),
        headers={"Accept": LFS_CONTENT_TYPE, "Content-Type": LFS_CONTENT_TYPE},
    )
    assert batch.status_code == 200, error_text(batch)
    href = batch.json()["objects"][0]["actions"]["download"]["href"]
    _check(http, href, data, "signed LFS download", methods=("GET",))  # git-lfs only GETs it
