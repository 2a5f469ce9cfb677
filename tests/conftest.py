"""Shared fixtures: one live Modelyard server per session, users and tokens, and the real clients.

`huggingface_hub`, `transformers` and `datasets` read their endpoint, cache locations and feature flags from
the environment *when they are imported*. This module therefore picks the server's port and sets every such
variable at import time, before any test module (or anything else) imports those libraries.

Backends: MODELYARD_TEST_BACKEND=sqlite (default) or postgresql. For PostgreSQL the base URL comes from
MODELYARD_TEST_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test); each server of the
session gets a fresh database `modelyard_test_<random>` that is dropped at the end.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest


# ----------------------------------------------------------------------------------------------------
# Environment, set before anything imports huggingface_hub / transformers / datasets.
# ----------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_PRELOADED = [m for m in ("huggingface_hub", "transformers", "datasets") if m in sys.modules]
if _PRELOADED:  # pragma: no cover - only when something imported the clients before this conftest
    raise RuntimeError(
        f"{_PRELOADED} were imported before tests/conftest.py could set HF_ENDPOINT and friends; "
        "they would talk to the wrong endpoint. Do not import them from a plugin or a parent conftest."
    )

PORT = _free_port()
ENDPOINT = f"http://127.0.0.1:{PORT}"
HF_HOME = tempfile.mkdtemp(prefix="modelyard-tests-hf-home-")
LFS_MULTIPART_CHUNK_SIZE = 16 * 1024 * 1024

for _var in (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_ASSETS_CACHE",
    "HF_DATASETS_CACHE",
    "HF_XET_CACHE",
    "TRANSFORMERS_CACHE",
    "HUGGINGFACE_CO_STAGING",
    "HF_HUB_ENABLE_HF_TRANSFER",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
):
    os.environ.pop(_var, None)

os.environ.update(
    {
        "HF_ENDPOINT": ENDPOINT,
        "HF_HOME": HF_HOME,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_SYMLINKS_WARNING": "1",
        "HF_HUB_DISABLE_EXPERIMENTAL_WARNING": "1",
        "DISABLE_SAFETENSORS_CONVERSION": "1",  # never post to safetensors-convert.hf.space
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",  # datasets: no HEAD to S3 for download counts
        "HF_DATASETS_CACHE": os.path.join(HF_HOME, "datasets"),
        "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "DO_NOT_TRACK": "1",
        "NO_PROXY": "127.0.0.1,localhost,::1",
        "no_proxy": "127.0.0.1,localhost,::1",
    }
)


# ----------------------------------------------------------------------------------------------------
# Loopback only: refuse name resolution and connections to anything that is not this machine, so a library
# that tries the public Hub (or datasets-server.<host>, or S3) fails fast instead of leaving the sandbox.
# Subprocesses (the server, the `hf` CLI) get the environment above but not this guard.
# ----------------------------------------------------------------------------------------------------
def _is_loopback(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]")
    if host in ("", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_getaddrinfo(host, *args, **kwargs):
    if not _is_loopback(host):
        raise socket.gaierror(socket.EAI_NONAME, f"modelyard tests allow loopback only, refused {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _check_address(sock: socket.socket, address) -> None:
    inet = sock.family in (socket.AF_INET, socket.AF_INET6)
    if inet and isinstance(address, tuple) and not _is_loopback(address[0]):
        raise ConnectionRefusedError(f"modelyard tests allow loopback only, refused {address[0]!r}")


def _guarded_connect(self, address):
    _check_address(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _check_address(self, address)
    return _real_connect_ex(self, address)


socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex

import httpx  # noqa: E402  (after the environment is set)

from helpers import sha256_file, write_tree  # noqa: E402
from postgres_available import required as postgres_required  # noqa: E402

BACKEND = os.environ.get("MODELYARD_TEST_BACKEND", "sqlite").strip().lower()
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SERVER_START_TIMEOUT = float(os.environ.get("MODELYARD_TEST_SERVER_START_TIMEOUT", "90"))
BIG_FILE_SIZE = 50 * 1024 * 1024  # 52 MB: over the 16 MiB multipart chunk size -> multipart LFS transfer
SMALL_LFS_SIZE = 1024 * 1024


# ----------------------------------------------------------------------------------------------------
# Databases
# ----------------------------------------------------------------------------------------------------
def _pg_conninfo(url: str, dbname: str) -> str:
    """A libpq URL for `dbname` built from a SQLAlchemy-style URL (drops the `+driver` part)."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, "/" + dbname, parts.query, ""))


