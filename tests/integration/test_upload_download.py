"""Uploads through the legacy LFS path (HF_HUB_DISABLE_XET=1) and downloads at every kind of revision:
the bytes a user gets back are the bytes they put in."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import EntryNotFoundError, RemoteEntryNotFoundError, RepositoryNotFoundError

from helpers import HEX40, read_tree, sha256_bytes, sha256_file, user_files, write_tree

# label -> (revision as the user types it, attribute of PopulatedRepo holding the expected commit)
REVISIONS = {
    "main": ("main", "c2"),
    "branch": ("dev", "dev"),
    "tag": ("v1", "c1"),
    "sha": (None, "c1"),  # the full commit id of c1
    "slash-branch": ("feat/x", "feat"),
}


def _revision(populated_repo, label: str) -> tuple[str, str]:
    name, attr = REVISIONS[label]
    commit = getattr(populated_repo, attr)
    return (name or commit), commit


@pytest.mark.slow
def test_upload_folder_with_big_and_small_lfs_files(
    api: HfApi, anon_api: HfApi, endpoint: str, repo_id: str, big_file, tmp_path: Path, hf_cache: Path
):
    small_bin = os.urandom(1024 * 1024)
    files = {
        "config.json": b'{"architectures": ["Nothing"]}\n',
        "docs/notes.md": b"# Notes\n\nplain text, stored as a regular git blob\n",
        "docs/deep/more.txt": b"more text\n" * 100,
        "weights/small.bin": small_bin,
    }
    folder = write_tree(tmp_path / "upload", files)
    try:
        os.link(big_file.path, folder / "weights" / "big.bin")
    except OSError:
        shutil.copyfile(big_file.path, folder / "weights" / "big.bin")
    expected_sha = {path: sha256_bytes(data) for path, data in files.items()}
    expected_sha["weights/big.bin"] = big_file.sha256
    expected_size = {path: len(data) for path, data in files.items()}
    expected_size["weights/big.bin"] = big_file.size

    api.create_repo(repo_id)
    commit = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="Upload a folder")

    assert HEX40.match(commit.oid)
    assert commit.commit_url == f"{endpoint}/{repo_id}/commit/{commit.oid}"
    assert user_files(api.list_repo_files(repo_id)) == set(expected_sha)

    info = api.model_info(repo_id, files_metadata=True)
    assert info.sha == commit.oid
    siblings = {s.rfilename: s for s in info.siblings}
    assert user_files(siblings) == set(expected_sha)
    for path, size in expected_size.items():
        assert siblings[path].size == size, path
    for path in ("weights/small.bin", "weights/big.bin"):
        assert siblings[path].lfs is not None, f"{path} should be stored in LFS"
        assert siblings[path].lfs.sha256 == expected_sha[path]
        assert siblings[path].lfs.size == expected_size[path]
    for path in ("config.json", "docs/notes.md", "docs/deep/more.txt"):
        assert siblings[path].lfs is None, f"{path} is small text and should be a regular git file"

    tree = {e.path: e for e in api.list_repo_tree(repo_id, "weights")}
    assert tree["weights/big.bin"].size == big_file.size
    assert tree["weights/big.bin"].lfs.sha256 == big_file.sha256

    for path, digest in expected_sha.items():
        local = anon_api.hf_hub_download(repo_id, path, cache_dir=hf_cache)
        assert os.path.getsize(local) == expected_size[path], path
        assert sha256_file(local) == digest, path


@pytest.mark.parametrize("label", list(REVISIONS))
def test_hf_hub_download_at_revision(anon_api: HfApi, populated_repo, label: str, hf_cache: Path):
    revision, commit = _revision(populated_repo, label)
    expected = populated_repo.files_at(revision if label != "sha" else commit)

    for path in ("config.json", "notes/sub/b.txt", "weights/small.bin"):
        local = Path(anon_api.hf_hub_download(populated_repo.repo_id, path, revision=revision, cache_dir=hf_cache))
        assert local.read_bytes() == expected[path], f"{path} at {revision}"
        # The cache layout is snapshots/<X-Repo-Commit>/<path>: the revision resolved to the right commit.
        assert local.parts[-1 - path.count("/") - 1] == commit

    if label == "branch":
        assert (
            Path(
                anon_api.hf_hub_download(populated_repo.repo_id, "dev.txt", revision=revision, cache_dir=hf_cache)
            ).read_bytes()
            == b"only on dev\n"
        )
    if label == "slash-branch":
        assert (
            Path(
                anon_api.hf_hub_download(populated_repo.repo_id, "feat/only.txt", revision=revision, cache_dir=hf_cache)
            ).read_bytes()
            == b"feature branch file\n"
        )


def test_revision_specific_files_are_absent_elsewhere(anon_api: HfApi, populated_repo, hf_cache: Path):
    for revision, path in (("main", "dev.txt"), ("v1", "dev.txt"), ("main", "feat/only.txt")):
        with pytest.raises(RemoteEntryNotFoundError):
            anon_api.hf_hub_download(populated_repo.repo_id, path, revision=revision, cache_dir=hf_cache)


def test_download_missing_file_raises_entry_not_found(anon_api: HfApi, populated_repo, hf_cache: Path):
    with pytest.raises(EntryNotFoundError):
        anon_api.hf_hub_download(populated_repo.repo_id, "does/not/exist.txt", cache_dir=hf_cache)
    assert anon_api.file_exists(populated_repo.repo_id, "config.json")
    assert not anon_api.file_exists(populated_repo.repo_id, "does/not/exist.txt")


def test_lfs_downloads_are_byte_identical(anon_api: HfApi, populated_repo, tmp_path: Path):
    for path in sorted(populated_repo.lfs_paths):
        local = anon_api.hf_hub_download(populated_repo.repo_id, path, local_dir=tmp_path / "local")
        assert sha256_file(local) == sha256_bytes(populated_repo.files_main[path])


def test_snapshot_download_allow_patterns(anon_api: HfApi, populated_repo, tmp_path: Path):
    folder = Path(
        anon_api.snapshot_download(
            populated_repo.repo_id, allow_patterns=["*.json", "notes/*"], cache_dir=tmp_path / "cache"
        )
    )
    expected = {p: d for p, d in populated_repo.files_main.items() if p == "config.json" or p.startswith("notes/")}
    assert read_tree(folder) == expected
    assert folder.name == populated_repo.c2

    weights = Path(
        anon_api.snapshot_download(
            populated_repo.repo_id, allow_patterns="weights/*", revision="v1", cache_dir=tmp_path / "cache"
        )
    )
    assert read_tree(weights) == {p: d for p, d in populated_repo.files_c1.items() if p.startswith("weights/")}
    assert weights.name == populated_repo.c1


def test_snapshot_download_whole_repo_to_local_dir(anon_api: HfApi, populated_repo, tmp_path: Path):
    local = Path(anon_api.snapshot_download(populated_repo.repo_id, revision="dev", local_dir=tmp_path / "dev"))
    got = read_tree(local)
    assert user_files(got) == set(populated_repo.files_dev)
    for path, data in populated_repo.files_dev.items():
        assert got[path] == data, path


def test_model_info_files_metadata(anon_api: HfApi, populated_repo):
    info = anon_api.model_info(populated_repo.repo_id, files_metadata=True)

    assert info.id == populated_repo.repo_id
    assert info.sha == populated_repo.c2
    siblings = {s.rfilename: s for s in info.siblings}
    assert user_files(siblings) == set(populated_repo.files_main)
    for path, data in populated_repo.files_main.items():
        assert siblings[path].size == len(data), path
        if path in populated_repo.lfs_paths:
            assert siblings[path].lfs is not None, path
            assert siblings[path].lfs.sha256 == sha256_bytes(data)
            assert siblings[path].lfs.size == len(data)
        else:
            assert siblings[path].lfs is None, path

    at_tag = anon_api.model_info(populated_repo.repo_id, revision="v1", files_metadata=True)
    assert at_tag.sha == populated_repo.c1
    tag_sizes = {s.rfilename: s.size for s in at_tag.siblings}
    assert tag_sizes["config.json"] == len(populated_repo.files_c1["config.json"])


def test_model_info_card_data_from_readme(anon_api: HfApi, populated_repo):
    info = anon_api.model_info(populated_repo.repo_id)
    assert info.card_data is not None
    assert info.card_data.get("license") == "mit"
    assert "modelyard-test" in (info.tags or [])


def test_upload_file_roundtrip_and_overwrite(api: HfApi, repo_id: str, hf_cache: Path):
    api.create_repo(repo_id)
    first = api.upload_file(repo_id=repo_id, path_or_fileobj=b"v1\n", path_in_repo="file.txt")
    second = api.upload_file(repo_id=repo_id, path_or_fileobj=b"v2\n", path_in_repo="file.txt")

    assert first.oid != second.oid
    assert Path(api.hf_hub_download(repo_id, "file.txt", cache_dir=hf_cache)).read_bytes() == b"v2\n"
    assert (
        Path(api.hf_hub_download(repo_id, "file.txt", revision=first.oid, cache_dir=hf_cache)).read_bytes() == b"v1\n"
    )


def test_reupload_identical_content_creates_no_commit(api: HfApi, repo_id: str, tmp_path: Path):
    files = {"a.txt": b"same\n", "w.bin": os.urandom(100_000)}
    folder = write_tree(tmp_path / "f", files)
    api.create_repo(repo_id)
    first = api.upload_folder(repo_id=repo_id, folder_path=folder)
    again = api.upload_folder(repo_id=repo_id, folder_path=folder)

    assert again.oid == first.oid  # the client found every file unchanged (preupload `oid`) and skipped it
    assert api.list_repo_commits(repo_id)[0].commit_id == first.oid


def test_dataset_repo_roundtrip(api: HfApi, anon_api: HfApi, repo_id: str, tmp_path: Path, hf_cache: Path):
    files = {
        "README.md": b"---\nlicense: cc0-1.0\n---\n# A dataset\n",
        "data/train.jsonl": b'{"a": 1}\n{"a": 2}\n',
        "data/images.bin": os.urandom(150_000),
    }
    api.create_repo(repo_id, repo_type="dataset")
    commit = api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=write_tree(tmp_path / "ds", files))

    assert anon_api.dataset_info(repo_id).sha == commit.oid
    assert user_files(anon_api.list_repo_files(repo_id, repo_type="dataset")) == set(files)
    tree = {e.path: e for e in anon_api.list_repo_tree(repo_id, "data", repo_type="dataset")}
    assert tree["data/images.bin"].lfs.sha256 == sha256_bytes(files["data/images.bin"])
    for path, data in files.items():
        local = anon_api.hf_hub_download(repo_id, path, repo_type="dataset", cache_dir=hf_cache)
        assert sha256_file(local) == sha256_bytes(data), path
    snap = Path(
        anon_api.snapshot_download(
            repo_id, repo_type="dataset", allow_patterns="data/*.jsonl", cache_dir=tmp_path / "snap"
        )
    )
    assert read_tree(snap) == {"data/train.jsonl": files["data/train.jsonl"]}
    with pytest.raises(RepositoryNotFoundError):  # a dataset is not reachable as a model
        anon_api.hf_hub_download(repo_id, "data/train.jsonl", cache_dir=tmp_path / "as-model")
