"""Helpers shared by the integration tests. Nothing here talks to the server except through real clients."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")

# Files a server may add on its own when it creates a repo (the Hub commits a default .gitattributes).
SERVER_MANAGED_FILES = frozenset({".gitattributes"})


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob with this content (what tree listings call `oid` for regular files)."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write `files` (repo path -> bytes) under `root` and return `root`."""
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def read_tree(root: Path, *, skip_prefixes: tuple[str, ...] = (".cache/",)) -> dict[str, bytes]:
    """Every regular file under `root` as repo path -> bytes (symlinks resolved), minus skipped prefixes."""
    out: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if rel.startswith(skip_prefixes):
            continue
        out[rel] = path.read_bytes()
    return out


def user_files(paths) -> set[str]:
    """The repo paths a user put there, without server-managed files like .gitattributes."""
    return {p for p in paths if p not in SERVER_MANAGED_FILES}


def strip_etag(value: str | None) -> str | None:
    if value is None:
        return None
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


@dataclass(frozen=True)
class RepoState:
    """What a user sees of a branch: its head commit and its file list."""

    head: str | None
    files: tuple[str, ...]


def repo_state(api, repo_id: str, *, repo_type: str = "model", revision: str = "main") -> RepoState:
    info = api.repo_info(repo_id, repo_type=repo_type, revision=revision)
    files = tuple(sorted(api.list_repo_files(repo_id, repo_type=repo_type, revision=revision)))
    return RepoState(head=info.sha, files=files)


def error_text(response) -> str:
    """Everything a client could show from an error response: X-Error-Message plus the body."""
    parts = [response.headers.get("X-Error-Message", "")]
    with contextlib.suppress(Exception):  # a streamed or binary body
        parts.append(response.text)
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------------------
# Raw protocol helpers (for tests that speak HTTP with httpx, the way the clients do on the wire).
# ----------------------------------------------------------------------------------------------------
LFS_CONTENT_TYPE = "application/vnd.git-lfs+json"


def api_prefix(repo_type: str = "model") -> str:
    return {"model": "models", "dataset": "datasets", "space": "spaces"}[repo_type]


def web_prefix(repo_type: str = "model") -> str:
    return {"model": "", "dataset": "datasets/", "space": "spaces/"}[repo_type]


def encode_segment(value: str) -> str:
    """Percent-encode a revision or tree path as ONE path segment (`/` becomes %2F), like the client."""
    from urllib.parse import quote

    return quote(value, safe="")


def ndjson(*lines: dict) -> bytes:
    import json

    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def header_line(summary: str = "A commit", description: str = "", parent: str | None = None) -> dict:
    value: dict = {"summary": summary, "description": description}
    if parent:
        value["parentCommit"] = parent
    return {"key": "header", "value": value}


def file_line(path: str, data: bytes) -> dict:
    import base64

    return {
        "key": "file",
        "value": {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"},
    }


def lfs_file_line(path: str, oid: str, size: int | None) -> dict:
    value: dict = {"path": path, "algo": "sha256", "oid": oid}
    if size is not None:
        value["size"] = size
    return {"key": "lfsFile", "value": value}


def post_commit(client, repo_id: str, body: bytes, *, revision: str = "main", repo_type: str = "model"):
    return client.post(
        f"/api/{api_prefix(repo_type)}/{repo_id}/commit/{encode_segment(revision)}",
        content=body,
        headers={"Content-Type": "application/x-ndjson"},
    )


def lfs_batch(client, repo_id: str, objects: list[tuple[str, int]], *, repo_type: str = "model", ref="main"):
    """POST the git-LFS upload batch request huggingface_hub sends when Xet is off."""
    import json

    body = {
        "operation": "upload",
        "transfers": ["basic", "multipart"],
        "objects": [{"oid": oid, "size": size} for oid, size in objects],
        "hash_algo": "sha256",
    }
    if ref:
        body["ref"] = {"name": ref}
    return client.post(
        f"/{web_prefix(repo_type)}{repo_id}.git/info/lfs/objects/batch",
        content=json.dumps(body).encode(),
        headers={"Accept": LFS_CONTENT_TYPE, "Content-Type": LFS_CONTENT_TYPE},
    )
