"""Commits through huggingface_hub: multi-operation commits, deletions, and optimistic concurrency."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationCopy, CommitOperationDelete, HfApi
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

from helpers import file_line, header_line, ndjson, post_commit, repo_state, sha256_bytes, sha256_file, user_files
from modelyard.domain.lfs_pointer import LfsPointer

FILES = {
    "keep.txt": b"keep me\n",
    "drop.txt": b"drop me\n",
    "folder/a.txt": b"a\n",
    "folder/nested/b.txt": b"b\n",
    "folder/nested/w.bin": os.urandom(50_000),
    "other/c.txt": b"c\n",
}


def test_create_commit_with_several_operations(api: HfApi, make_repo, hf_cache: Path):
    rid = make_repo(FILES)
    before = api.model_info(rid).sha
    blob = os.urandom(200_000)

    commit = api.create_commit(
        rid,
        [
            CommitOperationAdd("new/blob.bin", blob),
            CommitOperationAdd("keep.txt", b"changed\n"),
            CommitOperationDelete("drop.txt"),
            CommitOperationCopy("other/c.txt", "copies/c.txt"),
            CommitOperationCopy("folder/nested/w.bin", "copies/w.bin"),
        ],
        commit_message="Several things at once",
        commit_description="A longer description\nover two lines.",
    )

    commits = api.list_repo_commits(rid)
    assert commits[0].commit_id == commit.oid
    assert commits[1].commit_id == before  # exactly one new commit
    assert commits[0].title == "Several things at once"
    assert "A longer description" in commits[0].message
    assert user_files(api.list_repo_files(rid)) == (set(FILES) - {"drop.txt"}) | {
        "new/blob.bin",
        "copies/c.txt",
        "copies/w.bin",
    }
    assert sha256_file(api.hf_hub_download(rid, "new/blob.bin", cache_dir=hf_cache)) == sha256_bytes(blob)
    assert Path(api.hf_hub_download(rid, "keep.txt", cache_dir=hf_cache)).read_bytes() == b"changed\n"
    assert Path(api.hf_hub_download(rid, "copies/c.txt", cache_dir=hf_cache)).read_bytes() == b"c\n"
    copied = api.hf_hub_download(rid, "copies/w.bin", cache_dir=hf_cache)
    assert sha256_file(copied) == sha256_bytes(FILES["folder/nested/w.bin"])


def test_delete_file(api: HfApi, make_repo, hf_cache: Path):
    rid = make_repo(FILES)
    before = api.model_info(rid).sha

    commit = api.delete_file("drop.txt", rid, commit_message="Remove drop.txt")

    assert user_files(api.list_repo_files(rid)) == set(FILES) - {"drop.txt"}
    assert api.list_repo_commits(rid)[0].title == "Remove drop.txt"
    with pytest.raises(EntryNotFoundError):
        api.hf_hub_download(rid, "drop.txt", revision=commit.oid, cache_dir=hf_cache)
    old = api.hf_hub_download(rid, "drop.txt", revision=before, cache_dir=hf_cache)  # history keeps it
    assert Path(old).read_bytes() == b"drop me\n"


def test_delete_lfs_file(api: HfApi, make_repo):
    rid = make_repo(FILES)
    api.delete_file("folder/nested/w.bin", rid)
    assert user_files(api.list_repo_files(rid)) == set(FILES) - {"folder/nested/w.bin"}


def test_delete_missing_file_is_entry_not_found(api: HfApi, make_repo):
    rid = make_repo(FILES)
    before = repo_state(api, rid)

    with pytest.raises(EntryNotFoundError):
        api.delete_file("not-there.txt", rid)
    assert repo_state(api, rid) == before


def test_delete_folder(api: HfApi, make_repo):
    rid = make_repo(FILES)

    api.delete_folder("folder", rid, commit_message="Remove folder")

    assert user_files(api.list_repo_files(rid)) == {"keep.txt", "drop.txt", "other/c.txt"}
    tree = {e.path for e in api.list_repo_tree(rid)}
    assert "folder" not in tree
    api.delete_folder("other/", rid)  # a trailing slash is allowed
    assert user_files(api.list_repo_files(rid)) == {"keep.txt", "drop.txt"}


def test_stale_parent_commit_is_refused_with_412(api: HfApi, make_repo):
    rid = make_repo({"file.txt": b"v1\n"})
    stale = api.model_info(rid).sha
    api.upload_file(repo_id=rid, path_or_fileobj=b"v2\n", path_in_repo="file.txt")
    before = repo_state(api, rid)
    assert before.head != stale

    with pytest.raises(HfHubHTTPError) as excinfo:
        api.create_commit(
            rid,
            [CommitOperationAdd("file.txt", b"v3 from a stale checkout\n")],
            commit_message="Based on an old head",
            parent_commit=stale,
        )
    assert excinfo.value.response.status_code == 412
    assert repo_state(api, rid) == before
    with pytest.raises(HfHubHTTPError) as excinfo:
        api.upload_file(repo_id=rid, path_or_fileobj=b"x\n", path_in_repo="new.txt", parent_commit=stale)
    assert excinfo.value.response.status_code == 412
    assert repo_state(api, rid) == before


@pytest.mark.parametrize(
    ("parent", "status"),
    [
        ("zzzzzzzz", 400),  # not a commit id at all: a 400, not a stale parent
        ("head:4", 400),  # too short to name a commit
        ("head:5", 200),  # the shortest prefix accepted
        ("head:40", 200),
        ("0000000", 412),  # a commit id, but not the head
    ],
)
def test_parent_commit_forms(api: HfApi, alice_http, make_repo, parent: str, status: int):
    rid = make_repo({"file.txt": b"v1\n"})
    head = api.model_info(rid).sha
    if parent.startswith("head:"):
        parent = head[: int(parent.removeprefix("head:"))]
    response = post_commit(alice_http, rid, ndjson(header_line("pinned", parent=parent), file_line("f.txt", b"x")))
    assert response.status_code == status, response.text
    assert (api.model_info(rid).sha != head) is (status == 200)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"key": "deletedFolder", "value": {"path": "../outside"}}, "outside"),
        ({"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "not-a-sha", "size": 3}}, "sha256"),
    ],
)
def test_bad_operations_are_refused_before_anything_is_written(api: HfApi, alice_http, make_repo, line, message):
    rid = make_repo({"file.txt": b"v1\n"})
    head = api.model_info(rid).sha
    response = post_commit(alice_http, rid, ndjson(header_line("bad"), line))
    assert response.status_code == 400 and message in response.headers["X-Error-Message"], response.text
    assert api.model_info(rid).sha == head


def test_pointer_text_up_to_1024_bytes_obeys_the_lfs_rules(api: HfApi, alice_http, make_repo):
    """git-lfs reads a blob of at most 1024 bytes as a pointer: committed as a regular file, it must name an object
    uploaded to the repository like an lfsFile; one byte more and it is plain text."""
    rid = make_repo({"file.txt": b"v1\n"})
    pointer = LfsPointer(sha256_bytes(b"never uploaded"), 14).encode()
    padded = pointer + b"x-padding " + b"p" * (1024 - len(pointer) - 11) + b"\n"
    assert len(padded) == 1024 and LfsPointer.decode(padded) is not None
    refused = post_commit(alice_http, rid, ndjson(header_line("pointer"), file_line("p.bin", padded)))
    assert refused.status_code == 400 and "never uploaded" in refused.headers["X-Error-Message"]
    longer = padded[:-1] + b"p\n"
    accepted = post_commit(alice_http, rid, ndjson(header_line("text"), file_line("p.bin", longer)))
    assert accepted.status_code == 200, accepted.text


def test_matching_parent_commit_is_accepted(api: HfApi, make_repo, hf_cache: Path):
    rid = make_repo({"file.txt": b"v1\n"})
    head = api.model_info(rid).sha

    commit = api.create_commit(
        rid, [CommitOperationAdd("file.txt", b"v2\n")], commit_message="On top of head", parent_commit=head
    )
    assert api.model_info(rid).sha == commit.oid
    assert Path(api.hf_hub_download(rid, "file.txt", cache_dir=hf_cache)).read_bytes() == b"v2\n"
