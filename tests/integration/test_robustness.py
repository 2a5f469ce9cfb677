"""Hostile or broken input gets a clear 4xx, never a 500, and never stalls the server for other users: after
each request the server still answers /api/health promptly."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest
from huggingface_hub import HfApi

from helpers import error_text, file_line, header_line, lfs_batch, ndjson, post_commit, repo_state, sha256_bytes

MiB = 1024 * 1024
JSON_BODY_LIMIT = 16 * MiB  # modelyard.frontdoor.deps.MAX_JSON_BODY_SIZE
REGULAR_FILE_LIMIT = 10 * MiB  # Settings.max_regular_file_size, the cap on validate-yaml's content
DEEP_YAML = "---\na: " + "[" * 5000 + "]" * 5000 + "\n---\n# A card nested 5000 levels deep\n"


def assert_still_serving(endpoint: str) -> None:
    started = time.monotonic()
    response = httpx.get(f"{endpoint}/api/health", timeout=10)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert elapsed < 2, f"/api/health took {elapsed:.1f}s"


def assert_refused(response: httpx.Response, status: int, *fragments: str) -> None:
    text = error_text(response)
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {text[:500]}"
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in the error: {text[:500]}"


def raw_json(value: object) -> bytes:
    """JSON with non-ASCII escaped, so that a lone surrogate travels as the 6 characters `\\ud800` (httpx's
    own `json=` encodes to UTF-8 and cannot send one)."""
    return json.dumps(value).encode()


def post_json(client: httpx.Client, url: str, value: object, method: str = "POST") -> httpx.Response:
    return client.request(method, url, content=raw_json(value), headers={"Content-Type": "application/json"})


# --- The event loop ---------------------------------------------------------------------------------------
def test_json_body_over_the_limit_is_413_before_it_is_parsed(http: httpx.Client, endpoint: str):
    body = b'{"name": "big", "padding": "' + b"x" * (JSON_BODY_LIMIT + MiB) + b'"}'
    started = time.monotonic()
    response = http.post("/api/repos/create", content=body, headers={"Content-Type": "application/json"})
    assert_refused(response, 413, "larger than", "limit for JSON")
    assert time.monotonic() - started < 10
    assert_still_serving(endpoint)


def test_chunked_json_body_over_the_limit_is_413(alice_http: httpx.Client, endpoint: str):
    def chunks():  # no Content-Length: the server has to count
        yield b'{"name": "big", "padding": "'
        for _ in range(JSON_BODY_LIMIT // MiB + 1):
            yield b"x" * MiB
        yield b'"}'

    response = alice_http.post("/api/repos/create", content=chunks(), headers={"Content-Type": "application/json"})
    assert_refused(response, 413, "limit for JSON")
    assert_still_serving(endpoint)


def test_validate_yaml_content_over_the_readme_limit_is_413(http: httpx.Client, endpoint: str):
    content = "---\nlicense: mit\n---\n" + "a" * REGULAR_FILE_LIMIT
    response = post_json(http, "/api/validate-yaml", {"content": content, "repoType": "model"})
    assert_refused(response, 413, "longer than", "README.md")
    assert_still_serving(endpoint)


def test_parsing_a_large_card_does_not_stall_the_server(endpoint: str):
    """A 600 KB card takes seconds to parse; meanwhile the server keeps answering everyone else."""
    card = "---\n" + "\n".join(f"key{i}: [alpha, beta, {i}]" for i in range(20_000)) + "\n---\n# Card\n"
    with ThreadPoolExecutor(1) as pool:
        validation = pool.submit(
            httpx.post, f"{endpoint}/api/validate-yaml", json={"content": card, "repoType": "model"}, timeout=120
        )
        time.sleep(0.5)  # sent, and being parsed
        latencies = []
        while not validation.done() and len(latencies) < 10:
            started = time.monotonic()
            assert httpx.get(f"{endpoint}/api/health", timeout=30).status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.1)
        response = validation.result()
    assert response.status_code == 200, error_text(response)
    assert response.json()["errors"] == []
    assert latencies, "the card was parsed before the first health probe: make it larger"
    assert max(latencies) < 1, f"/api/health waited {max(latencies):.1f}s behind a YAML parse"


# --- Cards ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("card", "message"),
    [
        (DEEP_YAML, "nested too deeply"),
        ("---\nreleased: 2024-02-30\n---\n", "day is out of range"),
        ("---\nblob: !!binary /w==\n---\n", "Binary values"),
        ("---\na: &a [1, *a]\n---\n", "contains itself"),
    ],
)
def test_validate_yaml_refuses_unparsable_cards(http: httpx.Client, endpoint: str, card: str, message: str):
    response = post_json(http, "/api/validate-yaml", {"content": card, "repoType": "model"})
    assert_refused(response, 400, message)
    assert response.json()["errors"][0]["message"]
    assert_still_serving(endpoint)


def test_a_small_card_with_a_million_invalid_entries_gets_a_short_answer(http: httpx.Client, endpoint: str):
    """8 KB of YAML aliases stand for a million model-index results, each one invalid: the answer lists the first
    problems, not a million of them (50 MB of message, hundreds of MB of server memory per anonymous request)."""
    results = ", ".join(["*r"] * 990)
    models = ", ".join(["*m"] * 990)
    card = f"---\nx: &r 1\ny: &m {{name: a, results: [{results}]}}\nmodel-index: [{models}]\n---\n"
    response = post_json(http, "/api/validate-yaml", {"content": card, "repoType": "model"})
    assert_refused(response, 400, "model-index[0].results[0]")
    assert len(response.content) < 64 * 1024, len(response.content)
    plain = http.post("/api/validate-yaml", json={"content": card}, headers={"Accept": "text/plain"})
    assert plain.status_code == 400 and len(plain.content) < 64 * 1024, len(plain.content)
    assert_still_serving(endpoint)


@pytest.mark.parametrize(
    ("card", "message"),
    [
        (DEEP_YAML, "nested too deeply"),
        ("---\nreleased: 2024-02-30\n---\n", "day is out of range"),
        ("---\nblob: !!binary /w==\n---\n", "Binary values"),
        ("---\na: &a [1, *a]\n---\n", "contains itself"),
    ],
    ids=["deep", "bad-date", "binary", "recursive"],
)
def test_a_commit_of_an_unparsable_card_is_refused(
    alice_http: httpx.Client, api: HfApi, make_repo, endpoint: str, card: str, message: str
):
    """As on the Hub, a README.md whose metadata block does not parse is refused (a 400, nothing committed); the
    same check refuses it in a push (tests/integration/test_git.py)."""
    rid = make_repo({"README.md": b"---\nlicense: mit\n---\n# Card\n"})
    before = repo_state(api, rid)
    # Raw commit: huggingface_hub would validate the card first (and refuse it, as tested above).
    committed = post_commit(alice_http, rid, ndjson(header_line("Broken card"), file_line("README.md", card.encode())))
    assert_refused(committed, 400, "Invalid metadata in README.md.", message)
    assert committed.json()["errors"][0]["message"]
    assert repo_state(api, rid) == before
    assert api.model_info(rid).card_data["license"] == "mit"
    assert_still_serving(endpoint)


# --- Settings ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("private", ["yes", "false", 5, 0, [], {"v": True}])
def test_settings_private_must_be_a_boolean(
    alice_http: httpx.Client, api: HfApi, make_repo, endpoint: str, private: object
):
    rid = make_repo()
    response = post_json(alice_http, f"/api/models/{rid}/settings", {"private": private}, method="PUT")
    assert_refused(response, 400, "'private' must be true or false")
    assert api.model_info(rid).private is False
    assert_still_serving(endpoint)


def test_create_with_a_string_private_is_refused(alice_http: httpx.Client, api: HfApi, alice, endpoint: str):
    rid = f"{alice.name}/robust-private-{os.urandom(4).hex()}"
    # bool("false") is True: this used to create a *private* repo.
    response = post_json(alice_http, "/api/repos/create", {"name": rid, "type": "model", "private": "false"})
    assert_refused(response, 400, "'private' must be true or false")
    assert not api.repo_exists(rid)
    assert_still_serving(endpoint)


# --- Text that is not valid Unicode (lone surrogates) -----------------------------------------------------
def test_lone_surrogates_in_json_bodies_are_400(alice_http: httpx.Client, api: HfApi, make_repo, alice, endpoint: str):
    rid = make_repo({"a.txt": b"a\n"})
    before = repo_state(api, rid)
    requests = {
        "repo name": ("/api/repos/create", {"name": f"{alice.name}/bad\ud800name", "type": "model"}),
        "tag message": (f"/api/models/{rid}/tag/main", {"tag": "v1", "message": "release \ud800"}),
        "tag name": (f"/api/models/{rid}/tag/main", {"tag": "v\udc801"}),
        "branch start": (f"/api/models/{rid}/branch/dev", {"startingPoint": "ma\ud800in"}),
        "preupload path": (f"/api/models/{rid}/preupload/main", {"files": [{"path": "x\ud800.txt", "size": 1}]}),
        "dict key": (f"/api/models/{rid}/preupload/main", {"files": [], "\udfff": 1}),
    }
    for what, (url, body) in requests.items():
        response = post_json(alice_http, url, body)
        assert response.status_code == 400, f"{what}: {response.status_code} {error_text(response)[:300]}"
        assert "not valid Unicode" in error_text(response), what
    assert repo_state(api, rid) == before
    assert [tag.name for tag in api.list_repo_refs(rid).tags] == []
    assert_still_serving(endpoint)


@pytest.mark.parametrize(
    "body",
    [
        ndjson(header_line("summary \ud800"), file_line("ok.txt", b"ok")),
        ndjson(header_line(), file_line("ok.txt", b"ok"), file_line("bad\ud800.txt", b"x")),
        ndjson(header_line(), {"key": "deletedFile", "value": {"path": "a\udc00.txt"}}),
    ],
    ids=["summary", "file-path", "deleted-path"],
)
def test_lone_surrogates_in_a_commit_are_400(
    alice_http: httpx.Client, api: HfApi, make_repo, endpoint: str, body: bytes
):
    rid = make_repo({"a.txt": b"a\n"})
    before = repo_state(api, rid)
    assert_refused(post_commit(alice_http, rid, body), 400, "of the commit body contains text that is not valid")
    assert repo_state(api, rid) == before
    assert_still_serving(endpoint)


# --- Paths and patterns -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("sub/.git/config", "reserved by git"),
        (".GIT/hooks/x", "reserved by git"),
        ("a/.git./x", "reserved by git"),
        ("a/git~1/x", "reserved by git"),
        ("a\x01b.txt", "control characters"),
        ("tab\there.txt", "control characters"),
        ("line\nbreak.txt", "control characters"),
        ("del\x7f.txt", "control characters"),
    ],
)
def test_unstorable_paths_in_a_commit_are_400(
    alice_http: httpx.Client, api: HfApi, make_repo, endpoint: str, path: str, message: str
):
    rid = make_repo({"a.txt": b"a\n"})
    before = repo_state(api, rid)
    body = ndjson(header_line(), file_line("fine.txt", b"fine"), file_line(path, b"evil"))
    assert_refused(post_commit(alice_http, rid, body), 400, message)
    assert repo_state(api, rid) == before
    preupload = alice_http.post(f"/api/models/{rid}/preupload/main", json={"files": [{"path": path, "size": 4}]})
    assert_refused(preupload, 400, message)
    assert_still_serving(endpoint)


@pytest.mark.parametrize("git_ignore", ["!", "\\", "*.tmp\nlogs/\\"])
def test_invalid_git_ignore_patterns_are_skipped_like_git_does(
    alice_http: httpx.Client, make_repo, endpoint: str, git_ignore: str
):
    rid = make_repo()
    response = alice_http.post(
        f"/api/models/{rid}/preupload/main",
        json={
            "files": [{"path": "a.tmp", "size": 1, "sample": ""}, {"path": "a.txt", "size": 1, "sample": ""}],
            "gitIgnore": git_ignore + "\n*.tmp\n",
        },
    )
    assert response.status_code == 200, error_text(response)
    assert {f["path"]: f["shouldIgnore"] for f in response.json()["files"]} == {"a.tmp": True, "a.txt": False}
    assert_still_serving(endpoint)


def test_committed_git_ignore_with_an_invalid_pattern_does_not_block_uploads(
    alice_http: httpx.Client, make_repo, endpoint: str
):
    rid = make_repo()
    committed = post_commit(alice_http, rid, ndjson(header_line(), file_line(".gitignore", b"!\n*.tmp\n")))
    assert committed.status_code == 200, error_text(committed)
    response = alice_http.post(
        f"/api/models/{rid}/preupload/main",
        json={"files": [{"path": "a.tmp", "size": 1, "sample": ""}, {"path": "a.txt", "size": 1, "sample": ""}]},
    )
    assert response.status_code == 200, error_text(response)
    assert {f["path"]: f["shouldIgnore"] for f in response.json()["files"]} == {"a.tmp": True, "a.txt": False}
    assert_still_serving(endpoint)


# --- LFS part numbers -------------------------------------------------------------------------------------
def test_upload_part_refuses_part_numbers_below_one(
    alice_http: httpx.Client, http: httpx.Client, make_repo, endpoint: str
):
    rid = make_repo()
    data = os.urandom(4096)
    oid = sha256_bytes(data)
    batch = lfs_batch(alice_http, rid, [(oid, len(data))])
    assert batch.status_code == 200, error_text(batch)
    whole = urlsplit(batch.json()["objects"][0]["actions"]["upload"]["href"])  # signed for part 0
    assert whole.path.endswith(oid)

    # The whole-object ticket (part 0) must not open the part endpoint, nor may a negative part number.
    for part in (0, -1):
        response = http.put(f"{whole.path}/part/{part}?{whole.query}", content=data)
        assert_refused(response, 400, f"Invalid part number {part}", "numbered from 1")
    assert_still_serving(endpoint)
