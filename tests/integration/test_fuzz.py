"""Schemathesis fuzzes every operation of `/openapi.json` on a live server: no input may get a 5xx.

The server is one of its own (the fuzzer creates, moves and deletes repositories), with a user `fuzzer`, whose write
token every request carries, and a repository holding a README, an LFS file, a folder, a branch and a tag. The
repository API and resolve routes are pinned to that repository, so generated revisions, paths, query strings and
bodies reach the code behind the repository lookup; the git, LFS and Xet routes get generated names.

The pass is bounded (MODELYARD_FUZZ_EXAMPLES cases per operation, 10 by default: about a minute) and repeatable
(MODELYARD_FUZZ_SEED, fixed by default; `random` explores). `make fuzz` runs a longer, random pass
(MODELYARD_FUZZ_MAX_TIME seconds).
Known by design, and so accepted: the LFS locks API answers 501 (git-lfs reads it as "no locking").

The regression tests below replay, as plain requests, the 5xx found by schemathesis and by probing PostgreSQL.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from conftest import Server, User, launch_server

EXAMPLES = int(os.environ.get("MODELYARD_FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("MODELYARD_FUZZ_SEED", "20261201")
# Seconds to keep cycling through new cases (schemathesis --max-time); unset: one pass of EXAMPLES per operation.
MAX_TIME = os.environ.get("MODELYARD_FUZZ_MAX_TIME")
REPO = "target"

CONFIG = f"""
[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx"]

[[operations]]
include-path-regex = "^/api/\\\\{{repo_type\\\\}}/|/resolve/"
parameters = {{ "path.namespace" = "fuzzer", "path.name" = "{REPO}" }}

[[operations]]
include-path-regex = "^/api/settings/tokens/"
# A token id no token has: a generated one could be the fuzzer's own token, and revoking it ends the run.
parameters = {{ "path.token_id" = 999999999 }}

[[operations]]
include-path-regex = "/info/lfs/locks"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "501"]
"""


@dataclass
class FuzzTarget:
    server: Server
    user: User


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Iterator[FuzzTarget]:
    with launch_server(tmp_path_factory.mktemp("fuzz") / "server") as server:
        server.create_user("fuzzer")
        user = User("fuzzer", server.create_token("fuzzer", "write"))
        api = HfApi(endpoint=server.url, token=user.token)
        repo_id = f"fuzzer/{REPO}"
        api.create_repo(repo_id)
        files = {"README.md": b"---\nlicense: mit\n---\n# Fuzzed\n", "weights.bin": os.urandom(4096), "d/a.txt": b"a"}
        api.create_commit(repo_id, [CommitOperationAdd(path, data) for path, data in files.items()], commit_message="c")
        api.create_branch(repo_id, branch="dev")
        api.create_tag(repo_id, tag="v1")
        yield FuzzTarget(server, user)


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if found is None:
        pytest.fail("schemathesis is not installed: pip install -e '.[test]'")
    return found


def test_no_generated_request_gets_a_server_error(target: FuzzTarget, tmp_path: Path):
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    seed = str(random.randrange(2**32)) if SEED == "random" else SEED
    command = [
        _schemathesis(),
        "--config-file",
        str(config),
        "run",
        f"{target.server.url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--header",
        f"Authorization: Bearer {target.user.token}",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        seed,
        "--workers",
        "1",  # hypothesis' lambda descriptions are not thread-safe on Python 3.11 (ast recursion errors)
        "--request-timeout",
        "30",
        "--no-shrink",
        "--warnings",
        "off",
        *(["--max-time", MAX_TIME] if MAX_TIME else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=int(MAX_TIME or 0) + 900, cwd=tmp_path)
    assert done.returncode == 0, (
        f"schemathesis (seed {seed}) found server errors:\n{done.stdout[-20000:]}\n{done.stderr}"
    )


def test_a_signature_with_any_character_is_refused_not_a_crash(target: FuzzTarget):
    oid = "a" * 64
    with httpx.Client(base_url=target.server.url) as client:
        lfs = client.get(f"/api/lfs/1/{oid}", params={"size": 1, "exp": 2**40, "sig": "é"})
        xet = client.get(f"/xet-cas/v1/fetch/{oid}", params={"r": "0-1", "exp": 2**40, "sig": "é"})
    assert lfs.status_code == 403, lfs.text
    assert xet.status_code == 403, xet.text


def test_control_characters_in_a_revision_get_an_error_answer(target: FuzzTarget):
    auth = {"Authorization": f"Bearer {target.user.token}"}
    with httpx.Client(base_url=target.server.url, headers=auth) as client:
        response = client.get(f"/api/models/fuzzer/{REPO}/revision/%1Bx%15")
    assert response.status_code == 404
    assert response.headers["x-error-code"] == "RevisionNotFound"
    assert response.headers["x-error-message"] == "Invalid rev id:  x"


def test_an_author_no_namespace_can_have_is_refused(target: FuzzTarget):
    """PostgreSQL refuses NUL bytes in text: the name is checked before it reaches the query."""
    with httpx.Client(base_url=target.server.url) as client:
        nul = client.get("/api/models", params={"author": "fuzzer\x00"})
        listed = client.get("/api/models", params={"author": "fuzzer"})
    assert nul.status_code == 400, nul.text
    assert f"fuzzer/{REPO}" in [repo["id"] for repo in listed.json()]
