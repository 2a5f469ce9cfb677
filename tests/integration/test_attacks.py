"""Attacks found by review: each test replays one, against a live server, with the fix's expected answer."""

from __future__ import annotations

import json

import httpx
from huggingface_hub import HfApi


def _branches(api: HfApi, rid: str) -> dict[str, str]:
    return {b.name: b.target_commit for b in api.list_repo_refs(rid).branches}


def test_a_nul_byte_in_a_revision_names_no_ref(api: HfApi, alice_http: httpx.Client, make_repo):
    """libgit2 reads ref names as C strings: `main\\0x` was `main`. Deleting `main%00` deleted the default
    branch past its guard, and a commit to `main%00x` landed on main."""
    rid = make_repo({"file.txt": b"one\n"})
    before = _branches(api, rid)

    deleted = alice_http.delete(f"/api/models/{rid}/branch/main%00")
    assert deleted.status_code in (400, 404), deleted.text
    assert _branches(api, rid) == before

    lines = [
        {"key": "header", "value": {"summary": "through a NUL"}},
        {"key": "file", "value": {"path": "n.txt", "content": "aGk=", "encoding": "base64"}},
    ]
    body = "\n".join(json.dumps(line) for line in lines)
    committed = alice_http.post(
        f"/api/models/{rid}/commit/main%00x", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert committed.status_code in (400, 404), committed.text
    assert _branches(api, rid) == before

    for path in (f"/api/models/{rid}/revision/main%00", f"/{rid}/resolve/main%00/file.txt"):
        response = alice_http.get(path)
        assert response.status_code in (400, 404), (path, response.text)