def _with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))


def _skip_unless_required(reason: str) -> None:
    """Skip on a developer's machine; under CI, where PostgreSQL is started for us, fail instead."""
    if postgres_required():
        pytest.fail(f"{reason} (CI=true: the PostgreSQL run must not be skipped)", pytrace=False)
    pytest.skip(reason)


@contextmanager
def _database(data_dir: Path) -> Iterator[str]:
    """Yield a database URL for one server: a SQLite file in its data dir, or a fresh PostgreSQL database."""
    if BACKEND == "sqlite":
        yield f"sqlite:///{data_dir / 'modelyard.db'}"
        return
    if BACKEND not in ("postgresql", "postgres"):
        raise pytest.UsageError(f"MODELYARD_TEST_BACKEND must be sqlite or postgresql, not {BACKEND!r}")

    base = os.environ.get("MODELYARD_TEST_DATABASE_URL") or DEFAULT_PG_URL
    try:
        import psycopg
        from psycopg import sql
    except ImportError as exc:  # pragma: no cover
        _skip_unless_required(f"MODELYARD_TEST_BACKEND=postgresql but psycopg is not installed: {exc}")
    maintenance = _pg_conninfo(base, "postgres")
    try:
        admin = psycopg.connect(maintenance, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = f"MODELYARD_TEST_BACKEND=postgresql but PostgreSQL at {maintenance} is unreachable: {exc}"
        _skip_unless_required(reason)
    name = f"modelyard_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(base, name)
    finally:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# ----------------------------------------------------------------------------------------------------
# Servers
# ----------------------------------------------------------------------------------------------------
@dataclass
class User:
    name: str
    token: str


@dataclass
class Server:
    """A running `modelyard serve` subprocess."""

    url: str
    port: int
    data_dir: Path
    db_url: str
    log_path: Path
    env: dict[str, str] = field(repr=False)
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def admin(self, *args: str) -> str:
        """Run `modelyard admin ARGS --data-dir … --database-url …` and return its stdout."""
        cmd = [
            sys.executable,
            "-m",
            "modelyard",
            "admin",
            *args,
            "--data-dir",
            str(self.data_dir),
            "--database-url",
            self.db_url,
        ]
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(cmd)}` exited with {done.returncode}\n"
                f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
            )
        return done.stdout

    def create_user(self, name: str) -> None:
        self.admin("create-user", name)

    def create_token(self, name: str, role: str = "write") -> str:
        out = self.admin("create-token", name, "--role", role)
        lines = [line.strip() for line in out.strip().splitlines() if line.strip()]
        if not lines:
            raise RuntimeError(f"`modelyard admin create-token {name}` printed nothing on stdout")
        return lines[-1]

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


_RUNNING: list[Server] = []


def _server_env(extra: dict[str, str]) -> dict[str, str]:
    # Hermetic: a developer's own MODELYARD_* settings must not leak into the servers under test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_") or k.startswith("MODELYARD_TEST_")}
    env["MODELYARD_LFS_MULTIPART_CHUNK_SIZE"] = str(LFS_MULTIPART_CHUNK_SIZE)
    env["PYTHONUNBUFFERED"] = "1"
    # Tests send wrong tokens on purpose from 127.0.0.1, where every test client lives: only the throttling
    # tests (test_accounts.py) run a server with a limit low enough to reach.
    env["MODELYARD_AUTH_FAILURE_LIMIT"] = "1000000"
    # Download counts reach the database within a fraction of a second, so tests see them without waiting long.
    env["MODELYARD_DOWNLOAD_FLUSH_SECONDS"] = "0.2"
    env.update(extra)
    return env


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last_error = "no attempt"
    while time.monotonic() < deadline:
        assert server.proc is not None
        if server.proc.poll() is not None:
            break
        try:
            response = httpx.get(f"{server.url}/api/health", timeout=2)
            if response.status_code == 200:
                return
            last_error = f"GET /api/health answered {response.status_code}"
        except httpx.HTTPError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    code = server.proc.poll() if server.proc else None
    log = server.log_text()
    sys.stderr.write(f"\n===== modelyard server log ({server.log_path}) =====\n{log}\n===== end of log =====\n")
    state = f"exited with code {code}" if code is not None else f"not ready after {SERVER_START_TIMEOUT:.0f}s"
    pytest.fail(
        f"modelyard server on {server.url} {state} (last check: {last_error}).\n"
        f"--- server log {server.log_path} ---\n{log[-20000:]}",
        pytrace=False,
    )


def _stop(server: Server) -> None:
    proc = server.proc
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


@contextmanager
def _shared_database(server: Server) -> Iterator[str]:
    yield server.db_url  # owned (and dropped) by `server`'s own launch


@contextmanager
def launch_server(
    root: Path,
    *,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    share: Server | None = None,
    workers: int = 1,
):
    """Start `python -m modelyard serve` on a fresh data dir and database; stop it (and drop the DB) after.

    With `share`, the new server uses that server's data dir and database instead (several processes, one hub).
    """
    root.mkdir(parents=True, exist_ok=True)
    data_dir = share.data_dir if share is not None else root / "data"
    data_dir.mkdir(exist_ok=True)
    port = port or _free_port()
    with _shared_database(share) if share is not None else _database(data_dir) as db_url:
        server = Server(
            url=f"http://127.0.0.1:{port}",
            port=port,
            data_dir=data_dir,
            db_url=db_url,
            log_path=root / "server.log",
            env=_server_env(extra_env or {}),
        )
        cmd = [
            sys.executable,
            "-m",
            "modelyard",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--database-url",
            db_url,
            "--workers",
            str(workers),
        ]
        with open(server.log_path, "wb") as log:
            server.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=server.env, cwd=root)
        _RUNNING.append(server)
        try:
            _wait_ready(server)
            yield server
        finally:
            _stop(server)
            _RUNNING.remove(server)


# ----------------------------------------------------------------------------------------------------
# Attach the server log of a failing test to its report (only the lines written while the test ran).
# ----------------------------------------------------------------------------------------------------
_LOG_OFFSETS = pytest.StashKey[dict]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_LOG_OFFSETS] = {s.log_path: s.log_path.stat().st_size for s in _RUNNING if s.log_path.exists()}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when not in ("setup", "call") or not report.failed:
        return
    offsets = item.stash.get(_LOG_OFFSETS, {})
    for server in list(_RUNNING):
        text = server.log_text()
        chunk = text.encode()[offsets.get(server.log_path, 0) :].decode(errors="replace")
        if chunk.strip():
            report.sections.append((f"modelyard server log {server.url}", chunk[-15000:]))


def pytest_unconfigure(config):
    shutil.rmtree(HF_HOME, ignore_errors=True)


# ----------------------------------------------------------------------------------------------------
# Fixtures: servers, users, clients
# ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    """The session's main server, on the port HF_ENDPOINT points at."""
    with launch_server(tmp_path_factory.mktemp("server"), port=PORT) as srv:
        yield srv


@pytest.fixture(scope="session")
def endpoint(server: Server) -> str:
    return server.url


@pytest.fixture(scope="session")
def alice(server: Server) -> User:
    server.create_user("alice")
    return User("alice", server.create_token("alice", "write"))


@pytest.fixture(scope="session")
def bob(server: Server) -> User:
    server.create_user("bob")
    return User("bob", server.create_token("bob", "write"))


@pytest.fixture(scope="session")
def alice_read_token(server: Server, alice: User) -> str:
    return server.create_token("alice", "read")


@pytest.fixture(scope="session")
def api(server: Server, alice: User):
    """HfApi as alice (write token)."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=server.url, token=alice.token)


@pytest.fixture(scope="session")
def bob_api(server: Server, bob: User):
    from huggingface_hub import HfApi

    return HfApi(endpoint=server.url, token=bob.token)


@pytest.fixture(scope="session")
def read_api(server: Server, alice_read_token: str):
    """HfApi as alice with a read-only token."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=server.url, token=alice_read_token)


@pytest.fixture(scope="session")
def anon_api(server: Server):
    """HfApi that never sends a token."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=server.url, token=False)


@pytest.fixture(scope="session")
def http(server: Server) -> Iterator[httpx.Client]:
    """A raw, anonymous HTTP client on the server (no redirects followed)."""
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def alice_http(server: Server, alice: User) -> Iterator[httpx.Client]:
    """A raw HTTP client on the server with alice's write token."""
    headers = {"Authorization": f"Bearer {alice.token}"}
    with httpx.Client(base_url=server.url, timeout=120, headers=headers) as client:
        yield client


_NAME_OK = re.compile(r"[^A-Za-z0-9_.-]+")


def make_name(prefix: str = "repo") -> str:
    """A repo name that is valid for the client and unique in the session."""
    base = _NAME_OK.sub("-", prefix).strip("-.")
    base = re.sub(r"-{2,}", "-", base)[:60].strip("-.") or "repo"
    return f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def unique_name(request) -> Callable[..., str]:
    """`unique_name()` -> a fresh repo name derived from the test's name; `unique_name("x")` with a prefix."""

    def factory(prefix: str | None = None) -> str:
        return make_name(prefix or request.node.originalname.removeprefix("test_"))

    return factory


@pytest.fixture
def repo_id(alice: User, unique_name) -> str:
    """A fresh (not yet created) repo id in alice's namespace."""
    return f"{alice.name}/{unique_name()}"


@pytest.fixture
def make_repo(api, alice: User, unique_name) -> Callable[..., str]:
    """Create a repo as alice, optionally with files (one commit); return its id."""
    from huggingface_hub import CommitOperationAdd

    def factory(
        files: dict[str, bytes] | None = None,
        *,
        repo_type: str = "model",
        private: bool = False,
        name: str | None = None,
        message: str = "Add files",
    ) -> str:
        rid = f"{alice.name}/{name or unique_name()}"
        api.create_repo(rid, repo_type=repo_type, private=private)
        if files:
            ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=data) for p, data in files.items()]
            api.create_commit(rid, ops, commit_message=message, repo_type=repo_type)
        return rid

    return factory


@pytest.fixture
def hf_cache(tmp_path: Path) -> Path:
    """A fresh huggingface_hub cache directory for this test (pass as cache_dir=)."""
    path = tmp_path / "hf-cache"
    path.mkdir()
    return path


@dataclass(frozen=True)
class BigFile:
    path: Path
    size: int
    sha256: str


@pytest.fixture(scope="session")
def big_file(tmp_path_factory) -> BigFile:
    """One 50 MiB random file for the whole session (larger than the multipart chunk size)."""
    path = tmp_path_factory.mktemp("big") / "big.bin"
    with open(path, "wb") as fh:
        remaining = BIG_FILE_SIZE
        while remaining:
            block = os.urandom(min(remaining, 4 * 1024 * 1024))
            fh.write(block)
            remaining -= len(block)
    return BigFile(path=path, size=BIG_FILE_SIZE, sha256=sha256_file(path))


# ----------------------------------------------------------------------------------------------------
# A shared, read-only repo with history on several refs (tests must not modify it).
# ----------------------------------------------------------------------------------------------------
@dataclass
class PopulatedRepo:
    """alice/populated-*: commits c1 (upload_folder) and c2 (config.json v2) on main, plus refs:

    - tag `v1` -> c1
    - branch `dev` -> c1 + a commit adding dev.txt
    - branch `feat/x` -> c1 + a commit adding feat/only.txt
    """

    repo_id: str
    c1: str
    c2: str
    dev: str
    feat: str
    files_c1: dict[str, bytes]
    files_main: dict[str, bytes]
    files_dev: dict[str, bytes]
    files_feat: dict[str, bytes]
    lfs_paths: frozenset[str]
    messages: dict[str, str]

    def files_at(self, revision: str) -> dict[str, bytes]:
        return {
            "main": self.files_main,
            "dev": self.files_dev,
            "v1": self.files_c1,
            "feat/x": self.files_feat,
            self.c1: self.files_c1,
            self.c2: self.files_main,
            self.dev: self.files_dev,
            self.feat: self.files_feat,
        }[revision]


README = b"""---
license: mit
tags:
- modelyard-test
---

# Populated test repo

Used by the Modelyard integration tests.
"""


@pytest.fixture(scope="session")
def populated_repo(api, alice: User, tmp_path_factory) -> PopulatedRepo:
    rid = f"{alice.name}/{make_name('populated')}"
    files_c1 = {
        "README.md": README,
        "config.json": b'{"version": 1, "hidden_size": 32}\n',
        "notes/a.txt": b"alpha notes\n" * 20,
        "notes/sub/b.txt": b"bravo in a sub folder\n",
        "weights/small.bin": os.urandom(SMALL_LFS_SIZE),
        "weights/tiny.safetensors": os.urandom(64 * 1024),
    }
    messages = {
        "c1": "Initial upload of the populated repo",
        "c2": "Bump config to version 2",
        "dev": "Add dev.txt on dev",
        "feat": "Add feature file on feat/x",
    }
    folder = write_tree(tmp_path_factory.mktemp("populated"), files_c1)

    api.create_repo(rid)
    c1 = api.upload_folder(repo_id=rid, folder_path=folder, commit_message=messages["c1"]).oid
    api.create_tag(rid, tag="v1", revision=c1)
    api.create_branch(rid, branch="dev", revision=c1)
    dev = api.upload_file(
        repo_id=rid,
        path_or_fileobj=b"only on dev\n",
        path_in_repo="dev.txt",
        revision="dev",
        commit_message=messages["dev"],
    ).oid
    api.create_branch(rid, branch="feat/x", revision=c1)
    feat = api.upload_file(
        repo_id=rid,
        path_or_fileobj=b"feature branch file\n",
        path_in_repo="feat/only.txt",
        revision="feat/x",
        commit_message=messages["feat"],
    ).oid
    config_v2 = b'{"version": 2, "hidden_size": 32}\n'
    c2 = api.upload_file(
        repo_id=rid, path_or_fileobj=config_v2, path_in_repo="config.json", commit_message=messages["c2"]
    ).oid
    return PopulatedRepo(
        repo_id=rid,
        c1=c1,
        c2=c2,
        dev=dev,
        feat=feat,
        files_c1=files_c1,
        files_main={**files_c1, "config.json": config_v2},
        files_dev={**files_c1, "dev.txt": b"only on dev\n"},
        files_feat={**files_c1, "feat/only.txt": b"feature branch file\n"},
        lfs_paths=frozenset({"weights/small.bin", "weights/tiny.safetensors"}),
        messages=messages,
    )


# ----------------------------------------------------------------------------------------------------
# A second, separate server with a small file-size limit (MODELYARD_MAX_FILE_SIZE).
# ----------------------------------------------------------------------------------------------------
LIMITED_MAX_FILE_SIZE = 1024 * 1024


@dataclass
class LimitedServer:
    server: Server
    user: User
    max_file_size: int

    @property
    def url(self) -> str:
        return self.server.url

    def api(self):
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.server.url, token=self.user.token)


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory) -> Iterator[LimitedServer]:
    """Its own data dir, database and port; files over 1 MiB must be refused with 413."""
    root = tmp_path_factory.mktemp("limited-server")
    extra = {"MODELYARD_MAX_FILE_SIZE": str(LIMITED_MAX_FILE_SIZE)}
    with launch_server(root, extra_env=extra) as srv:
        srv.create_user("alice")
        yield LimitedServer(srv, User("alice", srv.create_token("alice", "write")), LIMITED_MAX_FILE_SIZE)
